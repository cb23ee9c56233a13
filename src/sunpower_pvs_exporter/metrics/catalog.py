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

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from sunpower_pvs_exporter.continuity import HELD_REASONS, HeldReason
from sunpower_pvs_exporter.health import LiveStatus, ReloadStatus, TargetStatus
from sunpower_pvs_exporter.pvs.detect import parse_build
from sunpower_pvs_exporter.pvs.errors import FAILURE_REASONS, FailureReason
from sunpower_pvs_exporter.pvs.model import (
    CommInterface,
    Device,
    EnergyStorage,
    GridProfile,
    Inverter,
    LiveData,
    Meter,
    Phase,
    PhaseReading,
    ReadGroupStatus,
    Snapshot,
    Supervisor,
    TransferSwitch,
)

PREFIX = "sunpower_pvs_"

Root = TypeVar("Root")
Item = TypeVar("Item")
MetricKind = Literal["gauge", "counter", "info"]
Missing = Literal["nan", "omit"]
BOTH_APIS = frozenset({"legacy", "varserver"})
LEGACY_ONLY = frozenset({"legacy"})
VARSERVER_ONLY = frozenset({"varserver"})


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
    # The APIs that have this field. For a snapshot from any other API the
    # metric is left out entirely (not NaN): the PVS is not failing to report
    # it, that API simply has no such value.
    backends: frozenset[str] = BOTH_APIS

    @property
    def label_names(self) -> tuple[str, ...]:
        return self.subject.label_names + self.extra_label_names

    def sample_value(self, item: Item, openmetrics: bool) -> float | None:
        """The value to expose for one item, or ``None`` to leave the sample out.

        A counter can never be negative: a negative reading is PVS garbage and
        counts as missing. Missing compatible values are NaN, as in the
        original exporter — except counters in OpenMetrics, which forbids NaN
        counters, so there the sample is left out.
        """
        value = self.value(item)
        if value is not None and self.kind == "counter" and value < 0:
            value = None
        if value is not None:
            return value
        if self.missing == "nan" and not (openmetrics and self.kind == "counter"):
            return math.nan
        return None

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
    doc="each network interface of the PVS (legacy `Get_Comm`, varserver `/net/<iface>/state`)",
    label_names=("interface", "internet", "sms"),
    items=lambda snap: snap.interfaces,
    labels=lambda iface: (iface.name, iface.internet, iface.sms),
    data_time=lambda _: None,
)
INTERFACE_STATE = Subject[Snapshot, CommInterface](
    name="communication_interface_state",
    doc="each network interface of the PVS that reports a state",
    label_names=("interface", "state"),
    items=lambda snap: (iface for iface in snap.interfaces if iface.state),
    labels=lambda iface: (iface.name, iface.state),
    data_time=lambda _: None,
)


def _firmware_labels(sup: Supervisor) -> tuple[str, ...]:
    dev = sup.device
    build = parse_build(None, dev.software_version)
    return (dev.serial, dev.model, dev.software_version, "" if build is None else str(build))


SUPERVISOR_FIRMWARE = Subject[Snapshot, Supervisor](
    name="supervisor_firmware",
    doc="the PVS's firmware",
    label_names=("device_id", "model", "software_version", "build"),
    items=_supervisor_items,
    labels=_firmware_labels,
    data_time=lambda sup: sup.device.data_time,
)
GRID_PROFILE = Subject[Snapshot, GridProfile](
    name="grid_profile",
    doc="the active grid profile (legacy `GridProfileGet`)",
    label_names=("id", "name", "percent", "status"),
    items=lambda snap: () if snap.grid_profile is None else (snap.grid_profile,),
    labels=lambda gp: (gp.id, gp.name, gp.percent, gp.status),
    data_time=lambda _: None,
)


StoragePhase = tuple[EnergyStorage, Phase, PhaseReading]
SwitchPhase = tuple[TransferSwitch, str, Phase, PhaseReading]


def _storage_labels(ess: EnergyStorage) -> tuple[str, ...]:
    return (ess.device.serial, ess.device.device_type, ess.device.model)


