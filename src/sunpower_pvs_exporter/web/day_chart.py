"""Today's production and consumption as an inline SVG, for the status page.

No JavaScript and no external asset: two paths in a ``viewBox`` of one unit
per 5-minute bucket across and 0-100 up, stretched to the page's width (the
strokes keep their width). The words (scale, hours, energies) are HTML
around it, so they stay readable at any width. A gap in the polls is a gap
in the line, never a line drawn across it.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from datetime import datetime

from sunpower_pvs_exporter.day_record import DayCurve

MIN_SCALE_WATTS = 100.0


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def nice_scale(peak: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^n at or above ``peak`` (and 100 W at least)."""
    peak = max(peak, MIN_SCALE_WATTS)
    power = 10.0 ** math.floor(math.log10(peak))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if step * power >= peak:
            return step * power
    return 10.0 * power


def path(series: Sequence[float | None], top: float) -> str:
    """SVG path data: a run of known buckets is one line, a gap starts another."""
    parts: list[str] = []
    scale = 100 / top
    run = 0  # known buckets in the current run
    for x, value in enumerate(series):
        if value is None:
            if run == 1:
                parts.append("l1 0")  # a lone bucket: a short dash, not nothing
            run = 0
            continue
        y = 100 - round(value * scale)
        y = 0 if y < 0 else 100 if y > 100 else y
        parts.append(f"L{x} {y}" if run else f"M{x} {y}")
        run += 1
    if run == 1:
        parts.append("l1 0")
    return " ".join(parts)


def _watts(value: float) -> str:
    return f"{value / 1000:g} kW" if value >= 1000 else f"{value:.0f} W"


def _energy(watt_hours: float) -> str:
    if watt_hours >= 1000:
        return f"{watt_hours / 1000:.2f} kWh"
    return f"{watt_hours:.0f} Wh"


def day_chart(curve: DayCurve, now: float) -> str:
    """The figure, or a line saying there is nothing yet today."""
    known = [
        i
        for i, (p, c) in enumerate(zip(curve.production, curve.consumption, strict=True))
        if p is not None or c is not None
    ]
    if not known:
        return '<p class="muted day-empty">Today\'s curve: no poll today yet.</p>'
    values = [v for v in (*curve.production, *curve.consumption) if v is not None]
    top = nice_scale(max(values))
    width = len(curve.production)
    since = datetime.fromtimestamp(curve.start + known[0] * curve.bucket_seconds, curve.tz)
    produced = _energy(curve.energy_watt_hours(curve.production))
    consumed = _energy(curve.energy_watt_hours(curve.consumption))
    hours = "".join(
        f'<line class="hour" x1="{fraction * width:.1f}" x2="{fraction * width:.1f}" '
        'y1="0" y2="100"/>'
        for _, fraction in curve.hour_marks()
    )
    labels = "".join(
        f'<span style="left:{fraction * 100:.1f}%">{hour:02d}:00</span>'
        for hour, fraction in curve.hour_marks()
    )
    now_x = (now - curve.start) / (curve.end - curve.start) * width
    now_line = (
        f'<line class="now" x1="{now_x:.1f}" x2="{now_x:.1f}" y1="0" y2="100"/>'
        if 0 <= now_x <= width
        else ""
    )
    label = (
        f"Today's production ({produced}) and consumption ({consumed}) since "
        f"{since:%H:%M}, 5-minute means, scale 0 to {_watts(top)}"
    )
    return (
        '<figure class="day">'
        f'<figcaption><b>Today</b> <span class="key production">Production {produced}</span> '
        f'<span class="key consumption">Consumption {consumed}</span> '
        f"<small>since {since:%H:%M}, from this exporter's polls</small></figcaption>"
        f'<div class="chart"><span class="top">{_e(_watts(top))}</span>'
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} 100" '
        f'preserveAspectRatio="none" role="img" aria-label="{_e(label)}">'
        f"<title>{_e(label)}</title>{hours}{now_line}"
        f'<path class="curve consumption" d="{path(curve.consumption, top)}"/>'
        f'<path class="curve production" d="{path(curve.production, top)}"/></svg>'
        f'<div class="hours">{labels}</div></div></figure>'
    )
