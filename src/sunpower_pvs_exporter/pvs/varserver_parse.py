"""Pure mapping from varserver variables (``{"/sys/...": "value"}``) to a ``Snapshot``.

No I/O: the client merges its ``/vars`` answers into one dict and hands it
here. Variable names and units are those of ``docs/protocol.md``
§V3-§V6 (kW, kWh, percent, fractions 0-1 for SoC/SoH, minutes).

pypvs's models turn a missing number into 0; here a missing or unparsable
variable stays ``None`` so it is never exported as a real zero.

Where varserver lacks something the legacy API has, and the value can be
derived without guessing, it is derived so both backends label a device the
same way:

* ``device_type``/``type``/``description`` follow the legacy names
  (``Power Meter``/``PVS5-METER-P``/``Power Meter <serial>``, ``Inverter``/
  ``SOLARBRIDGE``/``Inverter <serial>``); the supervisor's model is
  ``PV Supervisor <model>`` as in DeviceList.
* ``state``: varserver has no STATE; it is derived from ``msmtEps`` and
  means what legacy STATE says (a device that stopped reporting, e.g. an
  inverter at night, is ``error``). Times are compared with the PVS's own
  newest samples, never this machine's clock, so clock skew does not matter.
  Meters, SunVault and transfer switch: ``working`` when their sample is at
  most ``STALE_AFTER_SECONDS`` older than the newest sample on the PVS.
  Inverters sample on a 5-minute grid and reach the PVS up to ~10 minutes
  after the meters, so the same window would flip healthy inverters to
  ``error``; an inverter is ``working`` when its sample is at most
  ``INVERTER_PEER_SLOTS`` 5-minute slots older than the newest *inverter*
  sample (a dead inverter among live ones) and at most
  ``INVERTER_MAX_LAG_SECONDS`` older than the newest sample of any device
  (all inverters silent: night, or the inverter bus is down). The
  supervisor answered, so it is ``working``.

Production meters list variables they do not measure (per-leg power,
current and voltage; positive/negative lifetime energy) with the value
``0.0``. Those fields are kept only when the meter's valid-field mask
(``vldFldMsk``) says they are valid; a production meter without a mask never
exports them, a consumption meter without a mask keeps them (it measures
them). The mask's bit layout is not published: ``MASK_BITS`` is our
assumption, inferred from two real masks (docs/protocol-varserver.md).

What varserver does not have at all stays empty: per-device software
versions, the inverter module serial (``module_id``) and the meter's
calibration reference ``CAL0`` (``ct_rated_current`` label).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from sunpower_pvs_exporter.pvs.errors import PvsPayloadError
from sunpower_pvs_exporter.pvs.identity import DeviceIdentities
from sunpower_pvs_exporter.pvs.model import (
    CommInterface,
    Device,
    EnergyStorage,
    Inverter,
    LiveData,
    Meter,
    MeterMode,
    Phase,
    PhaseReading,
    Snapshot,
    Supervisor,
    TransferSwitch,
)
from sunpower_pvs_exporter.pvs.values import (
    KILO,
    parse_iso_utc,
    plausible_epoch,
    to_float,
    to_text,
    to_unique_text,
)

PERCENT = 0.01
STALE_AFTER_SECONDS = 900.0
INVERTER_SLOT_SECONDS = 300.0
INVERTER_PEER_SLOTS = 3
INVERTER_MAX_LAG_SECONDS = 1800.0

DEVICE_ROOT = "/sys/devices/"
FAMILY_METER = "meter"
FAMILY_INVERTER = "inverter"
FAMILY_ESS = "ess"
FAMILY_TRANSFER_SWITCH = "transfer_switch"

LIVE_PREFIX = "/sys/livedata/"
NET_PREFIX = "/net/"
# A device index longer than this is not a real index (and int() refuses >4300 digits).
MAX_INDEX_DIGITS = 9

# vldFldMsk bits of the fields a production meter reports as 0.0 without
# measuring them. ASSUMPTION (no published layout): a real PVS6 production
# meter's mask is 67174655 (bits 0-7, 16, 26) and its consumption meter's
# 70239999 (the same plus bits 9, 10, 14, 15, 17, 18, 19, 21); the consumption
# meter reports exactly eight more fields, these. Which of the eight bits is
# which field is a guess; all eight are clear on the production meter, so the
# guess does not change what is exported there.
MASK_BITS: Mapping[str, int] = {
    "i1A": 9,
    "i2A": 10,
    "p1Kw": 14,
    "p2Kw": 15,
    "v1nV": 17,
    "v2nV": 18,
    "posLtea3phsumKwh": 19,
    "negLtea3phsumKwh": 21,
}

# The eMMC life-time estimate is one byte of 10 % steps.
MAX_FLASH_WEAR_STEPS = 0xFF
# fcgi_vars sets this errorcode bit once a query has run; a 400 carrying only
# it means the query matched nothing (its SendVarsResponse: empty -> 400).
NOTHING_MATCHED = "0x0040"

Fields = Mapping[str, Any]
_Item = TypeVar("_Item", Meter, Inverter, EnergyStorage, TransferSwitch)


def fcgi_error_code(body: bytes) -> str | None:
    """``errorcode`` of an fcgi_vars error body (``{"status", "description",
    "errorcode": "0x0040"}``), lower-cased; ``None`` when the body has none."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    code = doc.get("errorcode") if isinstance(doc, dict) else None
    text = to_text(code).strip().lower()
    return text or None


