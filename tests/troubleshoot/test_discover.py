"""Finding a PVS: which addresses a scan may ask, and what makes an answer a PVS."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from sunpower_pvs_exporter.pvs.detect import SupervisorInfo
from sunpower_pvs_exporter.simulator.server import free_port
from sunpower_pvs_exporter.troubleshoot.discover import (
    Probe,
    ScanRangeError,
    distinct_pvses,
    find,
    identify,
    scan_addresses,
    summary,
)
from support import skip_loudly

REAL_PAYLOADS = Path(__file__).resolve().parents[2].parent / "shared" / "real-payloads"


def test_a_scan_asks_each_host_address_of_the_range_and_nothing_else() -> None:
    assert scan_addresses("192.168.1.0/30") == ["192.168.1.1", "192.168.1.2"]
    assert scan_addresses("192.168.1.77/24")[0] == "192.168.1.1"
    assert len(scan_addresses("192.168.1.77/24")) == 254
    assert scan_addresses("10.1.2.3/32") == ["10.1.2.3"]
    assert scan_addresses("fd00::1/127") == ["fd00::", "fd00::1"]
    assert len(scan_addresses("10.0.0.0/22")) == 1022


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("10.0.0.0/21", "10.0.0.0/21 has 2048 addresses; name a range of at most 1024 (a /22)"),
        ("fd00::/64", "has 18446744073709551616 addresses"),
        ("192.168.1.0/33", "expected an address range like 192.168.1.0/24"),
        ("pvs.lan", "expected an address range like 192.168.1.0/24"),
        ("", "expected an address range"),
    ],
)
def test_a_range_that_is_not_one_or_too_big_is_refused(text: str, says: str) -> None:
    with pytest.raises(ScanRangeError, match=r"^--scan: ") as refused:
        scan_addresses(text)
    assert says in str(refused.value)


@pytest.mark.parametrize("name", ["other.ksmooove.1.json", "other.sungazer.1.json"])
def test_real_supervisor_answers_identify_a_pvs(name: str) -> None:
    """Published answers of real units (build 61846 supervisor/info, 61839 Start)."""
    path = REAL_PAYLOADS / name
    if not path.exists():
        skip_loudly(
            f"{path} is missing, so real supervisor answers go untested", "check out shared/"
        )
    info = identify(200, path.read_bytes())
    assert isinstance(info, SupervisorInfo)
    assert info.model == "PVS6"
    assert info.build == json.loads(path.read_text())["supervisor"]["BUILD"]
    assert info.serial


@pytest.mark.parametrize(
    ("status", "body", "says"),
    [
        (404, b"<html>not here</html>", "answered HTTP 404, not a PVS"),
        (200, b"<html>router</html>", "not with JSON: not a PVS"),
        (200, b'{"status": "ok"}', "without a PVS serial: not a PVS"),
        (200, b'{"supervisor": {"MODEL": "PVS6"}}', "without a PVS serial"),
        (200, b'{"supervisor": "PVS6"}', "without a PVS serial"),
    ],
)
def test_anything_else_is_not_a_pvs_and_says_why(status: int, body: bytes, says: str) -> None:
    verdict = identify(status, body)
    assert isinstance(verdict, str) and says in verdict


def _pvs(host: str, serial: str) -> Probe:
    return Probe(host, "pvs", "PVS6", 80, info=SupervisorInfo(serial, "PVS6", "x", 61846))


def test_one_pvs_at_two_addresses_is_set_up_once() -> None:
    """172.27.153.1 and sunpowerconsole.com are the same box on the installer port."""
    probes = [
        _pvs("172.27.153.1", "ZT1"),
        Probe("10.0.0.2", "not_pvs", "answered HTTP 404, not a PVS", 80),
        _pvs("sunpowerconsole.com", "ZT1"),
        _pvs("10.0.0.9", "ZT2"),
    ]
    assert [p.host for p in distinct_pvses(probes)] == ["172.27.153.1", "10.0.0.9"]
    assert summary(probes) == "4 addresses: 3 PVS, 1 other HTTP server, 0 no answer or refused"


async def test_a_silent_address_costs_one_timeout_and_a_refused_one_none() -> None:
    """An address that accepts and never answers is given up after the timeout; the
    scan goes on with the others meanwhile (bounded concurrency, not one by one)."""
    held: list[asyncio.StreamWriter] = []

    async def never_answer(_r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(never_answer, "127.0.0.31", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        progress: list[tuple[int, int, int]] = []
        results = await find(
            ["127.0.0.31", "127.0.0.32", "127.0.0.33"],
            port=port,
            tls_port=free_port("127.0.0.32"),
            within=0.5,
            concurrency=2,
            progress=lambda *step: progress.append(step),
        )
    finally:
        for writer in held:
            writer.close()
        server.close()
    assert [(r.host, r.verdict) for r in results] == [
        ("127.0.0.31", "no_answer"),
        ("127.0.0.32", "refused"),
        ("127.0.0.33", "refused"),
    ]
    assert results[0].detail == "no answer within 0.5 s"
    assert "http port" in results[1].detail and "connection refused" in results[1].detail
    assert sorted(progress)[-1] == (3, 3, 0)
    assert len(held) == 1
