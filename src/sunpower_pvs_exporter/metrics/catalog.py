"""The one table of every metric this exporter can emit.

Each ``MetricSpec`` row names a metric, its type, help, unit, where its value
comes from and what happens when the value is missing. The collector, the
generated reference (docs/metrics.md) and the dashboard/alert checks all read
this table; a metric that is not here does not exist.

Rows are grouped by *subject*: what one sample describes (the supervisor, a
meter, one phase of a meter, an inverter, any device, a target's poll
health…). A subject knows how to find its items in a ``Snapshot`` and how to
label them, so label sets are defined once per subject, not once per metric.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from sunpower_pvs_exporter.health import TargetStatus
from sunpower_pvs_exporter.pvs.errors import FAILURE_REASONS, FailureReason
from sunpower_pvs_exporter.pvs.model import (
    CommInterface,
    Device,
    GridProfile,
    Inverter,
    Meter,
    Phase,
    PhaseReading,
    Snapshot,
    Supervisor,
)

PREFIX = "sunpower_pvs_"

Root = TypeVar("Root")
Item = TypeVar("Item")
MetricKind = Literal["gauge", "counter", "info"]
Missing = Literal["nan", "omit"]


@dataclass(frozen=True)
class Subject(Generic[Root, Item]):
    """What a group of metrics describes, and how to label it."""

    name: str
    doc: str
    label_names: tuple[str, ...]
    items: Callable[[Root], Iterable[Item]]
    labels: Callable[[Item], tuple[str, ...]]
    data_time: Callable[[Item], float | None]


@dataclass(frozen=True)
class MetricSpec(Generic[Root, Item]):
    """One metric. ``name`` is the full exposed name (counters end in ``_total``)."""

    name: str
    kind: MetricKind
    help: str
    unit: str
    subject: Subject[Root, Item]
    value: Callable[[Item], float | None]
    source: str
    missing: Missing = "omit"
    compatible: bool = False
    extra_label_names: tuple[str, ...] = ()

    @property
    def label_names(self) -> tuple[str, ...]:
        return self.subject.label_names + self.extra_label_names

    @property
    def family_name(self) -> str:
        """The name ``prometheus_client`` wants: no ``_total``/``_info`` suffix."""
        if self.kind == "counter":
            return self.name.removesuffix("_total")
        if self.kind == "info":
            return self.name.removesuffix("_info")
        return self.name


# --- subjects ---------------------------------------------------------------


def _supervisor_items(snapshot: Snapshot) -> Iterable[Supervisor]:
    return () if snapshot.supervisor is None else (snapshot.supervisor,)


def _supervisor_labels(sup: Supervisor) -> tuple[str, ...]:
    dev = sup.device
    return (dev.serial, dev.model, dev.software_version)


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


def _device_labels(dev: Device) -> tuple[str, ...]:
    return (dev.serial, dev.device_type, dev.model, dev.software_version, dev.state, dev.type)


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

SUPERVISOR = Subject[Snapshot, Supervisor](
    name="supervisor",
    doc="the PVS itself (DEVICE_TYPE `PVS`)",
    label_names=("device_id", "model", "software_version"),
    items=_supervisor_items,
    labels=_supervisor_labels,
    data_time=lambda sup: sup.device.data_time,
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
DEVICE = Subject[Snapshot, Device](
    name="device",
    doc="every device the PVS lists, known type or not",
    label_names=("device_id", "device_type", "model", "software_version", "state", "type"),
    items=lambda snap: snap.devices,
    labels=_device_labels,
    data_time=lambda dev: dev.data_time,
)
INTERFACE = Subject[Snapshot, CommInterface](
    name="communication_interface",
    doc="each network interface of the PVS (legacy `Get_Comm`)",
    label_names=("interface", "internet", "sms"),
    items=lambda snap: snap.interfaces,
    labels=lambda iface: (iface.name, iface.internet, iface.sms),
    data_time=lambda _: None,
)
GRID_PROFILE = Subject[Snapshot, GridProfile](
    name="grid_profile",
    doc="the active grid profile (legacy `GridProfileGet`)",
    label_names=("id", "name", "percent", "status"),
    items=lambda snap: () if snap.grid_profile is None else (snap.grid_profile,),
    labels=lambda gp: (gp.id, gp.name, gp.percent, gp.status),
    data_time=lambda _: None,
)


def _one(_: object) -> float:
    return 1.0


# --- the catalog -------------------------------------------------------------

SUP = SUPERVISOR
DEVICE_METRICS: tuple[MetricSpec[Snapshot, Any], ...] = (
    # Supervisor (original exporter's names).
    MetricSpec(
        "sunpower_pvs_supervisor_communication_errors_total",
        "counter",
        "Communication errors between the PVS and its devices (dl_comm_err). "
        "The PVS lets this go down as well as up.",
        "1",
        SUP,
        lambda s: s.communication_errors,
        "legacy `dl_comm_err`",
        "nan",
        True,
    ),
    MetricSpec(
        "sunpower_pvs_supervisor_cpu_loadavg",
        "gauge",
        "CPU load average of the PVS (dl_cpu_load).",
        "1",
        SUP,
        lambda s: s.cpu_loadavg,
        "legacy `dl_cpu_load`",
        "nan",
        True,
    ),
    MetricSpec(
        "sunpower_pvs_supervisor_errors_total",
        "counter",
        "Error count reported by the PVS (dl_err_count).",
        "1",
        SUP,
        lambda s: s.error_count,
        "legacy `dl_err_count`",
        "nan",
        True,
    ),
    MetricSpec(
        "sunpower_pvs_supervisor_flash_storage_available_bytes",
        "gauge",
        "Free flash storage on the PVS.",
        "bytes",
        SUP,
        lambda s: s.flash_available_bytes,
        "legacy `dl_flash_avail` (KiB ×1024)",
        "nan",
        True,
    ),
    MetricSpec(
        "sunpower_pvs_supervisor_mem_used_bytes",
        "gauge",
        "Memory used on the PVS.",
        "bytes",
        SUP,
        lambda s: s.memory_used_bytes,
        "legacy `dl_mem_used` (KiB ×1024)",
        "nan",
        True,
    ),
    MetricSpec(
        "sunpower_pvs_supervisor_scan_time_seconds",
        "gauge",
        "Duration of the PVS's last device scan (dl_scan_time).",
        "seconds",
        SUP,
        lambda s: s.scan_time_seconds,
        "legacy `dl_scan_time`",
        "nan",
        True,
    ),
    MetricSpec(
        "sunpower_pvs_supervisor_skipped_scans_total",
        "counter",
        "Device scans the PVS skipped (dl_skipped_scans).",
        "1",
        SUP,
        lambda s: s.skipped_scans,
        "legacy `dl_skipped_scans`",
        "nan",
        True,
    ),
    MetricSpec(
        "sunpower_pvs_supervisor_untransmitted_events_total",
        "counter",
        "Records the PVS has not yet uploaded to the cloud (dl_untransmitted).",
        "1",
        SUP,
        lambda s: s.untransmitted_events,
        "legacy `dl_untransmitted`",
        "nan",
        True,
    ),
    MetricSpec(
        "sunpower_pvs_supervisor_uptime_seconds_total",
        "counter",
        "Time since the PVS booted.",
        "seconds",
        SUP,
        lambda s: s.uptime_seconds,
        "legacy `dl_uptime`; varserver `/sys/info/uptime`",
        "nan",
        True,
    ),
    # Supervisor (new).
    MetricSpec(
        "sunpower_pvs_supervisor_cpu_usage_ratio",
        "gauge",
        "CPU usage of the PVS as a ratio 0-1.",
        "ratio",
        SUP,
        lambda s: s.cpu_usage_ratio,
        "varserver `/sys/info/cpu_usage` (% ÷100)",
    ),
    MetricSpec(
        "sunpower_pvs_supervisor_memory_usage_ratio",
        "gauge",
        "Memory usage of the PVS as a ratio 0-1.",
        "ratio",
        SUP,
        lambda s: s.memory_usage_ratio,
        "varserver `/sys/info/ram_usage` (% ÷100)",
    ),
    MetricSpec(
        "sunpower_pvs_supervisor_flash_usage_ratio",
        "gauge",
        "Flash storage usage of the PVS as a ratio 0-1.",
        "ratio",
        SUP,
        lambda s: s.flash_usage_ratio,
        "varserver `/sys/info/flash_usage` (% ÷100)",
    ),
    MetricSpec(
        "sunpower_pvs_supervisor_flash_wear_ratio",
        "gauge",
        "Estimated eMMC wear of the PVS6 as a ratio 0-1 (steps of 0.1).",
        "ratio",
        SUP,
        lambda s: s.flash_wear_ratio,
        "varserver `/sys/pvs/flashwear_type_b` (0x01 = 10%)",
    ),
    # Power meters (original exporter's names).
    MetricSpec(
        "sunpower_pvs_power_meter_ct_rated_current_amperes",
        "gauge",
        "Rated current of the meter's current transformer (ct_scl_fctr).",
        "amperes",
        METER,
        lambda m: m.ct_rated_current_amperes,
        "legacy `ct_scl_fctr`; varserver `ctSclFctr`",
        "nan",
        True,
    ),
    MetricSpec(
        "sunpower_pvs_power_meter_ac_frequency_hertz",
        "gauge",
        "AC grid frequency seen by the meter.",
        "hertz",
        METER,
        lambda m: m.frequency_hertz,
        "legacy `freq_hz`; varserver `freqHz`",
        "nan",
        True,
    ),
    MetricSpec(
        "sunpower_pvs_power_meter_net_energy_watt_hours",
        "gauge",
        "Lifetime net energy through the meter; can decrease and go negative "
        "(export on a consumption meter).",
        "watt hours",
        METER,
        lambda m: m.net_energy_watt_hours,
        "legacy `net_ltea_3phsum_kwh` (kWh ×1000); varserver `netLtea3phsumKwh`",
        "nan",
        True,
    ),
    MetricSpec(
        "sunpower_pvs_power_meter_average_real_power_watts",
        "gauge",
        "Real power, sum of phases. On a consumption meter negative means export.",
        "watts",
        METER,
        lambda m: m.real_power_watts,
        "legacy `p_3phsum_kw` (kW ×1000); varserver `p3phsumKw`",
        "nan",
        True,
    ),
    MetricSpec(
        "sunpower_pvs_power_meter_average_reactive_power_volt_amperes_reactive",
        "gauge",
        "Reactive power, sum of phases.",
        "volt-amperes reactive",
        METER,
        lambda m: m.reactive_power_var,
        "legacy `q_3phsum_kvar` (kvar ×1000); varserver `q3phsumKvar`",
        "nan",
        True,
    ),
    MetricSpec(
        "sunpower_pvs_power_meter_average_apparent_power_volt_amperes",
        "gauge",
        "Apparent power, sum of phases. (The original exporter named this "
        "..._volt_amperes_reactive; see docs/migration.md.)",
        "volt-amperes",
        METER,
        lambda m: m.apparent_power_va,
        "legacy `s_3phsum_kva` (kVA ×1000); varserver `s3phsumKva`",
        "nan",
        True,
    ),
    MetricSpec(
        "sunpower_pvs_power_meter_power_factor_real_power_per_apparent_power",
        "gauge",
        "Power factor, -1 to 1.",
        "ratio",
        METER,
        lambda m: m.power_factor,
        "legacy `tot_pf_rto`; varserver `totPfRto`",
        "nan",
        True,
    ),
    # Power meters (new).
    MetricSpec(
        "sunpower_pvs_power_meter_imported_energy_watt_hours_total",
        "counter",
        "Lifetime energy imported through the meter (from the grid to the home).",
        "watt hours",
        METER,
        lambda m: m.imported_energy_watt_hours,
        "legacy `pos_ltea_3phsum_kwh` (kWh ×1000); varserver `posLtea3phsumKwh`",
    ),
    MetricSpec(
        "sunpower_pvs_power_meter_exported_energy_watt_hours_total",
        "counter",
        "Lifetime energy exported through the meter (from the home to the grid).",
        "watt hours",
        METER,
        lambda m: m.exported_energy_watt_hours,
        "legacy `neg_ltea_3phsum_kwh` (kWh ×1000); varserver `negLtea3phsumKwh`",
    ),
    MetricSpec(
        "sunpower_pvs_power_meter_current_amperes",
        "gauge",
        "Total current through the meter (production meters).",
        "amperes",
        METER,
        lambda m: m.current_amperes,
        "legacy `i_a`",
    ),
    MetricSpec(
        "sunpower_pvs_power_meter_supply_voltage_volts",
        "gauge",
        "Leg-to-leg (L1-L2) supply voltage.",
        "volts",
        METER,
        lambda m: m.supply_voltage_volts,
        "legacy `v12_v`; varserver `v12V`",
    ),
    MetricSpec(
        "sunpower_pvs_power_meter_phase_real_power_watts",
        "gauge",
        "Real power on one leg. On a consumption meter negative means export.",
        "watts",
        METER_PHASE,
        lambda item: item[2].power_watts,
        "legacy `p1_kw`/`p2_kw` (kW ×1000); varserver `p1Kw`/`p2Kw`",
    ),
    MetricSpec(
        "sunpower_pvs_power_meter_phase_current_amperes",
        "gauge",
        "Current on one leg.",
        "amperes",
        METER_PHASE,
        lambda item: item[2].current_amperes,
        "legacy `i1_a`/`i2_a`; varserver `i1A`/`i2A`",
    ),
    MetricSpec(
        "sunpower_pvs_power_meter_phase_voltage_volts",
        "gauge",
        "Leg-to-neutral voltage of one leg.",
        "volts",
        METER_PHASE,
        lambda item: item[2].voltage_volts,
        "legacy `v1n_v`/`v2n_v`; varserver `v1nV`/`v2nV`",
    ),
    # Inverters (original exporter's names).
    MetricSpec(
        "sunpower_pvs_inverter_ac_current_amperes",
        "gauge",
        "AC output current.",
        "amperes",
        INVERTER,
        lambda i: i.ac_current_amperes,
        "legacy `i_3phsum_a`; varserver `i3phsumA`",
        "nan",
        True,
    ),
    MetricSpec(
        "sunpower_pvs_inverter_ac_power_watts",
        "gauge",
        "AC output power.",
        "watts",
        INVERTER,
        lambda i: i.ac_power_watts,
        "legacy `p_3phsum_kw` (kW ×1000); varserver `p3phsumKw`",
        "nan",
        True,
    ),
    MetricSpec(
        "sunpower_pvs_inverter_ac_voltage_volts",
        "gauge",
        "AC output voltage.",
        "volts",
        INVERTER,
        lambda i: i.ac_voltage_volts,
        "legacy `vln_3phavg_v`; varserver `vln3phavgV`",
        "nan",
        True,
    ),
    MetricSpec(
        "sunpower_pvs_inverter_dc_current_amperes",
        "gauge",
        "DC input current (MPPT 1).",
        "amperes",
        INVERTER,
        lambda i: i.dc_current_amperes,
        "legacy `i_mppt1_a`; varserver `iMppt1A`",
        "nan",
        True,
    ),
    MetricSpec(
        "sunpower_pvs_inverter_dc_power_watts",
        "gauge",
        "DC input power.",
        "watts",
        INVERTER,
        lambda i: i.dc_power_watts,
        "legacy `p_mpptsum_kw`, else `p_mppt1_kw` (kW ×1000); varserver `pMppt1Kw`",
        "nan",
        True,
    ),
    MetricSpec(
        "sunpower_pvs_inverter_dc_voltage_volts",
        "gauge",
        "DC input voltage (MPPT 1).",
        "volts",
        INVERTER,
        lambda i: i.dc_voltage_volts,
        "legacy `v_mppt1_v`; varserver `vMppt1V`",
        "nan",
        True,
    ),
    MetricSpec(
        "sunpower_pvs_inverter_operating_frequency_hertz",
        "gauge",
        "AC operating frequency.",
        "hertz",
        INVERTER,
        lambda i: i.frequency_hertz,
        "legacy `freq_hz`; varserver `freqHz`",
        "nan",
        True,
    ),
    MetricSpec(
        "sunpower_pvs_inverter_energy_total_watt_hours",
        "gauge",
        "Lifetime AC energy produced (gauge, kept for compatibility; see "
        "sunpower_pvs_inverter_produced_energy_watt_hours_total).",
        "watt hours",
        INVERTER,
        lambda i: i.energy_watt_hours,
        "legacy `ltea_3phsum_kwh` (kWh ×1000); varserver `ltea3phsumKwh`",
        "nan",
        True,
    ),
    MetricSpec(
        "sunpower_pvs_inverter_heatsink_temperature_celsius",
        "gauge",
        "Heatsink temperature. (The original exporter spelt this ..._celcius; "
        "see docs/migration.md.)",
        "celsius",
        INVERTER,
        lambda i: i.heatsink_celsius,
        "legacy `t_htsnk_degc`; varserver `tHtsnkDegc`",
        "nan",
        True,
    ),
    # Inverters (new).
    MetricSpec(
        "sunpower_pvs_inverter_produced_energy_watt_hours_total",
        "counter",
        "Lifetime AC energy produced, as a counter (same value as "
        "sunpower_pvs_inverter_energy_total_watt_hours).",
        "watt hours",
        INVERTER,
        lambda i: i.energy_watt_hours,
        "legacy `ltea_3phsum_kwh` (kWh ×1000); varserver `ltea3phsumKwh`",
    ),
    # Every device.
    MetricSpec(
        "sunpower_pvs_device_state",
        "gauge",
        "1 when the PVS reports the device as working, else 0.",
        "1",
        DEVICE,
        lambda d: 1.0 if d.state == "working" else 0.0,
        "legacy `STATE`",
        "nan",
        True,
    ),
    MetricSpec(
        "sunpower_pvs_device_last_report_timestamp_seconds",
        "gauge",
        "When the device last sampled its data (Unix time). Absent for devices "
        "that report no sample time (legacy devices in error state).",
        "seconds",
        DEVICE,
        lambda d: d.data_time,
        "legacy `DATATIME` (PVS local time); varserver `msmtEps` (UTC)",
    ),
    # Network and grid profile.
    MetricSpec(
        "sunpower_pvs_communication_interface_info",
        "info",
        "Network interfaces of the PVS and whether they reach the internet and SunPower's servers.",
        "",
        INTERFACE,
        _one,
        "legacy `Get_Comm` `networkstatus.interfaces[]`",
        "nan",
        True,
    ),
    MetricSpec(
        "sunpower_pvs_grid_profile_info",
        "info",
        "The grid profile active on the PVS.",
        "",
        GRID_PROFILE,
        _one,
        "legacy `GridProfileGet`",
        "nan",
        True,
    ),
)


# --- the exporter's own health, per target ------------------------------------

TargetReason = tuple[TargetStatus, FailureReason]

TARGET = Subject[TargetStatus, TargetStatus](
    name="target",
    doc="each configured PVS (the exporter's view of its polling)",
    label_names=("target",),
    items=lambda status: (status,),
    labels=lambda status: (status.target,),
    data_time=lambda _: None,
)
TARGET_REASON = Subject[TargetStatus, TargetReason](
    name="target_failure_reason",
    doc="each configured PVS and failure reason",
    label_names=("target", "reason"),
    items=lambda status: ((status, reason) for reason in FAILURE_REASONS),
    labels=lambda item: (item[0].target, item[1]),
    data_time=lambda _: None,
)
TARGET_BACKEND = Subject[TargetStatus, TargetStatus](
    name="target_backend",
    doc="each configured PVS and the API it is read through",
    label_names=("target", "api", "backend"),
    items=lambda status: (status,),
    labels=lambda status: (status.target, status.api, status.backend),
    data_time=lambda _: None,
)
EXPORTER = Subject[str, str](
    name="exporter",
    doc="this exporter process",
    label_names=("version",),
    items=lambda version: (version,),
    labels=lambda version: (version,),
    data_time=lambda _: None,
)


HEALTH_METRICS: tuple[MetricSpec[TargetStatus, Any], ...] = (
    MetricSpec(
        "sunpower_pvs_up",
        "gauge",
        "1 when the last poll of the PVS succeeded and its data is fresh, else 0.",
        "1",
        TARGET,
        lambda s: 1.0 if s.up else 0.0,
        "exporter",
    ),
    MetricSpec(
        "sunpower_pvs_last_poll_duration_seconds",
        "gauge",
        "How long the last poll of the PVS took, successful or not.",
        "seconds",
        TARGET,
        lambda s: s.last_poll_duration,
        "exporter",
    ),
    MetricSpec(
        "sunpower_pvs_last_success_timestamp_seconds",
        "gauge",
        "When the last successful poll of the PVS finished (Unix time).",
        "seconds",
        TARGET,
        lambda s: s.last_success_at,
        "exporter",
    ),
    MetricSpec(
        "sunpower_pvs_snapshot_age_seconds",
        "gauge",
        "Age of the newest good data read from the PVS, served or not.",
        "seconds",
        TARGET,
        lambda s: s.snapshot_age,
        "exporter",
    ),
    MetricSpec(
        "sunpower_pvs_polls_total",
        "counter",
        "Polls of the PVS attempted.",
        "1",
        TARGET,
        lambda s: float(s.polls),
        "exporter",
    ),
    MetricSpec(
        "sunpower_pvs_poll_failures_total",
        "counter",
        "Failed polls of the PVS by reason (timeout, connection, http_status, "
        "invalid_payload, auth).",
        "1",
        TARGET_REASON,
        lambda item: float(item[0].failures.get(item[1], 0)),
        "exporter",
    ),
    MetricSpec(
        "sunpower_pvs_consecutive_poll_failures",
        "gauge",
        "Failed polls since the last success (drives the backoff).",
        "1",
        TARGET,
        lambda s: float(s.consecutive_failures),
        "exporter",
    ),
    MetricSpec(
        "sunpower_pvs_poll_interval_seconds",
        "gauge",
        "Configured interval between polls of the PVS.",
        "seconds",
        TARGET,
        lambda s: s.poll_interval,
        "exporter",
    ),
    MetricSpec(
        "sunpower_pvs_target_info",
        "info",
        "The API the PVS is read through: api is the setting (auto, legacy, "
        "varserver), backend what is in use ('' until known).",
        "",
        TARGET_BACKEND,
        _one,
        "exporter",
    ),
)

EXPORTER_METRICS: tuple[MetricSpec[str, str], ...] = (
    MetricSpec(
        "sunpower_pvs_exporter_build_info",
        "info",
        "Version of this exporter.",
        "",
        EXPORTER,
        _one,
        "exporter",
    ),
)

ALL_METRICS: tuple[MetricSpec[Any, Any], ...] = DEVICE_METRICS + HEALTH_METRICS + EXPORTER_METRICS