def answer_variables(doc: object) -> dict[str, Any]:
    """One ``/vars`` answer, in any of the PVS's three shapes, as ``{name: value}``.

    * ``fmt=obj``: ``{"/sys/...": value}``, as is;
    * the values list: ``{"values": [{"name", "value"}], "count": N}``;
    * nested per-device objects (``match=meter/data`` on builds up to 61845):
      ``/sys/devices/<id>/<family>/data: {field: number}`` becomes
      ``/sys/devices/<family>/<id>/<field>``, unless the answer also has the
      flat names of that family (the same devices twice).

    Anything else is an empty answer.
    """
    if not isinstance(doc, dict):
        return {}
    values = doc.get("values")
    if isinstance(values, list) and "count" in doc:
        return {
            item["name"]: item.get("value")
            for item in values
            if isinstance(item, dict) and isinstance(item.get("name"), str)
        }
    flat: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for name, value in doc.items():
        parts = name.split("/") if isinstance(name, str) else []
        if (
            isinstance(value, dict)
            and len(parts) == 6
            and name.startswith(DEVICE_ROOT)
            and parts[5] == "data"
            and parts[3].isascii()
            and parts[3].isdigit()
        ):
            base = f"{DEVICE_ROOT}{parts[4]}/{parts[3]}/"
            nested.setdefault(parts[4], {}).update(
                {base + str(field): v for field, v in value.items()}
            )
        else:
            flat[name] = value
    for family, names in nested.items():
        if not any(name.startswith(f"{DEVICE_ROOT}{family}/") for name in flat):
            flat.update(names)
    return flat


def group_devices(raw: Mapping[str, Any], family: str) -> list[tuple[int, dict[str, Any]]]:
    """``/sys/devices/<family>/<index>/<field>`` -> [(index, {field: value})], by index."""
    prefix = f"{DEVICE_ROOT}{family}/"
    grouped: dict[int, dict[str, Any]] = {}
    for name, value in raw.items():
        if not name.startswith(prefix):
            continue
        index_text, sep, field = name[len(prefix) :].partition("/")
        if (
            not sep
            or not field
            or "/" in field
            or not (index_text.isascii() and index_text.isdigit())
            or len(index_text) > MAX_INDEX_DIGITS
        ):
            continue
        grouped.setdefault(int(index_text), {})[field] = value
    return sorted(grouped.items())


def flash_wear_ratio(value: object) -> float | None:
    """``/sys/pvs/flashwear_type_b``: hex steps of 10% (``0x05`` -> 0.5), as read.

    The eMMC life-time estimate goes past 100 %: ``0x0b`` (1.1, seen on a
    real PVS) is a flash beyond its rated life, the very thing to show, so
    it is not capped. It is one byte: anything above 0xff is not a reading.
    """
    text = to_text(value).strip().lower()
    if not text:
        return None
    try:
        steps = int(text, 16)
    except ValueError:
        return None
    if not 0 <= steps <= MAX_FLASH_WEAR_STEPS:
        return None
    return round(steps * 0.1, 1)


def supervisor_model(model: str) -> str:
    """DeviceList calls the PVS6 ``PV Supervisor PVS6``; varserver says ``PVS6``."""
    if not model or model.startswith("PV Supervisor"):
        return model
    return f"PV Supervisor {model}"


def meter_kind(serial: str, model: str) -> tuple[MeterMode, str]:
    """(mode, legacy TYPE) from the model/serial suffix: ``…p`` production, ``…c`` consumption."""
    for text in (model, serial):
        suffix = text[-1:].lower()
        if suffix == "p":
            return "production", "PVS5-METER-P"
        if suffix == "c":
            return "consumption", "PVS5-METER-C"
    return "", ""


