"""The poller protects the PVS: cache, single-flight, backoff, staleness, scrape mode.

All over real HTTP to the simulator, whose request log counts what the PVS saw.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import time

import aiohttp
import pytest

from sunpower_pvs_exporter.poller import PollSchedule
from support import FakeClock, parse_samples, series, target_for


async def scrape(http: aiohttp.ClientSession, url: str) -> dict:
    async with http.get(url) as response:
        assert response.status == 200
        return parse_samples(await response.text())


def up(samples: dict) -> float:
    (value,) = [v for _, v in series(samples, "sunpower_pvs_up")]
    return value


async def until(predicate, within: float = 20.0, step: float = 0.05) -> None:
    """Wait for a state (bounded). Generous: a loaded CI machine is slow, not wrong."""
    deadline = time.monotonic() + within
    while not await predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(step)


def test_backoff_doubles_is_capped_and_never_below_interval():
    schedule = PollSchedule(interval=120, max_age=360, timeout=60, backoff_cap=300, jitter=0.2)
    rng = random.Random(7)
    delays = [schedule.retry_delay(n, rng) for n in range(0, 8)]
    assert delays[0] == 120
    assert all(d >= 120 for d in delays)
    assert 240 <= delays[2] <= 288
    assert all(d <= 300 for d in delays)
    assert delays[7] == 300
    # An interval above the cap is never shortened by the cap.
    slow = PollSchedule(interval=900, max_age=2700, timeout=60, backoff_cap=300)
    assert slow.retry_delay(5, rng) == 900


async def test_many_concurrent_scrapers_do_not_multiply_pvs_requests(
    make_simulator, make_exporter, http
):
    sim = await make_simulator(inverters=30)
    interval = 0.5
    exporter = await make_exporter([target_for(sim, poll_interval=interval)])
    started = time.monotonic()

    async def scraper() -> None:
        for _ in range(50):
            samples = await scrape(http, exporter.url + "/metrics")
            assert series(samples, "sunpower_pvs_up")
            await asyncio.sleep(0.01)

    await asyncio.gather(*(scraper() for _ in range(5)))
    elapsed = time.monotonic() - started
    calls = sim.pvs.log.count("DeviceList")
    assert calls <= math.ceil(elapsed / interval) + 1, (calls, elapsed)
    assert calls >= 1


async def test_slow_pvs_does_not_slow_scrapes(make_simulator, make_exporter, http):
    """Scrapes answer from the cache while a poll hangs on the PVS.

    The pollers' clock is a test clock: data cannot go stale and no further
    poll falls due while the machine is slow, so the test asks only the
    question it means: does any scrape wait for the stuck poll?
    """
    sim = await make_simulator(inverters=30)
    clock = FakeClock(time.time())
    exporter = await make_exporter(
        [target_for(sim, poll_interval=0.3, timeout=60.0, max_age=0.9)], clock=clock
    )

    async def have_data() -> bool:
        return up(await scrape(http, exporter.url + "/metrics")) == 1.0

    await until(have_data)
    assert sim.pvs.log.count("DeviceList") == 1  # the test clock stands still: no second poll
    sim.pvs.faults.latency = 30.0  # every DeviceList now takes 30 s
    clock.advance(0.3)  # the next poll falls due, and hangs on the PVS

    async def poll_stuck() -> bool:
        return sim.pvs.log.in_flight == 1

    await until(poll_stuck)
    for _ in range(20):
        samples = await scrape(http, exporter.url + "/metrics")
        # Answered while the poll is still on the PVS: no scrape waited for it.
        assert sim.pvs.log.in_flight == 1
        assert len(series(samples, "sunpower_pvs_inverter_ac_power_watts")) == 30
        assert up(samples) == 1.0
    # Single-flight: the stuck poll, not one per scrape.
    assert sim.pvs.log.count("DeviceList") == 2
    # The cache expires by the poller's clock, however long the PVS hangs.
    clock.advance(1.0)
    samples = await scrape(http, exporter.url + "/metrics")
    assert not series(samples, "sunpower_pvs_inverter_ac_power_watts")


async def test_dead_pvs_backs_off_then_recovers_by_itself(make_simulator, make_exporter, http):
    sim = await make_simulator(inverters=2)
    sim.pvs.faults.status = 500
    sim.pvs.faults.only = frozenset({"DeviceList"})
    exporter = await make_exporter(
        [target_for(sim, poll_interval=0.1, max_age=10.0)], backoff_cap=0.8
    )

    async def failed_four_times() -> bool:
        return sim.pvs.log.count("DeviceList") >= 4

    await until(failed_four_times)
    times = sim.pvs.log.times("DeviceList")
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # 0.1, 0.2, 0.4 … : each wait at least the doubled interval.
    assert gaps[0] >= 0.09
    assert gaps[1] >= 0.19
    assert gaps[2] >= 0.39
    samples = await scrape(http, exporter.url + "/metrics")
    assert up(samples) == 0.0
    failures = [
        v
        for labels, v in series(samples, "sunpower_pvs_poll_failures_total")
        if labels["reason"] == "http_status"
    ]
    assert failures[0] >= 3
    assert series(samples, "sunpower_pvs_consecutive_poll_failures")[0][1] >= 3

    sim.pvs.faults.clear()

    async def recovered() -> bool:
        return up(await scrape(http, exporter.url + "/metrics")) == 1.0

    await until(recovered)
    samples = await scrape(http, exporter.url + "/metrics")
    assert series(samples, "sunpower_pvs_consecutive_poll_failures")[0][1] == 0


async def test_stale_data_expires_but_is_served_until_then(make_simulator, make_exporter, http):
    """Ages by the pollers' test clock: a slow machine cannot age the data by itself."""
    sim = await make_simulator(inverters=3)
    clock = FakeClock(time.time())
    exporter = await make_exporter([target_for(sim, poll_interval=0.1, max_age=1.0)], clock=clock)

    async def have_data() -> bool:
        return up(await scrape(http, exporter.url + "/metrics")) == 1.0

    await until(have_data)
    sim.pvs.faults.invalid_json = True
    sim.pvs.faults.only = frozenset({"DeviceList"})
    clock.advance(0.1)  # the next poll falls due, and fails

    async def failing() -> bool:
        return up(await scrape(http, exporter.url + "/metrics")) == 0.0

    await until(failing)
    # Still within max_age: last good data is served, flagged by up 0.
    samples = await scrape(http, exporter.url + "/metrics")
    assert len(series(samples, "sunpower_pvs_inverter_ac_power_watts")) == 3
    assert series(samples, "sunpower_pvs_snapshot_age_seconds")[0][1] == pytest.approx(0.1)
    clock.advance(0.85)
    samples = await scrape(http, exporter.url + "/metrics")
    assert len(series(samples, "sunpower_pvs_inverter_ac_power_watts")) == 3
    clock.advance(0.1)  # 1.05 s old: past max_age
    samples = await scrape(http, exporter.url + "/metrics")
    assert not series(samples, "sunpower_pvs_inverter_ac_power_watts")
    assert up(samples) == 0.0
    assert series(samples, "sunpower_pvs_snapshot_age_seconds")[0][1] > 1.0


