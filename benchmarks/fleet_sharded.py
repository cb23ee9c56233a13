"""A sharded fleet on one machine: N simulated PVSes, K exporters, K agents, one central.

Everything the docs/scaling.md recipe runs, with real processes, on loopback:

* simulated PVSes, a mix as in ``../shared/real-payloads/`` (legacy ``dl_cgi``
  and varserver over HTTPS; most sites with 2 inverters, some with 30), each
  on its own loopback address (127.1.x.y: one host per site, as in a real
  fleet), spread over simulator processes of up to ``--per-process`` PVSes;
* K exporters, the real CLI (``python -m sunpower_pvs_exporter --config``),
  all with one config file naming every PVS, ``poll_mode: on_demand``, the
  default poll intervals (legacy 120 s, varserver 60 s) and ``idle_after``,
  and ``request_histograms: false`` as in contrib/prometheus/sharding/
  (``--request-histograms on`` for the exporter's default);
* K Prometheus servers in agent mode, each with the full target list and
  the ``hashmod`` + ``keep`` pair of contrib/prometheus/sharding/, probing
  its exporter every ``--scrape-interval`` and scraping its ``/metrics``,
  remote-writing to
* one central Prometheus (``--web.enable-remote-write-receiver``).

After a warm-up (every target probed once, then ``--settle`` seconds) it
measures over ``--intervals`` legacy poll intervals and checks:

* from each simulated PVS's own request log: every PVS polled once per
  interval (the gaps between its polls within 0.5-1.5 intervals: none
  twice, none missed);
* from each exporter's ``sunpower_pvs_polls_total``: every PVS polled by
  exactly one exporter, the one Prometheus's ``hashmod`` gives it, and that
  exporter's count equal to the PVS's;
* from the central server: every site's ``sunpower_pvs_up`` present, with
  no two samples further apart than 1.5 scrape intervals (one missed
  scrape would make it two);
* CPU (share of one core over the window) and RSS (now and peak) of each
  kind of process, and the central server's series count;
* which resource ran out, if one did, in one line ("ran out: ..."): the
  machine's CPU, one single-threaded process's core, MemAvailable (under
  ``--min-free-gib`` the fleet is stopped at once), and the symptoms of a
  starved fleet: probe scrapes failed or near their timeout, agents
  scraping late, PVSes polled late, remote write failing or behind. A run
  that stops early (a timeout, memory) says the same.

``--reshard`` then adds one exporter and one agent (modulus K -> K+1),
reloads every agent, and checks, reading every exporter's poll counters
every 5 s, that each moved site is taken up by its new exporter, that its
old exporter polls it no later than ``idle_after`` (+ the 5 s reload tick)
after the reload and the two poll it together for no longer than that, and
that no site misses more than one scrape centrally, and that the central
server refused no sample; each refused sample it logged is shown with the
evidence for its cause (its site, when it was taken and refused, the
series' samples around it). ``--reshard-by new-job`` also renames the
probe job at the reshard (docs/scaling.md, "Adding or removing a shard").

    python benchmarks/fleet_sharded.py --pvs 1000 --shards 2
    python benchmarks/fleet_sharded.py --pvs 10000 --shards 10 --intervals 3

Needs ``prometheus`` on PATH. Every process it starts is stopped at the end
(or on Ctrl-C); nothing leaves loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import http.client
import json
import math
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import itertools

from fleet import pvs_address, wait_for_term, write_json

CLK_TCK = os.sysconf("SC_CLK_TCK")
LEGACY_INTERVAL = 120.0  # the exporter's defaults (config.DEFAULT_INTERVAL)
VARSERVER_INTERVAL = 60.0
BACKLOG = 256
PASSWORD = "fleet-pass"
CENTRAL_RECIPE = (
    Path(__file__).resolve().parents[1] / "contrib/prometheus/sharding/prometheus-central.yml"
)
# The one request of each poll in a simulated PVS's request log (its name, a
# piece of its raw target): a legacy poll is one DeviceList; a varserver poll
# is one /vars per group, of which the supervisor's (cache set spx_info) is
# read on every poll (pvs/varserver.py).
POLL_REQUEST = {"legacy": ("DeviceList", ""), "varserver": ("/vars", "spx_info")}


# --- the fleet's make-up ----------------------------------------------------------


@dataclass(frozen=True)
class Site:
    index: int
    api: str
    inverters: int

    @property
    def name(self) -> str:
        return f"site-{self.index:05d}"

    @property
    def interval(self) -> float:
        return LEGACY_INTERVAL if self.api == "legacy" else VARSERVER_INTERVAL


def fleet(count: int, varserver_every: int, big_every: int) -> list[Site]:
    """Every ``varserver_every``-th site speaks varserver, every ``big_every``-th
    (offset, so both kinds get some) has 30 inverters; the rest 2."""
    return [
        Site(
            index=i,
            api="varserver" if varserver_every and i % varserver_every == 1 else "legacy",
            inverters=30 if big_every and i % big_every == 3 else 2,
        )
        for i in range(count)
    ]


def hashmod(value: str, modulus: int) -> int:
    """Prometheus's ``hashmod``: the last 8 bytes of the MD5, big-endian, mod N."""
    return int.from_bytes(hashlib.md5(value.encode()).digest()[8:], "big") % modulus


# --- child: simulated PVSes ----------------------------------------------------------


async def serve_sims(spec: dict[str, Any], ready_file: str) -> None:
    from aiohttp import web

    from sunpower_pvs_exporter.simulator.server import SimulatedPvs, SimulatorServer
    from sunpower_pvs_exporter.simulator.site import SimClock, SiteConfig

    servers: dict[str, tuple[SimulatorServer, tuple[str, str]]] = {}
    ready = []
    for item in spec["sites"]:
        site = Site(**item)
        pvs = SimulatedPvs(
            config=SiteConfig(seed=site.index, inverters=site.inverters, error_inverters=0),
            clock=SimClock(start=time.time()),
            api=site.api,
            password_override=PASSWORD,
        )
        server = SimulatorServer(pvs, host=pvs_address(site.index), backlog=BACKLOG)
        await server.start()
        servers[site.name] = (server, POLL_REQUEST[site.api])
        port = server.port if site.api == "legacy" else server.tls_port
        ready.append([site.name, server.host, port])

    async def polls(_request: web.Request) -> web.Response:
        """{site: [monotonic times of its poll requests]} (CLOCK_MONOTONIC is
        system-wide: comparable with the measuring process's)."""
        return web.json_response(
            {
                name: [
                    entry.at
                    for entry in server.pvs.log.entries
                    if entry.name == request and marker in entry.raw_target
                ]
                for name, (server, (request, marker)) in servers.items()
            }
        )

    app = web.Application()
    app.router.add_get("/polls", polls)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    stats = web.TCPSite(runner, "127.0.0.1", 0)
    await stats.start()
    write_json(ready_file, {"sites": ready, "stats": runner.addresses[0][1]})
    await wait_for_term()


