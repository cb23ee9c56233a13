"""The demo with ``--use-device-data-timestamp``, scraped by a real Prometheus.

The demo's device clocks are the real clock, so every device sample it stamps
with its own sample time lands in Prometheus; none is rejected as too old
(with device times hours off, Prometheus dropped most of each scrape).
"""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import time
from pathlib import Path

import aiohttp
import yaml

from e2e.monitoring_stack import require_binaries
from sunpower_pvs_exporter.cli.serve import build_parser, config_from_args
from sunpower_pvs_exporter.simulator.demo import DemoSite
from support import http_ready, parse_samples, start_on_free_port, stop_process

INVERTERS = 20


def start_prometheus(
    binary: str, config: Path, workdir: Path
) -> tuple[subprocess.Popen[bytes], int]:
    return start_on_free_port(
        lambda port: [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        lambda port: http_ready(f"http://127.0.0.1:{port}/-/ready"),
        workdir / "prometheus.log",
    )


async def get_json(http: aiohttp.ClientSession, url: str, **params: str) -> dict:
    async with http.get(url, params=params) as response:
        return await response.json()


async def test_prometheus_keeps_every_demo_sample_stamped_with_device_time(
    tmp_path, make_exporter, http
):
    prometheus = require_binaries("prometheus")["prometheus"]
    demo = DemoSite(inverters=INVERTERS, api="legacy")
    await demo.start()
    process = None
    try:
        config = demo.point_at(config_from_args(build_parser().parse_args(["--demo"])))
        (target,) = config.targets
        exporter = await make_exporter(
            [dataclasses.replace(target, poll_interval=1.0, timeout=10.0)],
            use_device_data_timestamp=True,
        )
        prometheus_yml = tmp_path / "prometheus.yml"
        prometheus_yml.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                    "scrape_configs": [
                        {
                            "job_name": "sunpower",
                            "static_configs": [{"targets": [exporter.url.split("//")[1]]}],
                        }
                    ],
                }
            )
        )
        process, port = await asyncio.to_thread(
            start_prometheus, prometheus, prometheus_yml, tmp_path
        )
        base = f"http://127.0.0.1:{port}"
        scrapes = 0.0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            try:
                doc = await get_json(
                    http,
                    base + "/api/v1/query",
                    query='sum(count_over_time(up{job="sunpower"}[5m]))',
                )
            except aiohttp.ClientError:
                continue
            result = doc["data"]["result"]
            scrapes = float(result[0]["value"][1]) if result else 0.0
            if scrapes >= 5:
                break
        assert scrapes >= 5, "Prometheus did not scrape the demo exporter 5 times in 60 s"

        async with http.get(base + "/metrics") as response:
            own = parse_samples(await response.text())
        rejected = {
            name: value
            for (name, _), value in own.items()
            if name.startswith("prometheus_target_scrapes_sample_out_of_")
        }
        assert rejected, "Prometheus no longer exposes its rejected-sample counters"
        assert all(value == 0 for value in rejected.values()), rejected
        doc = await get_json(
            http,
            base + "/api/v1/query",
            query="count(count_over_time(sunpower_pvs_inverter_ac_power_watts[10m]))",
        )
        assert float(doc["data"]["result"][0]["value"][1]) == INVERTERS
    finally:
        if process is not None:
            await asyncio.to_thread(stop_process, process)
        await demo.stop()
