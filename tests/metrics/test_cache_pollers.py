"""Cached health lines of real pollers never differ from a fresh encoding.

``HealthText`` reuses a target's lines while the poller's ``health_key`` is
unchanged; a state change the key misses would serve stale numbers. A
poller is driven here through every kind of change, over HTTP to the
simulator. Before each change the lines are rendered (so they are cached
under the old key), and after it the cached rendering must equal encoding
the poller's status from scratch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable

from metrics.oracle import health_text
from sunpower_pvs_exporter.config import PollMode
from sunpower_pvs_exporter.metrics.cache import HealthText, status_key
from sunpower_pvs_exporter.poller import Poller
from sunpower_pvs_exporter.pvs.model import Snapshot
from sunpower_pvs_exporter.runtime import make_poller
from sunpower_pvs_exporter.simulator.faults import FaultPlan
from support import FakeClock, target_for

SLOW = 0.3  # seconds the simulated PVS takes when a step needs a poll in flight


# Every health key seen, with the state it stood for: one key, one state.
SEEN: dict[Hashable, tuple[object, ...]] = {}


def check(renderer: HealthText, poller: Poller, step: str) -> None:
    now = poller.clock()
    for openmetrics in (False, True):
        cached = renderer.text(
            [(poller, now)], openmetrics=openmetrics, include_exporter_info=False
        )
        fresh = health_text([poller.status(now)], openmetrics, False)
        assert cached == fresh, step
    # Stricter than the lines: whatever the status reports (next_poll_at,
    # errors, ...) may not change under an unchanged key.
    state = status_key(poller.status(now))
    assert SEEN.setdefault(poller.health_key(now), state) == state, step


def new_poller(
    sim, clock: FakeClock, mode: PollMode = "scrape", idle_after: float = 300.0, **overrides
) -> Poller:
    settings = {"poll_interval": 60.0, "max_age": 180.0, "timeout": 2.0, **overrides}
    target = target_for(sim, **settings)
    poller = make_poller(target, mode, backoff_cap=1.0, jitter=0.0, idle_after=idle_after)
    poller.clock = clock
    poller.monotonic = clock
    return poller


async def mid_poll(renderer: HealthText, poller: Poller, step: str) -> asyncio.Task[None]:
    """Start a poll against a slow PVS and check while it is on the PVS."""
    task = asyncio.create_task(poller.poll())
    await asyncio.sleep(SLOW / 3)
    assert not task.done()
    check(renderer, poller, step)
    return task


async def test_every_state_change_reaches_the_cached_lines(make_simulator):
    sim = await make_simulator(inverters=2)
    clock = FakeClock(1_700_000_000.0)
    renderer = HealthText()
    poller = new_poller(sim, clock)
    try:
        check(renderer, poller, "never polled")
        await poller.poll()
        check(renderer, poller, "first good poll")
        clock.advance(30.5)
        check(renderer, poller, "time passes: only the age moves")
        # A request outside any poll (``--live`` enabling its stream, a request
        # given up on that ends after its poll): its counts reach the lines.
        await poller.reader.command("Get_Comm")  # type: ignore[attr-defined]
        check(renderer, poller, "a request between two polls")

        # The counters change before the new snapshot is prepared; a scrape
        # during the preparation must already see them.
        # (The poller logs and swallows a failing hook: keep what it raised.)
        during: list[BaseException] = []

        async def prepare(_name: str, _snapshot: Snapshot) -> None:
            try:
                check(renderer, poller, "during the preparation of a held reading")
            except AssertionError as exc:
                during.append(exc)

        poller.prepare = prepare
        sim.pvs.energy_glitch("zero")
        sim.pvs.faults = FaultPlan(latency=SLOW)
        clock.advance(40)
        await (await mid_poll(renderer, poller, "a poll started"))
        assert during == []
        assert poller.status().held_energy_readings["zero"] > 0
        check(renderer, poller, "a lifetime-energy reading held")
        poller.prepare = None

        clock.advance(200)
        check(renderer, poller, "the data went stale without a poll")
        sim.pvs.faults = FaultPlan(latency=SLOW, status=500)
        await (await mid_poll(renderer, poller, "a failing poll started"))
        check(renderer, poller, "a failed poll")
        await poller.poll()
        check(renderer, poller, "a second failure in a row")

        sim.pvs.faults = FaultPlan()
        clock.advance(200)
        await poller.poll()
        check(renderer, poller, "answering again")
        sim.pvs.faults = FaultPlan(latency=SLOW)
        clock.advance(200)
        task = await mid_poll(renderer, poller, "a slow poll started")
        await poller.refresh_if_due(wait=0.01)
        assert not poller.status().up
        check(renderer, poller, "a scrape gave up on the poll: overdue")
        await task
        check(renderer, poller, "the overdue poll finished")

        # A reload replaces the poller: the successor takes over the state under
        # the same name, at once and again when the old poller's last poll ends.
        successor = new_poller(sim, clock, timeout=3.0)
        check(renderer, successor, "a reload's successor, on its own")
        successor.take_schedule_from(poller)
        check(renderer, successor, "the successor took the old schedule and data")
        sim.pvs.faults = FaultPlan(latency=SLOW)
        clock.advance(100)
        old_poll = await mid_poll(renderer, poller, "the old poller's last poll")
        check(renderer, successor, "the successor, while the old poll runs")
        await successor.poll()  # waits for the old poll, then takes its result over
        await old_poll
        check(renderer, successor, "the successor after the old poll")
        await successor.stop()
    finally:
        await poller.stop()


async def test_a_spread_first_poll_reaches_the_cached_lines(make_simulator):
    sim = await make_simulator(inverters=2)
    clock = FakeClock(1_700_000_000.0)
    renderer = HealthText()
    poller = new_poller(sim, clock, mode="background")
    poller.first_delay = 30.0
    try:
        check(renderer, poller, "before start")
        poller.start()
        await asyncio.sleep(0.05)
        check(renderer, poller, "first poll scheduled")
        assert poller.status().next_poll_at == clock() + 30.0
    finally:
        await poller.stop()


async def test_on_demand_activity_reaches_the_cached_lines(make_simulator):
    sim = await make_simulator(inverters=2)
    clock = FakeClock(1_700_000_000.0)
    renderer = HealthText()
    poller = new_poller(sim, clock, mode="on_demand", idle_after=0.5)
    try:
        check(renderer, poller, "idle before any probe")
        assert poller.touch()
        await poller.wait_for_data(5.0)
        check(renderer, poller, "probed: polling")
        clock.advance(1.0)  # past idle_after: the poller stops by itself
        for _ in range(200):
            if not poller.active:
                break
            await asyncio.sleep(0.01)
        assert not poller.active
        check(renderer, poller, "idle again")
    finally:
        await poller.stop()
