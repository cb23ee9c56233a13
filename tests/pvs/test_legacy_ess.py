"""SunVault data on legacy firmware: parsing, signs, and how often it is read."""

from __future__ import annotations

import pytest

from sunpower_pvs_exporter.pvs.errors import PvsPayloadError
from sunpower_pvs_exporter.pvs.legacy import LegacyClient
from sunpower_pvs_exporter.pvs.legacy_ess import parse_ess_status
from sunpower_pvs_exporter.pvs.model import Device
from support import read_once, target_for

REPORT = {
    "ess_report": {
        "battery_status": [
            {
                "serial_number": "BMS1",
                "battery_amperage": {"value": 10.0, "unit": "A"},  # + = charging
                "battery_voltage": {"value": 52.0},
                "customer_state_of_charge": {"value": 80},
                "system_state_of_charge": {"value": 84},
                "temperature": {"value": 25.5},
            },
            {"serial_number": "", "battery_voltage": {"value": 1}},
        ],
        "ess_status": [
            {
                "serial_number": "ESS1",
                "enclosure_humidity": {"value": 35},
                "enclosure_temperature": {"value": 26},
                "ess_meter_reading": {"agg_power": {"value": 1.5}},
            }
        ],
        "hub_plus_status": {
            "contactor_position": "CLOSED",
            "grid_phase1_voltage": {"value": 120.1},
            "load_phase2_voltage": {"value": "119.9"},
            "main_voltage": {"value": 240.2},
            "hub_temperature": {"value": "junk"},
        },
    }
}
DEVICES = (
    Device("ESS BMS", "BMS1", "BMS-model", "1.0", "working"),
    Device("Energy Storage System", "ESS1", "ESS-model", "1.0", "working"),
    Device("HUB+", "HUB1", "SunPower MIDC", "1.0", "working", "HUB+"),
)


def test_units_signs_and_identity_from_device_list():
    storage, switches, _ = parse_ess_status(REPORT, DEVICES)
    ess, bms = storage
    assert ess.device is DEVICES[1]
    assert ess.power_watts == pytest.approx(1500.0)
    assert ess.humidity_ratio == pytest.approx(0.35)
    assert ess.temperature_celsius == 26
    assert bms.device is DEVICES[0]
    # Charging at 10 A: negative current and power in our convention.
    assert bms.battery_current_amperes == pytest.approx(-10.0)
    assert bms.power_watts == pytest.approx(-520.0)
    assert bms.state_of_charge_ratio == pytest.approx(0.84)
    assert bms.customer_state_of_charge_ratio == pytest.approx(0.80)
    assert bms.state_of_health_ratio is None
    (hub,) = switches
    assert hub.device is DEVICES[2]  # the report has no serial: DeviceList's HUB+
    assert hub.state == "CLOSED"
    assert dict(hub.grid_phases)["L1"].voltage_volts == pytest.approx(120.1)
    assert dict(hub.load_phases)["L2"].voltage_volts == pytest.approx(119.9)
    assert hub.main_voltage_volts == pytest.approx(240.2)
    assert hub.control_supply_voltage_volts is None
    assert hub.temperature_celsius is None  # junk stays unknown


@pytest.mark.parametrize("doc", [{}, [], {"ess_report": []}, None])
def test_not_a_report(doc):
    with pytest.raises(PvsPayloadError):
        parse_ess_status(doc, DEVICES)


async def test_legacy_client_reads_ess_status_only_with_sunvault_and_on_its_schedule(
    make_simulator, open_reader
):
    plain = await make_simulator(inverters=1)
    await read_once(target_for(plain))
    assert plain.pvs.log.count("/cgi-bin/dl_cgi/energy-storage-system/status") == 0

    sim = await make_simulator(inverters=2, battery_modules=2)
    client = open_reader(target_for(sim))
    assert isinstance(client, LegacyClient)
    snap = await client.read()
    for _ in range(3):
        again = await client.read()
    assert sim.pvs.log.count("DeviceList") == 4
    assert sim.pvs.log.count("/cgi-bin/dl_cgi/energy-storage-system/status") == 1
    kinds = sorted(e.device.device_type for e in again.storage)
    assert kinds == ["Battery", "Battery", "Energy Storage System"]
    assert snap.transfer_switches[0].state == "CLOSED"
    state = sim.pvs.state().storage
    assert state is not None
    bms = [e for e in again.storage if e.device.device_type == "Battery"]
    assert len(bms) == 2
    # Battery sign agrees with the site model: + discharging.
    total = sum(e.power_watts for e in bms if e.power_watts is not None)
    assert total == pytest.approx(state.power_kw * 1000, rel=0.05, abs=5)


