"""A site's inverters as coloured tiles, one group per array, for the status page.

The judgement is ``site_facts.inverter_arrays``: each inverter against its
array's median right now, the colours of the Grafana array view (dead, low,
normal) plus night and no data. Each tile shows the serial's last four
characters and the inverter's share of the median; its full serial, power
and verdict are in its ``title`` and ``data-`` attributes, and the colour
key below the grid says every colour in words (never colour alone).
"""

from __future__ import annotations

import html

from sunpower_pvs_exporter.pvs.model import Snapshot
from sunpower_pvs_exporter.site_facts import (
    DAYLIGHT_MEDIAN_WATTS,
    DEAD_RATIO,
    LOW_RATIO,
    MIN_JUDGED_INVERTERS,
    ArrayView,
    InverterTile,
    inverter_arrays,
)

VERDICT_WORDS = {
    "dead": "dead",
    "low": "low",
    "normal": "normal",
    "night": "night",
    "no-data": "no data",
}


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _tile_value(tile: InverterTile) -> str:
    if tile.ratio is not None:
        return f"{tile.ratio * 100:.0f} %"
    if tile.watts is not None:
        return f"{tile.watts:.0f} W"
    return "—"


def _tile(tile: InverterTile) -> str:
    power = "no reading" if tile.watts is None else f"{tile.watts:.0f} W"
    share = "" if tile.ratio is None else f", {tile.ratio * 100:.0f} % of the array's median"
    state = f", state {tile.state}" if tile.state and tile.state != "working" else ""
    title = f"{tile.serial}: {power}{share}{state} ({VERDICT_WORDS[tile.verdict]})"
    return (
        f'<li class="inv {tile.verdict}" data-serial="{_e(tile.serial)}" '
        f'data-verdict="{tile.verdict}" title="{_e(title)}">'
        f"<span>{_e(tile.serial[-4:])}</span><b>{_e(_tile_value(tile))}</b></li>"
    )


def _array(view: ArrayView) -> str:
    count = len(view.tiles)
    notes = [f"{count} inverter{'s' if count != 1 else ''}", f"median {view.median_watts:.0f} W"]
    if not view.judged:
        notes.append(f"fewer than {MIN_JUDGED_INVERTERS}: no alerts")
    return (
        f'<div class="array" data-array="{_e(view.name)}">'
        f'<p class="array-name"><b>{_e(view.name)}</b> · {_e(" · ".join(notes))}</p>'
        f'<ul class="inverter-grid">{"".join(_tile(t) for t in view.tiles)}</ul></div>'
    )


def inverter_grid(snapshot: Snapshot) -> str:
    """The tiles of every inverter the PVS lists, or nothing when it lists none."""
    views = inverter_arrays(snapshot)
    if not views:
        return ""
    key = (
        f'<p class="grid-key"><span class="inv-key dead">dead</span> under '
        f"{DEAD_RATIO * 100:.0f} % of its array's median · "
        f'<span class="inv-key low">low</span> under {LOW_RATIO * 100:.0f} % · '
        '<span class="inv-key normal">normal</span> · '
        '<span class="inv-key night">night</span> the median makes '
        f"{DAYLIGHT_MEDIAN_WATTS:.0f} W or less: not judged · "
        '<span class="inv-key no-data">no data</span></p>'
    )
    return (
        '<div class="inverters"><h3>Inverters <small>against their array\'s median now</small>'
        f"</h3>{''.join(_array(v) for v in views)}{key}</div>"
    )
