"""Sharding a fleet on Prometheus's own hashmod, end to end with real binaries.

20 simulated PVSes; two exporters with one shared config (``poll_mode:
on_demand``); two Prometheus servers in agent mode, each keeping its
``hashmod`` share of the 20 targets with the relabelling of
contrib/prometheus/sharding/prometheus-agent-shard.yml and remote-writing to a
central Prometheus (``--web.enable-remote-write-receiver``).

Checked: every PVS is polled by exactly one exporter (the simulator's request
counts against both exporters' poll counters, and the owner is the one
Prometheus's hashmod picks); all 20 sites reach the central Prometheus with no
gaps; after a shard move (the modulus and the job's name change from 2 to 3
and both agents reload) the old exporter stops polling the moved sites within its idle window
and the new one takes them up, still without gaps centrally.

Each simulated PVS listens on its own loopback address (127.0.2.10 and up;
Linux routes all of 127/8 to ``lo``), as each site of a real fleet is its own
host: the exporter keeps one request queue per PVS host, so twenty PVSes on
one address would be polled one request at a time. The exporters and
Prometheus servers listen on 127.0.0.1. 1 s scrapes, 0.5 s polls and a 2 s
idle window keep the whole run well under a minute.

The sample counts are read once the central server holds them (remote write
delivers in batches, later on a loaded machine), never after a fixed sleep:
counting after one found a site with 2 samples where 3 were due.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import itertools
import json
import signal
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from e2e.monitoring_stack import LoopThread, http_get, noon_zone, require_binaries
from sunpower_pvs_exporter.config import ExporterConfig
from sunpower_pvs_exporter.runtime import ExporterState
from sunpower_pvs_exporter.simulator.server import SimulatedPvs, SimulatorServer
from sunpower_pvs_exporter.simulator.site import SimClock, SiteConfig
from sunpower_pvs_exporter.web.server import ExporterServer
from support import (
    http_ready,
    parse_samples,
    pollers_for,
    series,
    start_on_free_port,
    target_for,
)

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "contrib" / "prometheus" / "sharding" / "prometheus-agent-shard.yml"
EXPORTER_RECIPE = REPO / "contrib" / "prometheus" / "sharding" / "sunpower-pvs-exporter.yml"
CENTRAL_RECIPE = REPO / "contrib" / "prometheus" / "sharding" / "prometheus-central.yml"
SITES = [f"site-{index:02d}" for index in range(20)]
POLL_INTERVAL = 0.5
IDLE_AFTER = 2.0
JOB = "sunpower_probe"
# Before the move: shard 0 keeps bucket 0 of 2, shard 1 bucket 1.
# After: modulus 3; shard 0 keeps buckets 0 and 2, shard 1 keeps bucket 1.
BEFORE = {"modulus": 2, "keep": ("0", "1")}
AFTER = {"modulus": 3, "keep": ("0|2", "1")}
MAX_GAP = 3.0  # seconds between two central samples of a site, scraped every 1 s
# Prometheus applies a reloaded scrape config's target list on a 5 s tick, so
# during a reshard a site may miss up to that (plus a scrape) centrally: a
# moved one, and with the job renamed (started afresh) one that stays too.
RELOAD_TICK = 5.0


def site_address(index: int) -> str:
    """The loopback address of the ``index``-th simulated PVS: one host per site."""
    return f"127.0.2.{10 + index}"


def hashmod(value: str, modulus: int) -> int:
    """Prometheus's ``hashmod`` relabel action: last 8 bytes of the MD5, big-endian."""
    return int.from_bytes(hashlib.md5(value.encode()).digest()[8:], "big") % modulus


def owner(site: str, layout: dict[str, Any]) -> int:
    bucket = str(hashmod(site, layout["modulus"]))
    (shard,) = [i for i, keep in enumerate(layout["keep"]) if bucket in keep.split("|")]
    return shard