def _phases(fields: Fields, power: str, current: str, voltage: str) -> tuple[Any, ...]:
    phases: list[tuple[Phase, PhaseReading]] = []
    for phase, n in (("L1", "1"), ("L2", "2")):
        reading = PhaseReading(
            power_watts=to_float(fields.get(power.format(n)), KILO) if power else None,
            current_amperes=to_float(fields.get(current.format(n))) if current else None,
            voltage_volts=to_float(fields.get(voltage.format(n))) if voltage else None,
        )
        if reading != PhaseReading():
            phases.append((phase, reading))  # type: ignore[arg-type]
    return tuple(phases)


def _device(
    fields: Fields,
    device_type: str,
    type_: str = "",
    description: str = "",
    newest: float | None = None,
) -> Device:
    serial = to_unique_text(fields.get("sn"))
    data_time = parse_iso_utc(fields.get("msmtEps"))
    return Device(
        device_type=device_type,
        serial=serial,
        model=to_text(fields.get("prodMdlNm")),
        software_version="",
        state=derive_state(data_time, newest),
        type=type_,
        description=description,
        port="",
        data_time=data_time,
    )


def derive_state(data_time: float | None, newest: float | None) -> str:
    if data_time is None or newest is None:
        return "error"
    return "working" if newest - data_time <= STALE_AFTER_SECONDS else "error"


def derive_inverter_state(
    data_time: float | None, newest_inverter: float | None, newest: float | None
) -> str:
    """``working`` while close to the newest inverter sample and not far behind the PVS."""
    if data_time is None or newest_inverter is None or newest is None:
        return "error"
    near_peers = newest_inverter - data_time <= INVERTER_PEER_SLOTS * INVERTER_SLOT_SECONDS
    near_pvs = newest - data_time <= INVERTER_MAX_LAG_SECONDS
    return "working" if near_peers and near_pvs else "error"


def parse_supervisor(raw: Mapping[str, Any]) -> Supervisor | None:
    serial = to_text(raw.get("/sys/info/serialnum"))
    if not serial:
        return None
    device = Device(
        device_type="PVS",
        serial=serial,
        model=supervisor_model(to_text(raw.get("/sys/info/model")).strip()),
        software_version=to_text(raw.get("/sys/info/sw_rev")),
        state="working",
    )
    return Supervisor(
        device=device,
        hardware_version=to_text(raw.get("/sys/info/hwrev")).strip(),
        uptime_seconds=to_float(raw.get("/sys/info/uptime")),
        cpu_usage_ratio=to_float(raw.get("/sys/info/cpu_usage"), PERCENT),
        memory_usage_ratio=to_float(raw.get("/sys/info/ram_usage"), PERCENT),
        flash_usage_ratio=to_float(raw.get("/sys/info/flash_usage"), PERCENT),
        flash_wear_ratio=flash_wear_ratio(raw.get("/sys/pvs/flashwear_type_b")),
    )


def valid_field_mask(value: object) -> int | None:
    """``vldFldMsk``: decimal text (``"67174655"``) or ``0x…`` hex; ``None`` if absent/junk."""
    text = to_text(value).strip().lower()
    try:
        mask = int(text, 16) if text.startswith("0x") else int(text, 10)
    except ValueError:
        return None
    return mask if mask >= 0 else None


def measured_fields(fields: Fields, mode: MeterMode) -> Fields:
    """``fields`` without the ones the meter does not measure (see ``MASK_BITS``)."""
    mask = valid_field_mask(fields.get("vldFldMsk"))
    if mask is None and mode != "production":
        return fields
    return {
        name: value
        for name, value in fields.items()
        if name not in MASK_BITS or (mask is not None and mask >> MASK_BITS[name] & 1)
    }


def parse_meter(fields: Fields, newest: float | None) -> Meter:
    serial = to_unique_text(fields.get("sn"))
    mode, type_ = meter_kind(serial, to_text(fields.get("prodMdlNm")))
    device = _device(fields, "Power Meter", type_, f"Power Meter {serial}", newest)
    fields = measured_fields(fields, mode)
    return Meter(
        device=device,
        mode=mode,
        ct_rated_current_amperes=to_float(fields.get("ctSclFctr")),
        frequency_hertz=to_float(fields.get("freqHz")),
        net_energy_watt_hours=to_float(fields.get("netLtea3phsumKwh"), KILO),
        imported_energy_watt_hours=to_float(fields.get("posLtea3phsumKwh"), KILO),
        exported_energy_watt_hours=to_float(fields.get("negLtea3phsumKwh"), KILO),
        real_power_watts=to_float(fields.get("p3phsumKw"), KILO),
        reactive_power_var=to_float(fields.get("q3phsumKvar"), KILO),
        apparent_power_va=to_float(fields.get("s3phsumKva"), KILO),
        power_factor=to_float(fields.get("totPfRto")),
        current_amperes=to_float(fields.get("i3phsumA")),
        supply_voltage_volts=to_float(fields.get("v12V")),
        phases=_phases(fields, "p{}Kw", "i{}A", "v{}nV"),
    )


