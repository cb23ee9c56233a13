"""The pure varserver mapping: units, signs, derived labels, and missing stays missing."""

from __future__ import annotations

import dataclasses
import math
import typing
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sunpower_pvs_exporter.pvs.errors import PvsPayloadError
from sunpower_pvs_exporter.pvs.varserver_parse import (
    STALE_AFTER_SECONDS,
    flash_wear_ratio,
    group_devices,
    parse_variables,
)

T0 = datetime(2025, 6, 28, 4, 10, tzinfo=UTC).timestamp()
EPS = "2025-06-28T04:10:00Z"
EPS_OLD = "2025-06-28T03:00:00Z"

BASE = {
    "/sys/info/serialnum": "ZT01234567890A0321",
    "/sys/info/model": "PVS6",
    "/sys/info/hwrev": "6.03",
    "/sys/info/sw_rev": "2025.06.24.61840",
    "/sys/info/uptime": "106408.20",
    "/sys/info/cpu_usage": "12",
    "/sys/info/ram_usage": "47",
    "/sys/info/flash_usage": "31",
    "/sys/pvs/flashwear_type_b": "0x05",
}


def test_supervisor_units_and_labels():
    snap = parse_variables(BASE, fetched_at=1.0)
    assert snap.backend == "varserver"
    sup = snap.supervisor
    assert sup is not None
    assert sup.device.serial == "ZT01234567890A0321"
    assert sup.device.model == "PV Supervisor PVS6"
    assert sup.device.software_version == "2025.06.24.61840"
    assert sup.device.state == "working"
    assert sup.hardware_version == "6.03"
    assert sup.uptime_seconds == pytest.approx(106408.2)
    assert sup.cpu_usage_ratio == pytest.approx(0.12)
    assert sup.memory_usage_ratio == pytest.approx(0.47)
    assert sup.flash_usage_ratio == pytest.approx(0.31)
    assert sup.flash_wear_ratio == pytest.approx(0.5)
    # Legacy-only fields are unknown, not zero.
    assert sup.memory_used_bytes is None
    assert sup.communication_errors is None


def test_meter_per_phase_import_export_and_derived_labels():
    raw = {
        **BASE,
        "/sys/devices/meter/1/sn": "PVS6M22170115c",
        "/sys/devices/meter/1/prodMdlNm": "PVS6M0400c",
        "/sys/devices/meter/1/msmtEps": EPS,
        "/sys/devices/meter/1/p3phsumKw": "-1.5",
        "/sys/devices/meter/1/posLtea3phsumKwh": "27900.1399",
        "/sys/devices/meter/1/negLtea3phsumKwh": "2.91",
        "/sys/devices/meter/1/netLtea3phsumKwh": "27897.2299",
        "/sys/devices/meter/1/p1Kw": "-0.8",
        "/sys/devices/meter/1/p2Kw": "-0.7",
        "/sys/devices/meter/1/i1A": "6.6",
        "/sys/devices/meter/1/v1nV": "121.9",
        "/sys/devices/meter/1/v2nV": "121.5",
        "/sys/devices/meter/1/ctSclFctr": "100",
        "/sys/devices/meter/0/sn": "PVS6M22170115p",
        "/sys/devices/meter/0/prodMdlNm": "PVS6M0400p",
        "/sys/devices/meter/0/msmtEps": EPS,
        "/sys/devices/meter/0/p3phsumKw": "2.0",
    }
    snap = parse_variables(raw, fetched_at=1.0)
    production, consumption = snap.meters  # ordered by index, not by dict order
    assert production.mode == "production" and production.device.type == "PVS5-METER-P"
    assert consumption.mode == "consumption" and consumption.device.type == "PVS5-METER-C"
    assert consumption.device.description == "Power Meter PVS6M22170115c"
    assert consumption.real_power_watts == pytest.approx(-1500.0)  # negative: exporting
    assert consumption.imported_energy_watt_hours == pytest.approx(27900139.9)
    assert consumption.exported_energy_watt_hours == pytest.approx(2910.0)
    assert consumption.net_energy_watt_hours == pytest.approx(27897229.9)
    phases = dict(consumption.phases)
    assert phases["L1"].power_watts == pytest.approx(-800.0)
    assert phases["L1"].current_amperes == pytest.approx(6.6)
    assert phases["L2"].current_amperes is None  # i2A not sent: unknown, not 0
    assert phases["L2"].voltage_volts == pytest.approx(121.5)
    assert consumption.device.data_time == T0
    # Production meter sends little: everything else stays None.
    assert production.reactive_power_var is None
    assert production.phases == ()
    assert production.ct_rated_current_amperes is None