class Fleet:
    """Simulators and exporters on a loop thread; three Prometheus processes."""

    def __init__(self, workdir: Path, prometheus: str) -> None:
        self.workdir = workdir
        self.prometheus = prometheus
        self.loop = LoopThread()
        self.zone = noon_zone(time.time())
        self.sims: dict[str, SimulatorServer] = {}
        self.exporters: list[ExporterServer] = []
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.ports: dict[str, int] = {}

    # --- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        for seed, name in enumerate(SITES):
            pvs = SimulatedPvs(
                config=SiteConfig(
                    seed=100 + seed, inverters=1, error_inverters=0, tz=ZoneInfo(self.zone)
                ),
                clock=SimClock(start=time.time()),
            )
            sim = SimulatorServer(pvs, host=site_address(seed))
            self.loop.run(sim.start())
            self.sims[name] = sim
        # One config for both exporters, as a fleet would share one file.
        config = ExporterConfig(
            targets=tuple(
                # A loaded machine (this process serves the twenty PVSes and
                # both exporters on one loop) can keep a poll longer than the
                # default 2 s: a slow poll must not read as a down target.
                target_for(
                    sim,
                    name=name,
                    poll_interval=POLL_INTERVAL,
                    timeout=6.0,
                    max_age=10.0,
                    timezone=self.zone,
                )
                for name, sim in self.sims.items()
            ),
            listen_host="127.0.0.1",
            listen_port=0,
            poll_mode="on_demand",
            idle_after=IDLE_AFTER,
            single_target=False,
        )
        for _ in range(2):
            server = ExporterServer(ExporterState(config, pollers_for(config)))
            self.loop.run(server.start())
            self.exporters.append(server)
        self._spawn("central", self.central_config(), "--web.enable-remote-write-receiver")
        for shard in (0, 1):  # after the central server: their configs name its port
            self._spawn(
                f"agent-{shard}",
                self.agent_config(shard, BEFORE),
                "--enable-feature=agent",
                # Both agents run here, with one scrape-offset seed (host name +
                # external labels) and timestamps snapped to it: while a site
                # moves, both would send its samples at one timestamp with two
                # values, which the central server refuses, request and all.
                "--no-scrape.adjust-timestamps",
            )

    def stop(self) -> None:
        # The agents first, while the central server still takes their last
        # samples: an agent stopping flushes its remote-write queue for up to
        # its flush deadline (1 min), so with the central server gone each one
        # held the teardown for the whole 10 s wait below.
        agents = [p for name, p in self.processes.items() if name != "central"]
        for group in (agents, [p for p in self.processes.values() if p not in agents]):
            for process in group:
                process.terminate()
            for process in group:
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)
        for server in self.exporters:
            with contextlib.suppress(Exception):
                self.loop.run(server.stop())
        for sim in self.sims.values():
            with contextlib.suppress(Exception):
                self.loop.run(sim.stop())
        self.loop.close()

    # --- Prometheus ------------------------------------------------------------

    def central_config(self) -> dict[str, Any]:
        """The contrib recipe's storage settings (its out-of-order window), without
        its rule files."""
        recipe = yaml.safe_load(CENTRAL_RECIPE.read_text())
        return {"global": {"evaluation_interval": "1s"}, "storage": recipe["storage"]}

    def agent_config(self, shard: int, layout: dict[str, Any]) -> dict[str, Any]:
        """The contrib recipe, aimed at this shard's exporter and the central server."""
        recipe = yaml.safe_load(RECIPE.read_text())
        config = copy.deepcopy(recipe)
        config["global"].update({"scrape_interval": "1s", "scrape_timeout": "1s"})
        exporter = f"127.0.0.1:{self.exporters[shard].port}"
        probe, health = config["scrape_configs"]
        # Renamed with the modulus (a reshard starts the job afresh), the
        # series relabelled back to JOB.
        assert probe["job_name"] == f"{JOB}_of_{BEFORE['modulus']}"
        probe["job_name"] = f"{JOB}_of_{layout['modulus']}"
        probe["static_configs"] = [{"targets": SITES}]
        relabel = probe["relabel_configs"]
        assert relabel[0]["action"] == "hashmod"
        relabel[0]["modulus"] = layout["modulus"]
        assert relabel[1]["action"] == "keep"
        relabel[1]["regex"] = layout["keep"][shard]
        assert relabel[-1] == {"target_label": "job", "replacement": JOB}
        assert relabel[-2]["target_label"] == "__address__"
        relabel[-2]["replacement"] = exporter
        health["static_configs"] = [{"targets": [exporter]}]
        (remote,) = config["remote_write"]
        remote["url"] = f"http://127.0.0.1:{self.ports['central']}/api/v1/write"
        remote["queue_config"] = {"batch_send_deadline": "500ms"}
        return dict(config)

    def _config_path(self, name: str) -> Path:
        return self.workdir / f"{name}.yml"

    def _spawn(self, name: str, config: dict[str, Any], *flags: str) -> None:
        """Start one Prometheus and wait until it is ready."""
        self._config_path(name).write_text(yaml.safe_dump(config, sort_keys=False))
        storage = (
            "--storage.agent.path" if "--enable-feature=agent" in flags else "--storage.tsdb.path"
        )
        self.processes[name], self.ports[name] = start_on_free_port(
            lambda port: [
                self.prometheus,
                f"--config.file={self._config_path(name)}",
                f"{storage}={self.workdir / (name + '-data')}",
                f"--web.listen-address=127.0.0.1:{port}",
                *flags,
            ],
            lambda port: http_ready(f"http://127.0.0.1:{port}/-/ready"),
            self.workdir / f"{name}.log",
        )

    def reload(self, shard: int, layout: dict[str, Any]) -> None:
        """Rewrite an agent's config and SIGHUP it; wait until it took the new one."""
        name = f"agent-{shard}"
        before = self._reload_count(name)
        self._config_path(name).write_text(
            yaml.safe_dump(self.agent_config(shard, layout), sort_keys=False)
        )
        self.processes[name].send_signal(signal.SIGHUP)
        wait(lambda: self._reload_count(name) > before, f"{name} reloads", 10)

    def _reload_count(self, name: str) -> float:
        status, body = http_get(self.url(name) + "/metrics")
        assert status == 200
        samples = parse_samples(body)
        (ok,) = [v for _, v in series(samples, "prometheus_config_last_reload_successful")]
        assert ok == 1.0, self.log_tail(name)
        return sum(
            v
            for labels, v in series(
                samples, "prometheus_config_last_reload_success_timestamp_seconds"
            )
        )

    def samples_failed(self, shard: int) -> float:
        """Samples an agent dropped because the central server refused them."""
        status, body = http_get(self.url(f"agent-{shard}") + "/metrics")
        assert status == 200
        samples = parse_samples(body)
        return sum(v for _, v in series(samples, "prometheus_remote_storage_samples_failed_total"))

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def log_tail(self, name: str, lines: int = 30) -> str:
        try:
            text = (self.workdir / f"{name}.log").read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def central_query(self, expr: str) -> Any:
        query = urllib.parse.urlencode({"query": expr})
        status, body = http_get(f"{self.url('central')}/api/v1/query?{query}")
        doc = json.loads(body)
        assert status == 200 and doc["status"] == "success", body
        return doc["data"]

    def central_now(self) -> float:
        """The central server's clock: the one its samples are stamped with (this
        process's clock may differ, e.g. a test run under a faked date)."""
        return float(self.central_query("time()")["result"][0])

    # --- the exporters and the PVSes -------------------------------------------

    def exporter_health(self, index: int) -> dict[str, dict[str, float]]:
        """{metric: {target: value}} from one exporter's /metrics."""
        status, body = http_get(f"http://127.0.0.1:{self.exporters[index].port}/metrics")
        assert status == 200
        samples = parse_samples(body)
        return {
            name: {labels["target"]: value for labels, value in series(samples, name)}
            for name in ("sunpower_pvs_polls_total", "sunpower_pvs_target_active")
        }

    def device_lists(self) -> dict[str, int]:
        return {name: sim.pvs.log.count("DeviceList") for name, sim in self.sims.items()}


