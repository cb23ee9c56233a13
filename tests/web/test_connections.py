"""``web/connections.py`` against the installed aiohttp and asyncio, not doubles of them.

The guard relies on a few private names (``PRIVATE_AIOHTTP``, asyncio's
``SSLProtocol.max_size``) and on aiohttp reading the ``_server`` every site
sets. Each test here inspects a real object of the installed library or runs
a real server on 127.0.0.1, so an aiohttp or Python upgrade that moves one of
them fails here before it misbehaves in production.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from asyncio import sslproto
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from sunpower_pvs_exporter.web.connections import (
    PRIVATE_AIOHTTP,
    TLS_READ_BUFFER_BYTES,
    ConnectionGuard,
    GuardedSite,
    UnsupportedAiohttp,
    missing_private_aiohttp,
    shrink_tls_read_buffers,
)

ENTERED = web.AppKey("entered", asyncio.Event)
RELEASE = web.AppKey("release", asyncio.Event)
SEEN = web.AppKey("seen", list)


@pytest.fixture
async def runner() -> AsyncIterator[web.AppRunner]:
    entered = asyncio.Event()
    release = asyncio.Event()
    seen: list[bool] = []

    async def slow(request: web.Request) -> web.Response:
        seen.append(request.protocol.request_in_progress)  # type: ignore[attr-defined]
        entered.set()
        await release.wait()
        return web.Response(text="done")

    app = web.Application()
    app.router.add_get("/slow", slow)
    app[ENTERED], app[RELEASE], app[SEEN] = entered, release, seen
    app_runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await app_runner.setup()
    try:
        yield app_runner
    finally:
        release.set()
        await app_runner.cleanup()


async def start_site(app_runner: web.AppRunner, guard: ConnectionGuard) -> int:
    site = GuardedSite(app_runner, "127.0.0.1", 0, guard)
    await site.start()
    ports = {address[1] for address in app_runner.addresses}
    assert len(ports) == 1, app_runner.addresses  # aiohttp read the site's _server
    return ports.pop()


async def test_the_installed_aiohttp_has_every_private_name_the_guard_uses(
    runner: web.AppRunner,
):
    assert runner.server is not None
    assert missing_private_aiohttp(runner.server) == []
    assert len(PRIVATE_AIOHTTP) == 2  # each one is checked by missing_private_aiohttp


async def test_a_missing_private_name_stops_the_start_with_its_name(runner: web.AppRunner):
    server = runner.server
    assert server is not None
    del server._kwargs  # what a future aiohttp without it looks like
    assert missing_private_aiohttp(server) == ["aiohttp.web_server.Server._kwargs"]
    with pytest.raises(UnsupportedAiohttp, match=r"lacks aiohttp\.web_server\.Server\._kwargs"):
        await GuardedSite(runner, "127.0.0.1", 0, ConnectionGuard(4)).start()
    assert runner.addresses == []  # nothing listens


async def test_a_request_in_progress_is_seen_as_busy_and_never_evicted(runner: web.AppRunner):
    guard = ConnectionGuard(max_connections=2)
    port = await start_site(runner, guard)
    app = runner.app
    # A scrape in progress from 127.0.0.1.
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    async with asyncio.timeout(10):
        await app[ENTERED].wait()
    # An idle connection from another host fills the cap...
    _idle_reader, idle = await asyncio.open_connection(
        "127.0.0.1", port, local_addr=("127.0.0.2", 0)
    )
    await asyncio.sleep(0.1)
    assert guard.open == 2
    # ...and a newcomer from a third host takes the idle one's place, not the scrape's.
    _new_reader, newcomer = await asyncio.open_connection(
        "127.0.0.1", port, local_addr=("127.0.0.3", 0)
    )
    await asyncio.sleep(0.1)
    assert guard.evicted == 1 and guard.refused == 0
    assert app[SEEN] == [True]
    app[RELEASE].set()
    async with asyncio.timeout(10):
        head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    for connection in (writer, idle, newcomer):
        connection.close()


async def test_a_stopped_site_listens_no_more(runner: web.AppRunner):
    port = await start_site(runner, ConnectionGuard(4))
    await runner.cleanup()  # BaseSite.stop closes the _server the site set
    assert runner.addresses == []
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


def test_asyncio_has_the_tls_read_buffer_size_the_exporter_shrinks(
    monkeypatch: pytest.MonkeyPatch,
):
    # Already shrunk if a TLS server of this test run has started: only its type tells.
    assert isinstance(sslproto.SSLProtocol.__dict__.get("max_size"), int)
    monkeypatch.setattr(sslproto.SSLProtocol, "max_size", 256 * 1024)  # restored afterwards
    assert shrink_tls_read_buffers() is True
    assert sslproto.SSLProtocol.max_size == TLS_READ_BUFFER_BYTES


def test_without_that_size_tls_buffers_stay_as_they_are_and_a_warning_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    monkeypatch.delattr(sslproto.SSLProtocol, "max_size")
    with caplog.at_level(logging.WARNING, logger="sunpower_pvs_exporter.web.connections"):
        assert shrink_tls_read_buffers() is False
    assert "SSLProtocol.max_size is missing" in caplog.text
    assert not hasattr(sslproto.SSLProtocol, "max_size")


# The real CLI in its own process, with the check made to report a name (the
# check itself is tested above on the real aiohttp).
CLI_WITH_A_NAME_MISSING = (
    "import sys\n"
    "from sunpower_pvs_exporter.web import connections\n"
    "connections.missing_private_aiohttp = lambda server: ['aiohttp.x.Y._gone']\n"
    "from sunpower_pvs_exporter.cli.serve import main\n"
    "raise SystemExit(main(sys.argv[1:]))\n"
)


def test_the_cli_says_which_aiohttp_name_is_missing_in_one_line_and_exits_1():
    argv = ["--hostname", "127.0.0.1", "--port", "9", "--listen-on", "127.0.0.1:0"]
    done = subprocess.run(
        [sys.executable, "-c", CLI_WITH_A_NAME_MISSING, *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("sunpower-pvs-exporter: error: aiohttp "), done.stderr
    assert "lacks aiohttp.x.Y._gone, which this exporter needs" in last
    assert "Traceback" not in done.stderr


def test_a_failed_handshake_leaves_nothing_for_the_cyclic_collector():
    """``start_tls`` fails with an exception whose frames hold the handshake and
    the future holding that exception: without ``forget_traceback`` only a full
    collection frees it (benchmarks/attack.py measured 80 KB per connection)."""
    import gc
    import weakref

    from sunpower_pvs_exporter.web.connections import forget_traceback

    class Handshake:
        """Stands in for the SSLProtocol a failed ``start_tls`` frame holds."""

    def start_tls(handshake: Handshake) -> None:
        waiter: dict[str, BaseException] = {}  # the future the exception is set on
        try:
            raise asyncio.CancelledError
        except asyncio.CancelledError:
            error = TimeoutError("handshake timed out")
            waiter["exception"] = error
            raise error from None

    gc.disable()
    try:
        handshake = Handshake()
        alive = weakref.ref(handshake)
        failed: list[BaseException] = []
        try:
            start_tls(handshake)
        except TimeoutError as exc:
            forget_traceback(exc)
            failed.append(exc)
        del handshake
        assert alive() is None
        (error,) = failed
        assert error.__traceback__ is None and error.__context__ is not None
        assert error.__context__.__traceback__ is None
    finally:
        gc.enable()
