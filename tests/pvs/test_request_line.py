"""The one queue per PVS host: shared by every client of a host, bounded in number."""

from __future__ import annotations

import asyncio
import gc

from sunpower_pvs_exporter.pvs.request_line import RequestLines, host_key, line_for
from sunpower_pvs_exporter.pvs.transport import Endpoint, HttpTransport
from support import FakeClock


def test_one_host_is_one_key_however_it_is_written():
    assert host_key("PVS.Local") == host_key("pvs.local")
    assert host_key("[::1]") == host_key("0:0::1") == "::1"
    assert host_key("127.0.0.1") != host_key("127.0.0.2")


async def test_every_transport_to_a_host_shares_its_line_whatever_the_port():
    http = HttpTransport(Endpoint("127.0.0.1", 80), timeout=1.0)
    https = HttpTransport(Endpoint("127.0.0.1", 443, use_tls=True), timeout=1.0)
    other = HttpTransport(Endpoint("::1", 80), timeout=1.0)
    assert http.line is https.line is line_for("127.0.0.1")
    assert other.line is not http.line


async def test_closing_one_client_ends_its_own_requests_not_another_clients():
    line = RequestLines().line_for("pvs")
    first, second = object(), object()
    release = asyncio.Event()

    async def slow() -> str:
        await release.wait()
        return "answered"

    mine = asyncio.create_task(line.run(slow, None, owner=first))
    theirs = asyncio.create_task(line.run(slow, None, owner=second))
    await asyncio.sleep(0.01)
    await line.drain(0.01, owner=first)  # cancels the first client's request
    assert line.busy
    release.set()
    assert await theirs == "answered"
    assert mine.cancelled() or isinstance(mine.exception(), asyncio.CancelledError)
    assert not line.busy


async def test_a_line_nobody_holds_is_remembered_while_its_last_poll_matters():
    """A reload removes a target (its poller, and with it every holder of the
    line, goes) and the next adds it back: the line, with its last poll, is
    still there for the new poller. Once an interval has passed it is not."""
    clock = FakeClock(1000.0)
    lines = RequestLines(monotonic=clock)
    line = lines.line_for("pvs.example")
    line.polled(at=5000.0, remember_for=60.0)
    del line
    gc.collect()
    clock.advance(59.0)
    again = lines.line_for("PVS.example")
    assert again.last_poll_at == 5000.0
    del again
    clock.advance(2.0)
    gc.collect()
    assert lines.line_for("pvs.example").last_poll_at is None


async def test_a_line_in_use_is_never_replaced_however_old_its_last_poll():
    clock = FakeClock(0.0)
    lines = RequestLines(monotonic=clock)
    held = lines.line_for("pvs")
    held.polled(at=1.0, remember_for=1.0)
    clock.advance(3600.0)
    lines.line_for("another")
    gc.collect()
    assert lines.line_for("pvs") is held


async def test_a_fleet_that_churns_keeps_only_the_lines_that_matter():
    """1000 targets, one new host a second for an hour, each polled once at a
    60 s interval and then removed: the registry holds about a minute's worth
    of hosts, not an hour's."""
    clock = FakeClock(0.0)
    lines = RequestLines(monotonic=clock)
    for n in range(3600):
        lines.line_for(f"pvs-{n % 1000}-{n // 1000}").polled(at=float(n), remember_for=60.0)
        clock.advance(1.0)
    lines.forget_expired()
    gc.collect()
    assert 55 <= len(lines) <= 61, len(lines)