def wait(
    predicate: Callable[[], bool],
    what: str,
    timeout: float,
    explain: Callable[[], object] = lambda: "",
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what} {explain()}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    binaries = require_binaries("prometheus")
    running = Fleet(tmp_path_factory.mktemp("sharding"), binaries["prometheus"])
    try:
        running.start()
        yield running
    finally:
        running.stop()


def test_shipped_recipes_are_the_ones_tested():
    recipe = yaml.safe_load(RECIPE.read_text())
    probe = recipe["scrape_configs"][0]
    relabel = probe["relabel_configs"]
    assert [r.get("action", "replace") for r in relabel[:2]] == ["hashmod", "keep"]
    assert relabel[0]["source_labels"] == ["__address__"]
    # The job's name carries the modulus; its series carry JOB.
    assert probe["job_name"] == f"{JOB}_of_{relabel[0]['modulus']}"
    assert relabel[-1] == {"target_label": "job", "replacement": JOB}
    assert recipe["remote_write"][0]["url"].endswith("/api/v1/write")
    exporter = yaml.safe_load(EXPORTER_RECIPE.read_text())
    assert exporter["poll_mode"] == "on_demand"
    central = yaml.safe_load(CENTRAL_RECIPE.read_text())
    assert central["storage"]["tsdb"]["out_of_order_time_window"] == "10m"


