"""The whole site as the PVS totals it (varserver ``/sys/livedata``, polled)."""

from __future__ import annotations

from typing import Any

from sunpower_pvs_exporter.metrics.catalog.spec import VARSERVER_ONLY, MetricSpec, Subject
from sunpower_pvs_exporter.metrics.catalog.storage import ESS_SIGN
from sunpower_pvs_exporter.pvs.model import LiveData, Snapshot

SITE = Subject[Snapshot, LiveData](
    name="site",
    doc="the whole site, as totalled by the PVS itself (varserver `/sys/livedata`)",
    label_names=(),
    items=lambda snap: () if snap.live is None else (snap.live,),
    labels=lambda _: (),
    data_time=lambda live: live.time,
)

SITE_METRICS: tuple[MetricSpec[Snapshot, Any], ...] = (
    MetricSpec(
        name="sunpower_pvs_site_pv_power_watts",
        kind="gauge",
        help="Solar production of the whole site.",
        unit="watts",
        subject=SITE,
        value=lambda live: live.pv_power_watts,
        source="varserver `/sys/livedata/pv_p` (kW ×1000)",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_site_grid_power_watts",
        kind="gauge",
        help="Net power from the grid: positive importing, negative exporting.",
        unit="watts",
        subject=SITE,
        value=lambda live: live.grid_power_watts,
        source="varserver `/sys/livedata/net_p` (kW ×1000)",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_site_load_power_watts",
        kind="gauge",
        help="Power the home uses.",
        unit="watts",
        subject=SITE,
        value=lambda live: live.load_power_watts,
        source="varserver `/sys/livedata/site_load_p` (kW ×1000)",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_site_battery_power_watts",
        kind="gauge",
        help="Power of the site's batteries. " + ESS_SIGN,
        unit="watts",
        subject=SITE,
        value=lambda live: live.battery_power_watts,
        source="varserver `/sys/livedata/ess_p` (kW ×1000)",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_site_battery_state_of_charge_ratio",
        kind="gauge",
        help="State of charge of the site's batteries, 0-1.",
        unit="ratio",
        subject=SITE,
        value=lambda live: live.state_of_charge_ratio,
        source="varserver `/sys/livedata/soc` (fraction)",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_site_backup_time_remaining_seconds",
        kind="gauge",
        help="How long the batteries could power the home in an outage, as the PVS estimates it.",
        unit="seconds",
        subject=SITE,
        value=lambda live: live.backup_time_remaining_seconds,
        source="varserver `/sys/livedata/backupTimeRemaining` (minutes ×60)",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_site_grid_energy_watt_hours",
        kind="gauge",
        help="The PVS's lifetime net grid energy: imported minus exported. A gauge, not a "
        "counter: it is negative on a site that exports more than it imports, and falls "
        "while exporting (real units: -713.51 kWh).",
        unit="watt_hours",
        subject=SITE,
        value=lambda live: live.grid_energy_watt_hours,
        source="varserver `/sys/livedata/net_en` (kWh ×1000)",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_site_battery_energy_watt_hours",
        kind="gauge",
        help="The PVS's lifetime net battery energy. A gauge, not a counter: real units "
        "report it negative (-490.48 kWh) and moving up and down as the battery charges "
        "and discharges. Absent without a battery (the PVS says nan).",
        unit="watt_hours",
        subject=SITE,
        value=lambda live: live.battery_energy_watt_hours,
        source="varserver `/sys/livedata/ess_en` (kWh ×1000)",
        backends=VARSERVER_ONLY,
    ),
)