# --- the measuring side --------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Proc:
    """One child process and what it cost."""

    kind: str
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    port: int = 0
    marks: dict[str, float] = field(default_factory=dict)

    def cpu_seconds(self) -> float:
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def status_kb(self, key: str) -> int:
        try:
            text = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return 0
        for line in text.splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        return 0

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def http_json(url: str, timeout: float = 120.0) -> Any:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", parts.path + ("?" + parts.query if parts.query else ""))
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{url}: {response.status} {body[:200]!r}")
        return json.loads(body)
    finally:
        conn.close()


def http_text(url: str, timeout: float = 120.0) -> str:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", parts.path)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{url}: {response.status}")
        return body.decode()
    finally:
        conn.close()


def wait_until(predicate: Any, what: str, timeout: float, every: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except (OSError, RuntimeError, http.client.HTTPException, ValueError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


class Stopped(Exception):
    """The memory watch stopped the fleet."""


PROBE_JOB = "sunpower_probe"
POLLS = re.compile(r'^sunpower_pvs_polls_total\{target="([^"]*)"\} (\S+)$', re.M)
ACTIVE = re.compile(r'^sunpower_pvs_target_active\{target="([^"]*)"\} (\S+)$', re.M)
POLL_DURATION = re.compile(
    r'^sunpower_pvs_last_poll_duration_seconds\{target="([^"]*)"\} (\S+)$', re.M
)


def metric_values(text: str, name: str, labels: str = "") -> list[float]:
    """Every sample of ``name`` in a Prometheus text page whose labels contain
    ``labels`` (e.g. ``quantile="0.99"``)."""
    pattern = re.compile(rf"^{re.escape(name)}(\{{[^}}]*\}})? (\S+)$", re.M)
    return [float(v) for found, v in pattern.findall(text) if labels in found]


def machine_cpu() -> tuple[float, float]:
    """(busy, total) seconds of every CPU since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / CLK_TCK, sum(fields) / CLK_TCK


class Harness:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.sites = fleet(args.pvs, args.varserver_every, args.big_every)
        self.procs: list[Proc] = []
        self.sim_stats: list[int] = []
        self.addresses: dict[str, tuple[str, int]] = {}
        self.exporters: list[Proc] = []
        self.agents: list[Proc] = []
        self.central: Proc | None = None
        self.machine_marks: dict[str, tuple[float, float]] = {}
        self.last_poll_durations: dict[str, list[float]] = {}
        self.watch: MemoryWatch | None = None
        self.stopped = threading.Event()
        self.window = 0.0  # s, once measured
        self.window_end = 0.0
        self.prometheus = shutil.which("prometheus") or "prometheus"

    # --- starting --------------------------------------------------------------

    def spawn(self, kind: str, name: str, argv: list[str], port: int = 0) -> Proc:
        log = self.workdir / f"{name}.log"
        with open(log, "wb") as handle:
            process = subprocess.Popen(
                argv, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        proc = Proc(kind, name, process, log, port)
        self.procs.append(proc)
        return proc

    def start_sims(self) -> None:
        per = self.args.per_process
        children = []
        for start in range(0, len(self.sites), per):
            chunk = self.sites[start : start + per]
            spec = self.workdir / f"sims-{start}.json"
            spec.write_text(json.dumps({"sites": [s.__dict__ for s in chunk]}))
            ready = self.workdir / f"sims-{start}.ready"
            proc = self.spawn(
                "simulators",
                f"sims-{start}",
                [sys.executable, __file__, "--serve-sims", str(spec), "--ready", str(ready)],
            )
            children.append((proc, ready))
        for proc, ready in children:
            wait_until(
                lambda r=ready, p=proc: p.alive() and r.exists() and r.read_text() != "",
                f"{proc.name} ready (see {proc.log})",
                600,
                0.5,
            )
            doc = json.loads(ready.read_text())
            proc.port = doc["stats"]
            self.sim_stats.append(doc["stats"])
            for name, host, port in doc["sites"]:
                self.addresses[name] = (host, port)

    def write_exporter_config(self) -> Path:
        password = self.workdir / "pvs.password"
        password.write_text(PASSWORD + "\n")
        password.chmod(0o600)
        targets = []
        for site in self.sites:
            host, port = self.addresses[site.name]
            target: dict[str, Any] = {"name": site.name, "host": host, "port": port}
            if site.api == "legacy":
                target["api"] = "legacy"
            else:
                target.update(api="varserver", use_tls=True, password_file=str(password))
            targets.append(target)
        config = {
            "listen_on": "127.0.0.1:9110",
            "poll_mode": "on_demand",
            "idle_after": f"{self.args.idle_after:g}s",
            "log_level": "WARNING",
            "defaults": {"request_histograms": self.args.request_histograms == "on"},
            "targets": targets,
        }
        path = self.workdir / "exporter.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def start_exporter(self, index: int, config: Path) -> Proc:
        port = free_port()
        proc = self.spawn(
            "exporters",
            f"exporter-{index}",
            [
                sys.executable, "-m", "sunpower_pvs_exporter", "--config", str(config),
                "--listen-on", f"127.0.0.1:{port}",
            ],
            port,
        )  # fmt: skip
        wait_until(
            lambda: proc.alive() and bool(http_text(f"http://127.0.0.1:{port}/-/healthy", 5)),
            f"exporter-{index} (see {proc.log})",
            300,
        )
        self.exporters.append(proc)
        return proc

    def agent_config(self, shard: int, modulus: int) -> dict[str, Any]:
        exporter = f"127.0.0.1:{self.exporters[shard].port}"
        interval = f"{self.args.scrape_interval:g}s"
        relabel: list[dict[str, Any]] = [
            {
                "source_labels": ["__address__"],
                "modulus": modulus,
                "target_label": "__tmp_shard",
                "action": "hashmod",
            },
            {"source_labels": ["__tmp_shard"], "regex": str(shard), "action": "keep"},
            {"source_labels": ["__address__"], "target_label": "__param_target"},
            {"source_labels": ["__param_target"], "target_label": "instance"},
            {"target_label": "__address__", "replacement": exporter},
        ]
        job = PROBE_JOB
        if self.args.reshard_by == "new-job":
            # A job name per modulus: a reshard then replaces the job's scrape
            # pool instead of restarting its loops with the targets it had
            # (docs/scaling.md); the series keep the job label they had.
            job = f"{PROBE_JOB}_of_{modulus}"
            relabel.append({"target_label": "job", "replacement": PROBE_JOB})
        return {
            "global": {
                "scrape_interval": interval,
                "scrape_timeout": "10s",
                "external_labels": {"fleet": "bench"},
            },
            "scrape_configs": [
                {
                    "job_name": job,
                    "metrics_path": "/probe",
                    "static_configs": [{"targets": [s.name for s in self.sites]}],
                    "relabel_configs": relabel,
                },
                {"job_name": "sunpower_exporter", "static_configs": [{"targets": [exporter]}]},
            ],
            "remote_write": [{"url": f"http://127.0.0.1:{self.central_port}/api/v1/write"}],
        }

    @property
    def central_port(self) -> int:
        assert self.central is not None
        return self.central.port

    def start_prometheus(self, kind: str, name: str, config: dict[str, Any], *flags: str) -> Proc:
        path = self.workdir / f"{name}.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        port = free_port()
        storage = "--storage.agent.path" if kind == "agents" else "--storage.tsdb.path"
        proc = self.spawn(
            kind,
            name,
            [
                self.prometheus, f"--config.file={path}", f"{storage}={self.workdir / name}",
                f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle", *flags,
            ],
            port,
        )  # fmt: skip
        wait_until(
            lambda: proc.alive() and bool(http_text(f"http://127.0.0.1:{port}/-/ready", 5)),
            f"{name} ready (see {proc.log})",
            120,
        )
        return proc

    def start_agent(self, shard: int, modulus: int) -> None:
        self.agents.append(
            self.start_prometheus(
                "agents",
                f"agent-{shard}",
                self.agent_config(shard, modulus),
                "--enable-feature=agent",
                # On one machine every agent has the same scrape offsets (their
                # seed is the host name and the external labels), and Prometheus
                # snaps a scrape's timestamp to that grid: during a reshard two
                # agents would send a moved site's samples at one timestamp with
                # two values, which the central server refuses even within its
                # out-of-order window. Shards on separate hosts do not collide.
                "--no-scrape.adjust-timestamps",
            )
        )

    def reload_agent(self, shard: int, modulus: int) -> None:
        agent = self.agents[shard]
        path = self.workdir / f"{agent.name}.yml"
        path.write_text(yaml.safe_dump(self.agent_config(shard, modulus), sort_keys=False))
        conn = http.client.HTTPConnection("127.0.0.1", agent.port, timeout=60)
        conn.request("POST", "/-/reload")
        response = conn.getresponse()
        response.read()
        conn.close()
        if response.status != 200:
            raise RuntimeError(f"{agent.name} reload: {response.status}")

    def start(self) -> None:
        self.start_sims()
        config = self.write_exporter_config()
        for index in range(self.args.shards):
            self.start_exporter(index, config)
        recipe = yaml.safe_load(CENTRAL_RECIPE.read_text())
        self.central = self.start_prometheus(
            "central",
            "central",
            {"global": recipe["global"], "storage": recipe["storage"]},  # no rule files
            "--web.enable-remote-write-receiver",
        )
        for shard in range(self.args.shards):
            self.start_agent(shard, self.args.shards)

    def stop(self) -> None:
        self.stopped.set()
        for proc in reversed(self.procs):
            proc.stop()

    def sleep(self, seconds: float) -> None:
        """Sleep, unless the fleet is stopped (memory ran out): then stop the run."""
        if self.stopped.wait(seconds):
            raise Stopped("the fleet was stopped (MemAvailable under --min-free-gib)")

    # --- reading ---------------------------------------------------------------

    def sim_polls(self) -> dict[str, list[float]]:
        found: dict[str, list[float]] = {}
        for port in self.sim_stats:
            found.update(http_json(f"http://127.0.0.1:{port}/polls"))
        return found

    def exporter_counts(
        self, proc: Proc, timeout: float = 120.0
    ) -> tuple[dict[str, float], dict[str, float]]:
        text = http_text(f"http://127.0.0.1:{proc.port}/metrics", timeout)
        polls = {name: float(v) for name, v in POLLS.findall(text)}
        active = {name: float(v) for name, v in ACTIVE.findall(text)}
        self.last_poll_durations[proc.name] = [float(v) for _, v in POLL_DURATION.findall(text)]
        return polls, active

    def agent_pages(self) -> list[str]:
        return [http_text(f"http://127.0.0.1:{agent.port}/metrics", 30) for agent in self.agents]

    def central_values(self, expr: str, seconds: float, at: float) -> list[float]:
        """Every sample value of ``expr`` over the ``seconds`` before ``at``."""
        result = self.central_query(f"{expr}[{seconds:.0f}s]", at)
        return [float(v) for item in result for _, v in item["values"]]

    def central_query(self, expr: str, at: float | None = None) -> Any:
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        query = urllib.parse.urlencode(params)
        doc = http_json(f"http://127.0.0.1:{self.central_port}/api/v1/query?{query}", 300)
        if doc.get("status") != "success":
            raise RuntimeError(str(doc)[:300])
        return doc["data"]["result"]

    def central_up(self, seconds: float, at: float) -> dict[str, list[float]]:
        """Sample times of each site's ``sunpower_pvs_up`` over the ``seconds`` before ``at``."""
        result = self.central_query(f'sunpower_pvs_up{{job="sunpower_probe"}}[{seconds:.0f}s]', at)
        found: dict[str, list[float]] = {}
        for item in result:
            found.setdefault(item["metric"]["instance"], []).extend(
                float(t) for t, _ in item["values"]
            )
        return {site: sorted(times) for site, times in found.items()}

    def central_head_series(self) -> float:
        """The series in the central server's head block, from its own /metrics."""
        text = http_text(f"http://127.0.0.1:{self.central_port}/metrics")
        found = re.search(r"^prometheus_tsdb_head_series (\S+)$", text, re.M)
        return float(found.group(1)) if found else float("nan")

    def mark(self, label: str) -> None:
        self.machine_marks[label] = machine_cpu()
        for proc in self.procs:
            proc.marks[label] = proc.cpu_seconds()


# --- the checks -----------------------------------------------------------------------


def check_poll_spacing(
    sites: list[Site], polls: dict[str, list[float]], since: float, until: float
) -> dict[str, Any]:
    """Every PVS polled once per its interval between ``since`` and ``until``."""
    twice, missed, counts, worst = [], [], [], 0.0
    for site in sites:
        times = [t for t in polls.get(site.name, []) if since <= t <= until]
        counts.append(len(times))
        gaps = [b - a for a, b in itertools.pairwise(times)]
        worst = max([worst, *(g / site.interval for g in gaps)])
        if any(g < 0.5 * site.interval for g in gaps):
            twice.append(site.name)
        # Missed: a gap over 1.5 intervals, the window's ends included (no poll
        # in its first or last 1.5 intervals). Not "fewer polls than the window
        # holds": polls a second or two late each drift past the window's end,
        # and a 360 s window then holds two polls 120 s apart, none missed.
        edges = [times[0] - since, until - times[-1]] if times else [until - since]
        if any(g > 1.5 * site.interval for g in [*gaps, *edges]):
            missed.append(site.name)
    return {
        "twice": twice,
        "missed": missed,
        "min": min(counts),
        "max": max(counts),
        "worst_gap": worst,  # the longest gap between two polls, in intervals
    }


def check_owners(
    sites: list[Site],
    modulus: int,
    exporter_polls: list[dict[str, float]],
    sim_totals: dict[str, int],
) -> dict[str, Any]:
    """Each PVS polled by exactly its hashmod owner, as many times as the PVS saw."""
    wrong, shared, mismatch = [], [], []
    for site in sites:
        counts = [polls.get(site.name, 0.0) for polls in exporter_polls]
        pollers = [i for i, c in enumerate(counts) if c > 0]
        if len(pollers) > 1:
            shared.append(site.name)
        elif pollers != [hashmod(site.name, modulus)]:
            wrong.append(site.name)
        # The exporter counts a poll as it starts: one may be on its way.
        if not 0 <= sum(counts) - sim_totals.get(site.name, 0) <= 1:
            mismatch.append((site.name, sum(counts), sim_totals.get(site.name, 0)))
    return {"wrong_owner": wrong, "two_exporters": shared, "count_mismatch": mismatch}


def check_central(
    sites: list[Site], samples: dict[str, list[float]], since: float, limit: float
) -> dict[str, Any]:
    absent, gappy, worst = [], [], 0.0
    for site in sites:
        times = [t for t in samples.get(site.name, []) if t >= since]
        if len(times) < 2:
            absent.append(site.name)
            continue
        gap = max(b - a for a, b in itertools.pairwise(times))
        worst = max(worst, gap)
        if gap > limit:
            gappy.append((site.name, round(gap, 1)))
    return {"absent": absent, "gaps": gappy, "largest_gap": worst}


# --- samples the central server refused ---------------------------------------------------

# The central server (storage/remote/write_handler.go) logs the first sample of
# each remote-write request it refuses, with its series and its own timestamp.
REFUSED_LINE = re.compile(
    r'^ts=(\S+) .*msg="Out of order sample from remote write" err="([^"]*)" '
    r'series="((?:[^"\\]|\\.)*)" timestamp=(-?\d+)',
    re.M,
)
LABEL_PAIR = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Refused:
    """One refused sample, as the central server logged it."""

    logged: float  # wall-clock s when it was refused
    error: str
    labels: tuple[tuple[str, str], ...]
    timestamp_ms: int  # the sample's own

    @property
    def name(self) -> str:
        return dict(self.labels).get("__name__", "")

    @property
    def site(self) -> str:
        return dict(self.labels).get("instance", "")

    @property
    def late(self) -> float:
        """Seconds between the sample's timestamp and its refusal."""
        return self.logged - self.timestamp_ms / 1000


def unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def refused_samples(log_text: str) -> list[Refused]:
    found = []
    for logged, error, series, timestamp in REFUSED_LINE.findall(log_text):
        at = datetime.fromisoformat(logged.replace("Z", "+00:00")).timestamp()
        labels = tuple((k, unquote(v)) for k, v in LABEL_PAIR.findall(unquote(series)))
        found.append(Refused(at, error, labels, int(timestamp)))
    return found


def classify_refused(
    refused: list[Refused], reloaded: float, moved: set[str], interval: float
) -> dict[str, int]:
    """How many refused samples fit each step of the explanation in
    docs/scaling.md ("Adding or removing a shard"): of a moved site, taken
    before the reloaded target list was applied (two 5 s ticks at most),
    refused 1.1 scrape intervals after their timestamp (when a stopped scrape
    loop writes its staleness markers)."""
    window = [r for r in refused if 0 <= r.timestamp_ms / 1000 - reloaded <= 2 * RELOAD_TICK]
    return {
        "refused": len(refused),
        "moved": sum(1 for r in refused if r.site in moved),
        "in_tick": len(window),
        "stale_time": sum(1 for r in refused if 1.05 <= r.late / interval <= 1.3),
        "duplicate": sum(1 for r in refused if "duplicate" in r.error),
    }


# --- which resource ran out -------------------------------------------------------------

# Past these, a resource is the limit (see ``diagnose``).
MACHINE_BUSY = 0.90  # of every core, over the window
ONE_CORE_BUSY = 0.90  # of one core, for a single-threaded (Python) process
SCRAPE_SLOW = 0.8  # of the scrape timeout
SCRAPE_TIMEOUT = 10.0
POLL_LATE = 1.1  # intervals between two polls of a PVS
INTERVAL_LATE = 1.1  # an agent's actual scrape interval over the configured one


@dataclass
class Resources:
    """What each resource looked like over the window: enough to say which ran out."""

    cores: int
    machine_busy: float = float("nan")  # share of all cores, every process of the machine
    ours: float = float("nan")  # share of all cores, the fleet's processes
    busiest: tuple[str, float] = ("", 0.0)  # single-threaded process, share of one core
    lowest_free_gib: float = float("nan")
    floor_gib: float = 0.0
    memory_tripped: bool = False
    scrape_p99: float = float("nan")  # /probe scrape durations the agents saw, s
    scrape_max: float = float("nan")
    scrapes: int = 0
    scrapes_failed: int = 0  # probe scrapes with up 0 (timeout, refused, 5xx)
    agent_interval_p99: float = float("nan")  # the agents' own, worst of them
    remote_write_failed: float = 0.0
    remote_write_lag: float = float("nan")  # newest sample taken - newest sent, s, worst
    poll_duration_max: float = float("nan")  # the exporters' last polls, s
    poll_worst_gap: float = float("nan")  # in poll intervals, from the PVSes' logs

    def line(self, scrape_interval: float) -> str:
        name, share = self.busiest
        return (
            f"machine CPU {100 * self.machine_busy:.0f} % of {self.cores} cores "
            f"(the fleet {100 * self.ours:.0f} %, "
            f"others {100 * (self.machine_busy - self.ours):.0f} %); "
            f"busiest Python process {name} {100 * share:.0f} % of a core; "
            f"lowest MemAvailable {self.lowest_free_gib:.1f} GiB; "
            f"probe scrapes {self.scrapes} ({self.scrapes_failed} failed), p99 "
            f"{self.scrape_p99:.2f} s, max {self.scrape_max:.2f} s of the {SCRAPE_TIMEOUT:g} s "
            f"timeout; agents' scrape interval p99 {self.agent_interval_p99:.1f} s of "
            f"{scrape_interval:g} s; remote write failed {self.remote_write_failed:.0f}, lag "
            f"{self.remote_write_lag:.0f} s; exporters' poll duration max "
            f"{self.poll_duration_max:.2f} s; longest gap between two polls of a PVS "
            f"{self.poll_worst_gap:.2f} intervals"
        )


def diagnose(res: Resources, scrape_interval: float) -> list[str]:
    """The resources that ran out, the cause first: memory, then CPU (the
    machine's, then one single-threaded process's), then the symptoms a
    starved fleet shows (slow or failed scrapes, late agents, late polls,
    remote write behind)."""
    found = []
    if res.memory_tripped or res.lowest_free_gib < res.floor_gib:
        found.append(
            f"memory: MemAvailable fell to {res.lowest_free_gib:.1f} GiB "
            f"(floor {res.floor_gib:g} GiB)"
        )
    if res.machine_busy >= MACHINE_BUSY:
        found.append(
            f"CPU: the machine was {100 * res.machine_busy:.0f} % busy over "
            f"{res.cores} cores (the fleet {100 * res.ours:.0f} %, other processes "
            f"{100 * (res.machine_busy - res.ours):.0f} %)"
        )
    if res.busiest[1] >= ONE_CORE_BUSY:
        found.append(
            f"CPU of one process: {res.busiest[0]} used {100 * res.busiest[1]:.0f} % "
            "of the one core it can use"
        )
    if res.scrape_max >= SCRAPE_SLOW * SCRAPE_TIMEOUT or res.scrapes_failed:
        found.append(
            f"scrapes: {res.scrapes_failed} of {res.scrapes} probe scrapes failed, the "
            f"slowest took {res.scrape_max:.1f} s of {SCRAPE_TIMEOUT:g} s"
        )
    if res.agent_interval_p99 > INTERVAL_LATE * scrape_interval:
        found.append(
            f"agents late: scrape interval p99 {res.agent_interval_p99:.1f} s "
            f"(configured {scrape_interval:g} s)"
        )
    if res.poll_worst_gap > POLL_LATE:
        found.append(f"polls late: a PVS waited {res.poll_worst_gap:.2f} intervals for a poll")
    if res.remote_write_failed or res.remote_write_lag > scrape_interval:
        found.append(
            f"remote write: {res.remote_write_failed:.0f} samples failed, "
            f"lag {res.remote_write_lag:.0f} s"
        )
    return found


def go_duration(seconds: float) -> str:
    """How Prometheus labels a scrape interval: 15 -> "15s", 60 -> "1m0s"."""
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest}s" if minutes else f"{rest}s"


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def gather_resources(
    harness: Harness,
    window: float,
    at_wall: float,
    label_from: str,
    label_to: str,
) -> Resources:
    """Each resource over the window between two marks; a source that does not
    answer (a crashed or starved process) leaves its figure at nan."""
    res = Resources(cores=os.cpu_count() or 1, floor_gib=harness.args.min_free_gib)
    marks = harness.machine_marks
    if label_from in marks and label_to in marks:
        busy = marks[label_to][0] - marks[label_from][0]
        total = marks[label_to][1] - marks[label_from][1]
        res.machine_busy = busy / total if total > 0 else float("nan")
        # A process started after the first mark had used nothing before it.
        ours = sum(p.marks.get(label_to, 0.0) - p.marks.get(label_from, 0.0) for p in harness.procs)
        res.ours = ours / total if total > 0 else float("nan")
        span = total / res.cores  # wall seconds
        python = [
            (p.name, (p.marks.get(label_to, 0.0) - p.marks.get(label_from, 0.0)) / span)
            for p in harness.procs
            if p.kind in {"simulators", "exporters"}
        ]
        res.busiest = max(python, key=lambda item: item[1], default=("", 0.0))
    try:
        durations = harness.central_values(
            'scrape_duration_seconds{job="sunpower_probe"}', window, at_wall
        )
        ups = harness.central_values('up{job="sunpower_probe"}', window, at_wall)
        res.scrape_p99 = quantile(durations, 0.99)
        res.scrape_max = max(durations, default=float("nan"))
        res.scrapes = len(ups)
        res.scrapes_failed = sum(1 for v in ups if v == 0)
    except (OSError, RuntimeError, http.client.HTTPException, ValueError) as error:
        log(f"central server did not answer for the scrape figures: {error}")
    try:
        pages = harness.agent_pages()
        interval = f'interval="{go_duration(harness.args.scrape_interval)}",quantile="0.99"'
        res.agent_interval_p99 = max(
            (v for page in pages for v in metric_values(
                page, "prometheus_target_interval_length_seconds", interval
            ) if not math.isnan(v)),
            default=float("nan"),
        )  # fmt: skip
        res.remote_write_failed = sum(
            sum(metric_values(page, "prometheus_remote_storage_samples_failed_total"))
            for page in pages
        )
        newest = "prometheus_remote_storage_highest_timestamp_in_seconds"
        sent = "prometheus_remote_storage_queue_highest_sent_timestamp_seconds"
        lags = [
            max(metric_values(page, newest), default=math.nan)
            - max(metric_values(page, sent), default=math.nan)
            for page in pages
        ]
        res.remote_write_lag = max(lags, default=float("nan"))
    except (OSError, RuntimeError, http.client.HTTPException, ValueError) as error:
        log(f"an agent did not answer for its own figures: {error}")
    durations = [d for found in harness.last_poll_durations.values() for d in found]
    res.poll_duration_max = max(durations, default=float("nan"))
    if harness.watch is not None:
        res.lowest_free_gib = harness.watch.lowest
        res.memory_tripped = harness.watch.tripped
    return res


def report_resources(res: Resources, scrape_interval: float) -> list[str]:
    """Prints the resources and the verdict line; returns what ran out."""
    print(f"resources: {res.line(scrape_interval)}")
    ran_out = diagnose(res, scrape_interval)
    print(f"ran out: {'; '.join(ran_out) if ran_out else 'nothing (no resource past its limit)'}")
    return ran_out


# --- the run ---------------------------------------------------------------------------


def summarise(harness: Harness, window: float, label_from: str, label_to: str) -> list[str]:
    rows = []
    kinds: dict[str, list[Proc]] = {}
    for proc in harness.procs:
        kinds.setdefault(proc.kind, []).append(proc)
    for kind, procs in kinds.items():
        cpu = [
            (p.marks.get(label_to, float("nan")) - p.marks.get(label_from, float("nan"))) / window
            for p in procs
        ]
        rss = [p.status_kb("VmRSS") / 1024 for p in procs]
        peak = [p.status_kb("VmHWM") / 1024 for p in procs]
        rows.append(
            f"| {kind} | {len(procs)} | {100 * sum(cpu):.1f} % ({100 * max(cpu):.1f} % max) "
            f"| {sum(rss):.0f} MiB ({max(rss):.0f} max) | {sum(peak):.0f} MiB |"
        )
    return rows


def mem_available_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024 / 1024
    return float("nan")


class MemoryWatch(threading.Thread):
    """Stops the whole fleet if the machine's available memory falls below a
    floor: the machine is shared, and the kernel's OOM killer would pick
    someone else's process as readily as ours."""

    def __init__(self, harness: Harness, floor_gib: float) -> None:
        super().__init__(daemon=True)
        self.harness = harness
        self.floor = floor_gib
        self.lowest = mem_available_gib()
        self.tripped = False
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(2.0):
            available = mem_available_gib()
            self.lowest = min(self.lowest, available)
            if available < self.floor:
                self.tripped = True
                log(f"MemAvailable {available:.1f} GiB < {self.floor:g} GiB: stopping the fleet")
                self.harness.stop()
                return


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="fleet-sharded-") as tmp:
        harness = Harness(args, Path(tmp))
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
        watch = harness.watch = MemoryWatch(harness, args.min_free_gib)
        watch.start()
        launched = time.time()
        harness.mark("launch")
        try:
            code = measure(harness, args)
            print(f"lowest MemAvailable during the run: {watch.lowest:.1f} GiB")
            return code
        except Exception as error:
            # Say why in one line: which resource ran out since the launch.
            harness.mark("failed")
            for proc in harness.exporters:
                if proc.name not in harness.last_poll_durations:
                    with contextlib.suppress(OSError, RuntimeError, http.client.HTTPException):
                        harness.exporter_counts(proc, timeout=15)
            if "end" in harness.machine_marks:  # the window was measured: report it
                res = gather_resources(harness, harness.window, harness.window_end, "start", "end")
            else:
                now = time.time()
                res = gather_resources(harness, now - launched, now, "launch", "failed")
            print(f"\nthe run stopped: {error}")
            ran_out = report_resources(res, args.scrape_interval)
            print(f"\nresult: DID NOT HOLD; ran out: {'; '.join(ran_out) or 'nothing found'}")
            return 2
        finally:
            watch.done.set()
            harness.stop()
            if args.keep_logs:
                for log in Path(tmp).glob("*.log"):
                    shutil.copy(log, args.keep_logs)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def measure(harness: Harness, args: argparse.Namespace) -> int:
    sites = harness.sites
    started = time.monotonic()
    log(f"starting {len(sites)} PVSes, {args.shards} exporters, agents, central")
    harness.start()
    log(f"all started in {time.monotonic() - started:.0f} s; waiting for every PVS's first poll")

    def all_polled() -> bool:
        if harness.stopped.is_set():
            raise Stopped("the fleet was stopped (MemAvailable under --min-free-gib)")
        polls = harness.sim_polls()
        return all(polls.get(s.name) for s in sites)

    wait_until(all_polled, "every PVS polled once", args.scrape_interval * 2 + 120, 5)
    log(f"every PVS polled; settling {args.settle:.0f} s")
    harness.sleep(args.settle)
    window = args.intervals * LEGACY_INTERVAL
    since_mono, since_wall = time.monotonic(), time.time()
    harness.mark("start")
    load_start = os.getloadavg()
    sim_before = {name: len(t) for name, t in harness.sim_polls().items()}
    log(f"measuring for {window:.0f} s ({args.intervals} legacy intervals)")
    harness.sleep(window)
    harness.mark("end")
    until_mono, until_wall = time.monotonic(), time.time()
    harness.window, harness.window_end = until_mono - since_mono, until_wall
    load_end = os.getloadavg()
    # The cost table first: reading the counters of a starved fleet can fail.
    legacy = sum(1 for s in sites if s.api == "legacy")
    big = sum(1 for s in sites if s.inverters == 30)
    print(
        f"\n{len(sites)} PVSes ({legacy} legacy, {len(sites) - legacy} varserver; {big} with "
        f"30 inverters, the rest 2), {args.shards} exporters + {args.shards} agents + 1 central; "
        f"scrapes every {args.scrape_interval:g} s; window {window:.0f} s; load average "
        f"{load_start[0]:.1f} -> {load_end[0]:.1f}; {os.cpu_count()} CPUs\n"
    )
    print("| process | count | CPU (one core = 100 %) | RSS now | peak RSS (sum) |")
    print("|---|---|---|---|---|")
    for row in summarise(harness, until_mono - since_mono, "start", "end"):
        print(row)
    polls = harness.sim_polls()
    exporter_polls = [harness.exporter_counts(p)[0] for p in harness.exporters]
    sim_totals = {name: len(times) for name, times in polls.items()}
    harness.sleep(15)  # the last samples through remote write
    samples = harness.central_up(window + 60, until_wall + 15)
    head_series = harness.central_head_series()
    spacing = check_poll_spacing(sites, polls, since_mono, until_mono)
    owners = check_owners(sites, args.shards, exporter_polls, sim_totals)
    central = check_central(sites, samples, since_wall, 1.5 * args.scrape_interval)
    polled_in_window = sum(sim_totals[n] - sim_before.get(n, 0) for n in sim_totals)

    expected = sum(window / s.interval for s in sites)
    print(
        f"\npolls seen by the PVSes in the window: {polled_in_window} (one per interval "
        f"would be {expected:.0f}); per PVS {spacing['min']}-{spacing['max']}"
    )
    print(
        f"polled twice within half an interval: {len(spacing['twice'])}; "
        f"missed (gap > 1.5 intervals): {len(spacing['missed'])}"
    )
    print(
        f"polled by the wrong exporter: {len(owners['wrong_owner'])}; by two exporters: "
        f"{len(owners['two_exporters'])}; exporter count != PVS count: "
        f"{len(owners['count_mismatch'])}"
    )
    print(
        f"central: sites without sunpower_pvs_up: {len(central['absent'])}; with a gap over "
        f"{1.5 * args.scrape_interval:g} s: {len(central['gaps'])}; largest gap "
        f"{central['largest_gap']:.1f} s; head series {head_series:.0f}"
    )
    for key, value in (*spacing.items(), *owners.items(), *central.items()):
        if isinstance(value, list) and value:
            print(f"  {key}: {value[:10]}{' ...' if len(value) > 10 else ''}")
    res = gather_resources(harness, window, until_wall, "start", "end")
    res.poll_worst_gap = spacing["worst_gap"]
    ran_out = report_resources(res, args.scrape_interval)
    ok = not (
        spacing["twice"]
        or spacing["missed"]
        or owners["wrong_owner"]
        or owners["two_exporters"]
        or owners["count_mismatch"]
        or central["absent"]
        or central["gaps"]
    )
    if args.reshard:
        resharded, reshard_ran_out = reshard(harness, args)
        ok = resharded and ok
        ran_out = [f"window: {r}" for r in ran_out] + [f"reshard: {r}" for r in reshard_ran_out]
    verdict = "every check held" if ok else "CHECKS FAILED"
    if ran_out:
        verdict += f"; ran out: {'; '.join(ran_out)}"
    print(f"\nresult: {verdict}")
    return 0 if ok else 1


