"""Golden expositions through the HTTP path: what Prometheus gets from ``/metrics``.

Each case starts a real PVS stand-in on 127.0.0.1 (our simulator at a fixed
moment, or the replay server serving a capture in tests/captures/ or a
DeviceList fixture in tests/fixtures/), a real exporter polling it
over HTTP(S), and compares the exporter's ``/metrics`` answer byte for byte
with tests/golden/http/NAME.prom: one golden file per input. Any change to a
name, label, unit, value, order or HELP text of anything the exporter serves
shows up as a diff. The fixtures are served with ``--use-device-data-timestamp``,
so the goldens show the device timestamps too.

A capture attached to a bug report becomes a regression test: copy it to
tests/captures/NAME.json. Regenerate every golden file (this one command), then
review the diff like code:

    python tests/regenerate_goldens.py

Pinned so the bytes are the same on every run and machine:
- the simulator's clock stands still (``scale=0``) and its site has a fixed
  seed, so every reading and device timestamp is fixed;
- the exporter's pollers run on a ``FakeClock`` that does not move: exactly
  one poll, a poll duration of 0 s, a snapshot age of 0 s, and every PVS
  answer timed at 0 s;
- the "configuration loaded at" time is set to the scenario's start;
- legacy device clocks are read as UTC (as real units write them);
- the ``process_*`` and ``python_*`` families are dropped: prometheus_client
  adds them about this Python process (memory, CPU, GC), not about a PVS.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sunpower_pvs_exporter.config import ExporterConfig, TargetConfig
from sunpower_pvs_exporter.health import ReloadStatus
from sunpower_pvs_exporter.runtime import ExporterState
from sunpower_pvs_exporter.simulator.replay import ReplayPvs, ReplayServer
from sunpower_pvs_exporter.simulator.server import SimulatedPvs, SimulatorServer
from sunpower_pvs_exporter.simulator.site import SimClock, SiteConfig
from sunpower_pvs_exporter.troubleshoot.capture_format import FORMAT
from sunpower_pvs_exporter.web.server import ExporterServer
from support import MIDNIGHT_UTC, NOON_UTC, FakeClock, pollers_for

GOLDEN = Path(__file__).parent / "golden" / "http"
CAPTURES = Path(__file__).parent / "captures"
# DeviceList answers written from docs/protocol.md (tests/metrics/test_catalog.py's goldens).
FIXTURES = Path(__file__).parent / "fixtures"
# Families about the Python process, not the PVS: never the same twice.
PROCESS_FAMILIES = ("process_", "python_")
TARGET = "site"


@dataclass(frozen=True)
class Scenario:
    """A simulated site at a fixed moment, read over one API."""

    api: str
    start: float
    site: dict[str, Any] = field(default_factory=dict)
    # Names of the simulator's faults to set: the PVS answers badly.
    faults: dict[str, Any] = field(default_factory=dict)


HOUSE = {"seed": 21, "inverters": 3, "error_inverters": 1}
HOUSE_WITH_SUNVAULT = {"seed": 22, "inverters": 2, "error_inverters": 0, "battery_modules": 2}
PVS_DOWN = {"status": 500, "only": frozenset({"DeviceList", "/vars"})}

SCENARIOS: dict[str, Scenario] = {
    "legacy-noon": Scenario("legacy", NOON_UTC, HOUSE),
    "legacy-night": Scenario("legacy", MIDNIGHT_UTC, HOUSE),
    "legacy-ess": Scenario("legacy", NOON_UTC, HOUSE_WITH_SUNVAULT),
    "legacy-error": Scenario("legacy", NOON_UTC, HOUSE, PVS_DOWN),
    "varserver-noon": Scenario("varserver", NOON_UTC, HOUSE),
    "varserver-night": Scenario("varserver", MIDNIGHT_UTC, HOUSE),
    "varserver-ess": Scenario("varserver", NOON_UTC, HOUSE_WITH_SUNVAULT),
    "varserver-error": Scenario("varserver", NOON_UTC, HOUSE, PVS_DOWN),
}


def capture_files() -> list[Path]:
    return sorted(CAPTURES.glob("*.json"))


def fixture_files() -> list[Path]:
    return sorted(FIXTURES.glob("device_list_*.json"))


def golden_names() -> list[str]:
    return [
        *SCENARIOS,
        *(f"capture-{path.stem}" for path in capture_files()),
        *(f"fixture-{path.stem}" for path in fixture_files()),
    ]


def without_process_families(text: str) -> str:
    """The exposition minus whole ``process_*``/``python_*`` families."""
    kept: list[str] = []
    keep = True
    for line in text.splitlines(keepends=True):
        if line.startswith("# HELP "):
            keep = not line[len("# HELP ") :].startswith(PROCESS_FAMILIES)
        if keep:
            kept.append(line)
    return "".join(kept)


async def scrape_exporter(
    target: TargetConfig, start: float, *, use_device_data_timestamp: bool = False
) -> str:
    """Start an exporter on ``target`` with a frozen clock; its /metrics after one poll."""
    config = ExporterConfig(
        targets=(target,),
        listen_host="127.0.0.1",
        listen_port=0,
        single_target=True,
        use_device_data_timestamp=use_device_data_timestamp,
    )
    pollers = pollers_for(config)
    clock = FakeClock(start)
    for poller in pollers:
        poller.clock = clock
        poller.monotonic = clock
        poller.requests.monotonic = clock  # every answer takes 0 s
    exporter = ExporterServer(ExporterState(config, pollers))
    await exporter.start()
    try:
        exporter.state.reload_status = ReloadStatus(successful=True, last_success_at=start)
        (poller,) = pollers
        for _ in range(2000):  # bounded: 100 s at most
            status = poller.status()
            if status.last_poll_ok or status.consecutive_failures:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the exporter never finished its first poll")
        async with (
            aiohttp.ClientSession() as http,
            http.get(exporter.url + "/metrics") as response,
        ):
            assert response.status == 200
            text = await response.text()
        # The frozen clock allows no second poll: the golden shows exactly one.
        assert poller.status().polls == 1
    finally:
        await exporter.stop()
    return without_process_families(text)


async def render_scenario(scenario: Scenario) -> str:
    pvs = SimulatedPvs(
        config=SiteConfig(tz=UTC, **scenario.site),
        clock=SimClock(start=scenario.start, scale=0.0),
        api=scenario.api,
        # A PVS5: no telemetry WebSocket, whose pushes would arrive at any time.
        telemetry=False,
    )
    for name, value in scenario.faults.items():
        setattr(pvs.faults, name, value)
    sim = SimulatorServer(pvs, host="127.0.0.1", port=0)
    await sim.start()
    try:
        tls = scenario.api == "varserver"
        target = TargetConfig(
            name=TARGET,
            host=sim.host,
            port=sim.tls_port if tls else sim.port,
            use_tls=tls,
            api=scenario.api,  # type: ignore[arg-type]
            timezone="UTC",
            poll_interval=60.0,
            timeout=10.0,
            max_age=180.0,
        )
        return await scrape_exporter(target, scenario.start)
    finally:
        await sim.stop()


def fixture_as_capture(path: Path) -> ReplayPvs:
    """A legacy PVS that answers DeviceList with the fixture (and nothing else)."""
    return ReplayPvs.from_document(
        {
            "format": FORMAT,
            "target": {"api": "legacy", "use_tls": False},
            "exchanges": [
                {
                    "method": "GET",
                    "scheme": "http",
                    "target": "/cgi-bin/dl_cgi?Command=DeviceList",
                    "status": 200,
                    "headers": {"Content-Type": "application/json"},
                    "body": json.loads(path.read_text()),
                }
            ],
        }
    )


async def render_capture(path: Path) -> str:
    return await render_replay(ReplayPvs.load(path))


async def render_replay(recorded: ReplayPvs, *, use_device_data_timestamp: bool = False) -> str:
    server = ReplayServer(recorded)
    await server.start()
    try:
        target = TargetConfig(
            name=TARGET,
            host=server.host,
            port=server.tls_port if server.tls else server.port,
            use_tls=server.tls,
            api=recorded.api_setting,  # type: ignore[arg-type]
            timezone="UTC",
            poll_interval=60.0,
            timeout=10.0,
            max_age=180.0,
        )
        text = await scrape_exporter(
            target, NOON_UTC, use_device_data_timestamp=use_device_data_timestamp
        )
    finally:
        await server.stop()
    # Detection may probe dl_cgi on a varserver capture; nothing else may be missing.
    assert all("dl_cgi" in request for request in recorded.unmatched), (
        f"the exporter asked for requests the capture lacks: {recorded.unmatched}"
    )
    return text


def renderer(name: str) -> Callable[[], Awaitable[str]]:
    if name in SCENARIOS:
        return lambda: render_scenario(SCENARIOS[name])
    if name.startswith("fixture-"):
        fixture = FIXTURES / f"{name.removeprefix('fixture-')}.json"
        return lambda: render_replay(fixture_as_capture(fixture), use_device_data_timestamp=True)
    path = CAPTURES / f"{name.removeprefix('capture-')}.json"
    return lambda: render_capture(path)


def test_every_api_and_kind_of_site_has_a_golden_file():
    names = golden_names()
    for api in ("legacy", "varserver"):
        for kind in ("noon", "night", "ess", "error"):
            assert f"{api}-{kind}" in names
    assert len([name for name in names if name.startswith("capture-")]) >= 4
    assert {"fixture-device_list_2019", "fixture-device_list_2024"} <= set(names)
    stale = {path.stem for path in GOLDEN.glob("*.prom")} - set(names)
    assert not stale, f"golden files without a case (delete them): {sorted(stale)}"


@pytest.mark.parametrize("name", golden_names())
async def test_metrics_over_http_match_the_golden_file(name: str):
    golden = GOLDEN / f"{name}.prom"
    assert golden.exists(), f"no {golden.name}: run `python tests/test_golden_http.py`"
    text = await renderer(name)()
    assert text == golden.read_text(), (
        f"/metrics for {name} differs from {golden.name}; if the change is intended, run "
        "`python tests/test_golden_http.py` and review the diff"
    )


def test_golden_files_say_what_they_show():
    """The goldens are not empty shells: data where the PVS answered, up 0 where not."""
    for name in golden_names():
        text = (GOLDEN / f"{name}.prom").read_text()
        assert "process_" not in text and "python_" not in text, name
        if name.endswith("-error"):
            assert f'sunpower_pvs_up{{target="{TARGET}"}} 0.0\n' in text, name
            assert "sunpower_pvs_device_state{" not in text, name
            assert (
                f'sunpower_pvs_poll_failures_total{{reason="http_status",target="{TARGET}"}} 1.0'
                in text
            ), name
        else:
            assert f'sunpower_pvs_up{{target="{TARGET}"}} 1.0\n' in text, name
            assert "sunpower_pvs_device_state{" in text, name
        if name.endswith("-ess"):
            assert "sunpower_pvs_ess_state_of_charge_ratio{" in text, name
        states = [
            line for line in text.splitlines() if line.startswith("sunpower_pvs_device_state{")
        ]
        stamped = [line for line in states if len(line[line.rindex("}") + 1 :].split()) == 2]
        # Device timestamps exactly where --use-device-data-timestamp is on.
        assert bool(stamped) == name.startswith("fixture-"), name


if __name__ == "__main__":
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for stale in GOLDEN.glob("*.prom"):
        stale.unlink()
    for golden_name in golden_names():
        (GOLDEN / f"{golden_name}.prom").write_text(asyncio.run(renderer(golden_name)()))
        print("regenerated", f"tests/golden/http/{golden_name}.prom", file=sys.stderr)
