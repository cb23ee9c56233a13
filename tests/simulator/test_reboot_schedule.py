"""Named fault "reboot_schedule": a PVS that reboots every N hours of its clock.

Read back over HTTP the way the exporter reads it: uptime starts again at
each reboot, and for a while after one the PVS answers nothing.
"""

from __future__ import annotations

import aiohttp
import pytest

from sunpower_pvs_exporter.simulator.server import SimulatorServer
from sunpower_pvs_exporter.simulator.site import SimClock, SiteConfig
from sunpower_pvs_exporter.simulator.state import SimulatedPvs
from support import NOON_UTC

HOUR = 3600.0
DEVICE_LIST = "/cgi-bin/dl_cgi?Command=DeviceList"


async def uptime(sim: SimulatorServer) -> float:
    async with aiohttp.ClientSession() as http, http.get(sim.url + DEVICE_LIST) as response:
        assert response.status == 200
        doc = await response.json(content_type=None)
    (supervisor,) = [d for d in doc["devices"] if d["DEVICE_TYPE"] == "PVS"]
    return float(supervisor["dl_uptime"])


async def refused(sim: SimulatorServer) -> bool:
    """True when the request got no answer at all (the connection was dropped)."""
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(sim.url + DEVICE_LIST) as response,
        ):
            await response.read()
    except aiohttp.ClientError:
        return True
    return False


async def test_reboots_on_schedule_and_answers_nothing_meanwhile(make_simulator):
    sim = await make_simulator(start=NOON_UTC, scale=0.0, inverters=1)
    clock = sim.pvs.clock
    before = await uptime(sim)
    assert before > HOUR  # the simulated PVS has been up a while
    sim.pvs.reboot_every(4 * HOUR, down_for=120.0)

    clock.start += 4 * HOUR - 60
    assert await uptime(sim) > before  # not yet
    clock.start += 90  # 30 s after the reboot: starting, answers nothing
    assert await refused(sim)
    assert sim.pvs.refused_while_down >= 1  # (a client may retry a dropped GET once)
    answered = sim.pvs.log.count("DeviceList")
    clock.start += 600  # up again, uptime from the reboot (on the PVS's 5-min grid)
    assert await uptime(sim) <= 630
    assert sim.pvs.log.count("DeviceList") == answered + 1
    assert sim.pvs.scheduled_reboots == 1

    # A day later: every reboot of the day happened, uptime counts from the last.
    clock.start += 24 * HOUR
    assert sim.pvs.scheduled_reboots == 1  # follows the clock lazily, when asked
    assert await uptime(sim) <= 4 * HOUR
    assert sim.pvs.scheduled_reboots == 7

    sim.pvs.stop_rebooting()
    clock.start += 8 * HOUR
    assert await uptime(sim) > 8 * HOUR
    assert sim.pvs.scheduled_reboots == 7


def test_a_reboot_forgets_sessions_and_the_schedule_rejects_nonsense():
    pvs = SimulatedPvs(config=SiteConfig(inverters=1), clock=SimClock(start=NOON_UTC, scale=0.0))
    pvs.sessions["t"] = object()  # type: ignore[assignment]
    pvs.reboot_every(HOUR, down_for=0.0)
    pvs.clock.start += HOUR
    assert not pvs.down()
    assert pvs.sessions == {}
    assert pvs.site.boot_time == NOON_UTC + HOUR
    for period, down in ((0.0, 0.0), (60.0, 60.0), (60.0, -1.0)):
        with pytest.raises(ValueError, match="reboot_every"):
            pvs.reboot_every(period, down_for=down)
