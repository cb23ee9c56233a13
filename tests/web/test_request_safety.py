"""Request safety over real sockets: what a hostile HTTP client can and cannot do."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp import web

from sunpower_pvs_exporter.config import TargetConfig
from sunpower_pvs_exporter.web.security import RequestLimits
from support import parse_samples, series, target_for

PVS_REQUESTS = {"DeviceList", "Get_Comm", "GridProfileGet"}


async def raw_request(port: int, data: bytes, limit_seconds: float = 5.0) -> bytes:
    """Send raw bytes to 127.0.0.1:port, return everything until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        chunks = []
        async with asyncio.timeout(limit_seconds):
            while chunk := await reader.read(65536):
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks) and b"Connection: close" not in data:
                    # Enough to read the status line and headers.
                    break
        return b"".join(chunks)
    finally:
        writer.close()


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


@pytest.mark.parametrize(
    "query",
    [
        {"target": "127.0.0.1:80"},
        {"target": "http://127.0.0.1:9/"},
        {"target": "site/../other"},
        {"target": "x" * 5000},
        {"target": "site\r\nX-Injected: 1"},
        {"target": ""},
        [("target", "site"), ("target", "other")],
        {"host": "127.0.0.1", "port": "80"},
    ],
)
async def test_probe_serves_only_configured_names(make_simulator, make_exporter, http, query):
    sim = await make_simulator(inverters=1)
    exporter = await make_exporter([target_for(sim, name="site"), target_for(sim, name="other")])
    await asyncio.sleep(0.3)
    before = len(sim.pvs.log.entries)
    async with http.get(exporter.url + "/probe", params=query) as response:
        body = await response.text()
        assert response.status == 400
        assert "X-Injected" not in response.headers
        assert len(body) < 300, "the error must not echo a huge parameter"
    assert {e.name for e in sim.pvs.log.entries[before:]} <= PVS_REQUESTS


async def test_probe_ignores_extra_host_parameters(make_simulator, make_exporter, http):
    """``host``/``port``/``module`` parameters never change where the exporter connects."""
    sim = await make_simulator(inverters=2)
    decoy = await make_simulator(inverters=7)
    exporter = await make_exporter([target_for(sim, name="site"), target_for(sim, name="b")])
    params = {"target": "site", "host": decoy.host, "port": str(decoy.port), "module": "x"}
    for _ in range(50):
        async with http.get(exporter.url + "/probe", params=params) as response:
            assert response.status == 200
            samples = parse_samples(await response.text())
        if series(samples, "sunpower_pvs_inverter_ac_power_watts"):
            break
        await asyncio.sleep(0.05)
    assert len(series(samples, "sunpower_pvs_inverter_ac_power_watts")) == 2
    assert decoy.pvs.log.entries == []


async def test_redirects_from_the_pvs_are_not_followed(make_exporter, http, fake_pvs):
    """A PVS (or something pretending to be one) answering 302 elsewhere is a failed poll."""
    hits: list[str] = []

    async def decoy(request: web.Request) -> web.Response:
        hits.append(request.path_qs)
        return web.json_response({"devices": [], "result": "succeed"})

    decoy_port = await fake_pvs(decoy)

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://127.0.0.1:{decoy_port}/stolen{request.path_qs}")

    redirect_port = await fake_pvs(redirect)
    target = TargetConfig(
        name="site",
        host="127.0.0.1",
        port=redirect_port,
        api="legacy",
        poll_interval=0.2,
        timeout=2.0,
        max_age=5.0,
        timezone="UTC",
    )
    exporter = await make_exporter([target])
    failures = 0.0
    for _ in range(60):
        async with http.get(exporter.url + "/metrics") as response:
            samples = parse_samples(await response.text())
        failures = sum(
            value
            for labels, value in series(samples, "sunpower_pvs_poll_failures_total")
            if labels.get("reason") == "http_status"
        )
        if failures >= 2:
            break
        await asyncio.sleep(0.05)
    assert failures >= 2
    assert [v for _, v in series(samples, "sunpower_pvs_up")] == [0.0]
    assert hits == [], "the exporter followed a redirect to another host"


