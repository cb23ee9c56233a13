"""PVS reboots are counted when uptime goes backwards between polls."""

from __future__ import annotations

import pytest

from sunpower_pvs_exporter.continuity import TargetContinuity
from sunpower_pvs_exporter.pvs.model import Device, Snapshot, Supervisor
from support import NOON_UTC, api_target_for, parse_samples, series


def with_uptime(uptime: float | None) -> Snapshot:
    sup = Supervisor(Device("PVS", "ZT1", state="working"), uptime_seconds=uptime)
    return Snapshot("legacy", 0.0, supervisor=sup, devices=(sup.device,))


def test_reboots_count_only_when_uptime_falls() -> None:
    continuity = TargetContinuity("site")
    for now, uptime in enumerate([5000.0, 5300.0, None, 40.0, 340.0, 340.0, 10.0]):
        continuity.apply(with_uptime(uptime), float(now))
    # 5300 -> (missing) -> 40 is one reboot; 340 -> 10 another.
    assert continuity.reboots == 2


@pytest.mark.parametrize("api", ["legacy", "varserver"])
async def test_reboot_counter_over_http(api, make_simulator, make_exporter, http):
    sim = await make_simulator(api=api, start=NOON_UTC + 3600, inverters=1)
    target = api_target_for(sim, api, poll_interval=3600.0, max_age=7200.0)
    exporter = await make_exporter([target], poll_mode="scrape")
    poller = next(iter(exporter.state.pollers.values()))

    async def reboots() -> list[float]:
        async with http.get(exporter.url + "/metrics") as response:
            samples = parse_samples(await response.text())
        return [v for _, v in series(samples, "sunpower_pvs_supervisor_reboots_total")]

    assert await reboots() == [0.0]
    sim.pvs.reboot()
    await poller.poll()
    assert await reboots() == [1.0]
    await poller.poll()
    assert await reboots() == [1.0]