def _switch_phase_items(snapshot: Snapshot) -> Iterable[SwitchPhase]:
    for switch in snapshot.transfer_switches:
        for side, phases in (("grid", switch.grid_phases), ("load", switch.load_phases)):
            for phase, reading in phases:
                yield (switch, side, phase, reading)


STORAGE_LABELS = ("device_id", "device_type", "model")
STORAGE = Subject[Snapshot, EnergyStorage](
    name="energy_storage",
    doc="each SunVault storage device: the ESS (varserver `/sys/devices/ess`, legacy "
    "`Energy Storage System`) and, on legacy firmware, each battery module (`ESS BMS`)",
    label_names=STORAGE_LABELS,
    items=lambda snap: snap.storage,
    labels=_storage_labels,
    data_time=lambda ess: ess.device.data_time,
)
STORAGE_MODE = Subject[Snapshot, EnergyStorage](
    name="energy_storage_mode",
    doc="each SunVault ESS that reports an operating mode",
    label_names=(*STORAGE_LABELS, "mode"),
    items=lambda snap: (ess for ess in snap.storage if ess.operating_mode),
    labels=lambda ess: (*_storage_labels(ess), ess.operating_mode),
    data_time=lambda ess: ess.device.data_time,
)
TRANSFER_SWITCH = Subject[Snapshot, TransferSwitch](
    name="transfer_switch",
    doc="each SunVault Hub+ / MIDC transfer switch",
    label_names=("device_id", "model"),
    items=lambda snap: snap.transfer_switches,
    labels=lambda ts: (ts.device.serial, ts.device.model),
    data_time=lambda ts: ts.device.data_time,
)
TRANSFER_SWITCH_STATE = Subject[Snapshot, TransferSwitch](
    name="transfer_switch_state",
    doc="each SunVault Hub+ / MIDC transfer switch and its reported states",
    label_names=("device_id", "model", "state", "pv_disconnect_state"),
    items=lambda snap: snap.transfer_switches,
    labels=lambda ts: (ts.device.serial, ts.device.model, ts.state, ts.pv_disconnect_state),
    data_time=lambda ts: ts.device.data_time,
)
TRANSFER_SWITCH_PHASE = Subject[Snapshot, SwitchPhase](
    name="transfer_switch_phase",
    doc="each leg (L1, L2) on the grid side and the home (load) side of a transfer switch",
    label_names=("device_id", "model", "side", "phase"),
    items=_switch_phase_items,
    labels=lambda item: (item[0].device.serial, item[0].device.model, item[1], item[2]),
    data_time=lambda item: item[0].device.data_time,
)
SITE = Subject[Snapshot, LiveData](
    name="site",
    doc="the whole site, as totalled by the PVS itself (varserver `/sys/livedata`)",
    label_names=(),
    items=lambda snap: () if snap.live is None else (snap.live,),
    labels=lambda _: (),
    data_time=lambda live: live.time,
)


def _one(_: object) -> float:
    return 1.0


# --- the catalog -------------------------------------------------------------

ESS_SIGN = "Positive while the battery discharges (supplies the home), negative while it charges."

