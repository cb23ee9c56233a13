"""Pushgateway mode against a real ``prometheus-pushgateway`` on loopback.

Push after each poll, read the group back from the Pushgateway's own
``/metrics``, and check the group is deleted when the exporter stops.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import aiohttp
import pytest
import yaml

from support import (
    HungGateway,
    http_ready,
    parse_samples,
    require_program,
    series,
    start_exporter_async,
    start_on_free_port,
    stop_process,
    target_for,
)


@pytest.fixture
def pushgateway(tmp_path) -> Iterator[str]:
    binary = require_program(
        "prometheus-pushgateway",
        "pushgateway",
        not_tested="pushing to a real Pushgateway was not tested",
        fix="apt-get install prometheus-pushgateway",
    )
    proc, port = start_on_free_port(
        lambda port: [binary, f"--web.listen-address=127.0.0.1:{port}"],
        lambda port: http_ready(f"http://127.0.0.1:{port}/-/ready"),
        tmp_path / "pushgateway.log",
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc, timeout=5)


async def gateway_samples(http: aiohttp.ClientSession, url: str) -> dict:
    async with http.get(url + "/metrics") as response:
        assert response.status == 200
        return parse_samples(await response.text())


def bounds_as_numbers(labels: frozenset[tuple[str, str]]) -> frozenset[tuple[str, object]]:
    """A histogram bucket's ``le`` as a number: the exporter writes ``30.0`` as
    prometheus_client does, the Pushgateway (Go) gives it back as ``30``."""
    return frozenset((k, float(v) if k == "le" else v) for k, v in labels)


async def test_push_after_poll_and_delete_on_shutdown(
    pushgateway, make_simulator, make_exporter, http
):
    sim = await make_simulator(inverters=3, error_inverters=0)
    exporter = await make_exporter(
        [target_for(sim, name="roof")],
        push_to=pushgateway,
        push_job="solar",
    )
    deadline = time.monotonic() + 10
    while True:
        samples = await gateway_samples(http, pushgateway)
        power = [
            (labels, value)
            for labels, value in series(samples, "sunpower_pvs_inverter_ac_power_watts")
            if labels.get("job") == "solar"
        ]
        if len(power) == 3:
            break
        assert time.monotonic() < deadline, "nothing pushed"
        await asyncio.sleep(0.1)
    assert all(labels["instance"] == "roof" for labels, _ in power)
    assert all(value > 0 for _, value in power)
    ups = [v for labels, v in series(samples, "sunpower_pvs_up") if labels.get("job") == "solar"]
    assert ups == [1.0]

    # One renderer: the group holds exactly the series /probe serves for the target.
    async with http.get(exporter.url + "/probe?target=roof") as response:
        assert response.status == 200
        probed = {
            (name, bounds_as_numbers(labels))
            for name, labels in parse_samples(await response.text())
        }
    pushed = {
        (name, bounds_as_numbers(labels - {("job", "solar"), ("instance", "roof")}))
        for name, labels in samples
        if ("job", "solar") in labels and not name.startswith("push_")
    }
    assert pushed == probed

    await exporter.stop()
    samples = await gateway_samples(http, pushgateway)
    left = [
        labels
        for labels, _ in series(samples, "sunpower_pvs_inverter_ac_power_watts")
        if labels.get("job") == "solar"
    ]
    assert left == [], "the group must be deleted on shutdown"


async def test_sigterm_with_a_hung_pushgateway_ends_within_the_shutdown_deadline(
    make_simulator, tmp_path
):
    """The real command, three targets, a Pushgateway that takes the pushes and
    never answers a DELETE: SIGTERM ends the process within the web server's
    grace, the pollers' deadline and one DELETE deadline (it was 10 s per group,
    one after another, past the systemd unit's 20 s), with one line per group."""
    from sunpower_pvs_exporter.push import DELETE_DEADLINE
    from sunpower_pvs_exporter.runtime import STOP_DEADLINE
    from sunpower_pvs_exporter.web.server import OPEN_SCRAPES_GRACE

    sim = await make_simulator(inverters=1, error_inverters=0)
    gateway = HungGateway()
    server = await asyncio.start_server(gateway.handle, "127.0.0.1", 0)
    gateway_url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    names = ["hung-a", "hung-b", "hung-c"]
    config = {
        "push_to": gateway_url,
        "push_job": "solar",
        "targets": [
            {"name": name, "host": "127.0.0.1", "port": sim.port, "api": "legacy"} for name in names
        ],
    }
    (tmp_path / "config.yml").write_text(yaml.safe_dump(config))
    log = tmp_path / "exporter.log"
    process, _port = await start_exporter_async(
        "--config", str(tmp_path / "config.yml"), output=tmp_path / "out", log_file=log
    )
    try:
        deadline = time.monotonic() + 30
        while sum(line.startswith("PUT") for line in gateway.requests) < len(names):
            assert time.monotonic() < deadline, f"not pushed: {gateway.requests}"
            assert process.returncode is None, (tmp_path / "out").read_text()
            await asyncio.sleep(0.05)
        process.terminate()
        sent = time.monotonic()
        code = await asyncio.wait_for(process.wait(), timeout=60)
        took = time.monotonic() - sent
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        for writer in gateway.held:
            writer.close()
        server.close()
    assert code == 0, (tmp_path / "out").read_text()
    deletes = sorted(line.split()[1] for line in gateway.requests if line.startswith("DELETE"))
    assert deletes == [f"/metrics/job/solar/instance/{name}" for name in names]
    # The deadline plus the interpreter's own start-to-exit slack on a loaded machine.
    assert took < OPEN_SCRAPES_GRACE + STOP_DEADLINE + DELETE_DEADLINE + 3.0, took
    left = [line for line in log.read_text().splitlines() if "not done within" in line]
    assert len(left) == len(names), log.read_text()
    assert all(any(name in line for line in left) for name in names), left
