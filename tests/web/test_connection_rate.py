"""New connections a second per client address (``web/connection_rate.py``).

The bucket logic on a fake clock; then the guard and a real listening socket:
a flooding address is closed at accept while another address is served.
The latency it protects is measured in ``benchmarks/attack.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import yaml
from aiohttp import web

from sunpower_pvs_exporter.config import DEFAULT_CONNECTION_RATE, parse_config
from sunpower_pvs_exporter.web.connection_rate import ConnectionRate
from sunpower_pvs_exporter.web.connections import (
    ConnectionGuard,
    GuardedSite,
    client_key,
)
from support import FakeClock

FLOODER = "198.51.100.9"
USER = "192.0.2.1"


def test_a_burst_of_rate_then_rate_a_second():
    clock = FakeClock(1000.0)
    rate = ConnectionRate(5, clock=clock)
    assert [rate.allow(FLOODER) for _ in range(7)] == [True] * 5 + [False] * 2
    clock.advance(0.2)  # one token back
    assert rate.allow(FLOODER) and not rate.allow(FLOODER)
    clock.advance(60)  # refilled to the burst, no further
    assert sum(rate.allow(FLOODER) for _ in range(10)) == 5
    assert rate.refused == 2 + 1 + 5


def test_one_address_over_its_rate_does_not_touch_another_address():
    clock = FakeClock(0.0)
    rate = ConnectionRate(3, clock=clock)
    for _ in range(100):
        rate.allow(FLOODER)
    assert [rate.allow(USER) for _ in range(3)] == [True, True, True]


def test_an_ipv6_64_is_one_address_and_a_mapped_ipv4_is_its_ipv4():
    clock = FakeClock(0.0)
    rate = ConnectionRate(2, clock=clock)
    same_64 = [client_key(f"2001:db8:1:2::{i:x}") for i in range(1, 4)]
    assert [rate.allow(key) for key in same_64] == [True, True, False]
    assert rate.allow(client_key("2001:db8:1:3::1"))  # the next /64
    assert client_key("::ffff:192.0.2.1") == USER
    assert rate.allow(client_key(USER)) and rate.allow(client_key("::ffff:192.0.2.1"))
    assert not rate.allow(client_key(USER))


def test_the_table_stays_bounded_and_drops_full_buckets_first():
    clock = FakeClock(0.0)
    rate = ConnectionRate(10, clock=clock, max_clients=8)
    for i in range(7):
        rate.allow(f"203.0.113.{i}")  # one connection each
    clock.advance(1.0)  # their buckets are full again: nothing to remember
    for _ in range(11):
        rate.allow(FLOODER)  # drained: the one entry worth keeping
    rate.allow("203.0.113.100")  # the ninth client: the table is pruned
    assert len(rate) == 2
    assert not rate.allow(FLOODER)  # still limited, although seen before the newcomer
    for i in range(100):  # more clients than the table holds, all at once
        rate.allow(f"198.18.0.{i}")
        assert len(rate) <= 8


def test_a_zero_rate_is_no_limit_not_a_bucket():
    with pytest.raises(ValueError, match="no limit"):
        ConnectionRate(0)


def test_the_guard_refuses_over_the_rate_before_counting_and_keeps_the_cap_for_others():
    clock = FakeClock(0.0)
    guard = ConnectionGuard(max_connections=8, rate=ConnectionRate(2, clock=clock))
    allowed = [guard.allows(FLOODER) for _ in range(5)]
    assert allowed == [True, True, False, False, False]
    assert guard.open == 0 and guard.refused == 0 and guard.rate is not None
    assert guard.rate.refused == 3
    assert guard.allows(USER) and guard.allows("::ffff:" + USER)  # one address, one bucket
    assert not guard.allows(USER)
    clock.advance(1.0)
    assert guard.allows(FLOODER)
    assert ConnectionGuard(max_connections=8).allows(FLOODER)  # no rate: always


def test_the_config_key_defaults_and_zero_turns_it_off():
    def rate(text: str) -> int:
        doc = yaml.safe_load(text + "targets:\n  - name: home\n    host: 172.27.153.1\n")
        return parse_config(doc).web_max_connection_rate

    assert rate("") == DEFAULT_CONNECTION_RATE
    assert rate("web_max_connection_rate: 0\n") == 0
    assert rate("web_max_connection_rate: 5\n") == 5


@pytest.fixture
async def runner() -> AsyncIterator[web.AppRunner]:
    async def hello(_request: web.Request) -> web.Response:
        return web.Response(text="hello")

    app = web.Application()
    app.router.add_get("/", hello)
    app_runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await app_runner.setup()
    try:
        yield app_runner
    finally:
        await app_runner.cleanup()


async def get(port: int, source: str) -> bytes:
    """One request on a new connection from ``source``; b"" if the server reset it
    (which may happen before the connect call returns)."""
    try:
        async with asyncio.timeout(5):
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, local_addr=(source, 0)
            )
            try:
                writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                return await reader.read()
            finally:
                writer.close()
    except ConnectionResetError:
        return b""


async def test_over_real_sockets_the_flooding_address_is_closed_and_another_is_served(
    runner: web.AppRunner,
):
    clock = FakeClock(0.0)  # stands still: no token comes back during the test
    guard = ConnectionGuard(max_connections=64, rate=ConnectionRate(3, clock=clock))
    site = GuardedSite(runner, "127.0.0.1", 0, guard)
    await site.start()
    port = runner.addresses[0][1]
    answers = [await get(port, "127.0.0.3") for _ in range(5)]
    assert [answer.startswith(b"HTTP/1.1 200") for answer in answers] == [True] * 3 + [False] * 2
    assert answers[3] == answers[4] == b""  # reset before a byte was read
    assert (await get(port, "127.0.0.4")).startswith(b"HTTP/1.1 200")
    assert guard.rate is not None and guard.rate.refused == 2