RELOAD_TICK = 5.0  # Prometheus applies a reloaded target list on a 5 s tick
SAMPLE_EVERY = 5.0  # s between two readings of the exporters' poll counters in a reshard


def polled_between(
    history: list[tuple[float, list[dict[str, float]]]], exporter: int, name: str
) -> tuple[float, float] | None:
    """(first, last) reading time at which ``exporter``'s count of ``name`` had
    grown since the first reading; None if it never did. Each time is at most
    SAMPLE_EVERY after the poll it saw."""
    base = history[0][1][exporter].get(name, 0.0)
    grown = [at for at, counts in history if counts[exporter].get(name, 0.0) > base]
    if not grown:
        return None
    final = history[-1][1][exporter].get(name, 0.0)
    last = next(at for at, counts in history if counts[exporter].get(name, 0.0) >= final)
    return grown[0], last


def reshard(harness: Harness, args: argparse.Namespace) -> tuple[bool, list[str]]:
    """Modulus K -> K+1: one more exporter and agent, every agent reloaded.

    Checks that every moved site is taken up by its new exporter and given up
    by its old one: the old exporter polls it at most ``idle_after`` after the
    reload (plus the reload tick), and the two poll it together for at most
    ``idle_after``; and that no site, moved or not, misses more than one
    scrape centrally.
    """
    sites = harness.sites
    old, new = args.shards, args.shards + 1
    moved = [s for s in sites if hashmod(s.name, old) != hashmod(s.name, new)]
    log(f"resharding {old} -> {new}: {len(moved)} sites move")
    harness.start_exporter(old, harness.workdir / "exporter.yml")
    before = [harness.exporter_counts(p)[0] for p in harness.exporters]
    harness.mark("reshard")
    started = time.monotonic()
    harness.start_agent(old, new)
    reloaded_wall = time.time()
    reloaded = time.monotonic()
    for shard in range(old):
        harness.reload_agent(shard, new)
    log(f"new agent up and {old} agents reloaded in {time.monotonic() - started:.1f} s")
    # Until idle_after has passed since the old shard's last probe, the old
    # exporter still polls a moved site; then it must stop: watch its counter
    # for one legacy interval longer.
    observe = args.idle_after + RELOAD_TICK + 2 * args.scrape_interval + LEGACY_INTERVAL
    log(f"observing for {observe:.0f} s")
    history = [(reloaded, before)]
    while True:
        now = time.monotonic()
        history.append((now, [harness.exporter_counts(p)[0] for p in harness.exporters]))
        if now >= reloaded + observe:
            break
        harness.sleep(min(SAMPLE_EVERY, reloaded + observe - now))
    harness.mark("reshard-end")
    taken, still, overlaps, old_after, extra = [], [], [], [], []
    for site in moved:
        was, owner = hashmod(site.name, old), hashmod(site.name, new)
        got = polled_between(history, owner, site.name)
        kept = polled_between(history, was, site.name)
        if got is not None:
            taken.append(site.name)
        polls_after = history[-1][1][was].get(site.name, 0.0) - before[was].get(site.name, 0.0)
        extra.append(polls_after)
        if kept is None:
            continue
        # kept[1]: the reading that saw the old exporter's last poll.
        old_after.append(kept[1] - reloaded)
        if kept[1] > reloaded + args.idle_after + RELOAD_TICK + SAMPLE_EVERY:
            still.append(site.name)
        if got is not None:
            overlaps.append(kept[1] - got[0])
    end_wall = time.time()
    harness.sleep(15)
    samples = harness.central_up(end_wall - reloaded_wall + 120, end_wall + 15)
    # A moved site may miss one scrape while the new shard picks it up (the
    # reload tick): at most one scrape interval of data lost.
    limit = 2 * args.scrape_interval + RELOAD_TICK
    central = check_central(sites, samples, reloaded_wall - 60, limit)
    missed_one = check_central(sites, samples, reloaded_wall - 60, 1.5 * args.scrape_interval)
    res = gather_resources(harness, observe, end_wall, "reshard", "reshard-end")
    print(
        f"\nreshard {old} -> {new} by {args.reshard_by} ({len(moved)} of {len(sites)} sites "
        f"moved), idle_after "
        f"{args.idle_after:g} s, scrapes every {args.scrape_interval:g} s, observed "
        f"{observe:.0f} s; load average {os.getloadavg()[0]:.1f}:"
    )
    print(f"  taken up by the new exporter: {len(taken)} of {len(moved)}")
    print(
        f"  the old exporter's polls after the reload: {min(extra, default=0):.0f}-"
        f"{max(extra, default=0):.0f} per moved site; its last one at most "
        f"{max(old_after, default=0):.0f} s after the reload (limit idle_after + the "
        f"{RELOAD_TICK:g} s tick, read every {SAMPLE_EVERY:g} s); still polled after that: "
        f"{len(still)}"
    )
    print(
        f"  polled by both exporters for at most {max(overlaps, default=0):.0f} s "
        f"(idle_after {args.idle_after:g} s; +{SAMPLE_EVERY:g} s reading resolution)"
    )
    print(
        f"  central: sites absent {len(central['absent'])}; sites that missed one scrape "
        f"{len(missed_one['gaps'])}; gaps over {limit:g} s (more than one scrape lost): "
        f"{len(central['gaps'])}; largest gap {central['largest_gap']:.1f} s"
    )
    moved_names = {s.name for s in moved}
    for name, _gap in central["gaps"][:10]:
        times = [t for t in samples.get(name, []) if t >= reloaded_wall - 60]
        marks = [
            f"{b - reloaded_wall:+.0f}..{a - reloaded_wall:+.0f}"
            for b, a in itertools.pairwise(times)
            if a - b > args.scrape_interval * 1.5
        ]
        shards = f"{hashmod(name, old)}->{hashmod(name, new)}"
        print(
            f"  {name} ({'moved ' + shards if name in moved_names else 'stayed'}): "
            f"gaps around the reload at {marks}"
        )
    print(f"  remote write: samples refused by the central server {res.remote_write_failed:.0f}")
    explain_refused(harness, reloaded_wall, {s.name: s for s in moved}, old, new)
    ran_out = report_resources(res, args.scrape_interval)
    overlap_ok = max(overlaps, default=0.0) <= args.idle_after + RELOAD_TICK + SAMPLE_EVERY
    held = (
        not still
        and overlap_ok
        and len(taken) == len(moved)
        and not central["absent"]
        and not central["gaps"]
        and not res.remote_write_failed
    )
    return held, ran_out


