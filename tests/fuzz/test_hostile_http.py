"""Hostile PVS answers over real HTTP: size caps, bad bytes, faults, huge sites.

The poller must count each failure under its reason, keep serving the last
good data until it is older than ``max_age``, and never emit an invalid
exposition — checked here with ``prometheus_client``'s parser and once with
``promtool check metrics`` on a large hostile render.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import generate_latest
from prometheus_client.registry import CollectorRegistry

from metrics.oracle import FixedCollector, build_families
from sunpower_pvs_exporter.config import TargetConfig
from sunpower_pvs_exporter.metrics.catalog import DEVICE_METRICS
from sunpower_pvs_exporter.pvs.errors import PvsPayloadError
from sunpower_pvs_exporter.pvs.legacy_parse import parse_device_list
from sunpower_pvs_exporter.pvs.transport import (
    DEFAULT_MAX_BODY_BYTES,
    Endpoint,
    HttpTransport,
)
from support import parse_samples, require_program, series, target_for

MiB = 1024 * 1024


def hostile_device_list(count: int) -> dict[str, Any]:
    """A DeviceList of ``count`` inverters whose labels contain everything awkward."""
    awkward = ['"', "\\", "\n", "\ud800", "\x00", "ä€😀", "\u202e", "} 1\n# EOF", "\t"]
    devices: list[dict[str, Any]] = [
        {"DEVICE_TYPE": "PVS", "SERIAL": "ZT\n1", "MODEL": 'PVS6"', "SWVER": "\\x"},
        {"DEVICE_TYPE": "Power Meter", "SERIAL": "M\\p", "TYPE": "PVS5-METER-P"},
    ]
    for i in range(count):
        label = awkward[i % len(awkward)]
        devices.append(
            {
                "DEVICE_TYPE": "Inverter",
                "SERIAL": f"E{i:06d}{label}",
                "MODEL": f"AC_Module{label}",
                "DESCR": label * 3,
                "STATE": ["working", "error", label][i % 3],
                "p_3phsum_kw": ["0.25", "NaN", "1e400", "-0", 7, None, "x"][i % 7],
                "ltea_3phsum_kwh": str(1000 + i),
                "t_htsnk_degc": ["Infinity", "31", [], {}][i % 4],
                "DATATIME": "2026,06,21,12,00,00",
            }
        )
    # Duplicates of the first inverters.
    devices.extend(dict(d) for d in devices[2:12])
    return {"result": "succeed", "devices": devices}


# --- body size cap and bad bytes -----------------------------------------------------------


async def test_declared_oversized_body_is_refused_before_reading(make_simulator):
    sim = await make_simulator(inverters=1)
    sim.pvs.faults.huge_bytes = DEFAULT_MAX_BODY_BYTES + 1
    transport = HttpTransport(Endpoint(sim.host, sim.port), timeout=10.0)
    try:
        started = time.monotonic()
        with pytest.raises(PvsPayloadError, match=r"exceeds the .*-byte cap"):
            await transport.get_json(
                "/cgi-bin/dl_cgi", "DeviceList", {"Command": "DeviceList"}, kind="device_list"
            )
        assert time.monotonic() - started < 5.0
    finally:
        await transport.close()


async def test_streamed_oversized_body_is_cut_off_at_the_cap(fake_pvs):
    """No Content-Length (chunked): the transport stops reading at the cap."""
    sent = 0

    async def endless(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        chunk = b"[" + b"1," * (64 * 1024)
        try:
            for _ in range(200):  # up to ~25 MB, bounded
                await response.write(chunk)
                sent += len(chunk)
        except (ConnectionResetError, RuntimeError):
            pass
        return response

    port = await fake_pvs(endless)
    transport = HttpTransport(Endpoint("127.0.0.1", port), timeout=10.0, max_body_bytes=2 * MiB)
    try:
        with pytest.raises(PvsPayloadError, match="exceeds the 2097152-byte cap"):
            await transport.get_json("/cgi-bin/dl_cgi", "DeviceList", kind="device_list")
    finally:
        await transport.close()
    assert sent < 25 * MiB


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe\x00{",
        b'{"result": "succeed", "devices": [{"SERIAL": "\xc3\x28"}]}',
        b"\x00" * 1000,
        b'{"devices": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}",
        b'{"result": "succeed", "devices": "' + b"A" * (3 * MiB) + b'"}',
    ],
    ids=["utf16-bom", "invalid-utf8", "nul", "deep-nesting", "3mb-string"],
)
async def test_bad_bytes_are_a_counted_invalid_payload(body, fake_pvs, make_exporter, http):
    async def answer(_request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    port = await fake_pvs(answer)
    exporter = await make_exporter([pvs_target(port)])
    samples = await wait_for_failures(http, exporter.url, "invalid_payload")
    assert [v for _, v in series(samples, "sunpower_pvs_up")] == [0.0]
    status = exporter.state.pollers["site"].status()
    assert status.last_error_reason == "invalid_payload"
    assert len(status.last_error) < 300


def pvs_target(port: int, **overrides: Any) -> TargetConfig:
    settings: dict[str, Any] = {
        "name": "site",
        "host": "127.0.0.1",
        "port": port,
        "api": "legacy",
        "poll_interval": 0.2,
        "timeout": 5.0,
        "max_age": 30.0,
        "timezone": "UTC",
    }
    settings.update(overrides)
    return TargetConfig(**settings)


async def scrape(http: Any, url: str) -> dict[Any, float]:
    async with http.get(url + "/metrics") as response:
        assert response.status == 200
        return parse_samples(await response.text())


async def wait_for_failures(http: Any, url: str, reason: str, at_least: float = 1.0) -> Any:
    samples: dict[Any, float] = {}
    for _ in range(200):
        samples = await scrape(http, url)
        counted = sum(
            v
            for labels, v in series(samples, "sunpower_pvs_poll_failures_total")
            if labels.get("reason") == reason
        )
        if counted >= at_least:
            return samples
        await asyncio.sleep(0.025)
    raise AssertionError(f"no {reason} failure counted: {series(samples, 'sunpower_pvs_up')}")


# --- poller behaviour under the simulator's faults -----------------------------------------


@pytest.mark.parametrize(
    ("fault", "value", "reason"),
    [
        ("invalid_json", True, "invalid_payload"),
        ("truncate", True, "invalid_payload"),
        ("status", 500, "http_status"),
        ("status", 403, "auth"),
        ("reset", True, "connection"),
        ("latency", 1.5, "timeout"),
        ("huge_bytes", 2 * MiB, "invalid_payload"),
    ],
)
async def test_faults_are_counted_and_last_good_data_is_kept_until_stale(
    make_simulator, make_exporter, http, fault, value, reason
):
    sim = await make_simulator(inverters=3, error_inverters=0)
    max_age = 2.5
    target = target_for(sim, poll_interval=0.2, timeout=1.0, max_age=max_age)
    exporter = await make_exporter([target])
    poller = exporter.state.pollers["site"]
    poller.reader.transport.max_body_bytes = 1 * MiB  # type: ignore[attr-defined]
    # Healthy first.
    for _ in range(100):
        samples = await scrape(http, exporter.url)
        if [v for _, v in series(samples, "sunpower_pvs_up")] == [1.0]:
            break
        await asyncio.sleep(0.025)
    else:
        raise AssertionError("never up")
    good_power = sorted(v for _, v in series(samples, "sunpower_pvs_inverter_ac_power_watts"))
    assert len(good_power) == 3
    last_success = poller.status().last_success_at
    assert last_success is not None

    setattr(sim.pvs.faults, fault, value)
    sim.pvs.faults.only = frozenset({"DeviceList"})
    samples = await wait_for_failures(http, exporter.url, reason)
    # Down, but the last good data is still served while it is fresh.
    assert [v for _, v in series(samples, "sunpower_pvs_up")] == [0.0]
    if time.time() - last_success < max_age - 0.3:
        assert len(series(samples, "sunpower_pvs_inverter_ac_power_watts")) == 3
    # Once older than max_age it is withheld, never served as current.
    for _ in range(200):
        samples = await scrape(http, exporter.url)
        if not series(samples, "sunpower_pvs_inverter_ac_power_watts"):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("stale data was still served")
    assert time.time() - last_success >= max_age - 0.01
    assert poller.status().snapshot is None
    # And the PVS recovering brings the data back.
    sim.pvs.faults.clear()
    for _ in range(200):
        samples = await scrape(http, exporter.url)
        if [v for _, v in series(samples, "sunpower_pvs_up")] == [1.0]:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("never recovered")
    assert len(series(samples, "sunpower_pvs_inverter_ac_power_watts")) == 3


# --- big and hostile sites ----------------------------------------------------------------


async def test_ten_thousand_hostile_devices_over_http(fake_pvs, make_exporter, http):
    doc = hostile_device_list(10_000)
    body = json.dumps(doc).encode("utf-8", "surrogatepass")
    assert len(body) > 2 * MiB

    async def answer(request: web.Request) -> web.Response:
        command = request.query.get("Command")
        if command != "DeviceList":
            return web.json_response({"result": "unknown command"}, status=400)
        return web.Response(body=body, content_type="application/json")

    port = await fake_pvs(answer)
    exporter = await make_exporter([pvs_target(port, timeout=20.0, poll_interval=30.0)])
    poller = exporter.state.pollers["site"]
    started = time.monotonic()
    for _ in range(600):
        if poller.status().up:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"never up: {poller.status().last_error}")
    first = time.monotonic() - started
    samples = await scrape(http, exporter.url)
    assert [v for _, v in series(samples, "sunpower_pvs_up")] == [1.0]
    started = time.monotonic()
    async with http.get(exporter.url + "/metrics") as response:
        assert response.status == 200
        size = len(await response.read())
    cached = time.monotonic() - started
    print(
        f"\n10k hostile devices: first good poll after {first:.2f}s, "
        f"next scrape {cached:.3f}s for {size / MiB:.1f} MiB"
    )
    energies = series(samples, "sunpower_pvs_inverter_produced_energy_watt_hours_total")
    assert len(energies) == 10_000
    assert cached < 5.0


def test_promtool_accepts_a_large_hostile_render(tmp_path):
    promtool = require_program(
        "promtool",
        not_tested="the exposition was not checked by promtool",
        fix="apt-get install prometheus",
    )
    snapshot = parse_device_list(hostile_device_list(3000), time.time())
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FixedCollector(build_families(DEVICE_METRICS, snapshot)))
    text = generate_latest(registry)
    assert len(text) > 500_000
    parse_samples(text.decode())
    path = tmp_path / "hostile.prom"
    path.write_bytes(text)
    with path.open("rb") as stdin:
        result = subprocess.run(
            [promtool, "check", "metrics"], stdin=stdin, capture_output=True, timeout=120
        )
    output = (result.stdout + result.stderr).decode(errors="replace")
    # Exit 3 is promtool's "lint problems only" (it dislikes "_watt_hours", a name
    # kept from the original exporter); exit 1 would be a parse error.
    assert result.returncode in (0, 3), output[:3000]
    for line in output.splitlines():
        assert "error" not in line.lower() and "parsing" not in line.lower(), line
