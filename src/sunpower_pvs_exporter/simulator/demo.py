"""``--demo``: a simulated PVS inside the exporter process, on a free loopback port.

The simulated sun is pinned to late morning when the demo starts, so a first
look at the metrics shows a producing site whatever the time of day.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from sunpower_pvs_exporter.config import ExporterConfig
from sunpower_pvs_exporter.simulator.server import SimulatedPvs, SimulatorServer
from sunpower_pvs_exporter.simulator.site import SimClock, SiteConfig

DEMO_START_HOUR = 11


def demo_start_time() -> float:
    today = datetime.now().astimezone()
    return today.replace(hour=DEMO_START_HOUR, minute=0, second=0, microsecond=0).timestamp()


class DemoSite:
    def __init__(self, inverters: int = 20, seed: int = 2019) -> None:
        pvs = SimulatedPvs(
            config=SiteConfig(seed=seed, inverters=inverters),
            clock=SimClock(start=demo_start_time()),
        )
        self.server = SimulatorServer(pvs, host="127.0.0.1", port=0)

    async def start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()

    def point_at(self, config: ExporterConfig) -> ExporterConfig:
        """The config with its (single) target aimed at the simulator."""
        targets = tuple(
            dataclasses.replace(t, host=self.server.host, port=self.server.port, use_tls=False)
            for t in config.targets
        )
        return dataclasses.replace(config, targets=targets)
