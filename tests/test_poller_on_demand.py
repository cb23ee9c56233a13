"""poll_mode on_demand: a target is polled only while it is being probed.

This is what lets replicas that share one config split a fleet along their
Prometheus servers' ``hashmod`` shares. All over real HTTP to simulated PVSes,
whose request logs count what each PVS saw.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from sunpower_pvs_exporter.config import DEFAULT_IDLE_AFTER, ConfigError, parse_config
from sunpower_pvs_exporter.poller import first_poll_delay
from support import NOON_UTC, FakeClock, parse_samples, series, target_for


async def get(http: aiohttp.ClientSession, url: str, **headers: str) -> dict:
    async with http.get(url, headers=headers) as response:
        assert response.status == 200, await response.text()
        return parse_samples(await response.text())


def by_target(samples: dict, name: str) -> dict[str, float]:
    return {labels["target"]: value for labels, value in series(samples, name)}


async def until(predicate: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_targets_are_polled_only_after_their_first_probe(make_simulator, make_exporter, http):
    sim_a = await make_simulator(inverters=3)
    sim_b = await make_simulator(inverters=2)
    exporter = await make_exporter(
        [target_for(sim_a, name="a"), target_for(sim_b, name="b")],
        poll_mode="on_demand",
        idle_after=30.0,
    )
    await asyncio.sleep(0.5)  # > 2 poll intervals: a background poller would have polled
    assert sim_a.pvs.log.count("DeviceList") == 0
    assert sim_b.pvs.log.count("DeviceList") == 0
    health = await get(http, exporter.url + "/metrics")
    assert by_target(health, "sunpower_pvs_target_active") == {"a": 0.0, "b": 0.0}
    # Never polled here (another shard's, in a sharded fleet): nothing else is said.
    assert by_target(health, "sunpower_pvs_up") == {}
    assert by_target(health, "sunpower_pvs_polls_total") == {}
    assert [labels for labels, _ in series(health, "sunpower_pvs_target_info")] == []

    # The first probe waits for the first poll: data, not "up 0", on a quick PVS.
    probe = await get(http, exporter.url + "/probe?target=a")
    assert by_target(probe, "sunpower_pvs_up") == {"a": 1.0}
    assert len(series(probe, "sunpower_pvs_inverter_ac_power_watts")) == 3
    assert by_target(probe, "sunpower_pvs_target_active") == {"a": 1.0}

    async def a_polled_again() -> bool:
        return sim_a.pvs.log.count("DeviceList") >= 3

    await until(a_polled_again)
    assert sim_b.pvs.log.count("DeviceList") == 0
    health = await get(http, exporter.url + "/metrics")
    assert by_target(health, "sunpower_pvs_target_active") == {"a": 1.0, "b": 0.0}
    assert by_target(health, "sunpower_pvs_up") == {"a": 1.0}
    assert by_target(health, "sunpower_pvs_polls_total")["a"] >= 3
    assert "b" not in by_target(health, "sunpower_pvs_polls_total")


async def test_polling_stops_after_the_idle_window_and_resumes_on_a_probe(
    make_simulator, make_exporter, http
):
    sim = await make_simulator(inverters=2)
    exporter = await make_exporter(
        [target_for(sim, name="a", poll_interval=0.1), target_for(sim, name="b")],
        poll_mode="on_demand",
        idle_after=0.5,
    )
    await get(http, exporter.url + "/probe?target=a")
    # Probed every 0.2 s, well inside the idle window: polling goes on.
    for _ in range(8):
        await asyncio.sleep(0.2)
        await get(http, exporter.url + "/probe?target=a")
    assert sim.pvs.log.count("DeviceList") >= 8

    async def idle() -> bool:
        health = await get(http, exporter.url + "/metrics")
        return by_target(health, "sunpower_pvs_target_active")["a"] == 0.0

    await until(idle)
    stopped_at = sim.pvs.log.count("DeviceList")
    # Idle now, but polled before: its health stays on /metrics (its counters
    # show where polling stopped after a shard moved it away).
    health = await get(http, exporter.url + "/metrics")
    assert by_target(health, "sunpower_pvs_polls_total")["a"] >= 8
    await asyncio.sleep(0.6)  # six intervals
    # At most a poll that was already in flight finishes.
    assert sim.pvs.log.count("DeviceList") <= stopped_at + 1

    await get(http, exporter.url + "/probe?target=a")
    health = await get(http, exporter.url + "/metrics")
    assert by_target(health, "sunpower_pvs_target_active")["a"] == 1.0

    async def polled_again() -> bool:
        return sim.pvs.log.count("DeviceList") >= stopped_at + 3

    await until(polled_again)


async def test_cache_and_schedule_survive_a_short_gap(make_simulator, make_exporter, http):
    sim = await make_simulator(inverters=2)
    exporter = await make_exporter(
        [target_for(sim, name="a", poll_interval=30.0, max_age=60.0), target_for(sim, name="b")],
        poll_mode="on_demand",
        idle_after=0.2,
    )
    first = await get(http, exporter.url + "/probe?target=a")
    assert by_target(first, "sunpower_pvs_up") == {"a": 1.0}
    assert sim.pvs.log.count("DeviceList") == 1

    async def idle() -> bool:
        health = await get(http, exporter.url + "/metrics")
        return by_target(health, "sunpower_pvs_target_active")["a"] == 0.0

    await until(idle)
    # Back within the interval: served from the cache, and the PVS is not polled
    # early just because the target went idle and came back.
    again = await get(http, exporter.url + "/probe?target=a")
    assert by_target(again, "sunpower_pvs_up") == {"a": 1.0}
    assert len(series(again, "sunpower_pvs_inverter_ac_power_watts")) == 2
    await asyncio.sleep(0.2)
    assert sim.pvs.log.count("DeviceList") == 1


async def test_backoff_survives_a_short_gap(make_simulator, make_exporter, http):
    sim = await make_simulator(inverters=2)
    sim.pvs.faults.status = 500
    sim.pvs.faults.only = frozenset({"DeviceList"})
    exporter = await make_exporter(
        [target_for(sim, name="a", poll_interval=0.3), target_for(sim, name="b")],
        poll_mode="on_demand",
        idle_after=0.3,
        backoff_cap=20.0,
    )

    async def failed_three_times() -> bool:
        await get(http, exporter.url + "/probe?target=a")
        return sim.pvs.log.count("DeviceList") >= 3

    await until(failed_three_times)  # at 0, 0.3 and 0.9 s; the next waits until 2.1 s

    async def idle() -> bool:
        health = await get(http, exporter.url + "/metrics")
        return by_target(health, "sunpower_pvs_target_active")["a"] == 0.0

    await until(idle)
    failed = sim.pvs.log.count("DeviceList")
    health = await get(http, exporter.url + "/metrics")
    assert by_target(health, "sunpower_pvs_consecutive_poll_failures")["a"] == failed
    # Re-probing right away does not reset the backoff into an immediate retry.
    next_poll_at = exporter.state.pollers["a"].status().next_poll_at
    assert next_poll_at is not None and next_poll_at > time.time()
    probe = await get(http, exporter.url + "/probe?target=a")
    assert by_target(probe, "sunpower_pvs_up") == {"a": 0.0}
    assert sim.pvs.log.count("DeviceList") == failed


async def test_first_probe_waits_no_longer_than_the_scrape_timeout_allows(
    make_simulator, make_exporter, http
):
    sim = await make_simulator(inverters=2)
    sim.pvs.faults.latency = 5.0
    sim.pvs.faults.only = frozenset({"DeviceList"})
    exporter = await make_exporter(
        [target_for(sim, name="a", timeout=10.0), target_for(sim, name="b")],
        poll_mode="on_demand",
    )
    probe = await get(
        http,
        exporter.url + "/probe?target=a",
        **{"X-Prometheus-Scrape-Timeout-Seconds": "0.8"},
    )
    # Answered before the 5 s poll finished: health only, up 0, still active.
    assert by_target(probe, "sunpower_pvs_up") == {"a": 0.0}
    assert by_target(probe, "sunpower_pvs_target_active") == {"a": 1.0}
    assert sim.pvs.log.count("DeviceList") == 1


async def test_background_and_scrape_modes_report_every_target_active(
    make_simulator, make_exporter, http
):
    sim = await make_simulator(inverters=2)
    exporter = await make_exporter(
        [target_for(sim, name="a"), target_for(sim, name="b")], single_target=False
    )
    health = await get(http, exporter.url + "/metrics")
    assert by_target(health, "sunpower_pvs_target_active") == {"a": 1.0, "b": 1.0}


def test_first_polls_spread_over_the_interval_deterministically():
    assert first_poll_delay("home", 120.0, targets=1) == 0.0
    names = [f"site-{index:04d}" for index in range(1000)]
    delays = [first_poll_delay(name, 120.0, targets=len(names)) for name in names]
    assert delays == [first_poll_delay(name, 120.0, targets=len(names)) for name in names]
    assert all(0.0 <= delay < 120.0 for delay in delays)
    quarters = [sum(1 for d in delays if q * 30 <= d < (q + 1) * 30) for q in range(4)]
    assert min(quarters) >= 180, quarters  # 250 expected per quarter
    # A handful of sites spread over a second or so, not over the whole interval.
    few = [first_poll_delay(f"site-{index}", 120.0, targets=5) for index in range(5)]
    assert all(0.0 <= delay < 1.0 for delay in few)
    assert len(set(few)) == 5


async def test_fleet_first_polls_do_not_all_start_at_once(make_simulator, make_exporter, http):
    sim = await make_simulator(inverters=1)
    names = [f"pvs-{index}" for index in range(12)]
    delays = {name: first_poll_delay(name, 60.0, len(names)) for name in names}
    late = [name for name, delay in delays.items() if delay > 1.5]
    assert late, delays  # the window for 12 targets is 2.75 s
    # A clock that stands still: each poller's first poll is due at exactly
    # start + its delay, and one whose delay is above zero never comes due.
    clock = FakeClock(NOON_UTC)
    exporter = await make_exporter(
        [target_for(sim, name=name, poll_interval=60.0, max_age=180.0) for name in names],
        clock=clock,
    )

    async def scheduled() -> bool:
        return all(exporter.state.pollers[n].status().next_poll_at is not None for n in late)

    await until(scheduled)
    for name in late:
        status = exporter.state.pollers[name].status()
        assert status.next_poll_at == NOON_UTC + delays[name]
        assert status.polls == 0, name
    # Once the clock passes the last delay, each polls once (the next is a minute away).
    clock.advance(max(delays.values()))

    async def all_polled() -> bool:
        # A poll counts from its start; wait for each to be done (its request logged).
        return all(p.status().last_success_at is not None for p in exporter.state.pollers.values())

    await until(all_polled)
    assert sim.pvs.log.count("DeviceList") == len(names)


def test_config_on_demand_and_idle_after():
    config = parse_config(
        {"poll_mode": "on_demand", "idle_after": "3m", "targets": [{"name": "a", "host": "h"}]}
    )
    assert (config.poll_mode, config.idle_after) == ("on_demand", 180.0)
    assert config.targets[0].timeout == 120.0
    default = parse_config({"targets": [{"name": "a", "host": "h"}]})
    assert (default.poll_mode, default.idle_after) == ("background", DEFAULT_IDLE_AFTER)
    with pytest.raises(ConfigError, match="idle_after: must be positive"):
        parse_config({"idle_after": 0, "targets": [{"name": "a", "host": "h"}]})
