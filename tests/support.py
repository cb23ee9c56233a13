"""Helpers shared by tests (importable: ``pythonpath = tests`` in pyproject)."""

from __future__ import annotations

import asyncio
import os
import shutil
from datetime import UTC, datetime
from typing import Any, NoReturn

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sunpower_pvs_exporter.config import ExporterConfig, TargetConfig
from sunpower_pvs_exporter.poller import Poller
from sunpower_pvs_exporter.pvs.model import Snapshot
from sunpower_pvs_exporter.runtime import make_pollers, make_reader
from sunpower_pvs_exporter.simulator.server import SimulatorServer

# CI sets this: a test that cannot run there is a failure, not a skip.
REQUIRE_E2E_ENV = "SUNPOWER_PVS_REQUIRE_E2E"


def skip_loudly(not_tested: str, fix: str) -> NoReturn:
    """The one way a test gives up for want of a tool: a loud skip, a failure in CI.

    ``not_tested`` says what went unchecked, ``fix`` how to get the tool. A
    quiet ``return`` instead would turn a missing tool into a green test.
    """
    message = f"SKIPPED LOUDLY: {not_tested} ({fix})"
    if os.environ.get(REQUIRE_E2E_ENV) == "1":
        pytest.fail(f"{message}; {REQUIRE_E2E_ENV}=1 (CI): this test must run")
    pytest.skip(message)


def require_program(*names: str, not_tested: str, fix: str) -> str:
    """The path of the first of ``names`` on PATH, else ``skip_loudly``."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    skip_loudly(f"{' / '.join(names)} not found, so {not_tested}", fix)


# Simulated noon on a summer day, in UTC so tests do not depend on the machine's zone.
NOON_UTC = datetime(2026, 6, 21, 12, 0, tzinfo=UTC).timestamp()
MIDNIGHT_UTC = datetime(2026, 6, 21, 0, 30, tzinfo=UTC).timestamp()


def target_for(sim: SimulatorServer, name: str = "site", **overrides: Any) -> TargetConfig:
    """A target aimed at ``sim`` with test-sized timings (below user minimums)."""
    settings: dict[str, Any] = {
        "name": name,
        "host": sim.host,
        "port": sim.port,
        "api": "legacy",
        "poll_interval": 0.2,
        "timeout": 2.0,
        "max_age": 5.0,
    }
    settings.update(overrides)
    return TargetConfig(**settings)


def tls_target_for(sim: SimulatorServer, name: str = "site", **overrides: Any) -> TargetConfig:
    """A target on the simulator's HTTPS port, where it serves both APIs (like a PVS on 443)."""
    settings: dict[str, Any] = {"port": sim.tls_port, "use_tls": True, "api": "auto"}
    settings.update(overrides)
    return target_for(sim, name, **settings)


def api_target_for(sim: SimulatorServer, api: str, **overrides: Any) -> TargetConfig:
    """A target for ``api`` as a PVS serves it: legacy on HTTP, varserver on HTTPS."""
    if api == "legacy":
        return target_for(sim, **overrides)
    return tls_target_for(sim, api=api, **overrides)


async def read_once(target: TargetConfig) -> Snapshot:
    """One read through a fresh reader, closed afterwards."""
    reader = make_reader(target)
    try:
        return await reader.read()
    finally:
        await reader.close()


def pollers_for(
    config: ExporterConfig, backoff_cap: float = 1.0, jitter: float = 0.0
) -> list[Poller]:
    return make_pollers(config, backoff_cap=backoff_cap, jitter=jitter)


class FakeClock:
    """A wall clock that moves only when a test says so.

    Given to a poller (``make_exporter(..., clock=FakeClock(...))``) it makes
    "is the next poll due", "is the cache stale" and "how long did the poll
    take" questions of logic instead of races against a loaded machine: a
    background poller whose clock stands still polls once and then waits.
    """

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_samples(text: str) -> Samples:
    """Exposition text -> {(sample name, labels): value}. Fails on invalid text."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in samples, f"duplicate series {key}"
            samples[key] = sample.value
    return samples


def series(samples: Samples, name: str) -> list[tuple[dict[str, str], float]]:
    """All series of one sample name, as (labels, value)."""
    return [(dict(labels), value) for (n, labels), value in samples.items() if n == name]


async def scrape_when_up(http: Any, url: str, tries: int = 200) -> Samples:
    """The first scrape of ``url`` with ``sunpower_pvs_up`` 1 (bounded: ``tries`` x 50 ms)."""
    for _ in range(tries):
        async with http.get(url) as response:
            assert response.status == 200
            samples = parse_samples(await response.text())
        up = series(samples, "sunpower_pvs_up")
        if up and up[0][1] == 1.0:
            return samples
        await asyncio.sleep(0.05)
    raise AssertionError(f"{url}: the target never came up")
