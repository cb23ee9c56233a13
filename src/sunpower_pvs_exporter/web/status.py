"""The landing page: what each target is doing, readable on a phone.

Server-rendered, no JavaScript, no external assets. Every value goes through
``html.escape``; nothing secret is in ``TargetStatus`` to begin with.
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from importlib import resources

from sunpower_pvs_exporter import __version__
from sunpower_pvs_exporter.health import TargetStatus
from sunpower_pvs_exporter.pvs.model import Snapshot


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _ago(moment: float | None, now: float) -> str:
    if moment is None:
        return "never"
    seconds = max(0.0, now - moment)
    if seconds < 120:
        text = f"{seconds:.0f} s ago"
    elif seconds < 7200:
        text = f"{seconds / 60:.0f} min ago"
    else:
        text = f"{seconds / 3600:.1f} h ago"
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(moment))
    return f'<time datetime="{_e(stamp)}" title="{_e(stamp)}">{_e(text)}</time>'


def _watts(value: float | None) -> str:
    if value is None:
        return "—"
    if abs(value) >= 1000:
        return f"{value / 1000:.2f} kW"
    return f"{value:.0f} W"


def site_power(snapshot: Snapshot) -> dict[str, float | None]:
    """Production and grid figures shown on the page, from the meters (or inverters)."""
    production: float | None = None
    grid: float | None = None
    for meter in snapshot.meters:
        if meter.mode == "production" and meter.real_power_watts is not None:
            production = (production or 0.0) + meter.real_power_watts
        elif meter.mode == "consumption" and meter.real_power_watts is not None:
            grid = (grid or 0.0) + meter.real_power_watts
    if production is None:
        values = [i.ac_power_watts for i in snapshot.inverters if i.ac_power_watts is not None]
        production = sum(values) if values else None
    consumption = None
    if grid is not None and production is not None:
        consumption = grid + production
    return {"production": production, "grid": grid, "consumption": consumption}


def _target_section(status: TargetStatus) -> str:
    now = status.now
    state_class = "up" if status.up else "down"
    state_text = "UP" if status.up else "DOWN"
    snap = status.snapshot
    firmware = ""
    if snap is not None and snap.supervisor is not None:
        firmware = snap.supervisor.device.software_version
    rows = [
        ("Host", _e(status.host)),
        ("API", _e(f"{status.backend or 'detecting…'} (setting: {status.api})")),
        ("Firmware", _e(firmware or "—")),
        ("Last successful poll", _ago(status.last_success_at, now)),
        (
            "Last poll duration",
            _e("—" if status.last_poll_duration is None else f"{status.last_poll_duration:.2f} s"),
        ),
        ("Polls / failures", _e(f"{status.polls} / {sum(status.failures.values())}")),
        ("Poll interval", _e(f"{status.poll_interval:g} s")),
    ]
    if status.last_error and not status.last_poll_ok:
        rows.append(("Last error", _e(f"{status.last_error_reason}: {status.last_error}")))
    table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    power = ""
    devices = ""
    if snap is not None:
        figures = site_power(snap)
        power = (
            '<div class="power">'
            f'<div><span>Production</span><b class="production">'
            f"{_e(_watts(figures['production']))}</b></div>"
            f'<div><span>Consumption</span><b class="consumption">'
            f"{_e(_watts(figures['consumption']))}</b></div>"
            f'<div><span>Grid (+import / −export)</span><b class="grid">'
            f"{_e(_watts(figures['grid']))}</b></div>"
            "</div>"
        )
        counts = sorted(snap.device_counts().items())
        items = "".join(
            f"<tr><td>{_e(dtype)}</td><td>{_e(state or '—')}</td><td>{count}</td></tr>"
            for (dtype, state), count in counts
        )
        devices = (
            '<table class="devices"><thead><tr><th>Device type</th><th>State</th>'
            f"<th>Count</th></tr></thead><tbody>{items}</tbody></table>"
        )
    name = _e(status.target)
    return (
        f'<section class="target" id="target-{name}" data-target="{name}">'
        f'<h2>{name} <span class="badge {state_class}">{state_text}</span></h2>'
        f"{power}<table>{table}</table>{devices}"
        f'<p class="links"><a href="/probe?target={name}">/probe?target={name}</a></p>'
        "</section>"
    )


def render_status_page(statuses: Sequence[TargetStatus], single_target: bool) -> str:
    css = resources.files("sunpower_pvs_exporter.web").joinpath("status.css").read_text()
    sections = "".join(_target_section(s) for s in statuses) or "<p>No targets configured.</p>"
    metrics_note = (
        "device metrics of the target and the exporter's health"
        if single_target
        else "the exporter's health; device metrics are under /probe"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>SunPower PVS Exporter</title>"
        f"<style>{css}</style></head><body>"
        f"<header><h1>SunPower PVS Exporter</h1>"
        f'<p class="version">version {_e(__version__)}</p></header>'
        f"<main>{sections}</main>"
        "<footer><ul>"
        f'<li><a href="/metrics">/metrics</a> — {_e(metrics_note)}</li>'
        '<li><a href="/-/healthy">/-/healthy</a> · <a href="/-/ready">/-/ready</a></li>'
        '<li><a href="https://github.com/ginoledesma/sunpower-pvs-exporter">'
        "Metric names from the original sunpower-pvs-exporter</a></li>"
        "</ul></footer></body></html>\n"
    )
