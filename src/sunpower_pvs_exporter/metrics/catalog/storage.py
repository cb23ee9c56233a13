"""SunVault storage: the ESS, its battery modules and the Hub+/MIDC transfer switch."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sunpower_pvs_exporter.metrics.catalog.spec import (
    LEGACY_ONLY,
    VARSERVER_ONLY,
    MetricSpec,
    Subject,
)
from sunpower_pvs_exporter.pvs.model import (
    EnergyStorage,
    Phase,
    PhaseReading,
    PvDisconnect,
    Relay,
    Snapshot,
    TransferSwitch,
)

SwitchPhase = tuple[TransferSwitch, str, Phase, PhaseReading]
DisconnectRelay = tuple[PvDisconnect, Relay]
DisconnectPhase = tuple[PvDisconnect, str, Phase, PhaseReading]


def _storage_labels(ess: EnergyStorage) -> tuple[str, ...]:
    return (ess.device.serial, ess.device.device_type, ess.device.model)


def _switch_phase_items(snapshot: Snapshot) -> Iterable[SwitchPhase]:
    for switch in snapshot.transfer_switches:
        for side, phases in (("grid", switch.grid_phases), ("load", switch.load_phases)):
            for phase, reading in phases:
                yield (switch, side, phase, reading)


def _disconnect_relays(snapshot: Snapshot) -> Iterable[DisconnectRelay]:
    for pvd in snapshot.pv_disconnects:
        for relay in pvd.relays:
            yield (pvd, relay)


def _disconnect_phases(snapshot: Snapshot) -> Iterable[DisconnectPhase]:
    for pvd in snapshot.pv_disconnects:
        for side, phases in (("grid", pvd.grid_phases), ("pv", pvd.pv_phases)):
            for phase, reading in phases:
                yield (pvd, side, phase, reading)


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

PV_DISCONNECT_RELAY = Subject[Snapshot, DisconnectRelay](
    name="pv_disconnect_relay",
    doc="each relay of a SunVault PV Disconnect (legacy DeviceList `PV Disconnect`)",
    label_names=("device_id", "model", "relay"),
    items=_disconnect_relays,
    labels=lambda item: (item[0].device.serial, item[0].device.model, item[1].number),
    data_time=lambda item: item[0].device.data_time,
)
PV_DISCONNECT_PHASE = Subject[Snapshot, DisconnectPhase](
    name="pv_disconnect_phase",
    doc="each leg (L1, L2) on the grid side and the PV side of a PV Disconnect",
    label_names=("device_id", "model", "side", "phase"),
    items=_disconnect_phases,
    labels=lambda item: (item[0].device.serial, item[0].device.model, item[1], item[2]),
    data_time=lambda item: item[0].device.data_time,
)

ESS_SIGN = "Positive while the battery discharges (supplies the home), negative while it charges."

STORAGE_METRICS: tuple[MetricSpec[Snapshot, Any], ...] = (
    MetricSpec(
        name="sunpower_pvs_ess_state_of_charge_ratio",
        kind="gauge",
        help="Battery state of charge, 0-1 (system value, including the reserve).",
        unit="ratio",
        subject=STORAGE,
        value=lambda e: e.state_of_charge_ratio,
        source="varserver `socVal` (fraction); legacy ESS status "
        "`battery_status[].system_state_of_charge` (its unit: % or fraction; per battery module)",
    ),
    MetricSpec(
        name="sunpower_pvs_ess_customer_state_of_charge_ratio",
        kind="gauge",
        help="Battery state of charge as shown to the owner, 0-1 (excludes the reserve).",
        unit="ratio",
        subject=STORAGE,
        value=lambda e: e.customer_state_of_charge_ratio,
        source="varserver `customerSocVal` (fraction); legacy ESS status "
        "`battery_status[].customer_state_of_charge` (its unit: % or fraction; per battery "
        "module)",
    ),
    MetricSpec(
        name="sunpower_pvs_ess_state_of_health_ratio",
        kind="gauge",
        help="Battery state of health, 0-1.",
        unit="ratio",
        subject=STORAGE,
        value=lambda e: e.state_of_health_ratio,
        source="varserver `sohVal` (fraction)",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_ess_battery_voltage_volts",
        kind="gauge",
        help="Battery (DC) voltage.",
        unit="volts",
        subject=STORAGE,
        value=lambda e: e.battery_voltage_volts,
        source="varserver `vBattV`; legacy ESS status `battery_status[].battery_voltage`",
    ),
    MetricSpec(
        name="sunpower_pvs_ess_battery_current_amperes",
        kind="gauge",
        help="Battery (DC) current. " + ESS_SIGN,
        unit="amperes",
        subject=STORAGE,
        value=lambda e: e.battery_current_amperes,
        source="legacy ESS status `battery_status[].battery_amperage` (sign flipped: the PVS "
        "reports + while charging)",
        backends=LEGACY_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_ess_power_watts",
        kind="gauge",
        help="Power of the storage device. " + ESS_SIGN,
        unit="watts",
        subject=STORAGE,
        value=lambda e: e.power_watts,
        source="varserver `p3phsumKw` (kW ×1000); legacy ESS status "
        "`ess_status[].ess_meter_reading.agg_power` (its unit, kW or W; read as + "
        "discharging and cross-checked against the modules, docs/varserver.md), and for "
        "battery modules −(amperage × voltage)",
    ),
    MetricSpec(
        name="sunpower_pvs_ess_charge_limit_watts",
        kind="gauge",
        help="Highest charge power the ESS currently allows.",
        unit="watts",
        subject=STORAGE,
        value=lambda e: e.charge_limit_watts,
        source="varserver `chrgLimitPmaxKw` (kW ×1000)",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_ess_discharge_limit_watts",
        kind="gauge",
        help="Highest discharge power the ESS currently allows.",
        unit="watts",
        subject=STORAGE,
        value=lambda e: e.discharge_limit_watts,
        source="varserver `dischrgLimPmaxKw` (kW ×1000)",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_ess_cell_min_temperature_celsius",
        kind="gauge",
        help="Coolest battery cell.",
        unit="celsius",
        subject=STORAGE,
        value=lambda e: e.cell_min_temperature_celsius,
        source="varserver `minTBattCellDegc`",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_ess_cell_max_temperature_celsius",
        kind="gauge",
        help="Warmest battery cell.",
        unit="celsius",
        subject=STORAGE,
        value=lambda e: e.cell_max_temperature_celsius,
        source="varserver `maxTBattCellDegc`",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_ess_cell_min_voltage_volts",
        kind="gauge",
        help="Lowest battery cell voltage.",
        unit="volts",
        subject=STORAGE,
        value=lambda e: e.cell_min_voltage_volts,
        source="varserver `minVBattCellV`",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_ess_cell_max_voltage_volts",
        kind="gauge",
        help="Highest battery cell voltage.",
        unit="volts",
        subject=STORAGE,
        value=lambda e: e.cell_max_voltage_volts,
        source="varserver `maxVBattCellV`",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_ess_temperature_celsius",
        kind="gauge",
        help="Temperature of a battery module or of the ESS enclosure.",
        unit="celsius",
        subject=STORAGE,
        value=lambda e: e.temperature_celsius,
        source="legacy ESS status `battery_status[].temperature`, "
        "`ess_status[].enclosure_temperature` (its unit: C, F or K)",
        backends=LEGACY_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_ess_humidity_ratio",
        kind="gauge",
        help="Relative humidity inside the ESS enclosure, 0-1.",
        unit="ratio",
        subject=STORAGE,
        value=lambda e: e.humidity_ratio,
        source="legacy ESS status `ess_status[].enclosure_humidity` (its unit: % or fraction)",
        backends=LEGACY_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_ess_inverter_temperature_celsius",
        kind="gauge",
        help="Temperature of the ESS's inverter.",
        unit="celsius",
        subject=STORAGE,
        value=lambda e: e.inverter_temperature_celsius,
        source="varserver `tInvtrDegc`",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_ess_charged_energy_watt_hours_total",
        kind="counter",
        help="Lifetime energy put into the battery.",
        unit="watt hours",
        subject=STORAGE,
        value=lambda e: e.charged_energy_watt_hours,
        source="varserver `negLtea3phsumKwh` (kWh ×1000; taken as charge energy, the "
        "opposite direction of discharge power)",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_ess_discharged_energy_watt_hours_total",
        kind="counter",
        help="Lifetime energy taken out of the battery.",
        unit="watt hours",
        subject=STORAGE,
        value=lambda e: e.discharged_energy_watt_hours,
        source="varserver `posLtea3phsumKwh` (kWh ×1000)",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_ess_operating_mode_info",
        kind="info",
        help="The ESS's operating mode (e.g. SELF_CONSUMPTION, BACKUP_ONLY, STANDBY), as a label.",
        unit="",
        subject=STORAGE_MODE,
        value=lambda _: 1.0,
        source="varserver `opMode`",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_transfer_switch_state_info",
        kind="info",
        help="States the Hub+/MIDC reports: state is the grid contactor / microgrid "
        "interconnect state, pv_disconnect_state the PV disconnect relay.",
        unit="",
        subject=TRANSFER_SWITCH_STATE,
        value=lambda _: 1.0,
        source="varserver `midStEnum`, `pvd1StEnum`; legacy ESS status "
        "`hub_plus_status.contactor_position`",
    ),
    MetricSpec(
        name="sunpower_pvs_transfer_switch_temperature_celsius",
        kind="gauge",
        help="Temperature inside the Hub+/MIDC.",
        unit="celsius",
        subject=TRANSFER_SWITCH,
        value=lambda t: t.temperature_celsius,
        source="varserver `tDegc`; legacy ESS status `hub_plus_status.hub_temperature`",
    ),
    MetricSpec(
        name="sunpower_pvs_transfer_switch_control_supply_voltage_volts",
        kind="gauge",
        help="Voltage of the Hub+/MIDC's own low-voltage control supply (about 11-12 V "
        "when healthy); not a grid voltage.",
        unit="volts",
        subject=TRANSFER_SWITCH,
        value=lambda t: t.control_supply_voltage_volts,
        source="varserver `vSpplyV`",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_transfer_switch_main_voltage_volts",
        kind="gauge",
        help="The Hub+'s `main_voltage` reading (legacy firmware): a mains voltage whose "
        "exact measuring point SunPower does not document; not the control supply.",
        unit="volts",
        subject=TRANSFER_SWITCH,
        value=lambda t: t.main_voltage_volts,
        source="legacy ESS status `hub_plus_status.main_voltage`",
        backends=LEGACY_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_transfer_switch_phase_voltage_volts",
        kind="gauge",
        help="Leg-to-neutral voltage on the grid side or the home (load) side of the switch.",
        unit="volts",
        subject=TRANSFER_SWITCH_PHASE,
        value=lambda item: item[3].voltage_volts,
        source="varserver `v1nGridV`/`v2nGridV` (grid), `v1nV`/`v2nV` (load); legacy ESS status "
        "`hub_plus_status.grid_phase1_voltage`… / `load_phase1_voltage`…",
    ),
    MetricSpec(
        name="sunpower_pvs_pv_disconnect_relay_state",
        kind="gauge",
        help="A PV Disconnect relay's state code as the PVS reports it (1 and 0 seen on "
        "real units; SunPower does not document the codes).",
        unit="",
        subject=PV_DISCONNECT_RELAY,
        value=lambda item: item[1].state,
        source="legacy DeviceList `PV Disconnect` `relay<N>_state`",
        backends=LEGACY_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_pv_disconnect_relay_error",
        kind="gauge",
        help="A PV Disconnect relay's error code as the PVS reports it (0: none seen).",
        unit="",
        subject=PV_DISCONNECT_RELAY,
        value=lambda item: item[1].error,
        source="legacy DeviceList `PV Disconnect` `relay<N>_error`",
        backends=LEGACY_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_pv_disconnect_phase_voltage_volts",
        kind="gauge",
        help="Leg-to-neutral voltage on the grid side or the PV side of a PV Disconnect: "
        "PV side near 0 while the grid side is up means the PV is disconnected.",
        unit="volts",
        subject=PV_DISCONNECT_PHASE,
        value=lambda item: item[3].voltage_volts,
        source="legacy DeviceList `PV Disconnect` `v1n_grid_v`/`v2n_grid_v` (grid), "
        "`v1n_pv_v`/`v2n_pv_v` (pv)",
        backends=LEGACY_ONLY,
    ),
)
