"""``--live``: the telemetry WebSocket feeds second-level site power into scrapes."""

from __future__ import annotations

import asyncio
import time

import pytest

from sunpower_pvs_exporter.simulator.varserver_api import telemetry_message
from support import parse_samples, series, target_for, tls_target_for


async def scrape(http, url: str) -> dict:
    async with http.get(url) as response:
        assert response.status == 200
        return parse_samples(await response.text())


def value(samples: dict, name: str) -> float | None:
    found = series(samples, name)
    return found[0][1] if found else None


async def wait_for(http, url: str, check, within: float = 8.0) -> dict:
    deadline = time.monotonic() + within
    while True:
        samples = await scrape(http, url)
        if check(samples):
            return samples
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


async def test_live_stream_values_arrive_expire_and_come_back(make_simulator, make_exporter, http):
    sim = await make_simulator(api="varserver", inverters=4, scale=0.0)
    sim.pvs.telemetry_interval = 0.05
    target = tls_target_for(sim, api="varserver", telemetry_port=sim.telemetry_port)
    exporter = await make_exporter([target], live=True)
    url = exporter.url + "/metrics"

    samples = await wait_for(http, url, lambda s: value(s, "sunpower_pvs_live_up") == 1.0)
    pushed = telemetry_message(sim.pvs.state())["params"]
    assert value(samples, "sunpower_pvs_live_pv_power_watts") == pytest.approx(
        float(pushed["pv_p"]) * 1000
    )
    assert value(samples, "sunpower_pvs_live_grid_power_watts") == pytest.approx(
        float(pushed["net_p"]) * 1000
    )
    assert value(samples, "sunpower_pvs_live_messages_total") >= 1

    # The stream stops (the PVS refuses the WebSocket): values expire, up goes 0.
    sim.pvs.faults.status = 500
    sim.pvs.faults.only = frozenset({"/"})
    sim.pvs.telemetry_enabled = False
    samples = await wait_for(http, url, lambda s: value(s, "sunpower_pvs_live_up") == 0.0)
    assert value(samples, "sunpower_pvs_live_pv_power_watts") is None

    # It comes back by itself (reconnect with backoff).
    sim.pvs.faults.clear()
    samples = await wait_for(http, url, lambda s: value(s, "sunpower_pvs_live_up") == 1.0)
    assert value(samples, "sunpower_pvs_live_connects_total") >= 2


async def test_live_on_a_legacy_only_target_adds_nothing(make_simulator, make_exporter, http):
    sim = await make_simulator(inverters=1)
    exporter = await make_exporter([target_for(sim)], live=True)
    assert exporter.state.streams == {}
    samples = await scrape(http, exporter.url + "/metrics")
    assert value(samples, "sunpower_pvs_live_up") is None


async def test_live_values_stay_through_a_quiet_stream_and_recover_after_a_silent_socket(
    make_simulator, make_exporter, http
):
    sim = await make_simulator(api="varserver", inverters=2, battery_modules=1, scale=0.0)
    sim.pvs.telemetry_interval = 0.02
    target = tls_target_for(sim, api="varserver", telemetry_port=sim.telemetry_port)
    exporter = await make_exporter([target], live=True)
    stream = exporter.state.streams["site"]
    now = [time.monotonic()]
    stream.clock = lambda: now[0]
    stream.check_interval = 0.02
    url = exporter.url + "/metrics"
    live_names = [
        "sunpower_pvs_live_pv_power_watts",
        "sunpower_pvs_live_grid_power_watts",
        "sunpower_pvs_live_load_power_watts",
        "sunpower_pvs_live_battery_power_watts",
        "sunpower_pvs_live_battery_state_of_charge_ratio",
    ]
    samples = await wait_for(http, url, lambda s: value(s, "sunpower_pvs_live_up") == 1.0)
    before = {name: value(samples, name) for name in live_names}
    assert all(v is not None for v in before.values())
    # 70 s of silence (steady output): still served, still up.
    now[0] += 70.0
    samples = await scrape(http, url)
    assert value(samples, "sunpower_pvs_live_up") == 1.0
    assert {name: value(samples, name) for name in live_names} == before
    # The socket goes silent with TCP open: after 90 s the values go, the
    # stream reconnects and they come back.
    sim.pvs.telemetry_silent = True
    now[0] += 21.0
    samples = await scrape(http, url)
    assert value(samples, "sunpower_pvs_live_up") == 0.0
    assert value(samples, "sunpower_pvs_live_pv_power_watts") is None
    sim.pvs.telemetry_silent = False
    samples = await wait_for(http, url, lambda s: value(s, "sunpower_pvs_live_up") == 1.0)
    assert value(samples, "sunpower_pvs_live_connects_total") == 2.0
    assert {name: value(samples, name) for name in live_names} == before
    assert value(samples, "sunpower_pvs_live_unsupported") == 0.0


async def test_live_on_a_pvs5_reports_unsupported(make_simulator, make_exporter, http):
    sim = await make_simulator(api="varserver", inverters=1, telemetry=False)
    target = tls_target_for(sim, api="varserver", telemetry_port=sim.telemetry_port)
    exporter = await make_exporter([target], live=True)
    stream = exporter.state.streams["site"]
    stream.backoff_start = stream.backoff_cap = 0.01
    samples = await wait_for(
        http,
        exporter.url + "/metrics",
        lambda s: (
            value(s, "sunpower_pvs_live_unsupported") == 1.0 and value(s, "sunpower_pvs_up") == 1.0
        ),
    )
    assert value(samples, "sunpower_pvs_live_up") == 0.0
    assert value(samples, "sunpower_pvs_live_connects_total") == 0.0


async def test_live_stream_enable_waits_its_turn_behind_the_poll(
    make_simulator, make_exporter, http
):
    """--live enables the stream with a request to the PVS; with every API request
    taking 0.3 s, the poll's and the stream's requests never overlap on the PVS."""
    sim = await make_simulator(api="varserver", inverters=2, scale=0.0)
    sim.pvs.telemetry_interval = 0.05
    sim.pvs.faults.latency = 0.3
    sim.pvs.faults.only = frozenset({"/vars", "/auth"})
    # A timeout long enough that no group request is given up on (an abandoned
    # request would stay on the PVS: a different matter from the stream's turn).
    target = tls_target_for(
        sim, api="varserver", telemetry_port=sim.telemetry_port, timeout=20.0, max_age=60.0
    )
    exporter = await make_exporter([target], live=True)
    url = exporter.url + "/metrics"
    await wait_for(
        http,
        url,
        lambda s: value(s, "sunpower_pvs_live_up") == 1.0 and value(s, "sunpower_pvs_up") == 1.0,
        within=20.0,
    )
    assert sim.pvs.log.max_in_flight == 1
