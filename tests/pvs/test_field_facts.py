"""The facts of ``shared/real-payloads/FACTS.md``, each taught to the simulator
(a site option or a named fault) and checked through the real HTTP path.

docs/protocol.md "Facts from real payloads" maps each fact id to the test
here (or in tests/pvs/test_real_payloads.py) that holds it.
"""

from __future__ import annotations

import logging

import pytest

from sunpower_pvs_exporter.site_facts import site_power
from sunpower_pvs_exporter.troubleshoot.check import build_report, report_text
from sunpower_pvs_exporter.troubleshoot.recorded_poll import poll_once
from support import MIDNIGHT_UTC, read_once, scrape_when_up, series, target_for, tls_target_for

REDACTED = "E00123456789"


# --- L1-L3: PVS5 2017 layout (PVS last, ISDETAIL "1", no panid) and a big panid ----


async def test_L1_L2_L3_pvs5_2017_list_with_the_supervisor_last(make_simulator):
    sim = await make_simulator(inverters=3, legacy_layout="pvs5-2017")
    snapshot = await read_once(target_for(sim))
    assert snapshot.supervisor is not None
    assert snapshot.supervisor.device.serial == sim.pvs.site.pvs_serial
    assert len(snapshot.inverters) == 3 and len(snapshot.meters) == 2
    assert snapshot.warnings == ()


async def test_L3_panid_above_2_31_is_no_problem(make_simulator):
    sim = await make_simulator(inverters=2)  # its PVS entry has panid 3276331684
    snapshot = await read_once(target_for(sim))
    assert snapshot.supervisor is not None and snapshot.warnings == ()


# --- L14, L15: device types beyond PVS/meter/inverter ------------------------------------


async def test_L15_new_device_types_are_exported_once_each(make_simulator, make_exporter, http):
    sim = await make_simulator(inverters=2, error_inverters=0, storage_side_devices=True)
    exporter = await make_exporter([target_for(sim)])
    samples = await scrape_when_up(http, exporter.url + "/metrics")
    states = {
        labels["device_id"]: labels for labels, _ in series(samples, "sunpower_pvs_device_state")
    }
    types = sorted(labels["device_type"] for labels in states.values())
    for kind in ("PV Disconnect", "Gateway", "Storage Inverter", "ESS BMS",
                 "Energy Storage System", "MET Station", "Ground Current Monitor"):  # fmt: skip
        assert types.count(kind) == 1, kind
    assert types.count("Battery") == 2  # per module; the BMS is one per system
    ess = next(
        labels for labels in states.values() if labels["device_type"] == "Energy Storage System"
    )
    assert ess["device_id"].count("_") == 2  # the compound <gateway>_<battery>_<battery> serial


async def test_L15_pv_disconnect_relays_and_voltages(make_simulator, make_exporter, http):
    sim = await make_simulator(inverters=1, error_inverters=0, storage_side_devices=True)
    exporter = await make_exporter([target_for(sim)])
    samples = await scrape_when_up(http, exporter.url + "/metrics")
    relays = {
        (name, labels["relay"]): v
        for name in (
            "sunpower_pvs_pv_disconnect_relay_state",
            "sunpower_pvs_pv_disconnect_relay_error",
        )
        for labels, v in series(samples, name)
    }
    # The simulator's relay 1 is closed and fine, relay 2 open with an error code.
    assert relays == {
        ("sunpower_pvs_pv_disconnect_relay_state", "1"): 1.0,
        ("sunpower_pvs_pv_disconnect_relay_state", "2"): 0.0,
        ("sunpower_pvs_pv_disconnect_relay_error", "1"): 0.0,
        ("sunpower_pvs_pv_disconnect_relay_error", "2"): 1.0,
    }
    volts = {
        (labels["side"], labels["phase"]): v
        for labels, v in series(samples, "sunpower_pvs_pv_disconnect_phase_voltage_volts")
    }
    assert volts == {
        ("grid", "L1"): 123.1,
        ("grid", "L2"): 122.5,
        ("pv", "L1"): 122.8,
        ("pv", "L2"): 0.4,
    }


async def test_L14_storage_side_devices_have_no_report_time_and_stay_in_error(
    make_simulator, make_exporter, http
):
    sim = await make_simulator(inverters=2, error_inverters=0, storage_side_devices=True)
    exporter = await make_exporter([target_for(sim)])
    samples = await scrape_when_up(http, exporter.url + "/metrics")
    silent = {"Gateway", "Storage Inverter", "ESS BMS", "Battery", "Energy Storage System"}
    reported = {
        labels["device_type"]
        for labels, _ in series(samples, "sunpower_pvs_device_last_report_timestamp_seconds")
    }
    assert reported & silent == set()
    assert "PV Disconnect" in reported
    # The alert on device state is about inverters only (tests/contrib alerts_test.yml).
    states = series(samples, "sunpower_pvs_device_state")
    assert all(v == 0.0 for labels, v in states if labels["device_type"] in silent)
    # Nor do check and the status page call them "not working".
    target = target_for(sim)
    outcome = await poll_once(target, clock=sim.pvs.clock.now)
    report = build_report(outcome, sim.pvs.clock.now())
    assert not {p.device_type for p in report.not_working} & silent, report_text(report)
    async with http.get(exporter.url + "/") as response:
        page = await response.text()
    assert '<table class="problems">' not in page


# --- V3, L18: redacted serials --------------------------------------------------------


