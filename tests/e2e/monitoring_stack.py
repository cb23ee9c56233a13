"""A real monitoring stack on loopback, shared by the e2e and contrib tests.

Three simulated PVSes ("home": 4 inverters, one of them in error; "cabin": 2
inverters; "barn": a gross consumption CT) and two in-process exporters run on an asyncio loop in a
background thread, so one stack can serve every test of the session whatever
event loop pytest-asyncio gives each test:

* ``single``: the original exporter's shape, one target ("home") with its
  device metrics on ``/metrics`` — Prometheus job ``sunpower``;
* ``multi``: a config-file style exporter with targets "home", "cabin", "barn",
  scraped blackbox style on ``/probe`` with the relabel_configs from
  docs/monitoring.md (job ``sunpower_probe``) and on ``/metrics`` for its
  own health (job ``sunpower_exporter``); it follows the telemetry stream of
  "cabin" (``--live``).

The real ``prometheus`` binary scrapes all three jobs every second, loads
every rule file of contrib/prometheus/, and keeps its TSDB in a temp dir.
It loads one more rule file, written here: a copy of the panel-health alert
SunpowerPvsInverterDead whose 30 minutes of ``for`` are cut to seconds (and
labelled ``e2e_for``), so a test can see it fire on the same expression.
Everything listens on 127.0.0.1 only.

The simulated sites run on real time (so Prometheus's clock and the PVS's
``DATATIME``, written in UTC as real units do, agree); their sun keeps the
hours of a fixed-offset time zone chosen so that it is around local noon
there now: the sun is up whatever time the tests run.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import re
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
import yaml

from contrib.promql_names import RULE_FILES
from sunpower_pvs_exporter.config import ExporterConfig
from sunpower_pvs_exporter.runtime import ExporterState
from sunpower_pvs_exporter.simulator.server import SimulatedPvs, SimulatorServer
from sunpower_pvs_exporter.simulator.site import SimClock, SiteConfig
from sunpower_pvs_exporter.web.server import ExporterServer
from support import (
    http_ready,
    pollers_for,
    require_program,
    start_on_free_port,
    target_for,
    tls_target_for,
)

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "monitoring.md"
DOCUMENTED_EXPORTER = "exporter-host:9110"
PANEL_HEALTH = REPO / "contrib" / "prometheus" / "panel_health.yml"
SCRAPE_INTERVAL = "1s"
# The e2e copy of SunpowerPvsInverterDead waits this long instead of 30 minutes.
SHORT_FOR = "10s"
POLL_INTERVAL = 0.5
# "home": old (legacy dl_cgi) firmware, the original exporter's world.
# "cabin": new (varserver, https) firmware with a two-module SunVault battery.
# "barn": old firmware whose consumption CT is gross (on the home's load lines).
SITES: dict[str, dict[str, Any]] = {
    "home": {"seed": 11, "inverters": 4, "error_inverters": 1},
    "cabin": {"seed": 12, "inverters": 2, "error_inverters": 0, "battery_modules": 2},
    "barn": {"seed": 13, "inverters": 3, "error_inverters": 0, "consumption_ct": "gross"},
}
SITE_API = {"home": "legacy", "cabin": "varserver", "barn": "legacy"}
JOB_SINGLE = "sunpower"
JOB_PROBE = "sunpower_probe"
JOB_EXPORTER = "sunpower_exporter"

T = TypeVar("T")


def require_binaries(*names: str) -> dict[str, str]:
    """Paths of external programs; skip loudly without them (fail under CI)."""
    return {
        name: require_program(
            name,
            not_tested="this end-to-end test did not run",
            fix=(
                "Debian: apt-get install prometheus prometheus-alertmanager docker-compose "
                "systemd openssl, as .ci/run does"
            ),
        )
        for name in names
    }


def noon_zone(now: float) -> str:
    """An IANA fixed-offset zone where it is between 12:00 and 13:00 at ``now``."""
    hour = datetime.fromtimestamp(now, UTC).hour
    offset = 12 - hour  # -11 .. +12
    # Etc/GMT zones have inverted signs: Etc/GMT-3 is UTC+3.
    return f"Etc/GMT{-offset:+d}"


class LoopThread:
    """An asyncio loop in a daemon thread; ``run`` executes a coroutine on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 15.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()