def central_samples(fleet: Fleet, window: str) -> dict[str, list[tuple[float, float]]]:
    """Raw ``sunpower_pvs_up`` samples per site from the central Prometheus."""
    data = fleet.central_query(f'sunpower_pvs_up{{job="{JOB}"}}[{window}]')
    found: dict[str, list[tuple[float, float]]] = {}
    for item in data["result"]:
        found.setdefault(item["metric"]["instance"], []).extend(
            (float(t), float(v)) for t, v in item["values"]
        )
    return {site: sorted(values) for site, values in found.items()}


def samples_since(
    fleet: Fleet, since: float, window: str, count: int = 3, timeout: float = 20.0
) -> dict[str, list[tuple[float, float]]]:
    """The central samples once every site has ``count`` of them since ``since``.

    Waits for remote write to deliver them rather than sleeping a fixed time;
    if they never come, returns what there is (``assert_no_gaps`` says which
    site fell short).
    """
    deadline = time.monotonic() + timeout
    while True:
        samples = central_samples(fleet, window)
        complete = sorted(samples) == sorted(SITES) and all(
            sum(1 for t, _ in values if t >= since) >= count for values in samples.values()
        )
        if complete or time.monotonic() > deadline:
            return samples
        time.sleep(0.5)


def assert_no_gaps(
    samples: dict[str, list[tuple[float, float]]],
    since: float,
    max_gap: float = MAX_GAP,
    may_be_down: Collection[str] = (),
) -> None:
    """Every site has samples since ``since``, none further apart than ``max_gap``,
    all ``up 1`` -- but for ``may_be_down``: their new exporter's first probe
    may answer ``up 0`` once or twice, when its first poll takes longer than
    the 0.5 s the 1 s scrape timeout leaves it (a loaded machine)."""
    assert sorted(samples) == sorted(SITES), sorted(samples)
    for site, values in samples.items():
        times = [t for t, _ in values if t >= since]
        assert len(times) >= 3, (site, values)
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert max(gaps) <= max_gap, (site, gaps)
        down = [t for t, v in values if t >= since and v != 1.0]
        assert len(down) <= (2 if site in may_be_down else 0), (site, values)


