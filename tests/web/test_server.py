"""Where the exporter listens: ``--listen-on [::]:PORT`` answers IPv4 and IPv6 alike."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import aiohttp
import pytest

from sunpower_pvs_exporter.config import ExporterConfig, TargetConfig
from sunpower_pvs_exporter.runtime import STOP_DEADLINE, ExporterState
from sunpower_pvs_exporter.simulator.faults import FaultPlan
from sunpower_pvs_exporter.web.server import (
    OPEN_SCRAPES_GRACE,
    ExporterServer,
    dual_stack_socket,
)
from support import parse_samples, pollers_for, series, target_for


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


async def _healthy(url: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/-/healthy") as reply:
        return reply.status


@pytest.mark.skipif(not _ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)")
async def test_any_ipv6_address_takes_ipv4_and_ipv6_connections_on_one_port():
    target = TargetConfig(name="pvs", host="127.0.0.1", port=9)
    config = ExporterConfig(targets=(target,), listen_host="::", listen_port=0)
    server = ExporterServer(ExporterState(config, pollers_for(config)))
    await server.start()
    try:
        assert server.port != 0
        assert await _healthy(f"http://127.0.0.1:{server.port}") == 200
        assert await _healthy(f"http://[::1]:{server.port}") == 200
    finally:
        await server.stop()


def test_dual_stack_socket_reports_a_port_in_use():
    with socket.socket(socket.AF_INET) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError):
            dual_stack_socket(port)  # binding [::] with IPv4 included collides


async def _wait_until(condition: Callable[[], bool], what: str, seconds: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while not condition():
        assert loop.time() < end, f"not {what} within {seconds:g} s"
        await asyncio.sleep(0.01)


async def _scrape(url: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/metrics") as reply:
        return reply.status, parse_samples(await reply.text())


@pytest.mark.parametrize("had_data", [True, False], ids=["last data", "no data yet"])
async def test_a_scrape_waiting_on_a_poll_at_shutdown_gets_an_answer(make_simulator, had_data):
    """Scrape mode: SIGTERM while a scrape waits on a slow PVS closed the
    connection without an answer. It gets the last data with up 0 (or up 0
    alone), within the open scrapes' grace, instead."""
    sim = await make_simulator(inverters=2, error_inverters=0)
    target = target_for(sim, timeout=60.0, max_age=120.0)
    config = ExporterConfig(
        targets=(target,), listen_host="127.0.0.1", listen_port=0, poll_mode="scrape"
    )
    (poller,) = pollers_for(config)
    server = ExporterServer(ExporterState(config, [poller]))
    await server.start()
    try:
        if had_data:
            status, before = await _scrape(server.url)
            assert status == 200
            assert series(before, "sunpower_pvs_up")[0][1] == 1.0
            await _wait_until(poller.is_due, "due again")  # poll_interval 0.2 s
        sim.pvs.faults = FaultPlan(latency=60.0)  # a PVS slower than any shutdown
        scrape = asyncio.create_task(_scrape(server.url))
        await _wait_until(lambda: sim.pvs.log.in_flight > 0, "polling")
        loop = asyncio.get_running_loop()
        stopping = loop.time()
        await server.stop()
        took = loop.time() - stopping
        status, after = await asyncio.wait_for(scrape, timeout=5.0)
    finally:
        await server.stop()
    assert status == 200
    assert series(after, "sunpower_pvs_up")[0][1] == 0.0
    powers = series(after, "sunpower_pvs_inverter_ac_power_watts")
    if had_data:
        assert powers == series(before, "sunpower_pvs_inverter_ac_power_watts")
    else:
        assert powers == []
    assert took < OPEN_SCRAPES_GRACE + STOP_DEADLINE + 1.0, took