def parse_inverter(
    fields: Fields, newest: float | None, newest_inverter: float | None = None
) -> Inverter:
    serial = to_unique_text(fields.get("sn"))
    device = _device(fields, "Inverter", "SOLARBRIDGE", f"Inverter {serial}", newest)
    state = derive_inverter_state(device.data_time, newest_inverter, newest)
    device = dataclasses.replace(device, state=state)
    return Inverter(
        device=device,
        ac_current_amperes=to_float(fields.get("i3phsumA")),
        ac_power_watts=to_float(fields.get("p3phsumKw"), KILO),
        ac_voltage_volts=to_float(fields.get("vln3phavgV")),
        dc_current_amperes=to_float(fields.get("iMppt1A")),
        dc_power_watts=to_float(fields.get("pMppt1Kw"), KILO),
        dc_voltage_volts=to_float(fields.get("vMppt1V")),
        frequency_hertz=to_float(fields.get("freqHz")),
        energy_watt_hours=to_float(fields.get("ltea3phsumKwh"), KILO),
        heatsink_celsius=to_float(fields.get("tHtsnkDegc")),
    )


def parse_ess(fields: Fields, newest: float | None) -> EnergyStorage:
    """One SunVault ESS. ``p3phsumKw`` is taken as + discharging, like ``ess_p``;
    ``posLtea3phsumKwh`` as energy delivered (discharged), ``neg…`` as charged."""
    return EnergyStorage(
        device=_device(fields, "Energy Storage System", newest=newest),
        operating_mode=to_text(fields.get("opMode")),
        state_of_charge_ratio=to_float(fields.get("socVal")),
        customer_state_of_charge_ratio=to_float(fields.get("customerSocVal")),
        state_of_health_ratio=health_ratio(fields.get("sohVal")),
        battery_voltage_volts=to_float(fields.get("vBattV")),
        power_watts=to_float(fields.get("p3phsumKw"), KILO),
        charge_limit_watts=to_float(fields.get("chrgLimitPmaxKw"), KILO),
        discharge_limit_watts=to_float(fields.get("dischrgLimPmaxKw"), KILO),
        cell_min_temperature_celsius=to_float(fields.get("minTBattCellDegc")),
        cell_max_temperature_celsius=to_float(fields.get("maxTBattCellDegc")),
        cell_min_voltage_volts=to_float(fields.get("minVBattCellV")),
        cell_max_voltage_volts=to_float(fields.get("maxVBattCellV")),
        inverter_temperature_celsius=to_float(fields.get("tInvtrDegc")),
        discharged_energy_watt_hours=to_float(fields.get("posLtea3phsumKwh"), KILO),
        charged_energy_watt_hours=to_float(fields.get("negLtea3phsumKwh"), KILO),
        phases=_phases(fields, "", "", "v{}nV"),
    )


def health_ratio(value: object) -> float | None:
    """``sohVal``; 0 is read as unknown: healthy SunVaults have reported 0
    (a battery at 0 % health would not run), and a 0 would raise every alarm."""
    ratio = to_float(value)
    return None if ratio == 0 else ratio


def parse_transfer_switch(fields: Fields, newest: float | None) -> TransferSwitch:
    return TransferSwitch(
        device=_device(fields, "HUB+", "HUB+", newest=newest),
        state=to_text(fields.get("midStEnum")),
        pv_disconnect_state=to_text(fields.get("pvd1StEnum")),
        temperature_celsius=to_float(fields.get("tDegc")),
        control_supply_voltage_volts=to_float(fields.get("vSpplyV")),
        grid_phases=_phases(fields, "", "", "v{}nGridV"),
        load_phases=_phases(fields, "", "", "v{}nV"),
    )


def live_time(value: object) -> float | None:
    """``/sys/livedata/time``: epoch seconds, or milliseconds on some builds."""
    number = to_float(value)
    if number is None or number <= 0:
        return None
    return plausible_epoch(number / 1000 if number > 1e11 else number)


