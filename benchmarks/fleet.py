"""A fleet on one exporter: 10, 100 and 1000 simulated PVSes.

Three processes on loopback: the simulated fleet (every PVS in one process,
each on its own loopback address, 127.1.x.y, as each site of a real fleet is
its own host: the exporter keeps one request queue per PVS host, so a fleet
on one address would be polled one request at a time; each with a large
listen backlog), the exporter (pollers
built directly, as the tests do, so the poll interval can be below the
user-facing 60 s minimum and the run stays short), and this one measuring:

Two exporters run in turn against the fleet (see ``measure``): one polling
every ``--interval`` (10 s) for CPU, one polling every 60 s as in the issue
for RSS and latency. Measured:

* RSS of the exporter, and per additional target (vs the smallest fleet);
* CPU per poll (exporter user+system time over a window with no scrapes,
  divided by the polls made in it), and what that is at the default 120 s
  interval per 100 targets;
* ``/metrics`` (health of every target) and ``/probe`` latency, with the
  headers Prometheus sends (OpenMetrics first, gzip), next to the same bytes
  served statically by plain aiohttp in the same run (the floor); also
  under the 10 s exporter's six-fold poll load, back to back and "paced"
  as Prometheus scrapes (every 15 s against 60 s polls, scaled to the
  interval), so that a quarter of the fleet has been polled between two
  scrapes;
* PVS requests per minute, counted by the simulator.

Goals (issue 17): <= 48 KB RSS per additional target, ``/metrics`` <= 30 ms
at 1000 targets, CPU <= 1 % of a core per 100 targets at the default interval.

    python benchmarks/fleet.py [--sizes 10,100,1000] [--interval 10] [--inverters 2] [--src PATH]

``--src`` runs the exporter from another checkout's ``src`` (for before/after).
``--cpu-only`` stops after the CPU window and prints CPU and the PVS requests
per poll by kind; ``--profile FILE`` writes a cProfile of the 10 s exporter
(its start, CPU window and scrapes) to ``FILE.<size>``.
The machine is shared: read the ratios, not the absolute times.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
    "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
DEFAULT_INTERVAL = 120.0
# The issue's fleet: polled every 60 s, scraped by Prometheus every 15 s.
ISSUE_POLL_INTERVAL = 60.0
PROMETHEUS_SCRAPE_INTERVAL = 15.0
BACKLOG = 1024
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- child: the simulated fleet ------------------------------------------------


def pvs_address(index: int) -> str:
    """The loopback address of the ``index``-th simulated PVS (Linux routes all of
    127/8 to ``lo``): 127.1.0.1, 127.1.0.2, ... 250 to a /24, up to 64 000."""
    return f"127.1.{index // 250}.{index % 250 + 1}"


async def serve_sims(count: int, inverters: int, ready_file: str) -> None:
    from aiohttp import web

    from sunpower_pvs_exporter.simulator.server import SimulatedPvs, SimulatorServer
    from sunpower_pvs_exporter.simulator.site import SimClock, SiteConfig

    servers = []
    for index in range(count):
        pvs = SimulatedPvs(
            config=SiteConfig(seed=index, inverters=inverters, error_inverters=0),
            clock=SimClock(start=time.time()),
        )
        server = SimulatorServer(pvs, host=pvs_address(index), backlog=BACKLOG)
        await server.start()
        servers.append(server)

    async def stats(_request: web.Request) -> web.Response:
        total = sum(len(s.pvs.log.entries) for s in servers)
        device_lists = sum(s.pvs.log.count("DeviceList") for s in servers)
        by_name = Counter(entry.name for s in servers for entry in s.pvs.log.entries)
        return web.json_response(
            {"requests": total, "device_lists": device_lists, "by_name": by_name}
        )

    app = web.Application()
    app.router.add_get("/stats", stats)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    stats_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    write_json(ready_file, {"sims": [[s.host, s.port] for s in servers], "stats": stats_port})
    await wait_for_term()


# --- child: the exporter --------------------------------------------------------


async def serve_exporter(spec: dict[str, Any], ready_file: str) -> None:
    if spec.get("src"):
        sys.path.insert(0, spec["src"])
    try:
        from sunpower_pvs_exporter.runtime import make_pollers
    except ImportError:  # an older checkout (--src)
        from sunpower_pvs_exporter.cli import make_pollers  # type: ignore[attr-defined,no-redef]
    from sunpower_pvs_exporter.config import ExporterConfig, TargetConfig
    from sunpower_pvs_exporter.web.server import ExporterServer

    sys.setswitchinterval(0.001)  # as the CLI sets it
    # ``request_histograms: false`` where the checkout knows the key (--src of an older one).
    extra = (
        {"request_histograms": False}
        if spec.get("no_request_histograms")
        and "request_histograms" in TargetConfig.__dataclass_fields__
        else {}
    )
    targets = tuple(
        TargetConfig(
            name=f"site-{index:04d}",
            host=host,
            port=port,
            api="legacy",
            poll_interval=spec["interval"],
            timeout=30.0,
            max_age=spec["interval"] * 3,
            timezone="UTC",
            **extra,
        )
        for index, (host, port) in enumerate(spec["sims"])
    )
    config = ExporterConfig(
        targets=targets, listen_host="127.0.0.1", listen_port=0, single_target=False
    )
    try:
        from sunpower_pvs_exporter.runtime import ExporterState
    except ImportError:  # an older checkout: the server built the state itself
        server = ExporterServer(config, make_pollers(config))  # type: ignore[arg-type]
    else:
        server = ExporterServer(ExporterState(config, make_pollers(config)))
    await server.start()
    profiler = None
    if spec.get("profile"):
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    write_json(ready_file, {"port": server.port})
    await wait_for_term()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(spec["profile"])
    await server.stop()


# --- child: the floor, static bytes ---------------------------------------------


async def serve_static(body: bytes, headers: dict[str, str], ready_file: str) -> None:
    from aiohttp import web

    async def handler(_request: web.Request) -> web.Response:
        return web.Response(body=body, headers=headers)

    app = web.Application()
    app.router.add_get("/metrics", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    write_json(ready_file, {"port": port})
    await wait_for_term()


def write_json(path: str, doc: object) -> None:
    Path(path).write_text(json.dumps(doc))


async def wait_for_term() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


# --- the measuring side ----------------------------------------------------------


class Child:
    def __init__(self, workdir: Path, name: str, *args: str) -> None:
        self.ready = workdir / f"{name}.ready"
        self.log = open(workdir / f"{name}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, __file__, *args, "--ready", str(self.ready)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def wait_ready(self, timeout: float = 120.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while not self.ready.exists() or not self.ready.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"child not ready; see {self.log.name}")
            time.sleep(0.1)
        time.sleep(0.05)
        doc: dict[str, Any] = json.loads(self.ready.read_text())
        return doc

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.log.close()

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Client:
    """One keep-alive connection, as a Prometheus scraper holds."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict]:
        try:
            self.conn.request("GET", path, headers=headers or {})
            response = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionError):
            # The server closes keep-alive connections idle for 15 s: reconnect.
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self.conn.request("GET", path, headers=headers or {})
            response = self.conn.getresponse()
        return response.status, response.read(), dict(response.getheaders())

    def timed(self, path: str, headers: dict[str, str]) -> float:
        started = time.perf_counter()
        status, _, _ = self.get(path, headers)
        elapsed = time.perf_counter() - started
        assert status == 200, (path, status)
        return elapsed


