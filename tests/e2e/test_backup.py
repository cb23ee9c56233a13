"""Backup and restore of the history, as docs/stack.md says, on a real Prometheus.

Prometheus runs with its admin API (as the stack's does) and scrapes itself
every second. The test takes a snapshot through the API, copies it away, stops
Prometheus, wipes its data directory (a Prometheus started on it now knows
nothing of the past), restores the copy into it, and queries the series from
before the backup: every sample is back.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from e2e.monitoring_stack import http_get, require_binaries
from support import http_ready, start_on_free_port, stop_process

pytestmark = pytest.mark.e2e

STACK_COMPOSE = Path(__file__).resolve().parents[2] / "contrib" / "stack" / "docker-compose.yml"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Prometheus:
    def __init__(self, binary: str, workdir: Path, data: Path) -> None:
        config = workdir / "prometheus.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "scrape_configs": [
                        {"job_name": "self", "static_configs": [{"targets": ["PLACEHOLDER"]}]}
                    ],
                }
            )
        )

        def command(port: int) -> list[str]:
            text = config.read_text().replace("PLACEHOLDER", f"127.0.0.1:{port}")
            (workdir / f"prometheus-{port}.yml").write_text(text)
            return [
                binary,
                f"--config.file={workdir / f'prometheus-{port}.yml'}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--web.enable-admin-api",
            ]

        self.process, self.port = start_on_free_port(
            command,
            lambda port: http_ready(f"http://127.0.0.1:{port}/-/ready"),
            workdir / "prometheus.log",
        )

    def api(self, path: str, **params: str) -> Any:
        status, body = http_get(
            f"http://127.0.0.1:{self.port}/api/v1/{path}?" + urllib.parse.urlencode(params)
        )
        assert status == 200, body
        return json.loads(body)["data"]

    def samples(self, expr: str, start: float, end: float) -> list[list[Any]]:
        result = self.api("query_range", query=expr, start=str(start), end=str(end), step="1")
        if not result["result"]:
            return []
        (series,) = result["result"]
        values: list[list[Any]] = series["values"]
        return values

    def snapshot(self) -> str:
        """POST /api/v1/admin/tsdb/snapshot, as docs/stack.md's curl does: the name."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/v1/admin/tsdb/snapshot", method="POST"
        )
        with _NO_PROXY.open(request, timeout=30) as response:
            name: str = json.loads(response.read())["data"]["name"]
        return name

    def stop(self) -> None:
        stop_process(self.process)


def test_the_stack_enables_the_snapshot_api():
    compose = yaml.safe_load(STACK_COMPOSE.read_text())
    assert "--web.enable-admin-api" in compose["services"]["prometheus"]["command"]


def test_snapshot_wipe_restore_keeps_the_history(tmp_path: Path):
    binary = require_binaries("prometheus")["prometheus"]
    data, backup = tmp_path / "data", tmp_path / "backup"
    expr = 'up{job="self"}'

    prometheus = Prometheus(binary, tmp_path, data)
    try:
        started = time.time()
        deadline = time.monotonic() + 30
        while len(prometheus.samples(expr, started - 5, time.time())) < 4:
            assert time.monotonic() < deadline, "Prometheus did not scrape itself"
            time.sleep(0.25)
        before = prometheus.samples(expr, started - 5, time.time())
        end = float(before[-1][0])
        name = prometheus.snapshot()
        # The backup is a copy of the snapshot directory (docs/stack.md: cp -a / docker cp).
        shutil.copytree(data / "snapshots" / name, backup)
    finally:
        prometheus.stop()
    assert len(before) >= 4

    shutil.rmtree(data)
    empty = Prometheus(binary, tmp_path, data)
    try:
        assert empty.samples(expr, started - 5, end) == [], "the wipe left the history"
    finally:
        empty.stop()

    shutil.rmtree(data)
    shutil.copytree(backup, data)
    restored = Prometheus(binary, tmp_path, data)
    try:
        assert restored.samples(expr, started - 5, end) == before
    finally:
        restored.stop()