@pytest.mark.parametrize("api", ["legacy", "varserver"])
async def test_V3_one_serial_for_every_inverter_keeps_them_all(
    make_simulator, make_exporter, http, api
):
    sim = await make_simulator(
        api=api, inverters=4, error_inverters=0, shared_inverter_serial=REDACTED
    )
    target = target_for(sim) if api == "legacy" else tls_target_for(sim, api="varserver")
    exporter = await make_exporter([target])
    samples = await scrape_when_up(http, exporter.url + "/metrics")
    power = series(samples, "sunpower_pvs_inverter_ac_power_watts")
    ids = sorted(labels["device_id"] for labels, _ in power)
    assert len(ids) == 4 and len(set(ids)) == 4
    assert ids[0] == REDACTED and all(i.startswith(REDACTED) for i in ids)


# --- V5, fact 17: flash wear past 100 %, SoH 0 ---------------------------------------------


async def test_V5_flash_wear_past_its_rated_life_is_exported_as_read(make_simulator, client_for):
    sim = await make_simulator(api="varserver", inverters=1, flash_wear_steps=11)
    snapshot = await client_for(sim).read()
    assert snapshot.supervisor is not None
    assert snapshot.supervisor.flash_wear_ratio == pytest.approx(1.1)


async def test_fact17_state_of_health_0_is_unknown(make_simulator, client_for):
    sim = await make_simulator(api="varserver", inverters=1, battery_modules=2, battery_soh=0.0)
    snapshot = await client_for(sim).read()
    (ess,) = snapshot.storage
    assert ess.state_of_health_ratio is None
    assert ess.state_of_charge_ratio is not None  # the rest of the ESS is read


# --- V2, fact 16: fcgi_vars error bodies -------------------------------------------------


async def test_V2_a_query_error_fails_its_group_and_logs_the_errorcode(
    make_simulator, client_for, caplog
):
    sim = await make_simulator(api="varserver", inverters=2)
    sim.pvs.faults.query_error_variables = {"/sys/devices/inverter/": "0x0200"}
    client = client_for(sim)
    with caplog.at_level(logging.WARNING):
        snapshot = await client.read()
    groups = {g.name: g for g in snapshot.read_groups}
    assert groups["inverter"].ok is False and groups["inverter"].failures == 1
    assert "group inverter failed (http_status)" in caplog.text
    assert "errorcode 0x0200" in caplog.text
    assert snapshot.meters  # the other groups are read


async def test_V2_nothing_matched_is_an_absent_family_not_a_failure(make_simulator, client_for):
    sim = await make_simulator(api="varserver", inverters=2)
    sim.pvs.empty_result_status = 400  # fcgi_vars: 400, errorcode 0x0040
    snapshot = await client_for(sim).read()
    groups = {g.name: g for g in snapshot.read_groups}
    assert groups["ess"].ok is True and groups["ess"].failures == 0
    assert snapshot.storage == ()


# --- fact 16: an unescaped '"' costs one read ------------------------------------------


@pytest.mark.parametrize(
    ("variable", "group"),
    [("/sys/devices/inverter/0/prodMdlNm", "inverter"), ("/sys/info/model", "info")],
)
async def test_fact16_unescaped_quote_costs_that_read_and_the_next_recovers(
    make_simulator, client_for, variable, group
):
    sim = await make_simulator(api="varserver", inverters=2, error_inverters=0)
    sim.pvs.faults.unescaped_quote_variables = frozenset({variable})
    client = client_for(sim)
    if group == "info":
        with pytest.raises(Exception, match="not valid JSON"):
            await client.read()
    else:
        snapshot = await client.read()
        assert {g.name: g.ok for g in snapshot.read_groups}["inverter"] is False
        assert snapshot.inverters == ()
    sim.pvs.faults.unescaped_quote_variables = frozenset()
    again = await client.read()
    assert len(again.inverters) == 2
    assert all(g.ok for g in again.read_groups if g.name in ("info", "inverter"))


# --- O2: Get_Comm signal as a string and as a number ---------------------------------------


async def test_O2_get_comm_with_a_numeric_signal(make_simulator):
    sim = await make_simulator(inverters=1, cell_modem=True)
    snapshot = await read_once(target_for(sim))
    names = [i.name for i in snapshot.interfaces]
    assert "cell" in names and "sta0" in names
    (cell,) = (i for i in snapshot.interfaces if i.name == "cell")
    assert (cell.state, cell.link) == ("DOWN", "connected")


# --- L10: a dead production meter ----------------------------------------------------


async def test_L10_dead_production_meter_is_flagged_by_check_and_the_status_page(
    make_simulator, make_exporter, http
):
    sim = await make_simulator(inverters=3, error_inverters=0, dead_production_meter=True)
    target = target_for(sim)
    outcome = await poll_once(target, clock=sim.pvs.clock.now)
    report = build_report(outcome, sim.pvs.clock.now())
    codes = {f.code for f in report.findings}
    assert "dead_production_meter" in codes, report_text(report)
    assert sim.pvs.site.production_serial in report_text(report)
    # Its 0 W is not the site's production: the inverters' sum is.
    snapshot = await read_once(target)
    inverters = sum(i.ac_power_watts or 0.0 for i in snapshot.inverters)
    assert inverters > 100
    assert site_power(snapshot).production == pytest.approx(inverters)

    exporter = await make_exporter([target])
    await scrape_when_up(http, exporter.url + "/metrics")
    async with http.get(exporter.url + "/") as response:
        page = await response.text()
    problems = page[page.index('<table class="problems">') :]
    assert sim.pvs.site.production_serial in problems
    assert "dead: all 0, PF 1" in problems, problems[:1500]


async def test_L10_a_live_production_meter_at_night_is_not_flagged(make_simulator):
    sim = await make_simulator(inverters=2, start=MIDNIGHT_UTC)
    target = target_for(sim)
    outcome = await poll_once(target, clock=sim.pvs.clock.now)
    report = build_report(outcome, sim.pvs.clock.now())
    assert "dead_production_meter" not in {f.code for f in report.findings}
