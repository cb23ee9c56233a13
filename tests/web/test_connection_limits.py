"""Connection floods, oversized bodies, URLs and headers (issue "Hardened under hostile load").

Over real sockets: a capped number of connections, the longest idle evicted
first (TLS handshakes that never finish included), busy ones never; 413 before
a body is read; 414/431 for an over-long URL or header. Memory and latency
figures are in ``benchmarks/attack.py``.
"""

from __future__ import annotations

import asyncio
import ssl

import pytest

from sunpower_pvs_exporter.web.connections import Admission, ConnectionGuard
from sunpower_pvs_exporter.web.security import RequestLimits
from support import FakeTransport, target_for

MiB = 1024 * 1024


class BusyHandler:
    """What the guard asks of a handler; the real one is checked in test_connections.py."""

    request_in_progress = True


def test_the_biggest_holder_loses_its_longest_idle_connection_first():
    guard = ConnectionGuard(max_connections=4)
    user = Admission(FakeTransport(), "192.0.2.1")
    flood = [Admission(FakeTransport(), "198.51.100.9") for _ in range(3)]
    assert guard.admit(user)
    for admission in flood:
        assert guard.admit(admission)
    # The user's connection is the oldest, but the flooder holds the most: the
    # flooder's newcomers are refused, nobody is closed for them.
    for _ in range(10):
        assert not guard.admit(Admission(FakeTransport(), "198.51.100.9"))
    assert guard.open == 4 and guard.evicted == 0 and guard.refused == 10
    assert not user.transport.aborted  # type: ignore[attr-defined]
    # Another host's newcomer takes the flooder's longest idle connection.
    assert guard.admit(Admission(FakeTransport(), "192.0.2.2"))
    assert flood[0].transport.aborted and not user.transport.aborted  # type: ignore[attr-defined]


def test_idle_connections_go_first_busy_ones_never_and_the_biggest_holder_is_refused():
    guard = ConnectionGuard(max_connections=3)
    flood = [Admission(FakeTransport(), "198.51.100.9") for _ in range(3)]
    for admission in flood:
        assert guard.admit(admission)
    flood[0].handler = BusyHandler()  # type: ignore[assignment]
    guard.touch(flood[1])  # 1 was active recently: 2 is now the longest idle
    user = Admission(FakeTransport(), "192.0.2.1")
    assert guard.admit(user)
    aborted = [a.transport.aborted for a in flood]  # type: ignore[attr-defined]
    assert aborted == [False, False, True]
    # More from the flooder: refused, none of its (or the user's) connections closed.
    assert not guard.admit(Admission(FakeTransport(), "198.51.100.9"))
    assert guard.refused == 1 and guard.evicted == 1 and guard.open == 3
    # A second user address still gets in, at the flooder's expense...
    second = Admission(FakeTransport(), "192.0.2.2")
    assert guard.admit(second)
    assert flood[1].transport.aborted  # type: ignore[attr-defined]
    # ...and when every connection is busy with a request, newcomers are refused.
    user.handler = second.handler = BusyHandler()  # type: ignore[assignment]
    assert not guard.admit(Admission(FakeTransport(), "192.0.2.3"))
    guard.release(flood[0])
    assert guard.admit(Admission(FakeTransport(), "192.0.2.3"))


async def idle_connections(
    port: int, count: int, source: str = "127.0.0.2"
) -> list[asyncio.StreamWriter]:
    """Idle connections from another loopback address: another host, to the exporter."""
    writers = []
    for _ in range(count):
        _reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        writers.append(writer)
    await asyncio.sleep(0.2)
    return writers


async def closed_count(writers: list[asyncio.StreamWriter]) -> int:
    """Connections the server has closed (reading gives EOF or a reset)."""
    closed = 0
    for writer in writers:
        transport = writer.transport
        protocol = transport.get_protocol()
        reader = getattr(protocol, "_stream_reader", None)
        if reader is not None and (reader.at_eof() or reader.exception() is not None):
            closed += 1
    return closed


async def test_idle_connections_beyond_the_cap_are_evicted_and_scrapes_get_in(
    make_simulator, make_secure_exporter, http
):
    sim = await make_simulator(inverters=1)
    exporter = await make_secure_exporter(
        [target_for(sim)], limits=RequestLimits(max_connections=8)
    )
    writers = await idle_connections(exporter.port, 30, source="127.0.0.2")
    try:
        assert exporter.guard.open <= 8
        assert exporter.guard.refused >= 22
        for _ in range(5):
            async with http.get(exporter.url + "/metrics") as response:
                assert response.status == 200
        assert exporter.guard.evicted >= 1
        assert await closed_count(writers) >= 22
    finally:
        for writer in writers:
            writer.close()


