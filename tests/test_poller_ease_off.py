"""A PVS that keeps rebooting is polled less often, then as configured again.

Driven end to end on a fake clock: the simulated PVS reboots on a schedule of
its own clock ("reboot_schedule"), the exporter polls it over HTTP, and the
simulator's request log shows how often the exporter really asked.
"""

from __future__ import annotations

import logging

import aiohttp
import pytest

from sunpower_pvs_exporter.config import TargetConfig
from sunpower_pvs_exporter.poller import Poller
from sunpower_pvs_exporter.pvs.ease_off import MAX_EASED_INTERVAL, RECOVER_AFTER
from sunpower_pvs_exporter.runtime import make_poller
from sunpower_pvs_exporter.simulator.server import SimulatorServer
from support import NOON_UTC, FakeClock, parse_samples, series, target_for

HOUR = 3600.0
SCRAPE_EVERY = 60.0


class Clocks:
    """The exporter's fake clock and the simulated PVS's clock, moved together."""

    def __init__(self, sim: SimulatorServer) -> None:
        self.fake = FakeClock(NOON_UTC)
        self.sim = sim
        assert sim.pvs.clock.scale == 0.0  # the simulator's clock stands still too
        sim.pvs.clock.start = NOON_UTC

    @property
    def now(self) -> float:
        return self.fake.now

    def advance(self, seconds: float) -> None:
        self.fake.advance(seconds)
        self.sim.pvs.clock.start += seconds


async def scrape_for(poller: Poller, clocks: Clocks, seconds: float) -> list[float]:
    """Prometheus scraping every minute for ``seconds`` (poll_mode scrape: a scrape
    polls when the interval has passed); the poll intervals in effect, as they changed."""
    intervals = [poller.status().poll_interval]
    end = clocks.now + seconds
    while clocks.now < end:
        clocks.advance(SCRAPE_EVERY)
        await poller.refresh_if_due(wait=5.0)
        interval = poller.status().poll_interval
        if interval != intervals[-1]:
            intervals.append(interval)
    return intervals


def device_lists(sim: SimulatorServer) -> int:
    return sim.pvs.log.count("DeviceList")


async def requests_in(poller: Poller, clocks: Clocks, sim: SimulatorServer, hours: float) -> int:
    before = device_lists(sim)
    await scrape_for(poller, clocks, hours * HOUR)
    return device_lists(sim) - before


async def metrics(http: aiohttp.ClientSession, url: str) -> dict[str, float]:
    async with http.get(url + "/metrics") as response:
        samples = parse_samples(await response.text())
    names = (
        "sunpower_pvs_up",
        "sunpower_pvs_poll_interval_seconds",
        "sunpower_pvs_configured_poll_interval_seconds",
    )
    return {name: series(samples, name)[0][1] for name in names}


async def test_a_pvs_rebooting_every_two_hours_is_eased_off_and_recovers(
    make_simulator, make_exporter, http, caplog
):
    caplog.set_level(logging.INFO, logger="sunpower_pvs_exporter.poller")
    sim = await make_simulator(start=NOON_UTC, scale=0.0, inverters=1)
    clocks = Clocks(sim)
    exporter = await make_exporter(
        [target_for(sim, poll_interval=120.0, max_age=360.0)],  # the legacy defaults
        poll_mode="scrape",
        clock=clocks.fake,
    )
    (poller,) = exporter.state.pollers.values()

    # A healthy PVS: a DeviceList every 2 minutes.
    assert await requests_in(poller, clocks, sim, 1) == 30

    # It starts rebooting every 2 hours (down 2 minutes each time).
    sim.pvs.reboot_every(2 * HOUR, down_for=120.0)
    intervals = await scrape_for(poller, clocks, 9 * HOUR)
    # The 1st reboot (2 h) changes nothing; the 2nd within a day (4 h) doubles
    # the interval, and so does each further one, up to 10 minutes.
    assert intervals == [120.0, 240.0, 480.0, MAX_EASED_INTERVAL]
    assert sim.pvs.scheduled_reboots == 4
    assert poller.status().reboots == 4
    # The simulator saw the difference: 6 requests an hour instead of 30.
    assert await requests_in(poller, clocks, sim, 1) == 6

    # A scrape inside the eased interval is answered from the cache, and the
    # data of the slower polls is still served (max_age stretches alike).
    before = device_lists(sim)
    while device_lists(sim) == before:  # up to the next poll
        await scrape_for(poller, clocks, SCRAPE_EVERY)
    clocks.advance(8 * SCRAPE_EVERY)  # 480 s on: past max_age as configured (360 s)
    before = device_lists(sim)
    values = await metrics(http, exporter.url)
    assert device_lists(sim) == before
    assert values == {
        "sunpower_pvs_up": 1.0,
        "sunpower_pvs_poll_interval_seconds": 600.0,
        "sunpower_pvs_configured_poll_interval_seconds": 120.0,
    }
    async with http.get(exporter.url + "/") as response:
        page = await response.text()
    # (5 reboots by now: the 5th came at 10 h, in the hour counted above.)
    assert sim.pvs.scheduled_reboots == 5
    assert "polling eased to 10 min after 5 reboots in 24 h; back to 2 min after 72 h" in page

    # Said once, not at every poll: one WARNING when it began, one INFO per doubling.
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "reboot" in r.msg]
    assert len(warnings) == 1
    assert warnings[0].getMessage() == (
        "PVS keeps rebooting: polling eased to 4 min after 2 reboots in 24 h; "
        "back to 2 min after 72 h without a reboot"
    )
    assert getattr(warnings[0], "target", None) == "site"
    further = [r.getMessage() for r in caplog.records if "still rebooting" in r.getMessage()]
    assert len(further) == 2

    # The PVS stops rebooting. 72 hours after its last reboot the configured
    # interval returns, not before. (Two hours of it are scraped minute by
    # minute; the clock then jumps to an hour before the end: nothing happens
    # in between but more of the same polls.)
    sim.pvs.stop_rebooting()
    easing = poller.status().easing
    assert easing is not None and easing.until is not None
    assert abs(easing.until - (sim.pvs.site.boot_time + RECOVER_AFTER)) <= 10 * 60
    assert await scrape_for(poller, clocks, 2 * HOUR) == [MAX_EASED_INTERVAL]
    clocks.advance(easing.until - HOUR - clocks.now)
    assert await scrape_for(poller, clocks, HOUR - 11 * 60) == [MAX_EASED_INTERVAL]
    assert await scrape_for(poller, clocks, 22 * 60) == [MAX_EASED_INTERVAL, 120.0]
    assert await requests_in(poller, clocks, sim, 1) == 30
    back = [r for r in caplog.records if "back to the configured" in r.getMessage()]
    assert [r.getMessage() for r in back] == [
        "polling back to the configured 2 min (72 h without a reboot)"
    ]
    values = await metrics(http, exporter.url)
    assert values["sunpower_pvs_poll_interval_seconds"] == 120.0


