"""A sharded fleet on one machine: N simulated PVSes, K exporters, K agents, one central.

Everything the docs/scaling.md recipe runs, with real processes, on loopback:

* simulated PVSes, a mix as in ``../shared/real-payloads/`` (legacy ``dl_cgi``
  and varserver over HTTPS; most sites with 2 inverters, some with 30), each
  on its own loopback address (127.1.x.y: one host per site, as in a real
  fleet), spread over simulator processes of up to ``--per-process`` PVSes;
* K exporters, the real CLI (``python -m sunpower_pvs_exporter --config``),
  all with one config file naming every PVS, ``poll_mode: on_demand``, the
  default poll intervals (legacy 120 s, varserver 60 s) and ``idle_after``;
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
  kind of process, and the central server's series count.

``--reshard`` then adds one exporter and one agent (modulus K -> K+1),
reloads every agent, and checks that no site misses more than one scrape
centrally and that no PVS is polled by two exporters for longer than
``idle_after``.

    python benchmarks/fleet_sharded.py --pvs 1000 --shards 2
    python benchmarks/fleet_sharded.py --pvs 10000 --shards 10 --intervals 3

Needs ``prometheus`` on PATH. Every process it starts is stopped at the end
(or on Ctrl-C); nothing leaves loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import http.client
import json
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


POLLS = re.compile(r'^sunpower_pvs_polls_total\{target="([^"]*)"\} (\S+)$', re.M)
ACTIVE = re.compile(r'^sunpower_pvs_target_active\{target="([^"]*)"\} (\S+)$', re.M)


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
        return {
            "global": {
                "scrape_interval": interval,
                "scrape_timeout": "10s",
                "external_labels": {"fleet": "bench"},
            },
            "scrape_configs": [
                {
                    "job_name": "sunpower_probe",
                    "metrics_path": "/probe",
                    "static_configs": [{"targets": [s.name for s in self.sites]}],
                    "relabel_configs": [
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
                    ],
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
        for proc in reversed(self.procs):
            proc.stop()

    # --- reading ---------------------------------------------------------------

    def sim_polls(self) -> dict[str, list[float]]:
        found: dict[str, list[float]] = {}
        for port in self.sim_stats:
            found.update(http_json(f"http://127.0.0.1:{port}/polls"))
        return found

    def exporter_counts(self, proc: Proc) -> tuple[dict[str, float], dict[str, float]]:
        text = http_text(f"http://127.0.0.1:{proc.port}/metrics")
        polls = {name: float(v) for name, v in POLLS.findall(text)}
        active = {name: float(v) for name, v in ACTIVE.findall(text)}
        return polls, active

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
        for proc in self.procs:
            proc.marks[label] = proc.cpu_seconds()


# --- the checks -----------------------------------------------------------------------


def check_poll_spacing(
    sites: list[Site], polls: dict[str, list[float]], since: float, until: float
) -> dict[str, Any]:
    """Every PVS polled once per its interval between ``since`` and ``until``."""
    twice, missed, counts = [], [], []
    for site in sites:
        times = [t for t in polls.get(site.name, []) if since <= t <= until]
        counts.append(len(times))
        gaps = [b - a for a, b in itertools.pairwise(times)]
        span = until - since
        if any(g < 0.5 * site.interval for g in gaps):
            twice.append(site.name)
        # Missed: a gap over 1.5 intervals, or fewer polls than the window holds.
        if any(g > 1.5 * site.interval for g in gaps) or len(times) < int(span / site.interval):
            missed.append(site.name)
    return {"twice": twice, "missed": missed, "min": min(counts), "max": max(counts)}


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
        watch = MemoryWatch(harness, args.min_free_gib)
        watch.start()
        try:
            code = measure(harness, args)
            print(f"lowest MemAvailable during the run: {watch.lowest:.1f} GiB")
            return code
        except Exception:
            if watch.tripped:
                print(
                    f"\nresult: memory ran out first: MemAvailable fell below "
                    f"{args.min_free_gib:g} GiB and the fleet was stopped"
                )
                return 2
            raise
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
        polls = harness.sim_polls()
        return all(polls.get(s.name) for s in sites)

    wait_until(all_polled, "every PVS polled once", args.scrape_interval * 2 + 120, 5)
    log(f"every PVS polled; settling {args.settle:.0f} s")
    time.sleep(args.settle)
    window = args.intervals * LEGACY_INTERVAL
    since_mono, since_wall = time.monotonic(), time.time()
    harness.mark("start")
    load_start = os.getloadavg()
    sim_before = {name: len(t) for name, t in harness.sim_polls().items()}
    log(f"measuring for {window:.0f} s ({args.intervals} legacy intervals)")
    time.sleep(window)
    harness.mark("end")
    until_mono, until_wall = time.monotonic(), time.time()
    load_end = os.getloadavg()
    polls = harness.sim_polls()
    exporter_polls = [harness.exporter_counts(p)[0] for p in harness.exporters]
    sim_totals = {name: len(times) for name, times in polls.items()}
    time.sleep(15)  # the last samples through remote write
    samples = harness.central_up(window + 60, until_wall + 15)
    head_series = harness.central_head_series()
    spacing = check_poll_spacing(sites, polls, since_mono, until_mono)
    owners = check_owners(sites, args.shards, exporter_polls, sim_totals)
    central = check_central(sites, samples, since_wall, 1.5 * args.scrape_interval)
    polled_in_window = sum(sim_totals[n] - sim_before.get(n, 0) for n in sim_totals)

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
        ok = reshard(harness, args) and ok
    print(f"\nresult: {'every check held' if ok else 'CHECKS FAILED'}")
    return 0 if ok else 1


def reshard(harness: Harness, args: argparse.Namespace) -> bool:
    """Modulus K -> K+1: one more exporter and agent, every agent reloaded."""
    sites = harness.sites
    old, new = args.shards, args.shards + 1
    moved = [s for s in sites if hashmod(s.name, old) != hashmod(s.name, new)]
    log(f"resharding {old} -> {new}: {len(moved)} sites move")
    harness.start_exporter(old, harness.workdir / "exporter.yml")
    harness.start_agent(old, new)
    reloaded_wall = time.time()
    reloaded = time.monotonic()
    for shard in range(old):
        harness.reload_agent(shard, new)
    # Until idle_after has passed since the old shard's last probe, the old
    # exporter still polls a moved site; then it must stop.
    observe = args.idle_after + 2 * args.scrape_interval + LEGACY_INTERVAL
    log(f"observing for {observe:.0f} s")
    time.sleep(observe)
    polls_then = [harness.exporter_counts(p)[0] for p in harness.exporters]
    time.sleep(LEGACY_INTERVAL + 10)
    polls_now = [harness.exporter_counts(p)[0] for p in harness.exporters]
    still = [
        s.name
        for s in moved
        if polls_now[hashmod(s.name, old)].get(s.name, 0)
        > polls_then[hashmod(s.name, old)].get(s.name, 0)
    ]
    taken = [s.name for s in moved if polls_now[hashmod(s.name, new)].get(s.name, 0) > 0]
    end_wall = time.time()
    time.sleep(15)
    samples = harness.central_up(end_wall - reloaded_wall + 120, end_wall + 15)
    # Prometheus applies a reloaded target list on a 5 s tick: a moved site may
    # miss one scrape while the new shard picks it up.
    central = check_central(sites, samples, reloaded_wall - 60, args.scrape_interval + 5 + 15)
    print(
        f"\nreshard {old} -> {new} ({len(moved)} of {len(sites)} sites moved): "
        f"taken up by the new owner: {len(taken)}; still polled by the old owner after "
        f"idle_after ({args.idle_after:g} s) + 2 scrapes: {len(still)}; central sites absent: "
        f"{len(central['absent'])}; gaps over one scrape (+ the 5 s reload tick): "
        f"{len(central['gaps'])}; largest gap {central['largest_gap']:.1f} s "
        f"(observed {time.monotonic() - reloaded:.0f} s)"
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
    return not still and len(taken) == len(moved) and not central["absent"] and not central["gaps"]


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