STORAGE_METRICS: tuple[MetricSpec[Snapshot, Any], ...] = (
    MetricSpec(
        "sunpower_pvs_ess_state_of_charge_ratio",
        "gauge",
        "Battery state of charge, 0-1 (system value, including the reserve).",
        "ratio",
        STORAGE,
        lambda e: e.state_of_charge_ratio,
        "varserver `socVal` (fraction); legacy ESS status "
        "`battery_status[].system_state_of_charge` (its unit: % or fraction; per battery module)",
    ),
    MetricSpec(
        "sunpower_pvs_ess_customer_state_of_charge_ratio",
        "gauge",
        "Battery state of charge as shown to the owner, 0-1 (excludes the reserve).",
        "ratio",
        STORAGE,
        lambda e: e.customer_state_of_charge_ratio,
        "varserver `customerSocVal` (fraction); legacy ESS status "
        "`battery_status[].customer_state_of_charge` (its unit: % or fraction; per battery "
        "module)",
    ),
    MetricSpec(
        "sunpower_pvs_ess_state_of_health_ratio",
        "gauge",
        "Battery state of health, 0-1.",
        "ratio",
        STORAGE,
        lambda e: e.state_of_health_ratio,
        "varserver `sohVal` (fraction)",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        "sunpower_pvs_ess_battery_voltage_volts",
        "gauge",
        "Battery (DC) voltage.",
        "volts",
        STORAGE,
        lambda e: e.battery_voltage_volts,
        "varserver `vBattV`; legacy ESS status `battery_status[].battery_voltage`",
    ),
    MetricSpec(
        "sunpower_pvs_ess_battery_current_amperes",
        "gauge",
        "Battery (DC) current. " + ESS_SIGN,
        "amperes",
        STORAGE,
        lambda e: e.battery_current_amperes,
        "legacy ESS status `battery_status[].battery_amperage` (sign flipped: the PVS "
        "reports + while charging)",
        backends=LEGACY_ONLY,
    ),
    MetricSpec(
        "sunpower_pvs_ess_power_watts",
        "gauge",
        "Power of the storage device. " + ESS_SIGN,
        "watts",
        STORAGE,
        lambda e: e.power_watts,
        "varserver `p3phsumKw` (kW ×1000); legacy ESS status "
        "`ess_status[].ess_meter_reading.agg_power` (its unit, kW or W; read as + "
        "discharging and cross-checked against the modules, docs/varserver.md), and for "
        "battery modules −(amperage × voltage)",
    ),
    MetricSpec(
        "sunpower_pvs_ess_charge_limit_watts",
        "gauge",
        "Highest charge power the ESS currently allows.",
        "watts",
        STORAGE,
        lambda e: e.charge_limit_watts,
        "varserver `chrgLimitPmaxKw` (kW ×1000)",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        "sunpower_pvs_ess_discharge_limit_watts",
        "gauge",
        "Highest discharge power the ESS currently allows.",
        "watts",
        STORAGE,
        lambda e: e.discharge_limit_watts,
        "varserver `dischrgLimPmaxKw` (kW ×1000)",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        "sunpower_pvs_ess_cell_min_temperature_celsius",
        "gauge",
        "Coolest battery cell.",
        "celsius",
        STORAGE,
        lambda e: e.cell_min_temperature_celsius,
        "varserver `minTBattCellDegc`",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        "sunpower_pvs_ess_cell_max_temperature_celsius",
        "gauge",
        "Warmest battery cell.",
        "celsius",
        STORAGE,
        lambda e: e.cell_max_temperature_celsius,
        "varserver `maxTBattCellDegc`",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        "sunpower_pvs_ess_cell_min_voltage_volts",
        "gauge",
        "Lowest battery cell voltage.",
        "volts",
        STORAGE,
        lambda e: e.cell_min_voltage_volts,
        "varserver `minVBattCellV`",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        "sunpower_pvs_ess_cell_max_voltage_volts",
        "gauge",
        "Highest battery cell voltage.",
        "volts",
        STORAGE,
        lambda e: e.cell_max_voltage_volts,
        "varserver `maxVBattCellV`",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        "sunpower_pvs_ess_temperature_celsius",
        "gauge",
        "Temperature of a battery module or of the ESS enclosure.",
        "celsius",
        STORAGE,
        lambda e: e.temperature_celsius,
        "legacy ESS status `battery_status[].temperature`, `ess_status[].enclosure_temperature` "
        "(its unit: C, F or K)",
        backends=LEGACY_ONLY,
    ),
    MetricSpec(
        "sunpower_pvs_ess_humidity_ratio",
        "gauge",
        "Relative humidity inside the ESS enclosure, 0-1.",
        "ratio",
        STORAGE,
        lambda e: e.humidity_ratio,
        "legacy ESS status `ess_status[].enclosure_humidity` (its unit: % or fraction)",
        backends=LEGACY_ONLY,
    ),
    MetricSpec(
        "sunpower_pvs_ess_inverter_temperature_celsius",
        "gauge",
        "Temperature of the ESS's inverter.",
        "celsius",
        STORAGE,
        lambda e: e.inverter_temperature_celsius,
        "varserver `tInvtrDegc`",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        "sunpower_pvs_ess_charged_energy_watt_hours_total",
        "counter",
        "Lifetime energy put into the battery.",
        "watt hours",
        STORAGE,
        lambda e: e.charged_energy_watt_hours,
        "varserver `negLtea3phsumKwh` (kWh ×1000; taken as charge energy, the "
        "opposite direction of discharge power)",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        "sunpower_pvs_ess_discharged_energy_watt_hours_total",
        "counter",
        "Lifetime energy taken out of the battery.",
        "watt hours",
        STORAGE,
        lambda e: e.discharged_energy_watt_hours,
        "varserver `posLtea3phsumKwh` (kWh ×1000)",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        "sunpower_pvs_ess_operating_mode_info",
        "info",
        "The ESS's operating mode (e.g. SELF_CONSUMPTION, BACKUP_ONLY, STANDBY), as a label.",
        "",
        STORAGE_MODE,
        lambda _: 1.0,
        "varserver `opMode`",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        "sunpower_pvs_transfer_switch_state_info",
        "info",
        "States the Hub+/MIDC reports: state is the grid contactor / microgrid "
        "interconnect state, pv_disconnect_state the PV disconnect relay.",
        "",
        TRANSFER_SWITCH_STATE,
        lambda _: 1.0,
        "varserver `midStEnum`, `pvd1StEnum`; legacy ESS status "
        "`hub_plus_status.contactor_position`",
    ),
    MetricSpec(
        "sunpower_pvs_transfer_switch_temperature_celsius",
        "gauge",
        "Temperature inside the Hub+/MIDC.",
        "celsius",
        TRANSFER_SWITCH,
        lambda t: t.temperature_celsius,
        "varserver `tDegc`; legacy ESS status `hub_plus_status.hub_temperature`",
    ),
    MetricSpec(
        "sunpower_pvs_transfer_switch_control_supply_voltage_volts",
        "gauge",
        "Voltage of the Hub+/MIDC's own low-voltage control supply (about 11-12 V "
        "when healthy); not a grid voltage.",
        "volts",
        TRANSFER_SWITCH,
        lambda t: t.control_supply_voltage_volts,
        "varserver `vSpplyV`",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        "sunpower_pvs_transfer_switch_main_voltage_volts",
        "gauge",
        "The Hub+'s `main_voltage` reading (legacy firmware): a mains voltage whose "
        "exact measuring point SunPower does not document; not the control supply.",
        "volts",
        TRANSFER_SWITCH,
        lambda t: t.main_voltage_volts,
        "legacy ESS status `hub_plus_status.main_voltage`",
        backends=LEGACY_ONLY,
    ),
    MetricSpec(
        "sunpower_pvs_transfer_switch_phase_voltage_volts",
        "gauge",
        "Leg-to-neutral voltage on the grid side or the home (load) side of the switch.",
        "volts",
        TRANSFER_SWITCH_PHASE,
        lambda item: item[3].voltage_volts,
        "varserver `v1nGridV`/`v2nGridV` (grid), `v1nV`/`v2nV` (load); legacy ESS status "
        "`hub_plus_status.grid_phase1_voltage`… / `load_phase1_voltage`…",
    ),
    MetricSpec(
        "sunpower_pvs_site_pv_power_watts",
        "gauge",
        "Solar production of the whole site.",
        "watts",
        SITE,
        lambda live: live.pv_power_watts,
        "varserver `/sys/livedata/pv_p` (kW ×1000)",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        "sunpower_pvs_site_grid_power_watts",
        "gauge",
        "Net power from the grid: positive importing, negative exporting.",
        "watts",
        SITE,
        lambda live: live.grid_power_watts,
        "varserver `/sys/livedata/net_p` (kW ×1000)",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        "sunpower_pvs_site_load_power_watts",
        "gauge",
        "Power the home uses.",
        "watts",
        SITE,
        lambda live: live.load_power_watts,
        "varserver `/sys/livedata/site_load_p` (kW ×1000)",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        "sunpower_pvs_site_battery_power_watts",
        "gauge",
        "Power of the site's batteries. " + ESS_SIGN,
        "watts",
        SITE,
        lambda live: live.battery_power_watts,
        "varserver `/sys/livedata/ess_p` (kW ×1000)",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        "sunpower_pvs_site_battery_state_of_charge_ratio",
        "gauge",
        "State of charge of the site's batteries, 0-1.",
        "ratio",
        SITE,
        lambda live: live.state_of_charge_ratio,
        "varserver `/sys/livedata/soc` (fraction)",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        "sunpower_pvs_site_backup_time_remaining_seconds",
        "gauge",
        "How long the batteries could power the home in an outage, as the PVS estimates it.",
        "seconds",
        SITE,
        lambda live: live.backup_time_remaining_seconds,
        "varserver `/sys/livedata/backupTimeRemaining` (minutes ×60)",
        backends=VARSERVER_ONLY,
    ),
)

