"""CT power meters: whole-meter readings, per-leg readings, what a CT measures."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sunpower_pvs_exporter.metrics.catalog.spec import LEGACY_ONLY, MetricSpec, Subject, one
from sunpower_pvs_exporter.pvs.model import Meter, Phase, PhaseReading, Snapshot


def _meter_labels(meter: Meter) -> tuple[str, ...]:
    dev = meter.device
    return (
        meter.ct_rated_current_label,
        dev.description,
        dev.serial,
        meter.mode,
        dev.model,
        dev.port,
        dev.software_version,
        dev.type,
    )


MeterPhase = tuple[Meter, Phase, PhaseReading]


def _meter_phase_items(snapshot: Snapshot) -> Iterable[MeterPhase]:
    for meter in snapshot.meters:
        for phase, reading in meter.phases:
            yield (meter, phase, reading)


METER_LABELS = (
    "ct_rated_current",
    "description",
    "device_id",
    "mode",
    "model",
    "port",
    "software_version",
    "type",
)

METER = Subject[Snapshot, Meter](
    name="power_meter",
    doc="each CT power meter (DEVICE_TYPE `Power Meter`)",
    label_names=METER_LABELS,
    items=lambda snap: snap.meters,
    labels=_meter_labels,
    data_time=lambda meter: meter.device.data_time,
)
METER_PHASE = Subject[Snapshot, MeterPhase](
    name="power_meter_phase",
    doc="each leg (L1, L2) of a split-phase meter",
    label_names=(*METER_LABELS, "phase"),
    items=_meter_phase_items,
    labels=lambda item: (*_meter_labels(item[0]), item[1]),
    data_time=lambda item: item[0].device.data_time,
)


def meter_measures(subtype: str) -> str:
    """``net``/``gross`` from a legacy meter subtype (``NET_CONSUMPTION_LOADSIDE``,
    ``GROSS_CONSUMPTION_LINESIDE``, ``GROSS_PRODUCTION_SITE``); ``""`` when unknown."""
    words = subtype.upper().split("_")
    if "NET" in words:
        return "net"
    if "GROSS" in words:
        return "gross"
    return ""


METER_SUBTYPE = Subject[Snapshot, Meter](
    name="power_meter_subtype",
    doc="each CT power meter that reports its subtype (legacy DeviceList)",
    label_names=("device_id", "mode", "subtype", "measures"),
    items=lambda snap: (m for m in snap.meters if m.subtype),
    labels=lambda m: (m.device.serial, m.mode, m.subtype, meter_measures(m.subtype)),
    data_time=lambda meter: meter.device.data_time,
)


METER_METRICS: tuple[MetricSpec[Snapshot, Any], ...] = (
    # Power meters (original exporter's names).
    MetricSpec(
        name="sunpower_pvs_power_meter_ct_rated_current_amperes",
        kind="gauge",
        help="Rated current of the meter's current transformer (ct_scl_fctr).",
        unit="amperes",
        subject=METER,
        value=lambda m: m.ct_rated_current_amperes,
        source="legacy `ct_scl_fctr`; varserver `ctSclFctr`",
        missing="nan",
        compatible=True,
    ),
    MetricSpec(
        name="sunpower_pvs_power_meter_ac_frequency_hertz",
        kind="gauge",
        help="AC grid frequency seen by the meter.",
        unit="hertz",
        subject=METER,
        value=lambda m: m.frequency_hertz,
        source="legacy `freq_hz`; varserver `freqHz`",
        missing="nan",
        compatible=True,
    ),
    MetricSpec(
        name="sunpower_pvs_power_meter_net_energy_watt_hours",
        kind="gauge",
        help="Lifetime net energy through the meter; can decrease and go negative "
        "(export on a consumption meter).",
        unit="watt hours",
        subject=METER,
        value=lambda m: m.net_energy_watt_hours,
        source="legacy `net_ltea_3phsum_kwh` (kWh ×1000); varserver `netLtea3phsumKwh`",
        missing="nan",
        compatible=True,
    ),
    MetricSpec(
        name="sunpower_pvs_power_meter_average_real_power_watts",
        kind="gauge",
        help="Real power, sum of phases. On a consumption meter negative means export.",
        unit="watts",
        subject=METER,
        value=lambda m: m.real_power_watts,
        source="legacy `p_3phsum_kw` (kW ×1000); varserver `p3phsumKw`",
        missing="nan",
        compatible=True,
    ),
    MetricSpec(
        name="sunpower_pvs_power_meter_average_reactive_power_volt_amperes_reactive",
        kind="gauge",
        help="Reactive power, sum of phases.",
        unit="volt-amperes reactive",
        subject=METER,
        value=lambda m: m.reactive_power_var,
        source="legacy `q_3phsum_kvar` (kvar ×1000); varserver `q3phsumKvar`",
        missing="nan",
        compatible=True,
    ),
    MetricSpec(
        name="sunpower_pvs_power_meter_average_apparent_power_volt_amperes",
        kind="gauge",
        help="Apparent power, sum of phases. (The original exporter named this "
        "..._volt_amperes_reactive; see docs/migration.md.)",
        unit="volt-amperes",
        subject=METER,
        value=lambda m: m.apparent_power_va,
        source="legacy `s_3phsum_kva` (kVA ×1000); varserver `s3phsumKva`",
        missing="nan",
        compatible=True,
    ),
    MetricSpec(
        name="sunpower_pvs_power_meter_power_factor_real_power_per_apparent_power",
        kind="gauge",
        help="Power factor, -1 to 1.",
        unit="ratio",
        subject=METER,
        value=lambda m: m.power_factor,
        source="legacy `tot_pf_rto`; varserver `totPfRto`",
        missing="nan",
        compatible=True,
    ),
    # Power meters (new).
    MetricSpec(
        name="sunpower_pvs_power_meter_imported_energy_watt_hours_total",
        kind="counter",
        help="Lifetime energy imported through the meter (from the grid to the home).",
        unit="watt hours",
        subject=METER,
        value=lambda m: m.imported_energy_watt_hours,
        source="legacy `pos_ltea_3phsum_kwh` (kWh ×1000); varserver `posLtea3phsumKwh`",
    ),
    MetricSpec(
        name="sunpower_pvs_power_meter_exported_energy_watt_hours_total",
        kind="counter",
        help="Lifetime energy exported through the meter (from the home to the grid).",
        unit="watt hours",
        subject=METER,
        value=lambda m: m.exported_energy_watt_hours,
        source="legacy `neg_ltea_3phsum_kwh` (kWh ×1000); varserver `negLtea3phsumKwh`",
    ),
    MetricSpec(
        name="sunpower_pvs_power_meter_current_amperes",
        kind="gauge",
        help="Total current through the meter (production meters).",
        unit="amperes",
        subject=METER,
        value=lambda m: m.current_amperes,
        source="legacy `i_a`; varserver `i3phsumA`",
    ),
    MetricSpec(
        name="sunpower_pvs_power_meter_supply_voltage_volts",
        kind="gauge",
        help="Leg-to-leg (L1-L2) supply voltage.",
        unit="volts",
        subject=METER,
        value=lambda m: m.supply_voltage_volts,
        source="legacy `v12_v`; varserver `v12V`",
    ),
    MetricSpec(
        name="sunpower_pvs_power_meter_phase_real_power_watts",
        kind="gauge",
        help="Real power on one leg. On a consumption meter negative means export.",
        unit="watts",
        subject=METER_PHASE,
        value=lambda item: item[2].power_watts,
        source="legacy `p1_kw`/`p2_kw` (kW ×1000); varserver `p1Kw`/`p2Kw`",
    ),
    MetricSpec(
        name="sunpower_pvs_power_meter_phase_current_amperes",
        kind="gauge",
        help="Current on one leg.",
        unit="amperes",
        subject=METER_PHASE,
        value=lambda item: item[2].current_amperes,
        source="legacy `i1_a`/`i2_a`; varserver `i1A`/`i2A`",
    ),
    MetricSpec(
        name="sunpower_pvs_power_meter_phase_voltage_volts",
        kind="gauge",
        help="Leg-to-neutral voltage of one leg.",
        unit="volts",
        subject=METER_PHASE,
        value=lambda item: item[2].voltage_volts,
        source="legacy `v1n_v`/`v2n_v`; varserver `v1nV`/`v2nV`",
    ),
    MetricSpec(
        name="sunpower_pvs_power_meter_subtype_info",
        kind="info",
        help='What a meter\'s CT measures, from its subtype: measures="net" (consumption CT at '
        'the grid connection, reads import - export, the common install) or "gross" '
        "(consumption CT on the home's load lines, reads what the home uses; every "
        "production CT). The recording rules use it to compute site consumption.",
        unit="",
        subject=METER_SUBTYPE,
        value=one,
        source="legacy `subtype`, else `production_subtype_enum`/`consumption_subtype_enum`",
        backends=LEGACY_ONLY,
    ),
)
