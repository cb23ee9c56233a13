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

from support import (
    http_ready,
    parse_samples,
    require_program,
    series,
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