async def test_turned_off_the_interval_stays_as_configured(make_simulator, make_exporter):
    sim = await make_simulator(start=NOON_UTC, scale=0.0, inverters=1)
    clocks = Clocks(sim)
    exporter = await make_exporter(
        [target_for(sim, poll_interval=300.0, max_age=900.0, ease_off_after_reboots=False)],
        poll_mode="scrape",
        clock=clocks.fake,
    )
    (poller,) = exporter.state.pollers.values()
    sim.pvs.reboot_every(2 * HOUR, down_for=60.0)
    assert await scrape_for(poller, clocks, 7 * HOUR) == [300.0]
    assert poller.status().reboots == 3


async def eased_on_demand(make_simulator, make_exporter) -> tuple[SimulatorServer, Clocks, Poller]:
    sim = await make_simulator(start=NOON_UTC, scale=0.0, inverters=1)
    clocks = Clocks(sim)
    exporter = await make_exporter(
        [target_for(sim, name="a", poll_interval=60.0, max_age=180.0)],
        poll_mode="on_demand",
        single_target=False,
        clock=clocks.fake,
    )
    poller = exporter.state.pollers["a"]
    # Reboots seen by polls made directly (no probe yet: the poller is idle).
    await poller.poll()
    for hours in (3, 2, 1):  # uptime must fall at each poll
        sim.pvs.reboot(at=clocks.now)
        clocks.advance(hours * HOUR)
        await poller.poll()
    assert poller.status().poll_interval == 240.0
    return sim, clocks, poller


async def test_on_demand_a_probe_inside_the_eased_interval_is_served_from_cache(
    make_simulator, make_exporter
):
    sim, clocks, poller = await eased_on_demand(make_simulator, make_exporter)
    clocks.advance(2 * SCRAPE_EVERY)  # past the configured interval, inside the eased one
    before = device_lists(sim)
    assert not poller.is_due()
    poller.touch()  # what a /probe does first
    await poller.wait_for_data(1.0)
    assert device_lists(sim) == before
    assert poller.status().up


@pytest.mark.parametrize("ease_off", [True, False])
async def test_a_reload_of_the_same_pvs_keeps_what_it_saw(make_simulator, make_exporter, ease_off):
    sim = await make_simulator(start=NOON_UTC, scale=0.0, inverters=1)
    clocks = Clocks(sim)
    target = target_for(sim, poll_interval=60.0, max_age=180.0)
    exporter = await make_exporter([target], poll_mode="scrape", clock=clocks.fake)
    state = exporter.state
    old = state.pollers["site"]
    await old.poll()
    for hours in (2, 1):  # uptime must fall at each poll
        sim.pvs.reboot(at=clocks.now)
        clocks.advance(hours * HOUR)
        await old.poll()
    assert old.status().poll_interval == 120.0

    changed = target_for(sim, poll_interval=60.0, max_age=200.0, ease_off_after_reboots=ease_off)

    def make(target: TargetConfig) -> Poller:
        poller = make_poller(target, "scrape")
        poller.clock = poller.monotonic = clocks.fake
        return poller

    await state.replace_targets([changed], make)
    new = state.pollers["site"]
    assert new is not old
    status = new.status()
    assert status.reboots == 2  # the counter does not restart on a reload
    assert status.poll_interval == (120.0 if ease_off else 60.0)
    # Its stale data limit stretches with the interval: 200 s configured, 400 s eased.
    clocks.advance(300.0)
    assert (new.status().snapshot is not None) == ease_off