READ_GROUP = Subject[Snapshot, ReadGroupStatus](
    name="read_group",
    doc="each group of varserver variables the exporter reads with its own request "
    "(`info`, `flashwear`, `meter`, `inverter`, `ess`, `transfer_switch`, `livedata`, `net`)",
    label_names=("group",),
    items=lambda snap: snap.read_groups,
    labels=lambda group: (group.name,),
    data_time=lambda _: None,
)

READ_GROUP_METRICS: tuple[MetricSpec[Snapshot, Any], ...] = (
    MetricSpec(
        "sunpower_pvs_varserver_group_up",
        "gauge",
        "1 if the last poll read this group of variables, 0 if it failed, hung or was "
        "skipped after failing (its metrics are missing; the others are still exported).",
        "1",
        READ_GROUP,
        lambda group: 1.0 if group.ok else 0.0,
        "exporter (varserver client)",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        "sunpower_pvs_varserver_group_failures_total",
        "counter",
        "Failed or timed-out reads of this group of variables since the exporter started.",
        "1",
        READ_GROUP,
        lambda group: float(group.failures),
        "exporter (varserver client)",
        backends=VARSERVER_ONLY,
    ),
)

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
        backends=LEGACY_ONLY,
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
        backends=LEGACY_ONLY,
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
        backends=LEGACY_ONLY,
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
        backends=LEGACY_ONLY,
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
        backends=LEGACY_ONLY,
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
        backends=LEGACY_ONLY,
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
        backends=LEGACY_ONLY,
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
        backends=LEGACY_ONLY,
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
        "sunpower_pvs_supervisor_firmware_info",
        "info",
        "The PVS's firmware: its version text and build number (the SunpowerPvsFirmwareChanged "
        "alert watches it).",
        "",
        SUPERVISOR_FIRMWARE,
        _one,
        'legacy `SWVER` (build: the number after "Build"); varserver `/sys/info/sw_rev` '
        "(build: the last dotted part)",
    ),
    MetricSpec(
        "sunpower_pvs_supervisor_cpu_usage_ratio",
        "gauge",
        "CPU usage of the PVS as a ratio 0-1.",
        "ratio",
        SUP,
        lambda s: s.cpu_usage_ratio,
        "varserver `/sys/info/cpu_usage` (% ÷100)",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        "sunpower_pvs_supervisor_memory_usage_ratio",
        "gauge",
        "Memory usage of the PVS as a ratio 0-1.",
        "ratio",
        SUP,
        lambda s: s.memory_usage_ratio,
        "varserver `/sys/info/ram_usage` (% ÷100)",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        "sunpower_pvs_supervisor_flash_usage_ratio",
        "gauge",
        "Flash storage usage of the PVS as a ratio 0-1.",
        "ratio",
        SUP,
        lambda s: s.flash_usage_ratio,
        "varserver `/sys/info/flash_usage` (% ÷100)",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        "sunpower_pvs_supervisor_flash_wear_ratio",
        "gauge",
        "Estimated eMMC wear of the PVS6 as a ratio 0-1 (steps of 0.1).",
        "ratio",
        SUP,
        lambda s: s.flash_wear_ratio,
        "varserver `/sys/pvs/flashwear_type_b` (0x01 = 10%)",
        backends=VARSERVER_ONLY,
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
        "legacy `i_a`; varserver `i3phsumA`",
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
    MetricSpec(
        "sunpower_pvs_power_meter_subtype_info",
        "info",
        'What a meter\'s CT measures, from its subtype: measures="net" (consumption CT at '
        'the grid connection, reads import - export, the common install) or "gross" '
        "(consumption CT on the home's load lines, reads what the home uses; every "
        "production CT). The recording rules use it to compute site consumption.",
        "",
        METER_SUBTYPE,
        _one,
        "legacy `subtype`, else `production_subtype_enum`/`consumption_subtype_enum`",
        backends=LEGACY_ONLY,
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
        "1 when the PVS reports the device as working, else 0. varserver has no "
        "state: there a device is working while its last sample (msmtEps) is at most "
        "15 minutes older than the newest sample on the PVS; an inverter while its "
        "sample is at most 15 minutes older than the newest inverter sample and 30 "
        "minutes older than the newest sample on the PVS (docs/varserver.md). A device "
        "seen before and now absent from the PVS's data is listed with state missing (0) "
        "for up to 7 days.",
        "1",
        DEVICE,
        lambda d: 1.0 if d.state == "working" else 0.0,
        "legacy `STATE`; varserver derived from `msmtEps` staleness; `missing`: exporter "
        "(seen before, absent now)",
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
        "legacy `DATATIME` (UTC, unless the `timezone` override says otherwise); "
        "varserver `msmtEps` (UTC)",
    ),
    # Network and grid profile.
    MetricSpec(
        "sunpower_pvs_communication_interface_info",
        "info",
        "Network interfaces of the PVS and whether they reach the internet and SunPower's "
        "servers. varserver names its interfaces (sta0, wan0, wan1, wwan0) but not their "
        "reachability: there internet and sms are empty; see "
        "sunpower_pvs_communication_interface_state_info.",
        "",
        INTERFACE,
        _one,
        "legacy `Get_Comm` `networkstatus.interfaces[]`; varserver `/net/<iface>/state` "
        "(interface name only)",
        "nan",
        True,
    ),
    MetricSpec(
        "sunpower_pvs_communication_interface_state_info",
        "info",
        "State of each network interface of the PVS as it reports it (raw text, e.g. up/down).",
        "",
        INTERFACE_STATE,
        _one,
        "legacy `Get_Comm` `networkstatus.interfaces[].state`; varserver `/net/<iface>/state`",
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
        backends=LEGACY_ONLY,
    ),
    *STORAGE_METRICS,
    *READ_GROUP_METRICS,
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
TargetHeldReason = tuple[TargetStatus, HeldReason]
TARGET_HELD_REASON = Subject[TargetStatus, TargetHeldReason](
    name="target_held_reading_reason",
    doc="each configured PVS and reason a lifetime-energy reading was held or dropped",
    label_names=("target", "reason"),
    items=lambda status: ((status, reason) for reason in HELD_REASONS),
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
        "sunpower_pvs_dropped_values_total",
        "counter",
        "Values in PVS answers that were present but unusable (not a number, NaN, "
        "infinite, or beyond a double such as 10**400); each is exported as missing "
        "instead of failing the device or the poll.",
        "1",
        TARGET,
        lambda s: float(s.dropped_values),
        "exporter",
    ),
    MetricSpec(
        "sunpower_pvs_poll_failures_total",
        "counter",
        "Failed polls of the PVS by reason (timeout, connection, http_status, "
        "invalid_payload, auth; internal: a bug in the exporter, not the PVS).",
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
        "sunpower_pvs_target_active",
        "gauge",
        "1 while the exporter polls the PVS, 0 while it is idle: with poll_mode on_demand a "
        "target is polled from its first /probe until idle_after passes without one; "
        "always 1 in the other modes.",
        "1",
        TARGET,
        lambda s: 1.0 if s.active else 0.0,
        "exporter",
    ),
    MetricSpec(
        "sunpower_pvs_energy_readings_held_total",
        "counter",
        "Lifetime-energy readings (every _total energy counter, and the inverter energy "
        "gauge) not exported as read: held at the last exported value, or dropped when "
        "there was none. reason: zero (a 0 reading), small_decrease (a rounding-size "
        "drop), large_decrease (a drop not yet lasting long enough to be a reset).",
        "1",
        TARGET_HELD_REASON,
        lambda item: float(item[0].held_energy_readings.get(item[1], 0)),
        "exporter",
    ),
    MetricSpec(
        "sunpower_pvs_supervisor_reboots_total",
        "counter",
        "PVS reboots the exporter saw: its uptime was lower than at the previous poll. "
        "Reboots while the exporter was not running are not counted.",
        "1",
        TARGET,
        lambda s: float(s.reboots),
        "exporter (legacy `dl_uptime`; varserver `/sys/info/uptime`)",
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

CONFIG = Subject[ReloadStatus, ReloadStatus](
    name="config",
    doc="the configuration this process runs (reloaded by SIGHUP or `POST /-/reload`)",
    label_names=(),
    items=lambda status: (status,),
    labels=lambda _: (),
    data_time=lambda _: None,
)

CONFIG_METRICS: tuple[MetricSpec[ReloadStatus, ReloadStatus], ...] = (
    MetricSpec(
        "sunpower_pvs_exporter_config_last_reload_successful",
        "gauge",
        "1 if the last configuration reload succeeded (or none was tried yet), 0 if it "
        "was refused and the previous configuration still runs.",
        "1",
        CONFIG,
        lambda status: 1.0 if status.successful else 0.0,
        "exporter",
    ),
    MetricSpec(
        "sunpower_pvs_exporter_config_last_reload_success_timestamp_seconds",
        "gauge",
        "When the running configuration was loaded (startup or the last good reload), Unix time.",
        "seconds",
        CONFIG,
        lambda status: status.last_success_at,
        "exporter",
    ),
)


# --- the telemetry stream (--live) ----------------------------------------------

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
    return MetricSpec(name, "gauge", help_text, unit, LIVE, value, source)


LIVE_METRICS: tuple[MetricSpec[LiveStatus, Any], ...] = (
    MetricSpec(
        "sunpower_pvs_live_up",
        "gauge",
        "1 while the telemetry stream is connected and has spoken within 90 s, else 0.",
        "1",
        LIVE_STREAM,
        lambda s: 0.0 if s.live is None else 1.0,
        "exporter",
    ),
    MetricSpec(
        "sunpower_pvs_live_unsupported",
        "gauge",
        "1 once the exporter concluded the PVS has no telemetry stream (PVS5: enable "
        "answers 400 and the port refuses connections) and stopped trying, else 0.",
        "1",
        LIVE_STREAM,
        lambda s: 1.0 if s.unsupported else 0.0,
        "exporter",
    ),
    MetricSpec(
        "sunpower_pvs_live_connects_total",
        "counter",
        "Connections made to the telemetry WebSocket (reconnects included).",
        "1",
        LIVE_STREAM,
        lambda s: float(s.connects),
        "exporter",
    ),
    MetricSpec(
        "sunpower_pvs_live_messages_total",
        "counter",
        "Telemetry messages received.",
        "1",
        LIVE_STREAM,
        lambda s: float(s.messages),
        "exporter",
    ),
    _live(
        "sunpower_pvs_live_pv_power_watts",
        "Solar production, second by second.",
        "watts",
        lambda live: live.pv_power_watts,
        "telemetry `pv_p` (kW ×1000)",
    ),
    _live(
        "sunpower_pvs_live_grid_power_watts",
        "Net power from the grid, second by second: positive importing, negative exporting.",
        "watts",
        lambda live: live.grid_power_watts,
        "telemetry `net_p` (kW ×1000)",
    ),
    _live(
        "sunpower_pvs_live_load_power_watts",
        "Power the home uses, second by second.",
        "watts",
        lambda live: live.load_power_watts,
        "telemetry `site_load_p` (kW ×1000)",
    ),
    _live(
        "sunpower_pvs_live_battery_power_watts",
        "Battery power, second by second: positive discharging, negative charging.",
        "watts",
        lambda live: live.battery_power_watts,
        "telemetry `ess_p` (kW ×1000)",
    ),
    _live(
        "sunpower_pvs_live_battery_state_of_charge_ratio",
        "Battery state of charge, 0-1.",
        "ratio",
        lambda live: live.state_of_charge_ratio,
        "telemetry `soc`",
    ),
)

ALL_METRICS: tuple[MetricSpec[Any, Any], ...] = (
    DEVICE_METRICS + HEALTH_METRICS + EXPORTER_METRICS + CONFIG_METRICS + LIVE_METRICS
)