async def test_unknown_paths_are_404_without_internals(make_simulator, make_exporter, http):
    sim = await make_simulator(inverters=1)
    exporter = await make_exporter([target_for(sim)])
    paths = [
        "/nope",
        "/metrics/",
        "/static/",
        "/src/",
        "/web/",
        "/.git/config",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/probe/../../etc/passwd",
        "/status.css",
        "/-/",
    ]
    for path in paths:
        async with http.get(exporter.url + path) as response:
            body = await response.text()
            assert response.status == 404, path
            for leak in ("Traceback", 'File "', "site-packages", "Index of", "aiohttp/"):
                assert leak not in body, (path, body)
            assert response.headers["Server"].startswith("sunpower-pvs-exporter/")
    # /-/reload exists, for POST only (as in Prometheus).
    async with http.get(exporter.url + "/-/reload") as response:
        assert response.status == 405


async def test_handler_errors_are_500_without_stack_traces(make_simulator, make_exporter, http):
    sim = await make_simulator(inverters=1)
    exporter = await make_exporter([target_for(sim)])
    for poller in exporter.state.pollers.values():

        def broken_status() -> object:
            raise RuntimeError("internal detail /home/secret/path")

        poller.status = broken_status  # type: ignore[method-assign,assignment]
    async with http.get(exporter.url + "/") as response:
        body = await response.text()
        assert response.status == 500
        assert "internal detail" not in body
        assert "Traceback" not in body


async def test_head_options_and_other_methods(make_simulator, make_exporter, http):
    sim = await make_simulator(inverters=1)
    exporter = await make_exporter([target_for(sim)])
    async with http.head(exporter.url + "/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        assert await response.read() == b""
    async with http.head(exporter.url + "/") as response:
        assert response.status == 200
        assert await response.read() == b""
    async with http.options(exporter.url + "/metrics") as response:
        assert response.status == 405
        assert "GET" in response.headers["Allow"]
        assert "POST" not in response.headers["Allow"]
    for method in ("POST", "PUT", "DELETE", "TRACE", "PATCH"):
        async with http.request(method, exporter.url + "/metrics", data=b"x" * 10) as response:
            assert response.status == 405, method
            assert "x" * 10 not in await response.text()


async def test_oversized_requests_are_refused(make_simulator, make_exporter):
    sim = await make_simulator(inverters=1)
    exporter = await make_exporter([target_for(sim)])
    limits = RequestLimits()
    long_url = b"GET /metrics?" + b"a" * (limits.max_line_size + 10) + b" HTTP/1.1\r\n"
    response = await raw_request(exporter.port, long_url + b"Host: x\r\n\r\n")
    assert status_of(response) in (400, 414)
    long_header = b"X-Big: " + b"b" * (limits.max_field_size + 10) + b"\r\n"
    response = await raw_request(
        exporter.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + long_header + b"\r\n"
    )
    assert status_of(response) in (400, 431)
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(limits.max_headers + 5))
    response = await raw_request(
        exporter.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n"
    )
    assert status_of(response) in (400, 431)
    # A body beyond client_max_size is refused (no route reads one: 405 comes first
    # for POST; the limit is what stops any future handler from reading it whole).
    big_body = b"z" * (limits.client_max_size * 4)
    head = b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(big_body)
    response = await raw_request(exporter.port, head + big_body)
    assert status_of(response) in (405, 413)
    # The server is still fine.
    response = await raw_request(exporter.port, b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(response) == 200


async def test_slow_clients_are_disconnected(make_simulator, make_exporter, make_secure_exporter):
    """Slow loris: half a request, then silence. The connection is closed, not held."""
    sim = await make_simulator(inverters=1)
    exporter = await make_secure_exporter(
        [target_for(sim)], limits=RequestLimits(keepalive_timeout=1.0)
    )

    async def held_for(data: bytes) -> float:
        reader, writer = await asyncio.open_connection("127.0.0.1", exporter.port)
        started = time.monotonic()
        try:
            if data:
                writer.write(data)
                await writer.drain()
            async with asyncio.timeout(8.0):
                while await reader.read(65536):
                    pass
            return time.monotonic() - started
        finally:
            writer.close()

    idle, partial, trickle = await asyncio.gather(
        held_for(b""),
        held_for(b"GET /metrics HTTP/1.1\r\nHost: x\r\n"),
        held_for(b"GET /metrics HTTP/1.1\r\nX-A: "),
    )
    for held in (idle, partial, trickle):
        assert 0.5 < held < 4.0, (idle, partial, trickle)


async def test_default_limits_are_in_force(make_simulator, make_exporter):
    sim = await make_simulator(inverters=1)
    exporter = await make_exporter([target_for(sim)])
    assert exporter.limits == RequestLimits()
    assert exporter.limits.keepalive_timeout <= 30
    assert exporter.limits.max_headers <= 100
    assert exporter.limits.client_max_size <= 1024 * 1024
