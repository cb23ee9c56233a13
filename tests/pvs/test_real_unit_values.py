"""Facts about real PVS units (issue 11; docs/protocol.md §L3, §L5, §V3-§V5),
each taught to the simulator first and checked here through the
real HTTP path: simulator -> exporter -> /metrics."""

from __future__ import annotations

import pytest

from sunpower_pvs_exporter.runtime import make_reader
from sunpower_pvs_exporter.simulator.varserver_api import variables
from support import MIDNIGHT_UTC, NOON_UTC, read_once, scrape_when_up, series, tls_target_for


def of_mode(samples: dict, name: str, mode: str) -> list[tuple[dict[str, str], float]]:
    return [(labels, v) for labels, v in series(samples, name) if labels.get("mode") == mode]


LEG_AND_DIRECTION = (
    "sunpower_pvs_power_meter_phase_real_power_watts",
    "sunpower_pvs_power_meter_phase_current_amperes",
    "sunpower_pvs_power_meter_phase_voltage_volts",
    "sunpower_pvs_power_meter_imported_energy_watt_hours_total",
    "sunpower_pvs_power_meter_exported_energy_watt_hours_total",
)


# --- fact 5: production meters report unmeasured fields as 0.0 -----------------


@pytest.mark.parametrize("masks", [True, False], ids=["with-vldFldMsk", "without-mask"])
async def test_varserver_production_meter_exports_no_fake_zeros(
    make_simulator, make_exporter, http, masks
):
    sim = await make_simulator(
        api="varserver", scale=0.0, inverters=4, meter_valid_field_masks=masks
    )
    # The simulator really sends the zeros (and the mask when asked to).
    raw = sim.pvs.state()
    names = variables(raw, "strip", sim.pvs.mac, meter_masks=masks)
    production = [n for n, v in names.items() if n.endswith("/sn") and v.endswith("p")]
    (sn_name,) = production
    base = sn_name.removesuffix("sn")
    assert names[base + "p1Kw"] == "0.000000" and names[base + "posLtea3phsumKwh"] == "0.000000"
    assert (base + "vldFldMsk" in names) is masks

    exporter = await make_exporter([tls_target_for(sim, api="varserver")])
    samples = await scrape_when_up(http, exporter.url + "/metrics")
    (power,) = of_mode(samples, "sunpower_pvs_power_meter_average_real_power_watts", "production")
    assert power[1] > 100  # noon: the meter really is producing
    for name in LEG_AND_DIRECTION:
        assert of_mode(samples, name, "production") == [], name
        # The consumption meter measures them all, and keeps them.
        assert of_mode(samples, name, "consumption"), name
    volts = of_mode(samples, "sunpower_pvs_power_meter_phase_voltage_volts", "consumption")
    assert all(100 < v < 140 for _, v in volts)


# --- fact 7: the transfer switch's vSpplyV is its ~12 V control supply ---------


async def test_transfer_switch_control_supply_is_not_a_grid_voltage(
    make_simulator, make_exporter, http
):
    sim = await make_simulator(api="both", scale=0.0, inverters=2, battery_modules=1)
    var_exporter = await make_exporter([tls_target_for(sim, api="varserver")])
    legacy_exporter = await make_exporter([tls_target_for(sim, api="legacy")])
    var = await scrape_when_up(http, var_exporter.url + "/metrics")
    legacy = await scrape_when_up(http, legacy_exporter.url + "/metrics")

    (supply,) = series(var, "sunpower_pvs_transfer_switch_control_supply_voltage_volts")
    assert 10.0 < supply[1] < 13.0
    assert series(var, "sunpower_pvs_transfer_switch_main_voltage_volts") == []
    (main,) = series(legacy, "sunpower_pvs_transfer_switch_main_voltage_volts")
    assert 200.0 < main[1] < 260.0
    assert series(legacy, "sunpower_pvs_transfer_switch_control_supply_voltage_volts") == []
    for samples in (var, legacy):
        assert series(samples, "sunpower_pvs_transfer_switch_supply_voltage_volts") == []


# --- fact 10: inverter msmtEps is on a 5-minute grid and lags the meters -------

LAG = 720.0  # up to ~10 minutes behind the meters, plus reporting jitter


def states(snapshot) -> dict[str, str]:
    return {d.serial: d.state for d in snapshot.devices if d.device_type == "Inverter"}