async def test_stuck_tls_handshakes_are_evicted_too(
    make_simulator, make_secure_exporter, tls_files
):
    """Raw sockets that never start a handshake hold no slot a real client needs."""
    sim = await make_simulator(inverters=1)
    web_config = (
        "tls_server_config:\n"
        f"  cert_file: {tls_files.server_crt}\n"
        f"  key_file: {tls_files.server_key}\n"
    )
    exporter = await make_secure_exporter(
        [target_for(sim)], web_config=web_config, limits=RequestLimits(max_connections=8)
    )
    writers = await idle_connections(exporter.port, 30)
    context = ssl.create_default_context(cafile=str(tls_files.ca_crt))
    try:
        assert exporter.guard.open <= 8
        for _ in range(5):
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", exporter.port, ssl=context, server_hostname="127.0.0.1"
            )
            writer.write(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            async with asyncio.timeout(10):
                answer = await reader.read()
            writer.close()
            assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
        assert exporter.guard.refused >= 22 and exporter.guard.evicted >= 1
    finally:
        for writer in writers:
            writer.close()


async def raw_exchange(port: int, data: bytes, until_close: bool = True) -> bytes:
    """Everything the server sends until it closes, or just its first bytes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(10):
            return await (reader.read() if until_close else reader.read(100))
    finally:
        writer.close()


@pytest.mark.parametrize("method", [b"POST", b"GET", b"PUT"])
async def test_a_100_mb_body_gets_413_before_it_is_sent(make_simulator, make_exporter, method):
    sim = await make_simulator(inverters=1)
    exporter = await make_exporter([target_for(sim)])
    head = b"%s /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (method, 100 * MiB)
    # Only the head and a first kilobyte are sent: the answer must not wait for the rest.
    answer = await raw_exchange(exporter.port, head + b"z" * 1024)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
    assert b"Connection: close" in answer


async def test_a_chunked_body_on_a_get_is_refused(make_simulator, make_exporter):
    sim = await make_simulator(inverters=1)
    exporter = await make_exporter([target_for(sim)])
    head = b"GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    answer = await raw_exchange(exporter.port, head + b"400\r\n" + b"z" * 1024)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]


async def test_413_comes_before_authentication(make_simulator, make_secure_exporter):
    sim = await make_simulator(inverters=1)
    exporter = await make_secure_exporter(
        [target_for(sim)],
        web_config="basic_auth_users:\n  p: '$2b$04$" + "a" * 53 + "'\n",
    )
    head = b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (100 * MiB)
    answer = await raw_exchange(exporter.port, head)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
    assert exporter.security.checker.bcrypt_checks == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /metrics?" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", b"414"),
        (b"GET /" + b"p" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", b"414"),
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", b"431"),
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-" + b"n" * 9000 + b": v\r\n\r\n", b"431"),
        (
            b"GET /metrics HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-H%d: v\r\n" % i for i in range(100))
            + b"\r\n",
            b"431",
        ),
    ],
    ids=["long-query", "100k-path", "long-header-value", "long-header-name", "100-headers"],
)
async def test_oversized_urls_and_headers_get_414_and_431(
    make_simulator, make_exporter, request_bytes, status
):
    sim = await make_simulator(inverters=1)
    exporter = await make_exporter([target_for(sim)])
    answer = await raw_exchange(exporter.port, request_bytes)
    assert answer.split(b" ", 2)[1] == status, answer[:100]
    assert b"bbbbbbbb" not in answer and b"aaaaaaaa" not in answer  # nothing echoed
    healthy = await raw_exchange(
        exporter.port, b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert healthy.startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize(
    "expect",
    [b"100-continue", b"\xff\xfe-bytes", b"x" * 1000, b"1e9\r\nConnection: c\x8aose"],
    ids=["100-continue", "not-utf8", "long", "not-utf8-elsewhere"],
)
async def test_expect_headers_never_get_a_500_or_an_early_continue(
    make_simulator, make_secure_exporter, expect
):
    """Found by the HTTP fuzz: an Expect value that is not UTF-8 made aiohttp answer 500."""
    sim = await make_simulator(inverters=1)
    exporter = await make_secure_exporter(
        [target_for(sim)],
        web_config="basic_auth_users:\n  p: '$2b$04$" + "a" * 53 + "'\n",
    )
    for method in (b"GET", b"POST", b"HEAD"):
        request = (
            b"%s http://127.0.0.1/metrics HTTP/1.1\r\nHost: x\r\nExpect: %s\r\n"
            b"Content-Length: 10\r\nConnection: close\r\n\r\n" % (method, expect)
        )
        answer = await raw_exchange(exporter.port, request, until_close=False)
        # Authentication first: no "100 Continue" invites a body from a stranger.
        assert answer.startswith(b"HTTP/1.1 401"), answer[:100]