def test_inverter_missing_numbers_stay_none_and_stale_means_error():
    raw = {
        **BASE,
        "/sys/devices/meter/0/sn": "PVS6M1p",
        "/sys/devices/meter/0/msmtEps": EPS,
        "/sys/devices/inverter/0/sn": "E001",
        "/sys/devices/inverter/0/prodMdlNm": "AC_Module_Type_H",
        "/sys/devices/inverter/0/msmtEps": EPS,
        "/sys/devices/inverter/0/p3phsumKw": "0.3",
        "/sys/devices/inverter/0/pMppt1Kw": "0.31",
        "/sys/devices/inverter/0/tHtsnkDegc": "41",
        "/sys/devices/inverter/1/sn": "E002",
        "/sys/devices/inverter/1/prodMdlNm": "AC_Module_Type_H",
        "/sys/devices/inverter/1/msmtEps": EPS_OLD,
        "/sys/devices/inverter/2/sn": "E003",
        "/sys/devices/inverter/2/p3phsumKw": "nan",
    }
    snap = parse_variables(raw, fetched_at=1.0)
    fresh, stale, no_time = snap.inverters
    assert fresh.device.state == "working"
    assert fresh.device.type == "SOLARBRIDGE"
    assert fresh.device.description == "Inverter E001"
    assert fresh.ac_power_watts == pytest.approx(300.0)
    assert fresh.dc_power_watts == pytest.approx(310.0)
    assert fresh.heatsink_celsius == 41
    assert fresh.ac_voltage_volts is None  # pypvs would say 0.0
    assert stale.device.state == "error"
    assert T0 - stale.device.data_time > STALE_AFTER_SECONDS
    assert stale.ac_power_watts is None
    assert no_time.device.state == "error"
    assert no_time.ac_power_watts is None  # "nan" is not a reading


def test_ess_signs_units_and_transfer_switch():
    raw = {
        **BASE,
        "/sys/devices/ess/0/sn": "BC1",
        "/sys/devices/ess/0/prodMdlNm": "SPWR-Equinox-model",
        "/sys/devices/ess/0/msmtEps": EPS,
        "/sys/devices/ess/0/socVal": "0.86",
        "/sys/devices/ess/0/sohVal": "0.97",
        "/sys/devices/ess/0/p3phsumKw": "-2.5",
        "/sys/devices/ess/0/chrgLimitPmaxKw": "3.84",
        "/sys/devices/ess/0/dischrgLimPmaxKw": "6.8",
        "/sys/devices/ess/0/posLtea3phsumKwh": "1200.5",
        "/sys/devices/ess/0/negLtea3phsumKwh": "1350.25",
        "/sys/devices/ess/0/minVBattCellV": "3.201",
        "/sys/devices/ess/0/opMode": "SELF_CONSUMPTION",
        "/sys/devices/transfer_switch/0/sn": "HUB1",
        "/sys/devices/transfer_switch/0/msmtEps": EPS,
        "/sys/devices/transfer_switch/0/midStEnum": "CLOSED",
        "/sys/devices/transfer_switch/0/v1nGridV": "120.5",
        "/sys/devices/transfer_switch/0/v2nV": "119.5",
        "/sys/livedata/time": str(int(T0) * 1000),  # milliseconds on some builds
        "/sys/livedata/pv_p": "4.2",
        "/sys/livedata/net_p": "-1.1",
        "/sys/livedata/ess_p": "-2.5",
        "/sys/livedata/soc": "0.86",
        "/sys/livedata/backupTimeRemaining": "720",
    }
    snap = parse_variables(raw, fetched_at=1.0)
    (ess,) = snap.storage
    assert ess.device.device_type == "Energy Storage System"
    assert ess.state_of_charge_ratio == pytest.approx(0.86)
    assert ess.state_of_health_ratio == pytest.approx(0.97)
    assert ess.power_watts == pytest.approx(-2500.0)  # charging
    assert ess.charge_limit_watts == pytest.approx(3840.0)
    assert ess.discharge_limit_watts == pytest.approx(6800.0)
    assert ess.discharged_energy_watt_hours == pytest.approx(1200500.0)
    assert ess.charged_energy_watt_hours == pytest.approx(1350250.0)
    assert ess.cell_min_voltage_volts == pytest.approx(3.201)
    assert ess.cell_max_voltage_volts is None
    assert ess.operating_mode == "SELF_CONSUMPTION"
    (hub,) = snap.transfer_switches
    assert hub.state == "CLOSED"
    assert dict(hub.grid_phases)["L1"].voltage_volts == pytest.approx(120.5)
    assert "L2" not in dict(hub.grid_phases)
    assert dict(hub.load_phases)["L2"].voltage_volts == pytest.approx(119.5)
    live = snap.live
    assert live is not None
    assert live.time == T0
    assert live.pv_power_watts == pytest.approx(4200.0)
    assert live.grid_power_watts == pytest.approx(-1100.0)
    assert live.battery_power_watts == pytest.approx(-2500.0)
    assert live.state_of_charge_ratio == pytest.approx(0.86)
    assert live.backup_time_remaining_seconds == 720 * 60
    assert live.load_power_watts is None
    assert {d.device_type for d in snap.devices} == {"PVS", "Energy Storage System", "HUB+"}