def test_each_pvs_polled_by_one_exporter_and_resharding_moves_the_polling(fleet: Fleet):
    before = {site: owner(site, BEFORE) for site in SITES}
    after = {site: owner(site, AFTER) for site in SITES}
    moved = [site for site in SITES if before[site] != after[site]]
    assert {before[site] for site in moved} == {0, 1}, "the move must go both ways"
    assert set(before.values()) == {0, 1}

    # All 20 sites arrive centrally, each sample up.
    def all_sites_central() -> bool:
        data = fleet.central_query(f'count by (instance) (sunpower_pvs_up{{job="{JOB}"}} == 1)')
        return len(data["result"]) == len(SITES)

    wait(all_sites_central, "all 20 sites in the central Prometheus", 30)
    filled = fleet.central_now()
    time.sleep(4)  # several scrapes of every site

    # Each PVS is polled by exactly one exporter: the one its shard probes.
    # The poll counter goes up as a poll starts, a moment before its request
    # reaches the PVS: read the PVS's counts on both sides of the health read.
    sim_before = fleet.device_lists()
    health = [fleet.exporter_health(0), fleet.exporter_health(1)]
    sim_after = fleet.device_lists()
    for site in SITES:
        polls = [health[i]["sunpower_pvs_polls_total"].get(site, 0.0) for i in (0, 1)]
        mine = before[site]
        assert polls[mine] >= 4, (site, polls)
        # The other exporter never polled it: it says only that it is idle.
        assert site not in health[1 - mine]["sunpower_pvs_polls_total"], (site, polls)
        assert health[mine]["sunpower_pvs_target_active"][site] == 1.0
        assert health[1 - mine]["sunpower_pvs_target_active"][site] == 0.0
        # What the PVS saw is what its one exporter asked for (a poll may be in flight).
        counts = (sim_before[site], sim_after[site])
        assert counts[0] <= polls[mine] <= counts[1] + 1, (site, polls, counts)
    assert_no_gaps(samples_since(fleet, filled, "30s"), filled)

    # The shard moves: modulus 3, the job renamed with it; both agents reload.
    fleet.reload(0, AFTER)
    fleet.reload(1, AFTER)

    def active() -> dict[str, tuple[int, int, list[float]]]:
        health = [fleet.exporter_health(0), fleet.exporter_health(1)]
        return {
            s: (before[s], after[s], [h["sunpower_pvs_target_active"][s] for h in health])
            for s in moved
        }

    def taken_up() -> bool:
        return all(flags[new] == 1.0 for _, new, flags in active().values())

    def let_go() -> bool:
        return all(flags[old] == 0.0 for old, _, flags in active().values())

    # Prometheus applies a reloaded target list on its next 5 s tick: the new
    # shard starts probing within that, and the old exporter goes idle within
    # that tick (the old shard stops probing) plus its idle window.
    wait(taken_up, "the new exporters to take up the moved sites", RELOAD_TICK + 3, active)
    wait(let_go, "the old exporters to let go of them", RELOAD_TICK + IDLE_AFTER + 2, active)
    settled = fleet.central_now()
    stopped = [fleet.exporter_health(0), fleet.exporter_health(1)]
    time.sleep(4 * POLL_INTERVAL)
    later = [fleet.exporter_health(0), fleet.exporter_health(1)]
    for site in SITES:
        old, new = before[site], after[site]
        polls_then = stopped[old]["sunpower_pvs_polls_total"][site]
        polls_now = later[old]["sunpower_pvs_polls_total"][site]
        if site in moved:
            # The old exporter stopped; the new one polls.
            assert polls_now == polls_then, (site, polls_then, polls_now)
            assert (
                later[new]["sunpower_pvs_polls_total"][site]
                > stopped[new]["sunpower_pvs_polls_total"][site]
            ), site
        else:
            assert polls_now > polls_then, site
            assert site not in later[1 - old]["sunpower_pvs_polls_total"], site

    # Centrally, every series went on, the moved sites' with at most the
    # reload tick missing; since the move settled, without a gap.
    samples = samples_since(fleet, settled, "90s")
    assert_no_gaps(samples, filled, max_gap=RELOAD_TICK + MAX_GAP, may_be_down=moved)
    assert_no_gaps(samples, settled)
    # Nothing refused by the central server: a refused remote-write request
    # takes up to 500 samples of every site in it along.
    assert [fleet.samples_failed(shard) for shard in (0, 1)] == [0.0, 0.0], [
        fleet.log_tail(f"agent-{shard}") for shard in (0, 1)
    ]
