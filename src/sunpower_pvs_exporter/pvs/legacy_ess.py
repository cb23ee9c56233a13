"""Pure mapping of the legacy SunVault report (``dl_cgi/energy-storage-system/status``).

DeviceList lists SunVault devices (``Energy Storage System``, ``ESS BMS``,
``HUB+``) with identity and state only; their readings come from this
separate report, where every number is an object with a ``value``. Entries
are matched to DeviceList devices by serial so both describe one device.

Every number is ``{"value": …, "unit": …}`` and the unit is read, not
assumed: ``kW``/``W``, ``kWh``/``Wh``, ``%``/``fraction``, ``V``/``mV``,
``A``/``mA``, ``C``/``F``/``K``. A value without a unit is taken in the unit
hass-sunpower documents for that field (kW, %, V, A, °C); a unit not known
here makes the value missing, with a warning.

Signs are made to match varserver: battery current and power are positive
while discharging (the report's ``battery_amperage`` is + while charging).
``agg_power``'s sign is documented nowhere; it is read as + discharging, and
cross-checked against the battery modules (−Σ amperage × voltage): when both
are over ``SIGN_CHECK_WATTS`` and their signs differ, a warning says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from sunpower_pvs_exporter.pvs.errors import PvsPayloadError
from sunpower_pvs_exporter.pvs.model import (
    Device,
    EnergyStorage,
    Phase,
    PhaseReading,
    TransferSwitch,
)
from sunpower_pvs_exporter.pvs.values import KILO, product, to_float, to_text

# "Battery" is the per-module device; "ESS BMS" is one per system (real
# DeviceLists: one SchneiderElectric-SP1 BMS beside each POWERAMP battery).
ESS_DEVICE_TYPES = frozenset(
    {"Energy Storage System", "ESS BMS", "ESS Hub", "HUB+", "Battery", "Storage Inverter"}
)
# Both readings of the battery's power must be this large for their signs to count.
SIGN_CHECK_WATTS = 300.0

Convert = Callable[[float], float]


def _scale(factor: float) -> Convert:
    return lambda x: x * factor


# Quantity -> (default unit, {unit (lower case): conversion to SI}).
POWER = ("kw", {"kw": _scale(KILO), "w": _scale(1.0)})
RATIO = (
    "%",
    {"%": _scale(0.01), "percent": _scale(0.01), "fraction": _scale(1.0), "ratio": _scale(1.0)},
)
VOLTS = ("v", {"v": _scale(1.0), "mv": _scale(0.001)})
AMPS = ("a", {"a": _scale(1.0), "ma": _scale(0.001)})
CELSIUS = (
    "c",
    {
        "c": _scale(1.0),
        "°c": _scale(1.0),
        "degc": _scale(1.0),
        "celsius": _scale(1.0),
        "f": lambda x: (x - 32.0) * 5.0 / 9.0,
        "°f": lambda x: (x - 32.0) * 5.0 / 9.0,
        "degf": lambda x: (x - 32.0) * 5.0 / 9.0,
        "k": lambda x: x - 273.15,
    },
)
Quantity = tuple[str, Mapping[str, Convert]]


class EssReport(NamedTuple):
    storage: tuple[EnergyStorage, ...]
    switches: tuple[TransferSwitch, ...]
    # Stable texts (no readings in them), so a caller can log each once.
    warnings: tuple[str, ...]


class _Values:
    """Reads ``{"value", "unit"}`` nodes into SI floats, noting unknown units."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def read(self, node: object, quantity: Quantity, where: str) -> float | None:
        unit: object = None
        if isinstance(node, dict):
            unit = node.get("unit")
            node = node.get("value")
        number = to_float(node)
        if number is None:
            return None
        default, conversions = quantity
        key = default if unit is None else to_text(unit).strip().lower()
        convert = conversions.get(key)
        if convert is None:
            self.warnings.append(f"{where}: unknown unit {to_text(unit)!r}; value left out")
            return None
        return to_float(float(f"{convert(number):.15g}"))


def _device(
    by_serial: Mapping[str, Device], serial: str, device_type: str, model: str = ""
) -> Device:
    known = by_serial.get(serial)
    if known is not None:
        return known
    return Device(device_type=device_type, serial=serial, model=model)


def _battery(
    raw: Mapping[str, Any], by_serial: Mapping[str, Device], values: _Values
) -> EnergyStorage | None:
    serial = to_text(raw.get("serial_number"))
    if not serial:
        return None

    def read(field: str, quantity: Quantity) -> float | None:
        return values.read(raw.get(field), quantity, f"battery_status[{serial}].{field}")

    amps = read("battery_amperage", AMPS)
    volts = read("battery_voltage", VOLTS)
    discharge_amps = -amps if amps is not None else None
    power = product(discharge_amps, volts)
    return EnergyStorage(
        device=_device(by_serial, serial, "Battery"),
        state_of_charge_ratio=read("system_state_of_charge", RATIO),
        customer_state_of_charge_ratio=read("customer_state_of_charge", RATIO),
        battery_voltage_volts=volts,
        battery_current_amperes=discharge_amps,
        power_watts=power,
        temperature_celsius=read("temperature", CELSIUS),
    )


