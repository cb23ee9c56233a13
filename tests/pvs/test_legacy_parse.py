"""The pure dl_cgi parser, on fixtures written from docs/protocol.md §L."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sunpower_pvs_exporter.pvs.errors import PvsPayloadError
from sunpower_pvs_exporter.pvs.legacy_parse import (
    meter_mode,
    parse_comm,
    parse_device_list,
    parse_grid_profile,
)

FIXTURES = Path(__file__).parent.parent / "fixtures"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def test_2019_device_list_converts_units_and_keeps_identity():
    snap = parse_device_list(load("device_list_2019.json"), fetched_at=1.0, tz=UTC)
    assert snap.backend == "legacy"
    sup = snap.supervisor
    assert sup is not None
    assert sup.device.serial == "ZT01234567890ABCDE"
    assert sup.device.software_version == "2019.5, Build 4150"
    assert sup.uptime_seconds == 10494
    assert sup.memory_used_bytes == 38428 * 1024
    assert sup.flash_available_bytes == 86825 * 1024
    assert sup.cpu_loadavg == pytest.approx(0.57)
    assert sup.communication_errors == 270
    assert sup.untransmitted_events == 57
    assert sup.device.data_time == datetime(2019, 5, 11, 16, 50, tzinfo=UTC).timestamp()

    production, consumption = snap.meters
    assert production.mode == "production" and consumption.mode == "consumption"
    assert production.real_power_watts == pytest.approx(9.0)
    assert consumption.real_power_watts == pytest.approx(464.1)
    assert consumption.net_energy_watt_hours == pytest.approx(-103980.0)
    assert consumption.apparent_power_va == pytest.approx(522.6)
    assert consumption.reactive_power_var == pytest.approx(101.7)
    assert production.ct_rated_current_label == "50"
    assert production.ct_rated_current_amperes == 50
    phases = dict(consumption.phases)
    assert phases["L1"].power_watts == pytest.approx(256.9)
    assert phases["L2"].voltage_volts == pytest.approx(121.4875)
    assert phases["L1"].current_amperes == pytest.approx(2.2421)
    assert production.phases == ()

    working, broken = snap.inverters
    assert working.ac_power_watts == pytest.approx(125.0)
    assert working.dc_power_watts == pytest.approx(128.2)
    assert working.energy_watt_hours == pytest.approx(13046.4)
    assert working.heatsink_celsius == 29
    assert working.module_id == "A0123456789"
    # An inverter in error state on old firmware reports identity only.
    assert broken.device.state == "error"
    assert broken.ac_power_watts is None
    assert broken.energy_watt_hours is None
    assert broken.device.data_time is None
    assert len(snap.devices) == 5


def test_2024_device_list_keeps_error_state_values_and_unknown_devices():
    snap = parse_device_list(load("device_list_2024.json"), fetched_at=1.0, tz=UTC)
    (inverter,) = snap.inverters
    assert inverter.device.state == "error"
    assert inverter.ac_power_watts == 0.0  # a real zero, reported by the PVS
    assert inverter.dc_power_watts == pytest.approx(0.6)  # p_mppt1_kw on newer firmware
    (meter,) = snap.meters
    assert meter.current_amperes == pytest.approx(8.1457)
    assert meter.subtype == "GROSS_PRODUCTION_SITE"
    assert meter.imported_energy_watt_hours is None
    hub = [d for d in snap.devices if d.device_type == "HUB+"]
    assert hub and hub[0].port == "P0, Modbus, Slave 220"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1.5", 1500.0),
        (1.5, 1500.0),
        (2, 2000.0),
        ("  0.25 ", 250.0),
        ("nan", None),
        ("inf", None),
        ("", None),
        ("n/a", None),
        (True, None),
        (None, None),
        ([1], None),
        ({"value": 1}, None),
        (1e308, None),  # finite on the wire, infinite once scaled
    ],
)
def test_wrong_types_become_none_never_zero(raw: object, expected: float | None):
    doc = {
        "devices": [{"DEVICE_TYPE": "Inverter", "SERIAL": "E1", "p_3phsum_kw": raw}],
        "result": "succeed",
    }
    (inverter,) = parse_device_list(doc, fetched_at=0.0).inverters
    if expected is None:
        assert inverter.ac_power_watts is None
    else:
        assert inverter.ac_power_watts == pytest.approx(expected)


def test_missing_fields_and_bad_entries_do_not_fail_the_poll():
    doc = {
        "devices": [
            "not an object",
            {"DEVICE_TYPE": "PVS"},
            {"DEVICE_TYPE": "Inverter", "SERIAL": "E1", "STATE": "working"},
            {"DEVICE_TYPE": "Inverter", "SERIAL": "E1", "STATE": "working"},
            {"DEVICE_TYPE": "Inverter", "SERIAL": "E1", "STATE": "error"},
            {"DEVICE_TYPE": "Mystery Box", "SERIAL": "X1", "STATE": 7, "MODEL": ["x"]},
        ],
        "result": "succeed",
    }
    snap = parse_device_list(doc, fetched_at=0.0)
    assert snap.supervisor is not None and snap.supervisor.uptime_seconds is None
    # The same entry twice is one device; a different one with its serial another.
    assert [(i.device.serial, i.device.state) for i in snap.inverters] == [
        ("E1", "working"),
        ("E1#4", "error"),
    ]
    mystery = snap.devices[-1]
    assert (mystery.device_type, mystery.state, mystery.model) == ("Mystery Box", "7", "")
    assert len(snap.warnings) == 3


@pytest.mark.parametrize(
    "doc",
    [
        None,
        [],
        "succeed",
        {"result": "succeed"},
        {"devices": {"a": 1}, "result": "succeed"},
        {"devices": [], "result": "failed"},
    ],
)
def test_malformed_documents_raise_payload_error(doc: object):
    with pytest.raises(PvsPayloadError):
        parse_device_list(doc, fetched_at=0.0)


def test_label_text_is_valid_utf8_and_bounded():
    doc = {
        "devices": [
            {"DEVICE_TYPE": "Inverter", "SERIAL": "E\ud800X", "DESCR": "a" * 10_000},
        ],
        "result": "succeed",
    }
    (inverter,) = parse_device_list(doc, fetched_at=0.0).inverters
    inverter.device.serial.encode("utf-8")
    assert len(inverter.device.description) == 256


def test_local_time_zone_is_applied_to_datatime():
    from zoneinfo import ZoneInfo

    doc = {
        "devices": [{"DEVICE_TYPE": "PVS", "SERIAL": "Z", "DATATIME": "2024,01,15,12,00,00"}],
        "result": "succeed",
    }
    la = parse_device_list(doc, 0.0, ZoneInfo("America/Los_Angeles")).supervisor
    utc = parse_device_list(doc, 0.0, UTC).supervisor
    assert la is not None and utc is not None
    assert la.device.data_time is not None and utc.device.data_time is not None
    assert la.device.data_time - utc.device.data_time == 8 * 3600


@pytest.mark.parametrize(
    ("meter_type", "mode"),
    [("PVS5-METER-P", "production"), ("PVS5-METER-C", "consumption"), ("PVS5-METER", "")],
)
def test_meter_mode_from_type_suffix(meter_type: str, mode: str):
    assert meter_mode(meter_type) == mode


def test_comm_and_grid_profile():
    comm = {
        "networkstatus": {
            "interfaces": [
                {"interface": "wan", "internet": "up", "sms": "reachable"},
                {"interface": "sta0", "internet": "down", "sms": "unreachable", "signal": "-80"},
                {"interface": "wan", "internet": "down"},
                7,
            ],
            "ts": "1557593625",
        },
        "result": "succeed",
    }
    interfaces = parse_comm(comm)
    assert [(i.name, i.internet, i.sms) for i in interfaces] == [
        ("wan", "up", "reachable"),
        ("sta0", "down", "unreachable"),
    ]
    profile = parse_grid_profile(
        {"active_id": "abc", "active_name": "IEEE-1547", "percent": 100, "status": "success"}
    )
    assert (profile.id, profile.name, profile.percent, profile.status) == (
        "abc",
        "IEEE-1547",
        "100",
        "success",
    )
    with pytest.raises(PvsPayloadError):
        parse_comm({"result": "succeed"})


def test_nan_is_never_produced_by_the_parser():
    snap = parse_device_list(load("device_list_2019.json"), fetched_at=1.0, tz=UTC)
    for inverter in snap.inverters:
        for value in (inverter.ac_power_watts, inverter.heatsink_celsius):
            assert value is None or not math.isnan(value)
