"""Log formats (plain, logfmt, JSON) and rate-limiting of repeated errors."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from sunpower_pvs_exporter.cli import serve
from sunpower_pvs_exporter.logsetup import (
    JsonFormatter,
    LogfmtFormatter,
    PlainFormatter,
    RepeatFilter,
    configure_logging,
)
from sunpower_pvs_exporter.poller import Poller, PollSchedule
from sunpower_pvs_exporter.runtime import make_reader
from support import start_exporter_async, target_for


def record(
    msg: str, *args: object, level: int = logging.WARNING, name: str = "x", **extra: object
) -> logging.LogRecord:
    rec = logging.LogRecord(name, level, __file__, 1, msg, args or None, None)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


@pytest.fixture
def restore_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        if handler not in handlers:
            handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_plain_is_the_original_format():
    line = PlainFormatter().format(record("poll failed: %s", "boom", target="site"))
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING x: target=site poll failed: boom", line
    ), line


def test_plain_escapes_control_characters_from_the_pvs():
    line = PlainFormatter().format(record("serial %s", "E001\nFAKE ERROR line\x1b[31m"))
    assert "\n" not in line and "\x1b" not in line
    assert "E001\\x0aFAKE ERROR line\\x1b[31m" in line


def test_logfmt_makes_target_a_field_and_quotes_values():
    line = LogfmtFormatter().format(
        record('poll failed (%s): %s "x"', "timeout", "no answer\nin 10s", target="site-1")
    )
    assert "\n" not in line
    assert line.startswith("time=")
    assert " level=warning logger=x target=site-1 " in line
    assert 'msg="poll failed (timeout): no answer\\nin 10s \\"x\\""' in line
    line = LogfmtFormatter().format(record("listening", target="roof"))
    assert "target=roof msg=listening" in line
    # A record about no target has no target field (and no stray prefix in plain).
    assert "target=" not in LogfmtFormatter().format(record("listening"))
    assert "target=" not in PlainFormatter().format(record("listening"))


def test_a_plain_line_names_the_target_and_other_handlers_still_see_the_bare_message():
    rec = record("poll ok in %.3fs", 0.25, target="roof")
    assert PlainFormatter().format(rec).endswith("x: target=roof poll ok in 0.250s")
    assert json.loads(JsonFormatter().format(rec))["msg"] == "poll ok in 0.250s"
    assert rec.getMessage() == "poll ok in 0.250s"


def test_json_is_one_object_per_line_with_exception_field():
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        import sys

        rec = logging.LogRecord("p", logging.ERROR, __file__, 1, "crashed", None, None)
        rec.target = "a"
        rec.exc_info = sys.exc_info()
    line = JsonFormatter().format(rec)
    assert "\n" not in line
    doc = json.loads(line)
    assert doc["level"] == "error"
    assert doc["target"] == "a"
    assert doc["msg"] == "crashed"
    assert "ValueError: bad\nvalue" in doc["exc"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", doc["time"])


def test_repeated_errors_are_counted_and_summarised():
    now = [0.0]
    limiter = RepeatFilter(window=600.0, clock=lambda: now[0])
    passed = []
    for i in range(100):
        now[0] = i * 2.0  # one failure every 2 s for 200 s
        rec = record("poll failed: next try in %.0fs", 2.0 + i % 7, target="site")
        if limiter.filter(rec):
            passed.append(rec.getMessage())
    assert passed == ["poll failed: next try in 2s"]
    now[0] = 700.0
    rec = record("poll failed: next try in %.0fs", 300.0, target="site")
    assert limiter.filter(rec)
    assert rec.getMessage() == (
        "poll failed: next try in 300s [99 more like this in the last 700 s]"
    )
    # Another target or another message is another kind: not held back.
    assert limiter.filter(record("poll failed: next try in 1s", target="other"))
    assert limiter.filter(record("auth failed", target="site"))
    # INFO and DEBUG are what the user asked for: never limited.
    for _ in range(3):
        assert limiter.filter(record("poll ok", level=logging.INFO))
        assert limiter.filter(record("poll ok", level=logging.DEBUG))


def test_repeat_filter_memory_is_bounded():
    limiter = RepeatFilter(window=600.0, max_kinds=10)
    for i in range(1000):
        limiter.filter(record(f"error kind {chr(65 + i % 26)}{chr(65 + i // 26 % 26)}"))
    assert len(limiter._kinds) == 10


@pytest.mark.usefixtures("restore_root_logging")
@pytest.mark.parametrize("log_format", ["plain", "logfmt", "json"])
async def test_a_dead_pvs_does_not_fill_the_log(make_simulator, tmp_path: Path, log_format):
    """A PVS failing every 20 ms for 1.5 s: a couple of lines, not ~75."""
    sim = await make_simulator(inverters=1)
    sim.pvs.faults.status = 500
    log_file = tmp_path / "exporter.log"
    configure_logging("DEBUG", str(log_file), log_format)
    target = target_for(sim, poll_interval=0.02)
    poller = Poller(
        name=target.name,
        host=target.host,
        api=target.api,
        reader=make_reader(target),
        schedule=PollSchedule(interval=0.02, max_age=1.0, timeout=1.0, backoff_cap=0.02),
    )
    poller.start()
    await asyncio.sleep(1.5)
    await poller.stop()
    for handler in logging.getLogger().handlers:
        handler.flush()
    failures = poller.status().failures["http_status"]
    assert failures >= 20, failures
    lines = [line for line in log_file.read_text().splitlines() if "poll failed" in line]
    assert 1 <= len(lines) <= 2, lines
    if log_format == "json":
        doc = json.loads(lines[0])
        assert doc["target"] == "site"
        assert doc["level"] == "warning"
    if log_format == "logfmt":
        assert " target=site " in lines[0]
    if log_format == "plain":
        assert " WARNING sunpower_pvs_exporter.poller: target=site poll failed (" in lines[0]


def test_cli_accepts_log_format(tmp_path):
    args = serve.build_parser().parse_args(["--demo", "--log-format", "logfmt"])
    assert serve.config_from_args(args).log_format == "logfmt"
    args = serve.build_parser().parse_args(["--demo"])
    assert serve.config_from_args(args).log_format == "plain"
    with pytest.raises(SystemExit):
        serve.build_parser().parse_args(["--log-format", "xml"])


def test_a_kind_named_by_the_record_or_by_aiohttp_does_not_depend_on_the_client():
    """A client picks its address (any of a /64 in IPv6) and the bytes it sends:
    neither may make each of its requests a new kind, or it writes one line each."""
    limiter = RepeatFilter(window=600.0, clock=lambda: 0.0)
    # Letters only: numbers in a message are blanked before it is compared.
    addresses = [f"2001:db8::{'abcdef'[n // 6]}{'abcdef'[n % 6]}" for n in range(36)]
    ours = [
        record(
            "refused a malformed request from %s: %s",
            address,
            f"BadStatusLine: Bad status line 'x{address}'",
            repeat_kind="malformed request: BadStatusLine",
        )
        for address in addresses
    ]
    assert sum(limiter.filter(rec) for rec in ours) == 1
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        error = sys.exc_info()
    from_aiohttp = [
        record("Error handling request from %s", address, name="aiohttp.server")
        for address in addresses
    ]
    for rec in from_aiohttp:
        rec.exc_info = error
    assert sum(limiter.filter(rec) for rec in from_aiohttp) == 1
    # Without either, the message is the kind: these would all have been new.
    plain = [record("Error handling request from %s", address) for address in addresses]
    assert sum(limiter.filter(rec) for rec in plain) == len(addresses)


# Requests the HTTP parser refuses, each in several spellings (the parts a client
# controls vary, so a kind keyed on the message text would be a new kind each time).
MALFORMED = [
    lambda n: b"GET / HTTP/1.1\r\nHost: x\r\nBad Header%d: y\r\n\r\n" % n,
    lambda n: b"GET / HTTP/%d.x\r\nHost: x\r\n\r\n" % n,
    lambda n: b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -%d\r\n\r\n" % n,
    lambda n: b"GET / HTTP/1.1\r\nHost: x\r\nX-%d: a\x01b\r\n\r\n" % n,
    lambda n: b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, zip%d\r\n\r\n" % n,
    lambda n: b"G\x01T /%d HTTP/1.1\r\nHost: x\r\n\r\n" % n,
]


async def malformed_status(port: int, request: bytes) -> bytes:
    """The status line the exporter answers ``request`` with (it closes the connection)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return (await asyncio.wait_for(reader.readline(), 10)).strip()
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