class PrometheusError(AssertionError):
    """The Prometheus HTTP API answered with an error (e.g. a PromQL parse error)."""


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """GET a loopback URL, ignoring any proxy settings of the environment."""
    assert url.startswith(("http://127.0.0.1:", "http://[::1]:")), url
    try:
        with _NO_PROXY.open(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@dataclasses.dataclass
class SimulatedSite:
    name: str
    pvs: SimulatedPvs
    server: SimulatorServer | None = None
    port: int = 0
    tls_port: int = 0
    # Each site its own loopback address, as each PVS of a fleet is its own host
    # (the exporter keeps one request queue per host).
    host: str = "127.0.0.1"


@dataclasses.dataclass
class RunningExporter:
    config: ExporterConfig
    server: ExporterServer | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def documented_scrape_config(job: str, targets: list[str], exporter: str) -> dict[str, Any]:
    """A scrape config from a yaml block of docs/monitoring.md, aimed at our addresses."""
    for block in re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), flags=re.S):
        for config in (yaml.safe_load(block) or {}).get("scrape_configs", []):
            if config["job_name"] != job:
                continue
            text = json.dumps(config)
            assert text.count(DOCUMENTED_EXPORTER) == 1, text
            config = json.loads(text.replace(DOCUMENTED_EXPORTER, exporter))
            config.pop("scrape_interval", None)
            config["static_configs"] = [{"targets": targets}]
            return dict(config)
    raise AssertionError(f"docs/monitoring.md shows no scrape config for job {job}")