def test_devices_without_serial_or_duplicated_are_skipped_with_a_warning():
    raw = {
        **BASE,
        "/sys/devices/inverter/0/sn": "E001",
        "/sys/devices/inverter/1/sn": "E001",
        "/sys/devices/inverter/2/p3phsumKw": "0.1",
    }
    snap = parse_variables(raw, fetched_at=1.0)
    assert [inv.device.serial for inv in snap.inverters] == ["E001"]
    assert len(snap.warnings) == 2


@pytest.mark.parametrize("doc", [[], "x", None, {"/sys/info/model": "PVS6"}])
def test_not_a_pvs_answer_is_a_payload_error(doc):
    with pytest.raises(PvsPayloadError):
        parse_variables(doc, fetched_at=1.0)


@pytest.mark.parametrize(
    ("text", "ratio"),
    [
        ("0x01", 0.1),
        ("0x0A", 1.0),
        # Past its rated life (a real PVS: "0x0b"): as read, never capped (FACTS V5).
        ("0x0b", 1.1),
        ("0x10", 1.6),
        ("0x100", None),  # not one byte: not a reading
        ("zz", None),
        ("", None),
    ],
)
def test_flash_wear(text, ratio):
    assert flash_wear_ratio(text) == (pytest.approx(ratio) if ratio is not None else None)


def test_group_devices_ignores_other_layouts():
    raw = {
        "/sys/devices/meter/0/sn": "A",
        "/sys/devices/meter/x/sn": "B",
        "/sys/devices/21/meter/data": {"sn": "C"},
        "/sys/devices/meter/0/deep/field": "D",
    }
    assert group_devices(raw, "meter") == [(0, {"sn": "A"})]


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, max_examples=100)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                *BASE,
                "/sys/devices/meter/0/sn",
                "/sys/devices/meter/0/p3phsumKw",
                "/sys/devices/inverter/0/sn",
                "/sys/devices/inverter/0/msmtEps",
                "/sys/devices/ess/0/socVal",
                "/sys/livedata/time",
            ]
        ),
        st.one_of(st.none(), st.text(), st.floats(), st.integers(), st.booleans()),
    )
)
def test_any_value_types_never_crash(raw):
    """Any JSON-ish value anywhere: a PvsPayloadError or a snapshot whose every
    reading is a finite float or missing and every label a string; never a
    crash, a NaN, or a raw value passed through."""
    raw.setdefault("/sys/info/serialnum", "ZT1")
    try:
        snap = parse_variables(raw, fetched_at=1.0)
    except PvsPayloadError:
        return
    assert snap.backend == "varserver"
    assert snap.fetched_at == 1.0
    assert_only_clean_values(snap)
    serial = raw["/sys/info/serialnum"]
    if isinstance(serial, str) and serial.strip():
        # Kept as the PVS sent it (labels are raw PVS strings), whitespace and all.
        assert snap.supervisor.device.serial.strip() == serial.strip()


