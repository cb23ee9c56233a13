"""Pure mapping of the legacy SunVault report (``dl_cgi/energy-storage-system/status``).

DeviceList lists SunVault devices (``Energy Storage System``, ``ESS BMS``,
``HUB+``) with identity and state only; their readings come from this
separate report, where every number is an object with a ``value``. Entries
are matched to DeviceList devices by serial so both describe one device.

Signs are made to match varserver: battery current and power are positive
while discharging (the report's ``battery_amperage`` is + while charging).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sunpower_pvs_exporter.pvs.errors import PvsPayloadError
from sunpower_pvs_exporter.pvs.model import (
    Device,
    EnergyStorage,
    Phase,
    PhaseReading,
    TransferSwitch,
)
from sunpower_pvs_exporter.pvs.values import to_float, to_text

KILO = 1000.0
PERCENT = 0.01
ESS_DEVICE_TYPES = frozenset({"Energy Storage System", "ESS BMS", "ESS Hub", "HUB+"})


def _value(node: object, scale: float = 1.0) -> float | None:
    """``{"value": 1.5, "unit": …}`` (or a bare number) -> float."""
    if isinstance(node, dict):
        node = node.get("value")
    return to_float(node, scale)


def _device(
    by_serial: Mapping[str, Device], serial: str, device_type: str, model: str = ""
) -> Device:
    known = by_serial.get(serial)
    if known is not None:
        return known
    return Device(device_type=device_type, serial=serial, model=model)


def _battery(raw: Mapping[str, Any], by_serial: Mapping[str, Device]) -> EnergyStorage | None:
    serial = to_text(raw.get("serial_number"))
    if not serial:
        return None
    amps = _value(raw.get("battery_amperage"))
    volts = _value(raw.get("battery_voltage"))
    discharge_amps = -amps if amps is not None else None
    power = discharge_amps * volts if discharge_amps is not None and volts is not None else None
    return EnergyStorage(
        device=_device(by_serial, serial, "ESS BMS"),
        state_of_charge_ratio=_value(raw.get("system_state_of_charge"), PERCENT),
        customer_state_of_charge_ratio=_value(raw.get("customer_state_of_charge"), PERCENT),
        battery_voltage_volts=volts,
        battery_current_amperes=discharge_amps,
        power_watts=power,
        temperature_celsius=_value(raw.get("temperature")),
    )


def _ess(raw: Mapping[str, Any], by_serial: Mapping[str, Device]) -> EnergyStorage | None:
    serial = to_text(raw.get("serial_number"))
    if not serial:
        return None
    reading = raw.get("ess_meter_reading")
    agg = reading.get("agg_power") if isinstance(reading, dict) else None
    return EnergyStorage(
        device=_device(by_serial, serial, "Energy Storage System"),
        power_watts=_value(agg, KILO),
        temperature_celsius=_value(raw.get("enclosure_temperature")),
        humidity_ratio=_value(raw.get("enclosure_humidity"), PERCENT),
    )


def _hub(raw: Mapping[str, Any], by_serial: Mapping[str, Device]) -> TransferSwitch:
    serial = to_text(raw.get("serial_number"))
    if not serial:
        # The report names no serial on some builds: use DeviceList's HUB+.
        hubs = [d for d in by_serial.values() if d.device_type == "HUB+"]
        serial = hubs[0].serial if hubs else ""

    def phases(prefix: str) -> tuple[tuple[Phase, PhaseReading], ...]:
        out: list[tuple[Phase, PhaseReading]] = []
        for phase, n in (("L1", 1), ("L2", 2)):
            volts = _value(raw.get(f"{prefix}_phase{n}_voltage"))
            if volts is not None:
                out.append((phase, PhaseReading(voltage_volts=volts)))  # type: ignore[arg-type]
        return tuple(out)

    return TransferSwitch(
        device=_device(by_serial, serial, "HUB+"),
        state=to_text(raw.get("contactor_position")),
        temperature_celsius=_value(raw.get("hub_temperature")),
        main_voltage_volts=_value(raw.get("main_voltage")),
        grid_phases=phases("grid"),
        load_phases=phases("load"),
    )


def parse_ess_status(
    doc: object, devices: Iterable[Device]
) -> tuple[tuple[EnergyStorage, ...], tuple[TransferSwitch, ...]]:
    """(storage devices, transfer switches) from the SunVault report."""
    report = doc.get("ess_report") if isinstance(doc, dict) else None
    if not isinstance(report, dict):
        raise PvsPayloadError("energy-storage-system/status: 'ess_report' missing")
    by_serial = {d.serial: d for d in devices if d.device_type in ESS_DEVICE_TYPES and d.serial}
    storage: list[EnergyStorage] = []
    seen: set[str] = set()
    for key, parse in (("ess_status", _ess), ("battery_status", _battery)):
        entries = report.get(key)
        for raw in entries if isinstance(entries, list) else ():
            item = parse(raw, by_serial) if isinstance(raw, dict) else None
            if item is not None and item.device.serial not in seen:
                seen.add(item.device.serial)
                storage.append(item)
    hub = report.get("hub_plus_status")
    switches = (_hub(hub, by_serial),) if isinstance(hub, dict) else ()
    return tuple(storage), tuple(s for s in switches if s.device.serial)