class MonitoringStack:
    def __init__(self, workdir: Path, prometheus: str) -> None:
        self.workdir = workdir
        self.prometheus_bin = prometheus
        self.zone = noon_zone(time.time())
        self.loop = LoopThread()
        self.sites: dict[str, SimulatedSite] = {}
        self.exporters: dict[str, RunningExporter] = {}
        self.process: subprocess.Popen[bytes] | None = None
        self.prometheus_port = 0
        self.log_path = workdir / "prometheus.log"

    # --- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        try:
            for index, (name, settings) in enumerate(SITES.items()):
                pvs = SimulatedPvs(
                    config=SiteConfig(tz=ZoneInfo(self.zone), **settings),
                    clock=SimClock(start=time.time()),
                    api=SITE_API[name],
                )
                # Pushes 5 times a second (a real PVS: on change); the push loop also
                # notices a stop that often, within the server's shutdown grace.
                pvs.telemetry_interval = 0.2
                self.sites[name] = SimulatedSite(name, pvs, host=f"127.0.3.{10 + index}")
                self.start_simulator(name)
            self.exporters["single"] = RunningExporter(
                self._config([self._target("home")], single_target=True)
            )
            # The config-file exporter also follows the telemetry stream (--live) of
            # the varserver site, so the dashboards' live panels meet real series.
            self.exporters["multi"] = RunningExporter(
                self._config([self._target(name) for name in SITES], single_target=False, live=True)
            )
            for name in self.exporters:
                self.start_exporter(name)
            self._start_prometheus()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
            self.process = None
        for name in list(self.exporters):
            with contextlib.suppress(Exception):
                self.stop_exporter(name)
        for name in list(self.sites):
            with contextlib.suppress(Exception):
                self.stop_simulator(name)
        self.loop.close()

    def _target(self, name: str) -> Any:
        site = self.sites[name]
        assert site.server is not None
        if SITE_API[name] == "varserver":
            # The password from a file, as a user would configure it (and so that a
            # SUNPOWER_PVS_PASSWORD in the environment cannot interfere).
            password_file = self.workdir / f"{name}.password"
            password_file.write_text(site.pvs.password + "\n")
            password_file.chmod(0o600)
            return tls_target_for(
                site.server,
                name=name,
                api="varserver",
                poll_interval=POLL_INTERVAL,
                password_file=str(password_file),
                telemetry_port=site.server.telemetry_port,
            )
        return target_for(site.server, name=name, poll_interval=POLL_INTERVAL)

    @staticmethod
    def _config(targets: list[Any], single_target: bool, live: bool = False) -> ExporterConfig:
        return ExporterConfig(
            targets=tuple(targets),
            listen_host="127.0.0.1",
            listen_port=0,
            single_target=single_target,
            live=live,
        )

    # --- simulators and exporters: stop and start again on the same port --------

    def start_simulator(self, name: str) -> None:
        site = self.sites[name]
        server = SimulatorServer(site.pvs, host=site.host, port=site.port, tls_port=site.tls_port)
        self.loop.run(server.start())
        site.server, site.port, site.tls_port = server, server.port, server.tls_port

    def stop_simulator(self, name: str) -> None:
        site = self.sites[name]
        if site.server is not None:
            self.loop.run(site.server.stop())
            site.server = None

    def start_exporter(self, name: str) -> None:
        exporter = self.exporters[name]
        config = dataclasses.replace(exporter.config, listen_port=exporter.port)
        server = ExporterServer(ExporterState(config, pollers_for(config, backoff_cap=1.0)))
        self.loop.run(server.start())
        exporter.server, exporter.port = server, server.port

    def stop_exporter(self, name: str) -> None:
        exporter = self.exporters[name]
        if exporter.server is not None:
            self.loop.run(exporter.server.stop())
            exporter.server = None

    # --- Prometheus ----------------------------------------------------------------

    def prometheus_config(self) -> dict[str, Any]:
        single = self.exporters["single"]
        multi = self.exporters["multi"]
        return {
            "global": {
                "scrape_interval": SCRAPE_INTERVAL,
                "scrape_timeout": SCRAPE_INTERVAL,
                "evaluation_interval": SCRAPE_INTERVAL,
            },
            "rule_files": [str(path) for path in self.rule_files()],
            "scrape_configs": [
                {
                    "job_name": JOB_SINGLE,
                    "static_configs": [{"targets": [f"127.0.0.1:{single.port}"]}],
                },
                # The multi-target scrape config exactly as docs/monitoring.md shows it,
                # with our addresses and scrape interval.
                documented_scrape_config(
                    JOB_PROBE, targets=list(SITES), exporter=f"127.0.0.1:{multi.port}"
                ),
                {
                    "job_name": JOB_EXPORTER,
                    "static_configs": [{"targets": [f"127.0.0.1:{multi.port}"]}],
                },
            ],
        }

    def rule_files(self) -> list[Path]:
        """The shipped rule files, and the short-``for`` copy of the dead-inverter alert."""
        return [*RULE_FILES, self.workdir / "short_for.yml"]

    def _write_short_for_rules(self) -> None:
        rules = [
            rule
            for group in yaml.safe_load(PANEL_HEALTH.read_text())["groups"]
            for rule in group["rules"]
            if rule.get("alert") == "SunpowerPvsInverterDead"
        ]
        assert len(rules) == 1, "panel_health.yml should have one SunpowerPvsInverterDead"
        rule = {**rules[0], "for": SHORT_FOR}
        rule["labels"] = {**rule["labels"], "e2e_for": SHORT_FOR}
        doc = {"groups": [{"name": "e2e_short_for", "rules": [rule]}]}
        (self.workdir / "short_for.yml").write_text(yaml.safe_dump(doc, sort_keys=False))

    def _start_prometheus(self) -> None:
        self._write_short_for_rules()
        config_path = self.workdir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(self.prometheus_config(), sort_keys=False))
        self.process, self.prometheus_port = start_on_free_port(
            lambda port: [
                self.prometheus_bin,
                f"--config.file={config_path}",
                f"--storage.tsdb.path={self.workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            lambda port: http_ready(f"http://127.0.0.1:{port}/-/ready"),
            self.log_path,
        )

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    def api(self, path: str, **params: str) -> Any:
        url = f"{self.prometheus_url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        status, body = http_get(url)
        doc = json.loads(body)
        if status != 200 or doc.get("status") != "success":
            raise PrometheusError(f"{path} {params}: HTTP {status}: {doc.get('error', body)}")
        return doc["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query at now: the result vector (scalars come back as one sample)."""
        data = self.api("query", query=expr)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def wait_for(
        self,
        expr: str,
        ok: Callable[[list[dict[str, Any]]], bool],
        what: str,
        timeout: float = 20.0,
    ) -> list[dict[str, Any]]:
        """Query ``expr`` until ``ok(result)`` (bounded by ``timeout``)."""
        deadline = time.monotonic() + timeout
        result: list[dict[str, Any]] = []
        while True:
            result = self.query(expr)
            if ok(result):
                return result
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout:g}s waiting for {what}\n"
                    f"query: {expr}\nlast result: {json.dumps(result)[:2000]}"
                )
            time.sleep(0.25)

    def wait_until_scraped(self) -> None:
        """Samples of every job, several scrapes deep, and recording rules evaluated."""
        for job in (JOB_SINGLE, JOB_PROBE, JOB_EXPORTER):
            self.wait_for(
                f'count_over_time(up{{job="{job}"}}[1m]) >= 4',
                lambda result: len(result) >= 1,
                f"4 scrapes of job {job}",
            )
        self.wait_for(
            f'count(sunpower_pvs_inverter_ac_power_watts{{job="{JOB_PROBE}"}})',
            lambda result: (
                bool(result)
                and float(result[0]["value"][1]) == sum(s["inverters"] for s in SITES.values())
            ),
            "inverter series of both probed sites",
        )
        self.wait_for(
            "count(count_over_time(sunpower_pvs:site_production_watts[1m]) >= 3)",
            lambda result: bool(result) and float(result[0]["value"][1]) >= 3,
            "recording rules for the 3 site instances",
        )


