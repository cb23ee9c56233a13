"""Pure mapping from legacy ``dl_cgi`` JSON to a ``Snapshot``.

No I/O and no globals: decoded JSON in, model out. Field names and units are
those of ``docs/protocol.md`` §L2-§L5 (kW, kWh, KiB on the wire).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from typing import Any

from sunpower_pvs_exporter.pvs.errors import PvsPayloadError
from sunpower_pvs_exporter.pvs.identity import DeviceIdentities
from sunpower_pvs_exporter.pvs.model import (
    CommInterface,
    Device,
    GridProfile,
    Inverter,
    Meter,
    MeterMode,
    Phase,
    PhaseReading,
    PvDisconnect,
    Relay,
    Snapshot,
    Supervisor,
)
from sunpower_pvs_exporter.pvs.values import (
    KILO,
    parse_pvs_time,
    to_float,
    to_text,
    to_unique_text,
)

KIBI = 1024.0

DEVICE_TYPE_SUPERVISOR = "PVS"
DEVICE_TYPE_METER = "Power Meter"
DEVICE_TYPE_INVERTER = "Inverter"
DEVICE_TYPE_PV_DISCONNECT = "PV Disconnect"
# Relays looked for on a PV Disconnect (real units have two).
MAX_RELAYS = 4


def _require_succeed(doc: object, what: str) -> Mapping[str, Any]:
    if not isinstance(doc, dict):
        raise PvsPayloadError(f"{what}: expected a JSON object, got {type(doc).__name__}")
    result = doc.get("result")
    if result is not None and result != "succeed":
        raise PvsPayloadError(f"{what}: result is {to_text(result)!r}, not 'succeed'")
    return doc


def meter_mode(meter_type: str) -> MeterMode:
    """``production``/``consumption`` from the TYPE suffix, as the original did."""
    upper = meter_type.upper()
    if upper.endswith("-P"):
        return "production"
    if upper.endswith("-C"):
        return "consumption"
    return ""


def parse_device(raw: Mapping[str, Any], tz: tzinfo | None) -> Device:
    return Device(
        device_type=to_text(raw.get("DEVICE_TYPE")),
        serial=to_unique_text(raw.get("SERIAL")),
        model=to_text(raw.get("MODEL")),
        software_version=to_text(raw.get("SWVER")),
        state=to_text(raw.get("STATE")),
        type=to_text(raw.get("TYPE")),
        description=to_unique_text(raw.get("DESCR")),
        port=to_text(raw.get("PORT")),
        data_time=parse_pvs_time(raw.get("DATATIME"), tz),
    )


def parse_supervisor(raw: Mapping[str, Any], device: Device) -> Supervisor:
    return Supervisor(
        device=device,
        hardware_version=to_text(raw.get("HWVER")),
        uptime_seconds=to_float(raw.get("dl_uptime")),
        cpu_loadavg=to_float(raw.get("dl_cpu_load")),
        memory_used_bytes=to_float(raw.get("dl_mem_used"), KIBI),
        flash_available_bytes=to_float(raw.get("dl_flash_avail"), KIBI),
        error_count=to_float(raw.get("dl_err_count")),
        communication_errors=to_float(raw.get("dl_comm_err")),
        skipped_scans=to_float(raw.get("dl_skipped_scans")),
        scan_time_seconds=to_float(raw.get("dl_scan_time")),
        untransmitted_events=to_float(raw.get("dl_untransmitted")),
    )


def _phases(raw: Mapping[str, Any]) -> tuple[tuple[Any, PhaseReading], ...]:
    phases = []
    for phase, prefix in (("L1", "1"), ("L2", "2")):
        reading = PhaseReading(
            power_watts=to_float(raw.get(f"p{prefix}_kw"), KILO),
            current_amperes=to_float(raw.get(f"i{prefix}_a")),
            voltage_volts=to_float(raw.get(f"v{prefix}n_v")),
        )
        if reading != PhaseReading():
            phases.append((phase, reading))
    return tuple(phases)


def parse_meter(raw: Mapping[str, Any], device: Device) -> Meter:
    subtype = raw.get("subtype")
    if subtype is None:
        subtype = raw.get("production_subtype_enum") or raw.get("consumption_subtype_enum")
    return Meter(
        device=device,
        mode=meter_mode(device.type),
        ct_rated_current_label=to_text(raw.get("CAL0")),
        subtype=to_text(subtype),
        ct_rated_current_amperes=to_float(raw.get("ct_scl_fctr")),
        frequency_hertz=to_float(raw.get("freq_hz")),
        net_energy_watt_hours=to_float(raw.get("net_ltea_3phsum_kwh"), KILO),
        imported_energy_watt_hours=to_float(raw.get("pos_ltea_3phsum_kwh"), KILO),
        exported_energy_watt_hours=to_float(raw.get("neg_ltea_3phsum_kwh"), KILO),
        real_power_watts=to_float(raw.get("p_3phsum_kw"), KILO),
        reactive_power_var=to_float(raw.get("q_3phsum_kvar"), KILO),
        apparent_power_va=to_float(raw.get("s_3phsum_kva"), KILO),
        power_factor=to_float(raw.get("tot_pf_rto")),
        current_amperes=to_float(raw.get("i_a")),
        supply_voltage_volts=to_float(raw.get("v12_v")),
        phases=_phases(raw),
    )


def parse_inverter(raw: Mapping[str, Any], device: Device) -> Inverter:
    dc_power = raw.get("p_mpptsum_kw")
    if dc_power is None:
        dc_power = raw.get("p_mppt1_kw")
    return Inverter(
        device=device,
        module_id=to_unique_text(raw.get("MOD_SN")),
        panel=to_text(raw.get("PANEL")),
        ac_current_amperes=to_float(raw.get("i_3phsum_a")),
        ac_power_watts=to_float(raw.get("p_3phsum_kw"), KILO),
        ac_voltage_volts=to_float(raw.get("vln_3phavg_v")),
        dc_current_amperes=to_float(raw.get("i_mppt1_a")),
        dc_power_watts=to_float(dc_power, KILO),
        dc_voltage_volts=to_float(raw.get("v_mppt1_v")),
        frequency_hertz=to_float(raw.get("freq_hz")),
        energy_watt_hours=to_float(raw.get("ltea_3phsum_kwh"), KILO),
        heatsink_celsius=to_float(raw.get("t_htsnk_degc")),
    )


def parse_pv_disconnect(raw: Mapping[str, Any], device: Device) -> PvDisconnect:
    """Relay codes (``relay1_state``, ``relay1_error``…) and leg voltages
    (``v1n_grid_v``…, ``v1n_pv_v``…) of a PV Disconnect."""
    relays = tuple(
        Relay(
            number=str(n),
            state=to_float(raw.get(f"relay{n}_state")),
            error=to_float(raw.get(f"relay{n}_error")),
        )
        for n in range(1, MAX_RELAYS + 1)
        if f"relay{n}_state" in raw or f"relay{n}_error" in raw
    )

    def phases(side: str) -> tuple[tuple[Phase, PhaseReading], ...]:
        out: list[tuple[Phase, PhaseReading]] = []
        for phase, n in (("L1", 1), ("L2", 2)):
            volts = to_float(raw.get(f"v{n}n_{side}_v"))
            if volts is not None:
                out.append((phase, PhaseReading(voltage_volts=volts)))  # type: ignore[arg-type]
        return tuple(out)

    return PvDisconnect(
        device=device, relays=relays, grid_phases=phases("grid"), pv_phases=phases("pv")
    )


def parse_device_list(doc: object, fetched_at: float, tz: tzinfo | None = None) -> Snapshot:
    """Map a ``Command=DeviceList`` answer to a ``Snapshot``.

    A malformed device entry is skipped with a warning rather than failing the
    poll; a malformed document raises ``PvsPayloadError``. Two devices with
    one serial are both kept, the second under another id (``identity.py``).
    The supervisor is found wherever it is listed (PVS5 2017 firmware lists it
    last).
    """
    body = _require_succeed(doc, "DeviceList")
    raw_devices = body.get("devices")
    if not isinstance(raw_devices, list):
        raise PvsPayloadError("DeviceList: 'devices' is missing or not a list")

    warnings: list[str] = []
    identities = DeviceIdentities()
    supervisor: Supervisor | None = None
    meters: list[Meter] = []
    inverters: list[Inverter] = []
    disconnects: list[PvDisconnect] = []
    devices: list[Device] = []
    for index, raw in enumerate(raw_devices):
        if not isinstance(raw, dict):
            warnings.append(f"devices[{index}] is not an object; skipped")
            continue
        device = identities.admit(parse_device(raw, tz), f"devices[{index}]", index, raw)
        if device is None:
            continue
        devices.append(device)
        if device.device_type == DEVICE_TYPE_SUPERVISOR and supervisor is None:
            supervisor = parse_supervisor(raw, device)
        elif device.device_type == DEVICE_TYPE_METER:
            meters.append(parse_meter(raw, device))
        elif device.device_type == DEVICE_TYPE_INVERTER:
            inverters.append(parse_inverter(raw, device))
        elif device.device_type == DEVICE_TYPE_PV_DISCONNECT:
            disconnects.append(parse_pv_disconnect(raw, device))

    return Snapshot(
        backend="legacy",
        fetched_at=fetched_at,
        supervisor=supervisor,
        meters=tuple(meters),
        inverters=tuple(inverters),
        devices=tuple(devices),
        pv_disconnects=tuple(disconnects),
        warnings=(*warnings, *identities.warnings),
    )


def parse_comm(doc: object) -> tuple[CommInterface, ...]:
    """Interfaces from ``Command=Get_Comm``."""
    body = _require_succeed(doc, "Get_Comm")
    status = body.get("networkstatus")
    raw_interfaces = status.get("interfaces") if isinstance(status, dict) else None
    if not isinstance(raw_interfaces, list):
        raise PvsPayloadError("Get_Comm: 'networkstatus.interfaces' is missing or not a list")
    interfaces: list[CommInterface] = []
    names: set[str] = set()
    for raw in raw_interfaces:
        if not isinstance(raw, dict):
            continue
        name = to_text(raw.get("interface"))
        if name in names:
            continue
        names.add(name)
        interfaces.append(
            CommInterface(
                name=name,
                internet=to_text(raw.get("internet")),
                sms=to_text(raw.get("sms")),
                link=to_text(raw.get("link")),
                state=to_text(raw.get("state")),
            )
        )
    return tuple(interfaces)


def parse_grid_profile(doc: object) -> GridProfile:
    """The active grid profile from ``Command=GridProfileGet``."""
    body = _require_succeed(doc, "GridProfileGet")
    return GridProfile(
        id=to_text(body.get("active_id")),
        name=to_text(body.get("active_name")),
        percent=to_text(body.get("percent")),
        status=to_text(body.get("status")),
    )
