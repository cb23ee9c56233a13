"""Pushgateway mode against a real ``prometheus-pushgateway`` on loopback.

Push after each poll, read the group back from the Pushgateway's own
``/metrics``, and check the group is deleted when the exporter stops.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator

import aiohttp
import pytest

from sunpower_pvs_exporter.simulator.server import free_port
from support import parse_samples, require_program, series, target_for


@pytest.fixture
def pushgateway(tmp_path) -> Iterator[str]:
    binary = require_program(
        "prometheus-pushgateway",
        "pushgateway",
        not_tested="pushing to a real Pushgateway was not tested",
        fix="apt-get install prometheus-pushgateway",
    )
    port = free_port()
    proc = subprocess.Popen(
        [binary, f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    import urllib.request

    while True:
        try:
            with urllib.request.urlopen(url + "/-/ready", timeout=1):
                break
        except OSError:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "pushgateway did not start"
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def gateway_samples(http: aiohttp.ClientSession, url: str) -> dict:
    async with http.get(url + "/metrics") as response:
        assert response.status == 200
        return parse_samples(await response.text())


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
        probed = {key for key in parse_samples(await response.text())}
    pushed = {
        (name, labels - {("job", "solar"), ("instance", "roof")})
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
