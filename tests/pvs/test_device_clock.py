"""Legacy DATATIME/CURTIME are UTC on real units, whatever zone the exporter's host is in.

The session runs with TZ=America/Los_Angeles (tests/conftest.py), so a device
time read as this machine's local time would be 7 hours off here.
"""

from __future__ import annotations

import time
from zoneinfo import ZoneInfo

import aiohttp

from support import NOON_UTC, parse_samples, read_once, target_for

LOS_ANGELES = ZoneInfo("America/Los_Angeles")
# 20:00 UTC is 13:00 in Los Angeles: the simulated Californian site produces.
LA_AFTERNOON = NOON_UTC + 8 * 3600


def test_the_session_runs_far_from_utc() -> None:
    assert time.localtime(NOON_UTC).tm_hour == 5  # 12:00 UTC is 05:00 PDT


async def test_simulator_writes_device_clocks_in_utc(make_simulator, http: aiohttp.ClientSession):
    sim = await make_simulator(inverters=1, error_inverters=0, tz=LOS_ANGELES)
    async with http.get(sim.url + "/cgi-bin/dl_cgi?Command=DeviceList") as response:
        doc = await response.json()
    supervisor = next(d for d in doc["devices"] if d["DEVICE_TYPE"] == "PVS")
    # The simulated clock starts at 12:00:00 UTC; its supervisor samples every 5 min.
    assert supervisor["DATATIME"] == "2026,06,21,12,00,00"
    assert supervisor["CURTIME"].startswith("2026,06,21,12,00,")


async def test_device_times_are_read_as_utc_by_default(make_simulator):
    sim = await make_simulator(start=LA_AFTERNOON, inverters=2, error_inverters=0, tz=LOS_ANGELES)
    snapshot = await read_once(target_for(sim))
    state = sim.pvs.state()
    assert all(inv.working for inv in state.inverters)
    assert snapshot.supervisor is not None
    assert snapshot.supervisor.device.data_time == state.supervisor.data_time == LA_AFTERNOON
    by_serial = {inv.device.serial: inv.device.data_time for inv in snapshot.inverters}
    assert by_serial == {inv.serial: inv.data_time for inv in state.inverters}
    meters = {m.device.serial: m.device.data_time for m in snapshot.meters}
    assert meters == {m.serial: m.data_time for m in state.meters}


async def test_timezone_key_overrides_for_a_unit_that_runs_local_time(make_simulator):
    berlin = ZoneInfo("Europe/Berlin")
    sim = await make_simulator(inverters=1, error_inverters=0, device_clock_tz=berlin)
    snapshot = await read_once(target_for(sim, timezone="Europe/Berlin"))
    assert snapshot.supervisor is not None
    assert snapshot.supervisor.device.data_time == NOON_UTC
    # Without the override the same unit's times would be read two hours late.
    wrong = await read_once(target_for(sim))
    assert wrong.supervisor is not None
    assert wrong.supervisor.device.data_time == NOON_UTC + 2 * 3600


async def test_last_report_metric_is_the_real_sample_time(
    make_simulator, make_exporter, http: aiohttp.ClientSession
):
    sim = await make_simulator(start=LA_AFTERNOON, inverters=2, error_inverters=0, tz=LOS_ANGELES)
    exporter = await make_exporter([target_for(sim)], poll_mode="scrape")
    async with http.get(exporter.url + "/metrics") as response:
        samples = parse_samples(await response.text())
    reports = {
        dict(labels)["device_id"]: value
        for (name, labels), value in samples.items()
        if name == "sunpower_pvs_device_last_report_timestamp_seconds"
    }
    state = sim.pvs.state()
    expected = {state.supervisor.serial: state.supervisor.data_time}
    expected |= {m.serial: m.data_time for m in state.meters}
    expected |= {i.serial: i.data_time for i in state.inverters}
    assert reports == expected
    # Never in the future of the simulated clock (the Los Angeles bug put it 7 h ahead).
    assert max(reports.values()) <= state.now