@pytest.mark.parametrize(
    ("node", "watts"),
    [
        ({"value": 1.5, "unit": "kW"}, 1500.0),
        ({"value": "1500", "unit": "W"}, 1500.0),
        ({"value": 1.5, "unit": " kw "}, 1500.0),
        ({"value": 1.5}, 1500.0),  # no unit: hass-sunpower's documented kW
        (1.5, 1500.0),
        ({"value": 1.5, "unit": "hp"}, None),
        ({"value": 1.5, "unit": None}, 1500.0),
        ({"value": 1.5, "unit": 7}, None),
    ],
)
def test_agg_power_unit_is_read(node, watts):
    doc = {
        "ess_report": {
            "ess_status": [{"serial_number": "ESS1", "ess_meter_reading": {"agg_power": node}}]
        }
    }
    report = parse_ess_status(doc, DEVICES)
    (ess,) = report.storage
    assert ess.power_watts == (pytest.approx(watts) if watts is not None else None)
    assert bool(report.warnings) == (watts is None)


@pytest.mark.parametrize(
    ("node", "celsius"),
    [
        ({"value": 77, "unit": "F"}, 25.0),
        ({"value": 298.15, "unit": "K"}, 25.0),
        ({"value": 25, "unit": "°C"}, 25.0),
        ({"value": 25, "unit": "furlong"}, None),
    ],
)
def test_temperature_unit_is_read(node, celsius):
    doc = {"ess_report": {"battery_status": [{"serial_number": "BMS1", "temperature": node}]}}
    (bms,) = parse_ess_status(doc, DEVICES).storage
    assert bms.temperature_celsius == (pytest.approx(celsius) if celsius is not None else None)


def test_fraction_and_millivolts():
    doc = {
        "ess_report": {
            "battery_status": [
                {
                    "serial_number": "BMS1",
                    "system_state_of_charge": {"value": 0.84, "unit": "fraction"},
                    "battery_voltage": {"value": 52000, "unit": "mV"},
                    "battery_amperage": {"value": 10000, "unit": "mA"},
                }
            ]
        }
    }
    (bms,) = parse_ess_status(doc, DEVICES).storage
    assert bms.state_of_charge_ratio == pytest.approx(0.84)
    assert bms.battery_voltage_volts == pytest.approx(52.0)
    assert bms.power_watts == pytest.approx(-520.0)


def _signed_report(agg_kw: float, amps: float) -> dict:
    return {
        "ess_report": {
            "ess_status": [
                {
                    "serial_number": "ESS1",
                    "ess_meter_reading": {"agg_power": {"value": agg_kw, "unit": "kW"}},
                }
            ],
            "battery_status": [
                {
                    "serial_number": "BMS1",
                    "battery_amperage": {"value": amps, "unit": "A"},
                    "battery_voltage": {"value": 50.0, "unit": "V"},
                }
            ],
        }
    }


@pytest.mark.parametrize(
    ("agg_kw", "amps", "warned"),
    [
        (2.0, -40.0, False),  # discharging 2 kW, modules discharging 2 kW
        (-2.0, 40.0, False),  # both charging
        (2.0, 40.0, True),  # agg says discharging, modules charge: disagree
        (0.1, 40.0, False),  # agg too small to judge
        (2.0, 4.0, False),  # modules too small to judge
    ],
)
def test_agg_power_sign_cross_check(agg_kw, amps, warned):
    report = parse_ess_status(_signed_report(agg_kw, amps), DEVICES)
    assert any("agg_power" in w for w in report.warnings) is warned
