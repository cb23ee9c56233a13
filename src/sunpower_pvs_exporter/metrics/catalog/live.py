"""The telemetry stream (``--live``): the site, pushed second by second."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sunpower_pvs_exporter.health import LiveStatus
from sunpower_pvs_exporter.metrics.catalog.spec import MetricSpec, Subject
from sunpower_pvs_exporter.pvs.model import LiveData

LIVE_STREAM = Subject[LiveStatus, LiveStatus](
    name="live_stream",
    doc="each target's telemetry WebSocket (only with `--live`)",
    label_names=("target",),
    items=lambda status: (status,),
    labels=lambda status: (status.target,),
    data_time=lambda _: None,
)
LIVE = Subject[LiveStatus, LiveData](
    name="live",
    doc="the whole site, pushed by the PVS telemetry WebSocket as it changes "
    "(only with `--live`; kept while the stream is connected, absent while it is down "
    "or after 90 s without a message)",
    label_names=(),
    items=lambda status: () if status.live is None else (status.live,),
    labels=lambda _: (),
    data_time=lambda _: None,
)


def _live(
    name: str, help_text: str, unit: str, value: Callable[[LiveData], float | None], source: str
) -> MetricSpec[LiveStatus, LiveData]:
    return MetricSpec(
        name=name, kind="gauge", help=help_text, unit=unit, subject=LIVE, value=value, source=source
    )


LIVE_METRICS: tuple[MetricSpec[LiveStatus, Any], ...] = (
    MetricSpec(
        name="sunpower_pvs_live_up",
        kind="gauge",
        help="1 while the telemetry stream is connected and has spoken within 90 s, else 0.",
        unit="1",
        subject=LIVE_STREAM,
        value=lambda s: 0.0 if s.live is None else 1.0,
        source="exporter",
    ),
    MetricSpec(
        name="sunpower_pvs_live_unsupported",
        kind="gauge",
        help="1 once the exporter concluded the PVS has no telemetry stream (PVS5: enable "
        "answers 400 and the port refuses connections) and stopped trying, else 0.",
        unit="1",
        subject=LIVE_STREAM,
        value=lambda s: 1.0 if s.unsupported else 0.0,
        source="exporter",
    ),
    MetricSpec(
        name="sunpower_pvs_live_connects_total",
        kind="counter",
        help="Connections made to the telemetry WebSocket (reconnects included).",
        unit="1",
        subject=LIVE_STREAM,
        value=lambda s: float(s.connects),
        source="exporter",
    ),
    MetricSpec(
        name="sunpower_pvs_live_messages_total",
        kind="counter",
        help="Telemetry messages received.",
        unit="1",
        subject=LIVE_STREAM,
        value=lambda s: float(s.messages),
        source="exporter",
    ),
    _live(
        name="sunpower_pvs_live_pv_power_watts",
        help_text="Solar production, second by second.",
        unit="watts",
        value=lambda live: live.pv_power_watts,
        source="telemetry `pv_p` (kW ×1000)",
    ),
    _live(
        name="sunpower_pvs_live_grid_power_watts",
        help_text="Net power from the grid, second by second: "
        "positive importing, negative exporting.",
        unit="watts",
        value=lambda live: live.grid_power_watts,
        source="telemetry `net_p` (kW ×1000)",
    ),
    _live(
        name="sunpower_pvs_live_load_power_watts",
        help_text="Power the home uses, second by second.",
        unit="watts",
        value=lambda live: live.load_power_watts,
        source="telemetry `site_load_p` (kW ×1000)",
    ),
    _live(
        name="sunpower_pvs_live_battery_power_watts",
        help_text="Battery power, second by second: positive discharging, negative charging.",
        unit="watts",
        value=lambda live: live.battery_power_watts,
        source="telemetry `ess_p` (kW ×1000)",
    ),
    _live(
        name="sunpower_pvs_live_battery_state_of_charge_ratio",
        help_text="Battery state of charge, 0-1.",
        unit="ratio",
        value=lambda live: live.state_of_charge_ratio,
        source="telemetry `soc`",
    ),
)