def assert_only_clean_values(value: object, path: str = "snapshot") -> None:
    """Walk the snapshot: readings are finite floats or None, labels are str."""
    if dataclasses.is_dataclass(value):
        hints = typing.get_type_hints(type(value))
        for field in dataclasses.fields(value):
            item = getattr(value, field.name)
            where = f"{path}.{field.name}"
            hint = hints[field.name]
            if hint == float | None:
                assert item is None or (type(item) is float and math.isfinite(item)), (where, item)
            elif hint is str:
                assert type(item) is str, (where, item)
            else:
                assert_only_clean_values(item, where)
    elif isinstance(value, tuple | list):
        for index, item in enumerate(value):
            assert_only_clean_values(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            assert_only_clean_values(item, f"{path}[{key!r}]")


# pypvs's recorded production meter: 2.97 kW, every leg and pos/neg field 0.0.
PRODUCTION_ZEROS = {
    "sn": "PVS6M90000001p",
    "prodMdlNm": "PVS6M0400p",
    "msmtEps": EPS,
    "p3phsumKw": "2.972999",
    "netLtea3phsumKwh": "11991.549805",
    "v12V": "243.58197",
    **{f: "0.0" for f in ("i1A", "i2A", "p1Kw", "p2Kw", "v1nV", "v2nV")},
    "posLtea3phsumKwh": "0.0",
    "negLtea3phsumKwh": "0.0",
}


def meter_vars(fields: dict[str, str]) -> dict[str, str]:
    return {**BASE, **{f"/sys/devices/meter/0/{k}": v for k, v in fields.items()}}


@pytest.mark.parametrize("mask", [None, "67174655", "0x40100ff", "junk"])
def test_production_meter_zeros_are_not_readings(mask):
    fields = dict(PRODUCTION_ZEROS)
    if mask is not None:
        fields["vldFldMsk"] = mask
    (meter,) = parse_variables(meter_vars(fields), fetched_at=1.0).meters
    assert meter.real_power_watts == pytest.approx(2972.999)
    assert meter.net_energy_watt_hours == pytest.approx(11991549.805)
    assert meter.phases == ()
    assert meter.imported_energy_watt_hours is None
    assert meter.exported_energy_watt_hours is None


def test_a_mask_that_marks_legs_valid_keeps_them_on_a_production_meter():
    all_bits = str(sum(1 << b for b in range(27)))
    fields = {**PRODUCTION_ZEROS, "vldFldMsk": all_bits, "v1nV": "121.5", "v2nV": "121.7"}
    (meter,) = parse_variables(meter_vars(fields), fetched_at=1.0).meters
    assert dict(meter.phases)["L1"].voltage_volts == 121.5
    assert meter.imported_energy_watt_hours == 0.0  # the mask says this 0 is real


def test_consumption_meter_keeps_its_legs_and_honours_a_mask():
    fields = {
        **PRODUCTION_ZEROS,
        "sn": "PVS6M90000002c",
        "prodMdlNm": "PVS6M0400c",
        "v1nV": "121.7",
        "posLtea3phsumKwh": "17.03",
    }
    (meter,) = parse_variables(meter_vars(fields), fetched_at=1.0).meters
    assert dict(meter.phases)["L1"].voltage_volts == 121.7
    assert meter.imported_energy_watt_hours == pytest.approx(17030.0)
    # The real consumption mask keeps everything; the production mask would not.
    for mask, kept in (("70239999", True), ("67174655", False)):
        (meter,) = parse_variables(meter_vars({**fields, "vldFldMsk": mask}), fetched_at=1.0).meters
        assert (meter.imported_energy_watt_hours is not None) is kept, mask


def inverter_vars(ages: list[float], meter_age: float = 0.0) -> dict[str, str]:
    """Inverters whose msmtEps are ``ages`` seconds before T0; one meter at T0 - meter_age."""

    def eps(age: float) -> str:
        return datetime.fromtimestamp(T0 - age, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    raw = dict(BASE)
    raw.update(
        {"/sys/devices/meter/0/sn": "PVS6M1c", "/sys/devices/meter/0/msmtEps": eps(meter_age)}
    )
    for i, age in enumerate(ages):
        raw[f"/sys/devices/inverter/{i}/sn"] = f"E00{i}"
        raw[f"/sys/devices/inverter/{i}/msmtEps"] = eps(age)
    return raw


@pytest.mark.parametrize(
    ("ages", "expected"),
    [
        # Lagging 10-20 min behind the meter, peers within 3 slots: all working.
        ([600, 900, 1200], ["working"] * 3),
        # One inverter four slots behind its peers: dead among live ones.
        ([600, 900, 1800], ["working", "working", "error"]),
        # Every inverter silent for more than 30 minutes (night): all error.
        ([2100, 2100], ["error", "error"]),
        ([1800, 1800], ["working", "working"]),
    ],
)
def test_inverter_state_holds_on_the_five_minute_cadence(ages, expected):
    snap = parse_variables(inverter_vars(ages), fetched_at=1.0)
    assert [inv.device.state for inv in snap.inverters] == expected


def test_net_interface_states_are_kept_raw_and_odd_names_skipped():
    raw = {
        **BASE,
        "/net/wan0/state": "up",
        "/net/wwan0/state": "",
        "/net/sta0/ip": "192.0.2.1",
        "/net/a/b/state": "up",
        "/net//state": "up",
    }
    snap = parse_variables(raw, fetched_at=1.0)
    assert [(i.name, i.state, i.internet, i.sms) for i in snap.interfaces] == [
        ("wan0", "up", "", ""),
        ("wwan0", "", "", ""),
    ]