async def test_scrape_mode_polls_inside_the_scrape_at_most_once_per_interval(
    make_simulator, make_exporter, http
):
    sim = await make_simulator(inverters=2)
    clock = FakeClock(time.time())
    exporter = await make_exporter(
        [target_for(sim, poll_interval=1.0, max_age=3.0)], poll_mode="scrape", clock=clock
    )
    await asyncio.sleep(0.3)
    assert sim.pvs.log.count("DeviceList") == 0  # nothing polls in the background
    results = await asyncio.gather(*(scrape(http, exporter.url + "/metrics") for _ in range(10)))
    assert all(up(samples) == 1.0 for samples in results)
    assert sim.pvs.log.count("DeviceList") == 1  # ten concurrent scrapes, one poll
    clock.advance(0.95)
    for _ in range(5):
        await scrape(http, exporter.url + "/metrics")
    assert sim.pvs.log.count("DeviceList") == 1  # within the interval: cached
    clock.advance(0.1)
    await scrape(http, exporter.url + "/metrics")
    assert sim.pvs.log.count("DeviceList") == 2  # the interval is over: one more poll
    await scrape(http, exporter.url + "/metrics")
    assert sim.pvs.log.count("DeviceList") == 2


async def test_aux_commands_are_not_sent_every_poll(make_simulator, make_exporter):
    sim = await make_simulator(inverters=1)
    await make_exporter([target_for(sim, poll_interval=0.1)])

    async def polled_five_times() -> bool:
        return sim.pvs.log.count("DeviceList") >= 5

    await until(polled_five_times)
    assert sim.pvs.log.count("Get_Comm") == 1
    assert sim.pvs.log.count("GridProfileGet") == 1