async def test_lagging_inverters_stay_working_across_slots(make_simulator, open_reader):
    """Healthy inverters whose samples lag 4-12 minutes behind the meters (on a
    5-minute grid) stay working wherever in the slot the poll lands; the dead
    inverter stays error. Polls every 30 simulated seconds over 15 minutes."""
    sim = await make_simulator(
        api="varserver", scale=0.0, inverters=6, error_inverters=1, inverter_lag_seconds=LAG
    )
    reader = open_reader(tls_target_for(sim, api="varserver"))
    oldest_healthy = 0.0
    for step in range(30):
        sim.pvs.clock.start = NOON_UTC + 30 * step
        snapshot = await reader.read()
        newest_meter = max(m.device.data_time for m in snapshot.meters)
        healthy, dead = snapshot.inverters[:-1], snapshot.inverters[-1]
        ages = [newest_meter - inv.device.data_time for inv in healthy]
        oldest_healthy = max(oldest_healthy, *ages)
        assert states(snapshot)[dead.device.serial] == "error", step
        assert {states(snapshot)[i.device.serial] for i in healthy} == {"working"}, step
    # The lag really went beyond the old 15-minute window during the run.
    assert oldest_healthy > 900


async def test_lagging_inverters_agree_with_legacy_state(make_simulator):
    sim = await make_simulator(
        api="both", scale=0.0, inverters=6, error_inverters=2, inverter_lag_seconds=LAG
    )
    legacy = await read_once(tls_target_for(sim, api="legacy"))
    assert states(await read_once(tls_target_for(sim, api="varserver"))) == states(legacy)


async def test_at_night_every_inverter_is_error_on_varserver(make_simulator):
    sim = await make_simulator(
        api="varserver", scale=0.0, start=MIDNIGHT_UTC, inverters=4, inverter_lag_seconds=LAG
    )
    varserver = await read_once(tls_target_for(sim, api="varserver"))
    assert set(states(varserver).values()) == {"error"}


# --- fact 11: legacy SunVault values carry their unit; agg_power's sign ---------


async def read_legacy_twice(sim):
    reader = make_reader(tls_target_for(sim, api="legacy"))
    reader.ess_refresh_seconds = 0.0  # re-read the SunVault report on every poll
    try:
        return await reader.read(), await reader.read()
    finally:
        await reader.close()


@pytest.mark.parametrize("units", ["kW", "W"])
async def test_legacy_ess_values_are_read_in_their_own_units(
    make_simulator, make_exporter, http, units
):
    sim = await make_simulator(
        api="both", scale=0.0, inverters=20, battery_modules=2, legacy_ess_units=units
    )
    exporter = await make_exporter([tls_target_for(sim, api="legacy")])
    samples = await scrape_when_up(http, exporter.url + "/metrics")
    ess = sim.pvs.state().storage
    assert ess is not None and abs(ess.power_kw) > 0.5

    def value(name: str, serial: str) -> float:
        (found,) = [v for labels, v in series(samples, name) if labels["device_id"] == serial]
        return found

    assert value("sunpower_pvs_ess_power_watts", ess.serial) == pytest.approx(
        ess.power_kw * 1000, abs=0.1
    )
    assert value("sunpower_pvs_ess_temperature_celsius", ess.serial) == pytest.approx(
        ess.enclosure_t, abs=0.01
    )
    assert value("sunpower_pvs_ess_humidity_ratio", ess.serial) == pytest.approx(
        ess.enclosure_humidity_pct / 100, abs=1e-4
    )
    module = ess.modules[0]
    assert value("sunpower_pvs_ess_state_of_charge_ratio", module.serial) == pytest.approx(
        module.soc, abs=1e-4
    )
    assert value("sunpower_pvs_ess_temperature_celsius", module.serial) == pytest.approx(
        module.temperature_c, abs=0.01
    )
    (hub_t,) = series(samples, "sunpower_pvs_transfer_switch_temperature_celsius")
    assert hub_t[1] == pytest.approx(ess.hub_t, abs=0.01)


async def test_legacy_ess_unknown_unit_is_missing_and_logged_once(make_simulator, caplog):
    sim = await make_simulator(
        api="both", scale=0.0, inverters=20, battery_modules=2, legacy_ess_units="unknown"
    )
    caplog.set_level("WARNING", logger="sunpower_pvs_exporter")
    first, second = await read_legacy_twice(sim)
    ess = sim.pvs.state().storage
    assert ess is not None
    for snapshot in (first, second):
        by_serial = {e.device.serial: e for e in snapshot.storage}
        assert by_serial[ess.serial].power_watts is None  # not a number in an unknown unit
        assert by_serial[ess.serial].temperature_celsius == pytest.approx(ess.enclosure_t)
    unit_logs = [r for r in caplog.records if "BTU/h" in r.getMessage()]
    assert len(unit_logs) == 1, [r.getMessage() for r in caplog.records]


