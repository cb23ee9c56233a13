"""``--demo``: a simulated PVS inside the exporter process, on a free loopback port.

Every device clock is the real clock, so timestamps, staleness and the
shipped alerts behave as with a real PVS (``--use-device-data-timestamp``
included). Only the simulated sun is moved: the site keeps its hours in a
fixed-offset zone where it is late morning when the demo starts, so a first
look at the metrics shows a producing site whatever the time of day.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from sunpower_pvs_exporter.config import ExporterConfig, TargetConfig
from sunpower_pvs_exporter.simulator.replay import ReplayPvs, ReplayServer
from sunpower_pvs_exporter.simulator.server import SimulatedPvs, SimulatorServer
from sunpower_pvs_exporter.simulator.site import SimClock, SiteConfig

DEMO_SUN_HOUR = 11


def demo_sun_zone(now: float) -> timezone:
    """A fixed-offset zone in which ``now`` falls in the hour ``DEMO_SUN_HOUR``."""
    offset = DEMO_SUN_HOUR - datetime.fromtimestamp(now, UTC).hour  # -12 .. +11
    return timezone(timedelta(hours=offset))


class DemoSite:
    """``api`` is what the demo PVS speaks. Every demo site has a SunVault, so
    each API's battery metrics can be seen (legacy: the separate ESS report).

    ``replay``: serve that capture file instead of a simulated site.
    ``now`` is for tests; the demo itself runs on the real clock. No inverter
    is stuck in error: a healthy demo raises no alert.
    """

    server: SimulatorServer | ReplayServer

    def __init__(
        self,
        inverters: int = 20,
        seed: int = 2019,
        api: str = "legacy",
        replay: str | None = None,
        now: float | None = None,
    ) -> None:
        start = time.time() if now is None else now
        self.replay_api: str | None = None
        self.description = "simulated PVS (--demo)"
        if replay is not None:
            self.description = f"replay of the capture {Path(replay).name} (--demo --replay)"
            recorded = ReplayPvs.load(replay)
            self.replay_api = recorded.api_setting
            self.server = ReplayServer(recorded)
            return
        pvs = SimulatedPvs(
            config=SiteConfig(
                seed=seed,
                inverters=inverters,
                error_inverters=0,
                battery_modules=2,
                # Legacy lists also show the SunVault's Schneider-side devices
                # (PV Disconnect, Gateway, …) as real ones do.
                storage_side_devices=True,
                tz=demo_sun_zone(start),
            ),
            clock=SimClock(start=start),
            api=api,
        )
        self.server = SimulatorServer(pvs, host="127.0.0.1", port=0)

    def simulated_now(self) -> float | None:
        """The demo PVS's clock (``None`` for a replay, whose clock is the recording's)."""
        if isinstance(self.server, SimulatorServer):
            return self.server.pvs.clock.now()
        return None

    async def start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()

    def point_at(self, config: ExporterConfig) -> ExporterConfig:
        """The config with its (single) target aimed at the simulator."""
        targets = tuple(self.point_at_target(t) for t in config.targets)
        return dataclasses.replace(config, targets=targets)

    def point_at_target(self, target: TargetConfig) -> TargetConfig:
        server = self.server
        if server.tls:
            # varserver is HTTPS only; the simulator serves both APIs there.
            where = {"host": server.host, "port": server.tls_port, "use_tls": True}
            if isinstance(server, SimulatorServer):
                # --live: the simulator's WebSocket, not the PVS's 9002.
                where["telemetry_port"] = server.telemetry_port
        else:
            where = {"host": server.host, "port": server.port, "use_tls": False}
        if self.replay_api is not None:
            # Ask the way the capture was made, so the same requests come.
            where["api"] = self.replay_api
        return dataclasses.replace(target, **where)  # type: ignore[arg-type]