def _ess(
    raw: Mapping[str, Any], by_serial: Mapping[str, Device], values: _Values
) -> EnergyStorage | None:
    serial = to_text(raw.get("serial_number"))
    if not serial:
        return None
    reading = raw.get("ess_meter_reading")
    agg = reading.get("agg_power") if isinstance(reading, dict) else None
    where = f"ess_status[{serial}]"
    return EnergyStorage(
        device=_device(by_serial, serial, "Energy Storage System"),
        power_watts=values.read(agg, POWER, f"{where}.ess_meter_reading.agg_power"),
        temperature_celsius=values.read(
            raw.get("enclosure_temperature"), CELSIUS, f"{where}.enclosure_temperature"
        ),
        humidity_ratio=values.read(
            raw.get("enclosure_humidity"), RATIO, f"{where}.enclosure_humidity"
        ),
    )


def agg_power_sign_warning(
    ess: Iterable[EnergyStorage], modules: Iterable[EnergyStorage]
) -> str | None:
    """A warning when ``agg_power`` and the modules' −Σ(A×V) are both large and of
    opposite signs: then the reading of ``agg_power`` as + discharging is wrong."""
    module_watts = [m.power_watts for m in modules if m.power_watts is not None]
    if not module_watts:
        return None
    total = sum(module_watts)
    for item in ess:
        agg = item.power_watts
        if agg is None or min(abs(agg), abs(total)) < SIGN_CHECK_WATTS:
            continue
        if (agg > 0) != (total > 0):
            return (
                f"ess_status[{item.device.serial}].ess_meter_reading.agg_power: its sign "
                "disagrees with the battery modules' current x voltage (agg_power is read "
                "as + while discharging; battery_amperage is + while charging). "
                "sunpower_pvs_ess_power_watts of the ESS may have the wrong sign"
            )
    return None


def _hub(
    raw: Mapping[str, Any], by_serial: Mapping[str, Device], values: _Values
) -> TransferSwitch:
    serial = to_text(raw.get("serial_number"))
    if not serial:
        # The report names no serial on some builds: use DeviceList's HUB+.
        hubs = [d for d in by_serial.values() if d.device_type == "HUB+"]
        serial = hubs[0].serial if hubs else ""

    def read(field: str, quantity: Quantity) -> float | None:
        return values.read(raw.get(field), quantity, f"hub_plus_status.{field}")

    def phases(prefix: str) -> tuple[tuple[Phase, PhaseReading], ...]:
        out: list[tuple[Phase, PhaseReading]] = []
        for phase, n in (("L1", 1), ("L2", 2)):
            volts = read(f"{prefix}_phase{n}_voltage", VOLTS)
            if volts is not None:
                out.append((phase, PhaseReading(voltage_volts=volts)))  # type: ignore[arg-type]
        return tuple(out)

    return TransferSwitch(
        device=_device(by_serial, serial, "HUB+"),
        state=to_text(raw.get("contactor_position")),
        temperature_celsius=read("hub_temperature", CELSIUS),
        main_voltage_volts=read("main_voltage", VOLTS),
        grid_phases=phases("grid"),
        load_phases=phases("load"),
    )


def parse_ess_status(doc: object, devices: Iterable[Device]) -> EssReport:
    """Storage devices, transfer switches and warnings from the SunVault report."""
    report = doc.get("ess_report") if isinstance(doc, dict) else None
    if not isinstance(report, dict):
        raise PvsPayloadError("energy-storage-system/status: 'ess_report' missing")
    by_serial = {d.serial: d for d in devices if d.device_type in ESS_DEVICE_TYPES and d.serial}
    values = _Values()
    parsed: dict[str, list[EnergyStorage]] = {"ess_status": [], "battery_status": []}
    seen: set[str] = set()
    for key, parse in (("ess_status", _ess), ("battery_status", _battery)):
        entries = report.get(key)
        for raw in entries if isinstance(entries, list) else ():
            item = parse(raw, by_serial, values) if isinstance(raw, dict) else None
            if item is not None and item.device.serial not in seen:
                seen.add(item.device.serial)
                parsed[key].append(item)
    hub = report.get("hub_plus_status")
    switches = (_hub(hub, by_serial, values),) if isinstance(hub, dict) else ()
    warnings = list(dict.fromkeys(values.warnings))
    sign = agg_power_sign_warning(parsed["ess_status"], parsed["battery_status"])
    if sign is not None:
        warnings.append(sign)
    return EssReport(
        storage=(*parsed["ess_status"], *parsed["battery_status"]),
        switches=tuple(s for s in switches if s.device.serial),
        warnings=tuple(warnings),
    )
