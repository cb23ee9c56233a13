"""Where the exporter listens: ``--listen-on [::]:PORT`` answers IPv4 and IPv6 alike."""

from __future__ import annotations

import socket

import aiohttp
import pytest

from sunpower_pvs_exporter.config import ExporterConfig, TargetConfig
from sunpower_pvs_exporter.runtime import ExporterState
from sunpower_pvs_exporter.web.server import ExporterServer, dual_stack_socket
from support import pollers_for


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