async def test_a_bug_in_our_code_is_reason_internal_logged_once_and_serving_goes_on(
    make_simulator, make_exporter, http, monkeypatch, caplog
):
    """A parser bug (injected) over the real HTTP path: counted as ``internal``, not
    as the PVS's ``invalid_payload``; one traceback in the log, then one-liners."""
    from sunpower_pvs_exporter.pvs import legacy

    def broken_parser(*_args: object) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr(legacy, "parse_device_list", broken_parser)
    sim = await make_simulator(inverters=2)
    exporter = await make_exporter([target_for(sim, poll_interval=0.05)], backoff_cap=0.05)

    async def failed_three_times() -> bool:
        samples = await scrape(http, exporter.url + "/metrics")
        failures = {
            labels["reason"]: value
            for labels, value in series(samples, "sunpower_pvs_poll_failures_total")
        }
        return failures["internal"] >= 3

    await until(failed_three_times)
    samples = await scrape(http, exporter.url + "/metrics")
    failures = {
        labels["reason"]: value
        for labels, value in series(samples, "sunpower_pvs_poll_failures_total")
    }
    assert failures["invalid_payload"] == 0
    assert up(samples) == 0
    # (Only this test's target: a shared exporter elsewhere may poll meanwhile.)
    tracebacks = [
        r for r in caplog.records if r.exc_info is not None and getattr(r, "target", None) == "site"
    ]
    assert len(tracebacks) == 1, [r.getMessage() for r in tracebacks]
    assert "internal error" in tracebacks[0].getMessage()
    (status,) = [p.status() for p in exporter.state.pollers.values()]
    assert status.last_error_reason == "internal"


async def test_scrape_mode_answers_within_prometheus_scrape_timeout(
    make_simulator, make_exporter, http
):
    """Scrape mode, a PVS that stops answering: a scrape carrying Prometheus's
    X-Prometheus-Scrape-Timeout-Seconds is answered while the poll is still on
    the PVS, with the last data and up 0; the poll ends in the background and
    the next scrape joins it instead of starting another."""
    sim = await make_simulator(inverters=3)
    exporter = await make_exporter(
        [target_for(sim, poll_interval=0.2, timeout=30.0, max_age=60.0)], poll_mode="scrape"
    )
    url = exporter.url + "/metrics"
    first = await scrape(http, url)
    assert up(first) == 1.0
    sim.pvs.faults.latency = 3.0
    sim.pvs.faults.only = frozenset({"DeviceList"})
    await asyncio.sleep(0.3)  # the interval has passed: the next scrape polls
    headers = {"X-Prometheus-Scrape-Timeout-Seconds": "1.5"}
    async with http.get(url, headers=headers) as response:
        assert response.status == 200
        samples = parse_samples(await response.text())
    # Answered before the PVS did: the poll is still in flight.
    assert sim.pvs.log.in_flight == 1
    assert up(samples) == 0.0
    power = series(samples, "sunpower_pvs_inverter_ac_power_watts")
    assert len(power) == 3  # the last data, still fresh
    async with http.get(url, headers=headers) as response:
        samples = parse_samples(await response.text())
    assert up(samples) == 0.0
    assert sim.pvs.log.max_in_flight == 1

    async def poll_finished() -> bool:
        return up(await scrape(http, url)) == 1.0

    await until(poll_finished)
    assert sim.pvs.log.max_in_flight == 1
