"""Micro-inverters."""

from __future__ import annotations

from typing import Any

from sunpower_pvs_exporter.metrics.catalog.spec import MetricSpec, Subject, one
from sunpower_pvs_exporter.pvs.model import Inverter, Snapshot


def _inverter_labels(inv: Inverter) -> tuple[str, ...]:
    dev = inv.device
    return (
        dev.description,
        dev.serial,
        dev.model,
        inv.module_id,
        dev.port,
        dev.software_version,
        dev.type,
    )


INVERTER = Subject[Snapshot, Inverter](
    name="inverter",
    doc="each micro-inverter (DEVICE_TYPE `Inverter`)",
    label_names=(
        "description",
        "device_id",
        "model",
        "module_id",
        "port",
        "software_version",
        "type",
    ),
    items=lambda snap: snap.inverters,
    labels=_inverter_labels,
    data_time=lambda inv: inv.device.data_time,
)


INVERTER_ARRAY = Subject[Snapshot, tuple[str, str]](
    name="inverter_array",
    doc="each inverter the PVS lists (missing ones included) and the array it is in",
    label_names=("device_id", "array"),
    items=lambda snap: snap.inverter_array_pairs(),
    labels=lambda pair: pair,
    data_time=lambda _: None,
)


INVERTER_METRICS: tuple[MetricSpec[Snapshot, Any], ...] = (
    # Inverters (original exporter's names).
    MetricSpec(
        name="sunpower_pvs_inverter_ac_current_amperes",
        kind="gauge",
        help="AC output current.",
        unit="amperes",
        subject=INVERTER,
        value=lambda i: i.ac_current_amperes,
        source="legacy `i_3phsum_a`; varserver `i3phsumA`",
        missing="nan",
        compatible=True,
    ),
    MetricSpec(
        name="sunpower_pvs_inverter_ac_power_watts",
        kind="gauge",
        help="AC output power.",
        unit="watts",
        subject=INVERTER,
        value=lambda i: i.ac_power_watts,
        source="legacy `p_3phsum_kw` (kW ×1000); varserver `p3phsumKw`",
        missing="nan",
        compatible=True,
    ),
    MetricSpec(
        name="sunpower_pvs_inverter_ac_voltage_volts",
        kind="gauge",
        help="AC output voltage.",
        unit="volts",
        subject=INVERTER,
        value=lambda i: i.ac_voltage_volts,
        source="legacy `vln_3phavg_v`; varserver `vln3phavgV`",
        missing="nan",
        compatible=True,
    ),
    MetricSpec(
        name="sunpower_pvs_inverter_dc_current_amperes",
        kind="gauge",
        help="DC input current (MPPT 1).",
        unit="amperes",
        subject=INVERTER,
        value=lambda i: i.dc_current_amperes,
        source="legacy `i_mppt1_a`; varserver `iMppt1A`",
        missing="nan",
        compatible=True,
    ),
    MetricSpec(
        name="sunpower_pvs_inverter_dc_power_watts",
        kind="gauge",
        help="DC input power.",
        unit="watts",
        subject=INVERTER,
        value=lambda i: i.dc_power_watts,
        source="legacy `p_mpptsum_kw`, else `p_mppt1_kw` (kW ×1000); varserver `pMppt1Kw`",
        missing="nan",
        compatible=True,
    ),
    MetricSpec(
        name="sunpower_pvs_inverter_dc_voltage_volts",
        kind="gauge",
        help="DC input voltage (MPPT 1).",
        unit="volts",
        subject=INVERTER,
        value=lambda i: i.dc_voltage_volts,
        source="legacy `v_mppt1_v`; varserver `vMppt1V`",
        missing="nan",
        compatible=True,
    ),
    MetricSpec(
        name="sunpower_pvs_inverter_operating_frequency_hertz",
        kind="gauge",
        help="AC operating frequency.",
        unit="hertz",
        subject=INVERTER,
        value=lambda i: i.frequency_hertz,
        source="legacy `freq_hz`; varserver `freqHz`",
        missing="nan",
        compatible=True,
    ),
    MetricSpec(
        name="sunpower_pvs_inverter_energy_total_watt_hours",
        kind="gauge",
        help="Lifetime AC energy produced (gauge, kept for compatibility; see "
        "sunpower_pvs_inverter_produced_energy_watt_hours_total).",
        unit="watt hours",
        subject=INVERTER,
        value=lambda i: i.energy_watt_hours,
        source="legacy `ltea_3phsum_kwh` (kWh ×1000); varserver `ltea3phsumKwh`",
        missing="nan",
        compatible=True,
    ),
    MetricSpec(
        name="sunpower_pvs_inverter_heatsink_temperature_celsius",
        kind="gauge",
        help="Heatsink temperature. (The original exporter spelt this ..._celcius; "
        "see docs/migration.md.)",
        unit="celsius",
        subject=INVERTER,
        value=lambda i: i.heatsink_celsius,
        source="legacy `t_htsnk_degc`; varserver `tHtsnkDegc`",
        missing="nan",
        compatible=True,
    ),
    # Inverters (new).
    MetricSpec(
        name="sunpower_pvs_inverter_produced_energy_watt_hours_total",
        kind="counter",
        help="Lifetime AC energy produced, as a counter (same value as "
        "sunpower_pvs_inverter_energy_total_watt_hours).",
        unit="watt hours",
        subject=INVERTER,
        value=lambda i: i.energy_watt_hours,
        source="legacy `ltea_3phsum_kwh` (kWh ×1000); varserver `ltea3phsumKwh`",
    ),
    MetricSpec(
        name="sunpower_pvs_inverter_array_info",
        kind="info",
        help="The array (roof face) each inverter is in, from the target's `arrays` "
        "configuration; `site` for an inverter no array lists (and for every inverter "
        "without `arrays`). Panel-health rules compare an inverter with its array's "
        "median (docs/panel-health.md).",
        unit="",
        subject=INVERTER_ARRAY,
        value=one,
        source="exporter configuration (`targets[].arrays`), for inverters read through "
        "the legacy or varserver API",
    ),
)