POLLS = re.compile(rb'^sunpower_pvs_polls_total\{target="[^"]*"\} (\S+)$', re.M)


def polls(client: Client) -> list[float]:
    status, body, _ = client.get("/metrics")
    assert status == 200
    return [float(value) for value in POLLS.findall(body)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def floor_rss_kb(workdir: Path) -> int:
    """RSS of a bare ``import aiohttp.web, prometheus_client`` process."""
    ready = workdir / "floor.ready"
    code = (
        "import aiohttp.web, prometheus_client, pathlib, sys, time\n"
        f"pathlib.Path({str(ready)!r}).write_text('1')\n"
        "time.sleep(60)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")
    finally:
        process.kill()
        process.wait()


def start_exporter(
    workdir: Path,
    name: str,
    sim_info: dict[str, Any],
    interval: float,
    src: str | None,
    *,
    no_request_histograms: bool = False,
    profile: str | None = None,
    rounds: int = 1,
) -> tuple[Child, Client]:
    """An exporter polling every simulated PVS, once each target has been polled."""
    size = len(sim_info["sims"])
    spec = workdir / f"spec-{name}.json"
    spec.write_text(
        json.dumps(
            {
                "sims": sim_info["sims"],
                "interval": interval,
                "src": src,
                "no_request_histograms": no_request_histograms,
                "profile": profile,
            }
        )
    )
    exporter = Child(workdir, f"exporter-{name}", "--serve-exporter", str(spec))
    client = Client(exporter.wait_ready()["port"])
    # Every target polled ``rounds`` times (first polls spread over the interval).
    # The poll count rises as a poll starts: waiting for the second start of each
    # target is waiting until its first poll, with its once-per-10-minutes
    # Get_Comm and GridProfileGet, has ended.
    deadline = time.monotonic() + interval * (rounds + 2) + 60
    while True:
        counts = polls(client)
        if len(counts) == size and min(counts) >= rounds:
            return exporter, client
        if time.monotonic() > deadline:
            exporter.stop()
            raise RuntimeError(f"not every target polled: {sum(1 for c in counts if c)}")
        time.sleep(0.5)


def measure(size: int, args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    """Two exporters in turn against one simulated fleet.

    The first polls every ``--interval`` (10 s): enough polls in a short
    window to measure CPU per poll, and six times the issue's poll load on
    the scrapes measured there. The second polls every 60 s, the issue's
    setting: RSS and ``/metrics`` latency as a fleet really runs (between
    polls its keep-alive connections to the PVSes time out and close).
    """
    sims = Child(
        workdir, f"sims-{size}", "--serve-sims", str(size), "--inverters", str(args.inverters)
    )
    exporter: Child | None = None
    static: Child | None = None
    headers = {"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"}
    try:
        sim_info = sims.wait_ready()
        stats = Client(sim_info["stats"])
        exporter, client = start_exporter(
            workdir,
            f"{size}-fast",
            sim_info,
            args.interval,
            args.src,
            no_request_histograms=args.no_request_histograms,
            profile=args.profile and os.path.abspath(f"{args.profile}.{size}"),
            rounds=2,
        )

        # CPU per poll over a window without scrapes.
        before_polls = sum(polls(client))
        before_sim = json.loads(stats.get("/stats")[1])
        cpu0, t0 = exporter.cpu_seconds(), time.monotonic()
        time.sleep(args.window)
        cpu1, t1 = exporter.cpu_seconds(), time.monotonic()
        after_sim = json.loads(stats.get("/stats")[1])
        window_polls = sum(polls(client)) - before_polls
        fast_rss = exporter.rss_kb()
        seconds = t1 - t0
        cpu = cpu1 - cpu0
        by_name = Counter(after_sim["by_name"]) - Counter(before_sim["by_name"])
        quick = {
            "size": size,
            "cpu_per_poll_ms": 1000 * cpu / max(window_polls, 1),
            "cpu_fraction": cpu / seconds,
            "polls": window_polls,
            "pvs_requests_per_min": (after_sim["requests"] - before_sim["requests"]) * 60 / seconds,
            "device_lists_per_min": (after_sim["device_lists"] - before_sim["device_lists"])
            * 60
            / seconds,
            "requests_per_poll": {
                name: count / max(window_polls, 1) for name, count in sorted(by_name.items())
            },
        }
        if args.cpu_only:
            return quick

        for _ in range(3):
            client.timed("/metrics", headers)
        fast_times = [client.timed("/metrics", headers) for _ in range(args.scrapes)]
        # As Prometheus scrapes: every 15 s against 60 s polls, a quarter of the
        # fleet has been polled since the last scrape (back to back, almost none).
        gap = PROMETHEUS_SCRAPE_INTERVAL * args.interval / ISSUE_POLL_INTERVAL
        paced_times = []
        for _ in range(args.paced_scrapes):
            time.sleep(gap)
            paced_times.append(client.timed("/metrics", headers))
        exporter.stop()
        exporter = None

        exporter, client = start_exporter(
            workdir,
            f"{size}-issue",
            sim_info,
            ISSUE_POLL_INTERVAL,
            args.src,
            no_request_histograms=args.no_request_histograms,
        )
        time.sleep(PROMETHEUS_SCRAPE_INTERVAL + 5)  # idle keep-alive connections close
        rss = exporter.rss_kb()
        for _ in range(3):
            client.timed("/metrics", headers)
        metrics_times = [client.timed("/metrics", headers) for _ in range(args.scrapes)]
        _, body, response_headers = client.get("/metrics", headers)
        probe_times = [
            client.timed(f"/probe?target=site-{(i * 7919) % size:04d}", headers)
            for i in range(args.scrapes)
        ]
        # What one site's device text needs: its /probe body, uncompressed.
        _, probe_body, _ = client.get("/probe?target=site-0000", {"Accept": PROMETHEUS_ACCEPT})

        # The floor: the same /metrics bytes, served statically by aiohttp.
        body_file = workdir / f"body-{size}"
        body_file.write_bytes(body)
        keep = {
            k: v for k, v in response_headers.items() if k in ("Content-Type", "Content-Encoding")
        }
        Path(str(body_file) + ".headers").write_text(json.dumps(keep))
        static = Child(workdir, f"static-{size}", "--serve-static", str(body_file))
        static_client = Client(static.wait_ready()["port"])
        for _ in range(3):
            static_client.timed("/metrics", headers)
        # Interleaved with ours, so both see the same machine load.
        floor_times, ours_times = [], []
        for _ in range(args.scrapes):
            floor_times.append(static_client.timed("/metrics", headers))
            ours_times.append(client.timed("/metrics", headers))

        return {
            **quick,
            "rss_kb": rss,
            "fast_rss_kb": fast_rss,
            "metrics_p50_ms": 1000 * statistics.median(metrics_times),
            "metrics_p90_ms": 1000 * percentile(metrics_times, 0.9),
            "fast_p50_ms": 1000 * statistics.median(fast_times),
            "fast_p90_ms": 1000 * percentile(fast_times, 0.9),
            "paced_p50_ms": 1000 * statistics.median(paced_times),
            "paced_p90_ms": 1000 * percentile(paced_times, 0.9),
            "metrics_bytes": len(body),
            "probe_bytes": len(probe_body),
            "metrics_paired_ms": 1000 * statistics.median(ours_times),
            "floor_ms": 1000 * statistics.median(floor_times),
            "probe_p50_ms": 1000 * statistics.median(probe_times),
            "probe_p90_ms": 1000 * percentile(probe_times, 0.9),
        }
    finally:
        for child in (static, exporter, sims):
            if child is not None:
                child.stop()


def report_cpu(results: list[dict[str, Any]]) -> None:
    """The CPU window alone (``--cpu-only``): CPU and the PVS requests per poll, by kind."""
    print("| PVSes | polls in window | CPU per poll | CPU of one core | requests per poll |")
    print("|---|---|---|---|---|")
    for row in results:
        kinds = ", ".join(f"{name} {per:.3f}" for name, per in row["requests_per_poll"].items())
        print(
            f"| {row['size']} | {row['polls']:.0f} | {row['cpu_per_poll_ms']:.2f} ms"
            f" | {100 * row['cpu_fraction']:.1f} % | {kinds} |"
        )


def report(results: list[dict[str, Any]], floor_kb: int, interval: float) -> None:
    base = results[0]
    print(
        f"\nfloor: bare `import aiohttp.web, prometheus_client` process: {floor_kb / 1024:.1f} MiB"
    )
    print(
        f"polled every {ISSUE_POLL_INTERVAL:g} s (the issue's setting): RSS, /metrics, /probe;"
        f" every {interval:g} s: CPU (scaled to the default {DEFAULT_INTERVAL:g} s) and the"
        " /metrics columns marked 'polls x6'\n"
    )
    print(
        "| PVSes | RSS | RSS over floor | per added target | /metrics p50 (p90) | "
        "vs static floor | bytes gz | /probe p50 (p90) | CPU per poll | "
        "CPU/100 targets @120 s | PVS req/min (DeviceList) | "
        "/metrics, polls x6, p50 (p90) | same, paced as Prometheus, p50 (p90) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in results:
        size = row["size"]
        per_target = (
            (row["rss_kb"] - base["rss_kb"]) / (size - base["size"]) if size > base["size"] else 0
        )
        cpu_default = row["cpu_per_poll_ms"] / 1000 * 100 / DEFAULT_INTERVAL
        print(
            f"| {size} | {row['rss_kb'] / 1024:.1f} MiB"
            f" | {(row['rss_kb'] - floor_kb) / 1024:.1f} MiB | {per_target:.1f} KB"
            f" | {row['metrics_p50_ms']:.2f} ({row['metrics_p90_ms']:.2f}) ms"
            f" | {row['metrics_paired_ms'] / row['floor_ms']:.2f}× ({row['floor_ms']:.2f} ms)"
            f" | {row['metrics_bytes'] / 1024:.0f} KB"
            f" | {row['probe_p50_ms']:.2f} ({row['probe_p90_ms']:.2f}) ms"
            f" | {row['cpu_per_poll_ms']:.2f} ms | {100 * cpu_default:.3f} %"
            f" | {row['pvs_requests_per_min']:.0f} ({row['device_lists_per_min']:.0f})"
            f" | {row['fast_p50_ms']:.2f} ({row['fast_p90_ms']:.2f}) ms"
            f" | {row['paced_p50_ms']:.2f} ({row['paced_p90_ms']:.2f}) ms |"
        )
    measured = ", ".join(
        f"{row['size']:.0f} PVSes: {100 * row['cpu_fraction']:.1f} %" for row in results
    )
    print(f"\nCPU of one core measured at the bench interval: {measured}")
    fast = ", ".join(
        f"{row['size']:.0f} PVSes: {row['fast_rss_kb'] / 1024:.1f} MiB" for row in results
    )
    print(f"RSS while polled every {interval:g} s (keep-alive connections held): {fast}")
    print(
        f"one site's device text (its /probe body, OpenMetrics, uncompressed): "
        f"{base['probe_bytes'] / 1024:.1f} KB"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--interval", type=float, default=10.0, help="poll interval (s)")
    parser.add_argument("--window", type=float, default=20.0, help="CPU window (s)")
    parser.add_argument("--scrapes", type=int, default=30)
    parser.add_argument(
        "--paced-scrapes",
        type=int,
        default=12,
        help="scrapes spaced as Prometheus's 15 s against 60 s polls (scaled to --interval)",
    )
    parser.add_argument("--inverters", type=int, default=2, help="inverters per site")
    parser.add_argument("--src", help="run the exporter from this src directory")
    parser.add_argument(
        "--no-request-histograms",
        action="store_true",
        help="targets with request_histograms: false (the fleet setting of docs/scaling.md)",
    )
    parser.add_argument(
        "--cpu-only",
        action="store_true",
        help="only the CPU window of the fast exporter: CPU and PVS requests per poll",
    )
    parser.add_argument(
        "--profile",
        help="write a cProfile of the fast exporter (its CPU window and scrapes) to this file",
    )
    parser.add_argument("--serve-sims", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-exporter", help=argparse.SUPPRESS)
    parser.add_argument("--serve-static", help=argparse.SUPPRESS)
    parser.add_argument("--ready", help=argparse.SUPPRESS)
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.serve_sims:
        asyncio.run(serve_sims(args.serve_sims, args.inverters, args.ready))
        return 0
    if args.serve_exporter:
        asyncio.run(serve_exporter(json.loads(Path(args.serve_exporter).read_text()), args.ready))
        return 0
    if args.serve_static:
        body = Path(args.serve_static).read_bytes()
        headers = json.loads(Path(args.serve_static + ".headers").read_text())
        asyncio.run(serve_static(body, headers, args.ready))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        floor_kb = floor_rss_kb(workdir)
        results = []
        for size in sizes:
            print(f"measuring {size} PVSes ...", file=sys.stderr, flush=True)
            results.append(measure(size, args, workdir))
        print(f"load average at the end: {os.getloadavg()[0]:.2f}")
        if args.cpu_only:
            report_cpu(results)
        else:
            report(results, floor_kb, args.interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