@pytest.mark.parametrize(("sign", "disagree"), [(1, False), (-1, True)])
async def test_legacy_agg_power_sign_is_cross_checked_against_the_modules(
    make_simulator, caplog, sign, disagree
):
    sim = await make_simulator(
        api="both", scale=0.0, inverters=20, battery_modules=2, legacy_agg_power_sign=sign
    )
    caplog.set_level("WARNING", logger="sunpower_pvs_exporter")
    await read_legacy_twice(sim)
    ess = sim.pvs.state().storage
    assert ess is not None and abs(ess.power_kw) > 0.5  # both readings are large
    sign_logs = [r for r in caplog.records if "agg_power" in r.getMessage()]
    assert len(sign_logs) == (1 if disagree else 0), [r.getMessage() for r in caplog.records]


# --- fact 12: consumption CTs are net (load side) or gross ----------------------


CT_SUBTYPES = [("net", "NET_CONSUMPTION_LOADSIDE"), ("gross", "GROSS_CONSUMPTION_LINESIDE")]


@pytest.mark.parametrize(("ct", "subtype"), CT_SUBTYPES)
async def test_consumption_ct_type_is_exported(make_simulator, make_exporter, http, ct, subtype):
    sim = await make_simulator(api="both", scale=0.0, inverters=20, consumption_ct=ct)
    legacy = await make_exporter([tls_target_for(sim, api="legacy")])
    samples = await scrape_when_up(http, legacy.url + "/metrics")
    subtypes = series(samples, "sunpower_pvs_power_meter_subtype_info")
    info = {labels["mode"]: labels for labels, _ in subtypes}
    assert info["consumption"]["subtype"] == subtype
    assert info["consumption"]["measures"] == ct
    assert info["production"]["measures"] == "gross"
    (power,) = of_mode(samples, "sunpower_pvs_power_meter_average_real_power_watts", "consumption")
    # At noon a net CT sees the export (negative), a gross CT the home's load.
    assert (power[1] > 0) is (ct == "gross")

    varserver = await make_exporter([tls_target_for(sim, api="varserver")])
    samples = await scrape_when_up(http, varserver.url + "/metrics")
    # varserver reports no subtype: no info, rather than a guess.
    assert series(samples, "sunpower_pvs_power_meter_subtype_info") == []


# --- health signals: network interfaces and firmware on both APIs --------------


async def test_network_interfaces_and_firmware_on_both_apis(make_simulator, make_exporter, http):
    sim = await make_simulator(api="both", scale=0.0, inverters=2)
    var = await scrape_when_up(
        http, (await make_exporter([tls_target_for(sim, api="varserver")])).url + "/metrics"
    )
    legacy = await scrape_when_up(
        http, (await make_exporter([tls_target_for(sim, api="legacy")])).url + "/metrics"
    )
    # varserver: the /net/<iface>/state variables, under the legacy metric's name.
    interfaces = {
        labels["interface"]: labels
        for labels, _ in series(var, "sunpower_pvs_communication_interface_info")
    }
    assert sorted(interfaces) == ["sta0", "wan0", "wan1", "wwan0"]
    assert interfaces["wan0"]["internet"] == ""  # varserver does not say; no guess
    states = {
        labels["interface"]: labels["state"]
        for labels, _ in series(var, "sunpower_pvs_communication_interface_state_info")
    }
    assert states == {"wan0": "online", "wan1": "offline", "sta0": "offline", "wwan0": "offline"}
    # legacy Get_Comm: its own interface names, and its state field in the same metric.
    states = {
        labels["interface"]: labels["state"]
        for labels, _ in series(legacy, "sunpower_pvs_communication_interface_state_info")
    }
    assert states == {"wan": "up", "plc": "down", "sta0": "down"}

    build = str(sim.pvs.config.build)
    for samples in (var, legacy):
        (firmware,) = series(samples, "sunpower_pvs_supervisor_firmware_info")
        assert firmware[0]["build"] == build, firmware
        assert firmware[0]["device_id"] == sim.pvs.site.pvs_serial