@pytest.mark.parametrize("log_format", ["plain", "json"])
async def test_a_flood_of_malformed_requests_writes_a_line_per_kind_and_no_traceback(
    tmp_path: Path, log_format: str
):
    """300 malformed requests to the real exporter: each refused with a 400, the
    log a handful of one-line warnings (one per kind of parser error) without a
    traceback, and the exporter still serving. aiohttp logs each at ERROR with a
    traceback: the rate limit let the first through, and with it one per IPv6
    address a client chose (see the test above)."""
    log_file = tmp_path / "exporter.log"
    process, port = await start_exporter_async(
        "--demo",
        "--log-format",
        log_format,
        # 300 connections in a moment from one address: the connection-rate
        # limit would close most at accept, before anything is parsed.
        "--web.max-connection-rate",
        "0",
        output=tmp_path / "output",
        log_file=log_file,
    )
    try:
        statuses = [
            await malformed_status(port, spell(n)) for n in range(50) for spell in MALFORMED
        ]
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/-/healthy") as response,
        ):
            assert response.status == 200
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 10) == 0
    assert len(statuses) == 300
    assert {status.split(b" ", 1)[1] for status in statuses} == {b"400 Bad Request"}, statuses
    log = log_file.read_text()
    assert "Traceback" not in log and "Error handling request" not in log, log[:3000]
    refused = [line for line in log.splitlines() if "malformed request" in line]
    kinds = {re.search(r"from 127\.0\.0\.1: (\w+)", line).group(1) for line in refused}
    print(f"300 malformed requests: {len(refused)} log lines, kinds {sorted(kinds)}")
    assert 1 <= len(refused) == len(kinds) <= len(MALFORMED), refused
    assert len(log.splitlines()) < 40, log[-3000:]
    if log_format == "json":
        assert all(json.loads(line)["level"] == "warning" for line in refused)