def parse_live(raw: Mapping[str, Any]) -> LiveData | None:
    if not any(name.startswith(LIVE_PREFIX) for name in raw):
        return None
    return LiveData(
        time=live_time(raw.get(LIVE_PREFIX + "time")),
        pv_power_watts=to_float(raw.get(LIVE_PREFIX + "pv_p"), KILO),
        grid_power_watts=to_float(raw.get(LIVE_PREFIX + "net_p"), KILO),
        load_power_watts=to_float(raw.get(LIVE_PREFIX + "site_load_p"), KILO),
        battery_power_watts=to_float(raw.get(LIVE_PREFIX + "ess_p"), KILO),
        state_of_charge_ratio=to_float(raw.get(LIVE_PREFIX + "soc")),
        backup_time_remaining_seconds=to_float(raw.get(LIVE_PREFIX + "backupTimeRemaining"), 60.0),
        grid_energy_watt_hours=to_float(raw.get(LIVE_PREFIX + "net_en"), KILO),
        battery_energy_watt_hours=to_float(raw.get(LIVE_PREFIX + "ess_en"), KILO),
    )


def parse_interfaces(raw: Mapping[str, Any]) -> tuple[CommInterface, ...]:
    """``/net/<iface>/state`` (sta0, wan0, wan1, wwan0 on a PVS6) -> interfaces.

    The state text is kept raw: its values are not documented. varserver says
    nothing about internet or SunPower-server reachability per interface, so
    those labels stay empty rather than be guessed from the state.
    """
    interfaces: dict[str, CommInterface] = {}
    for name, value in raw.items():
        if not name.startswith(NET_PREFIX):
            continue
        iface, sep, leaf = name[len(NET_PREFIX) :].partition("/")
        if sep and leaf == "state" and iface and "/" not in iface:
            interfaces[iface] = CommInterface(name=to_text(iface), state=to_text(value))
    return tuple(interfaces[k] for k in sorted(interfaces))


def _newest_sample(groups: Iterable[list[tuple[int, dict[str, Any]]]]) -> float | None:
    times = [
        t
        for group in groups
        for _, fields in group
        if (t := parse_iso_utc(fields.get("msmtEps"))) is not None
    ]
    return max(times) if times else None


def parse_variables(raw: object, fetched_at: float) -> Snapshot:
    """Map merged ``/vars`` answers to a ``Snapshot``.

    A device without a serial is skipped with a warning (it cannot be
    labelled); two devices with one serial are both kept (``identity.py``).
    """
    if not isinstance(raw, dict):
        raise PvsPayloadError(f"/vars: expected a JSON object, got {type(raw).__name__}")
    supervisor = parse_supervisor(raw)
    if supervisor is None:
        raise PvsPayloadError("/vars: /sys/info/serialnum is missing; not a PVS answer")
    meters_raw = group_devices(raw, FAMILY_METER)
    inverters_raw = group_devices(raw, FAMILY_INVERTER)
    ess_raw = group_devices(raw, FAMILY_ESS)
    switches_raw = group_devices(raw, FAMILY_TRANSFER_SWITCH)
    newest = _newest_sample((meters_raw, inverters_raw, ess_raw, switches_raw))
    newest_inverter = _newest_sample((inverters_raw,))

    warnings: list[str] = []
    identities = DeviceIdentities()
    identities.admit(supervisor.device, "/sys/info", 0, {})
    devices: list[Device] = [supervisor.device]

    def keep(family: str, parsed: list[tuple[int, Fields, _Item]]) -> list[_Item]:
        kept: list[_Item] = []
        for index, fields, item in parsed:
            device = item.device
            if not device.serial:
                warnings.append(f"{family}/{index}: no serial number (sn); skipped")
                continue
            admitted = identities.admit(device, f"{family}/{index}", index, fields)
            if admitted is None:
                continue
            if admitted is not device:
                item = dataclasses.replace(item, device=admitted)
            devices.append(admitted)
            kept.append(item)
        return kept

    meters = keep(FAMILY_METER, [(i, f, parse_meter(f, newest)) for i, f in meters_raw])
    inverters = keep(
        FAMILY_INVERTER,
        [(i, f, parse_inverter(f, newest, newest_inverter)) for i, f in inverters_raw],
    )
    storage = keep(FAMILY_ESS, [(i, f, parse_ess(f, newest)) for i, f in ess_raw])
    switches = keep(
        FAMILY_TRANSFER_SWITCH,
        [(i, f, parse_transfer_switch(f, newest)) for i, f in switches_raw],
    )
    return Snapshot(
        backend="varserver",
        fetched_at=fetched_at,
        supervisor=supervisor,
        meters=tuple(meters),
        inverters=tuple(inverters),
        devices=tuple(devices),
        storage=tuple(storage),
        transfer_switches=tuple(switches),
        live=parse_live(raw),
        interfaces=parse_interfaces(raw),
        warnings=(*warnings, *identities.warnings),
    )