def explain_refused(
    harness: Harness, reloaded: float, moved: dict[str, Site], old: int, new: int
) -> None:
    """What the central server refused, and the evidence for why: each refused
    sample's site and series, when it was taken and refused, the agents that
    sent it, and the series' samples in the central server around it."""
    interval = harness.args.scrape_interval
    assert harness.central is not None
    text = harness.central.log.read_text(errors="replace")
    refused = [r for r in refused_samples(text) if r.logged >= reloaded - RELOAD_TICK]
    with contextlib.suppress(OSError, RuntimeError, http.client.HTTPException, ValueError):
        failed = [
            sum(metric_values(page, "prometheus_remote_storage_samples_failed_total"))
            for page in harness.agent_pages()
        ]
        print(f"  samples failed per agent: {[f'{v:.0f}' for v in failed]}")
    counts = classify_refused(refused, reloaded, set(moved), interval)
    print(
        f"  refused samples in the central server's log (the first of each refused "
        f"request): {counts['refused']}; of moved sites {counts['moved']}; taken within "
        f"{2 * RELOAD_TICK:g} s after the reload {counts['in_tick']}; refused 1.05-1.3 "
        f"scrape intervals after their timestamp {counts['stale_time']}; "
        f'"duplicate sample for timestamp" {counts["duplicate"]}'
    )
    for item in refused[:12]:
        labels = dict(item.labels)
        site = moved.get(item.site)
        where = f"moved {hashmod(item.site, old)}->{hashmod(item.site, new)}" if site else "stayed"
        shown = {k: v for k, v in labels.items() if k in {"kind", "class", "device_id"}}
        taken = item.timestamp_ms / 1000
        around = "?"
        with contextlib.suppress(OSError, RuntimeError, http.client.HTTPException, ValueError):
            selector = ",".join(f'{k}="{v}"' for k, v in labels.items())
            query = f"{{{selector}}}[{4 * interval:.0f}s]"
            found = harness.central_query(query, taken + 3 * interval)
            times = sorted(float(t) for series in found for t, _ in series["values"])
            same = any(round(t * 1000) == item.timestamp_ms for t in times)
            around = (
                f"a sample at that very millisecond: {'yes' if same else 'no'}; "
                f"its samples around it: {[f'{t - taken:+.1f}' for t in times]} s"
            )
        print(
            f"    {item.site} ({where}) {item.name}{shown or ''}: taken at reload "
            f"{taken - reloaded:+.1f} s, refused {item.late:.1f} s "
            f"({item.late / interval:.2f} intervals) later; centrally {around}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pvs", type=int, default=1000)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--varserver-every", type=int, default=3, help="every Nth site varserver")
    parser.add_argument("--big-every", type=int, default=10, help="every Nth site 30 inverters")
    parser.add_argument("--per-process", type=int, default=1000, help="PVSes per simulator")
    parser.add_argument("--scrape-interval", type=float, default=60.0)
    parser.add_argument("--intervals", type=int, default=3, help="legacy poll intervals measured")
    parser.add_argument("--settle", type=float, default=60.0)
    parser.add_argument("--reshard", action="store_true")
    parser.add_argument(
        "--idle-after", type=float, default=300.0, help="the exporters' idle_after (default 5m)"
    )
    parser.add_argument(
        "--request-histograms",
        choices=("on", "off"),
        default="off",
        help="the exporters' request_histograms (off, as contrib/prometheus/sharding/ has it)",
    )
    parser.add_argument(
        "--reshard-by",
        choices=("relabel", "new-job"),
        default="relabel",
        help="how --reshard changes the agents: the modulus in the probe job's relabelling "
        "(the recipe), or also a job name per modulus (relabelled back to sunpower_probe)",
    )
    parser.add_argument("--keep-logs", help="copy the children's logs into this directory")
    parser.add_argument(
        "--min-free-gib",
        type=float,
        default=3.0,
        help="stop everything if the machine's MemAvailable falls below this",
    )
    parser.add_argument("--serve-sims", help=argparse.SUPPRESS)
    parser.add_argument("--ready", help=argparse.SUPPRESS)
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.serve_sims:
        asyncio.run(serve_sims(json.loads(Path(args.serve_sims).read_text()), args.ready))
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
