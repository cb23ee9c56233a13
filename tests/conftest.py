"""Shared fixtures: a simulated PVS and an in-process exporter, both on 127.0.0.1.

Tests build ``TargetConfig`` objects directly, which is how they get poll
intervals far below the user-facing minimum without any flag that could
bypass it.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import settings

from sunpower_pvs_exporter.config import ExporterConfig, PollMode, TargetConfig
from sunpower_pvs_exporter.pvs.reader import PvsReader
from sunpower_pvs_exporter.pvs.varserver import VarserverClient
from sunpower_pvs_exporter.runtime import ExporterState, make_reader
from sunpower_pvs_exporter.simulator.server import SimulatedPvs, SimulatorServer
from sunpower_pvs_exporter.simulator.site import SimClock, SiteConfig
from sunpower_pvs_exporter.web.server import ExporterServer
from support import NOON_UTC, pollers_for, tls_target_for

# Certificates and exporters with a web config, for tests/web/ and tests/fuzz/;
# the monitoring stack (real Prometheus) of tests/e2e/ and tests/contrib/.
pytest_plugins = ["web_exporters", "e2e.monitoring_stack"]

# The whole session runs in a zone far from UTC, with daylight saving. Real
# PVS clocks run UTC; a test machine in UTC would hide every place where a
# device time is read or written as this machine's local time. Set when
# pytest loads this file, before any test (or subprocess it starts) runs;
# nothing imported above reads the zone at import time.
os.environ["TZ"] = "America/Los_Angeles"
time.tzset()

# Property tests draw the same examples on every run (a fixed seed, no example
# database): CI must not pass or fail by the luck of the draw. The fuzz suite
# explores further with SUNPOWER_PVS_FUZZ_EXAMPLES (tests/fuzz/).
settings.register_profile("repeatable", derandomize=True, database=None)
settings.load_profile("repeatable")


E2E_DIR = Path(__file__).parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/e2e/ is end-to-end, whether or not its module says
    so: ``-m "not e2e"`` (the quick loop, and CI's faked-date pass) must leave
    them all out."""
    for item in items:
        if E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(autouse=True)
def no_password_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own SUNPOWER_PVS_PASSWORD must not change what any test sees
    (nor what the processes a test starts see); a test that wants one sets it."""
    monkeypatch.delenv("SUNPOWER_PVS_PASSWORD", raising=False)


SimFactory = Callable[..., Awaitable[SimulatorServer]]
ExporterFactory = Callable[..., Awaitable[ExporterServer]]
Route = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def make_simulator() -> AsyncIterator[SimFactory]:
    """Start simulated PVSes: ``await make_simulator(inverters=3, start=NOON_UTC)``."""

    async def factory(
        start: float = NOON_UTC,
        scale: float = 1.0,
        port: int = 0,
        api: str = "legacy",
        tls: bool | None = None,
        telemetry: bool = True,
        host: str = "127.0.0.1",
        **site: Any,
    ) -> SimulatorServer:
        """``tls``: also listen with HTTPS (default: when the simulator speaks varserver).
        ``telemetry=False``: a PVS5, without the telemetry WebSocket. ``host``: another
        address of this machine: "::1", or any of 127.0.0.0/8 (each host is one PVS to
        the exporter, whatever the port; 127.0.0.41 has no port 443 listening)."""
        site.setdefault("tz", UTC)
        pvs = SimulatedPvs(
            config=SiteConfig(**site),
            clock=SimClock(start=start, scale=scale),
            api=api,
            telemetry=telemetry,
        )
        server = SimulatorServer(pvs, host=host, port=port, tls=tls)
        await server.start()
        started.push_async_callback(server.stop)
        return server

    async with contextlib.AsyncExitStack() as started:
        yield factory


@pytest.fixture
async def make_exporter() -> AsyncIterator[ExporterFactory]:
    """Start in-process exporters on 127.0.0.1 with a free port."""

    async def factory(
        targets: list[TargetConfig],
        single_target: bool | None = None,
        poll_mode: PollMode = "background",
        backoff_cap: float = 1.0,
        clock: Callable[[], float] | None = None,
        **config: Any,
    ) -> ExporterServer:
        """``clock``: every poller's wall and duration clock (a ``support.FakeClock``)."""
        cfg = ExporterConfig(
            targets=tuple(targets),
            listen_host="127.0.0.1",
            listen_port=0,
            poll_mode=poll_mode,
            single_target=len(targets) == 1 if single_target is None else single_target,
            **config,
        )
        pollers = pollers_for(cfg, backoff_cap=backoff_cap)
        if clock is not None:
            for poller in pollers:
                poller.clock = clock
                poller.monotonic = clock
        server = ExporterServer(ExporterState(cfg, pollers))
        await server.start()
        started.push_async_callback(server.stop)
        return server

    async with contextlib.AsyncExitStack() as started:
        yield factory


@pytest.fixture
async def fake_pvs() -> AsyncIterator[Callable[[Route], Awaitable[int]]]:
    """``port = await fake_pvs(route)``: a server on 127.0.0.1 answering every path
    with ``route`` (a PVS that misbehaves in ways the simulator has no name for)."""
    runners: list[web.AppRunner] = []

    async def start(route: Route) -> int:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", route)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        return int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def open_reader() -> AsyncIterator[Callable[[TargetConfig], PvsReader]]:
    """``reader = open_reader(target)``: the exporter's reader, closed after the test."""

    async with contextlib.AsyncExitStack() as opened:

        def factory(target: TargetConfig) -> PvsReader:
            reader = make_reader(target)
            opened.push_async_callback(reader.close)
            return reader

        yield factory


@pytest.fixture
def client_for(
    open_reader: Callable[[TargetConfig], PvsReader],
) -> Callable[..., VarserverClient]:
    """``client_for(sim, **target)``: a varserver client of ``sim`` over HTTPS,
    closed after the test."""

    def factory(sim: SimulatorServer, **overrides: Any) -> VarserverClient:
        reader = open_reader(tls_target_for(sim, api="varserver", **overrides))
        assert isinstance(reader, VarserverClient)
        return reader

    return factory


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