class SharedStack:
    """One stack for every test that asks for ``stack``, in whatever modules:
    started by the first, stopped right after the last.

    Kept running to the end of the session instead, it went on polling,
    scraping and evaluating every rule file each second through all the
    tests that run after its last user, on a 2-core machine that runs them.
    """

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self.tmp_path_factory = tmp_path_factory
        self.running: MonitoringStack | None = None

    def get(self) -> MonitoringStack:
        if self.running is None:
            paths = require_binaries("prometheus")
            stack = MonitoringStack(self.tmp_path_factory.mktemp("monitoring"), paths["prometheus"])
            stack.start()
            try:
                stack.wait_until_scraped()
            except BaseException:
                stack.stop()
                raise
            self.running = stack
        return self.running

    def stop(self) -> None:
        if self.running is not None:
            self.running.stop()
            self.running = None


def needed_after(request: pytest.FixtureRequest, fixture: str) -> bool:
    """Whether a test after this one (in the session's order) uses ``fixture``."""
    items = request.session.items
    try:
        at = items.index(request.node)
    except ValueError:
        return True
    return any(fixture in getattr(item, "fixturenames", ()) for item in items[at + 1 :])


@pytest.fixture(scope="session")
def shared_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedStack]:
    """The session's holder: stops the stack at the end if no test did (a test
    run stopped early, or a pytest-xdist worker that ran only some users)."""
    holder = SharedStack(tmp_path_factory)
    try:
        yield holder
    finally:
        holder.stop()


@pytest.fixture
def stack(shared_stack: SharedStack, request: pytest.FixtureRequest) -> Iterator[MonitoringStack]:
    """The running monitoring stack (started for the first test that asks)."""
    yield shared_stack.get()
    if not needed_after(request, "stack"):
        shared_stack.stop()
