"""One shard's exporter under its agent: CPU per 1000 PVSes, two trees side by side.

The sharded fleet (docs/scaling.md, "Measured: a sharded fleet on one
machine") ran out of CPU first, and the exporters were its largest share.
This runs one shard's worth of that fleet, with real processes on
loopback, and measures where an exporter's CPU goes:

* the simulated PVSes of ``fleet_sharded.py`` (a third varserver over
  HTTPS, one site in ten with 30 inverters), in one process;
* two exporters, the real CLI with the shard config of ``fleet_sharded.py``
  (``poll_mode: on_demand``, default intervals, ``request_histograms:
  false``), one from this tree and one from ``--before`` (another
  checkout's ``src``): both poll the same simulated PVSes;
* the floor: plain aiohttp serving each target's ``/probe`` answer as
  bytes captured from this tree's exporter (already gzipped, same headers,
  the same 15 s keep-alive), so what is left above it is the exporter's own
  work (polling, rendering, compressing, its guards);
* one Prometheus agent per server, probing every target every
  ``--scrape-interval`` (60 s) as the recipe's agents do (OpenMetrics,
  gzip, a new connection per scrape, as the exporter closes keep-alive
  connections after 15 s).

After every target has been polled by both exporters, it measures over
``--window`` seconds (default 240: two legacy poll intervals) the CPU of
each server, the polls each exporter made and the scrapes each agent made,
and prints each server's CPU per 1000 PVSes and the ratios between them.
``--profile DIR`` also records each exporter with ``py-spy`` (if on PATH)
over the window; the sampling costs CPU itself, so read its CPU figures
from a run without it.

    python benchmarks/probe_cost.py --pvs 1000 --before /path/to/old/checkout/src

Needs ``prometheus`` on PATH. Every process it starts is stopped at the end;
nothing leaves loopback. The machine is shared: read the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fleet import wait_for_term, write_json
from fleet_sharded import Harness, Proc, free_port, http_text, wait_until

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
    "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
POLLS = re.compile(r'^sunpower_pvs_polls_total\{target="([^"]*)"\} (\S+)$', re.M)
SCRAPES = re.compile(
    r'^prometheus_target_interval_length_seconds_count\{interval="[^"]*"\} (\S+)$', re.M
)
KEEPALIVE = 15.0  # s, the exporter's (web/security.py RequestLimits)


# --- child: the floor ----------------------------------------------------------------


async def serve_floor(bodies_file: str, ready_file: str) -> None:
    """Each target's captured ``/probe`` answer, as bytes, from plain aiohttp."""
    from aiohttp import web

    doc = json.loads(Path(bodies_file).read_text())  # noqa: ASYNC240 (before serving)
    answers = {name: (bytes.fromhex(item["body"]), item["headers"]) for name, item in doc.items()}

    async def probe(request: web.Request) -> web.Response:
        body, headers = answers[request.query["target"]]
        return web.Response(body=body, headers=headers)

    app = web.Application()
    app.router.add_get("/probe", probe)
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=KEEPALIVE)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    write_json(ready_file, {"port": runner.addresses[0][1]})
    await wait_for_term()


# --- the measuring side ----------------------------------------------------------------


def get(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        conn.close()


class Run(Harness):
    """fleet_sharded.py's harness: its simulators, exporter config and Prometheus."""

    def start_exporter(self, name: str, src: Path, config: Path) -> Proc:
        env = {**os.environ, "PYTHONPATH": str(src)}
        where = subprocess.run(
            [sys.executable, "-c", "import sunpower_pvs_exporter as m; print(m.__file__)"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if not Path(where).resolve().is_relative_to(src.resolve()):
            raise RuntimeError(f"{name}: imports {where}, not from {src}")
        port = free_port()
        saved = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = str(src)  # for the child only: this process has imported
        try:
            proc = self.spawn(
                "exporter",
                name,
                [
                    sys.executable, "-m", "sunpower_pvs_exporter", "--config", str(config),
                    "--listen-on", f"127.0.0.1:{port}",
                ],
                port,
            )  # fmt: skip
        finally:
            if saved is None:
                del os.environ["PYTHONPATH"]
            else:
                os.environ["PYTHONPATH"] = saved
        wait_until(
            lambda: proc.alive() and bool(http_text(f"http://127.0.0.1:{port}/-/healthy", 5)),
            f"{name} (see {proc.log})",
            300,
        )
        return proc

    def start_floor(self, source: Proc) -> Proc:
        """Every target's answer as the exporter gives it now, served statically."""
        headers = {"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"}
        bodies = {}
        for site in self.sites:
            status, body, got = get(source.port, f"/probe?target={site.name}", headers)
            if status != 200:
                raise RuntimeError(f"{site.name}: {status}")
            keep = ("Content-Type", "Content-Encoding", "Vary")
            bodies[site.name] = {
                "body": body.hex(),
                "headers": {k: v for k, v in got.items() if k in keep},
            }
        path = self.workdir / "bodies.json"
        path.write_text(json.dumps(bodies))
        ready = self.workdir / "floor.ready"
        proc = self.spawn(
            "floor",
            "floor",
            [sys.executable, __file__, "--serve-floor", str(path), "--ready", str(ready)],
        )
        wait_until(
            lambda: proc.alive() and ready.exists() and ready.read_text() != "",
            f"floor ready (see {proc.log})",
            60,
            0.2,
        )
        proc.port = json.loads(ready.read_text())["port"]
        return proc

    def start_agent(self, server: Proc) -> Proc:
        interval = f"{self.args.scrape_interval:g}s"
        config = {
            "global": {"scrape_interval": interval, "scrape_timeout": "10s"},
            "scrape_configs": [
                {
                    "job_name": "sunpower_probe",
                    "metrics_path": "/probe",
                    "static_configs": [{"targets": [s.name for s in self.sites]}],
                    "relabel_configs": [
                        {"source_labels": ["__address__"], "target_label": "__param_target"},
                        {"source_labels": ["__param_target"], "target_label": "instance"},
                        {"target_label": "__address__", "replacement": f"127.0.0.1:{server.port}"},
                    ],
                }
            ],
        }
        return self.start_prometheus(
            "agents", f"agent-{server.name}", config, "--enable-feature=agent"
        )

    def polls(self, exporter: Proc) -> dict[str, float]:
        text = http_text(f"http://127.0.0.1:{exporter.port}/metrics", 120)
        return {name: float(v) for name, v in POLLS.findall(text)}

    def scrapes(self, agent: Proc) -> float:
        text = http_text(f"http://127.0.0.1:{agent.port}/metrics", 60)
        return sum(float(v) for v in SCRAPES.findall(text))

    def scrape_failures(self, agent: Proc) -> int:
        doc = json.loads(http_text(f"http://127.0.0.1:{agent.port}/api/v1/targets", 60))
        return sum(1 for t in doc["data"]["activeTargets"] if t["health"] != "up")

    def stop(self) -> None:
        """Stop every child, even when one of them will not stop."""
        for proc in reversed(self.procs):
            try:
                proc.stop()
            except subprocess.TimeoutExpired:
                log(f"{proc.name} (pid {proc.process.pid}) would not stop")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def measure(run: Run, args: argparse.Namespace) -> dict[str, Any]:
    run.start_sims()
    sims = next(p for p in run.procs if p.kind == "simulators")
    config = run.write_exporter_config()
    exporters = [run.start_exporter("after", ROOT / "src", config)]
    if args.before:
        exporters.append(run.start_exporter("before", Path(args.before), config))
    log(f"{len(run.sites)} PVSes, exporters {[e.name for e in exporters]} up")
    agents = [run.start_agent(exporter) for exporter in exporters]
    # Every target probed, so polled: on_demand polls what is probed.
    for exporter in exporters:
        wait_until(
            lambda e=exporter: (
                len(polls := run.polls(e)) == len(run.sites) and min(polls.values()) >= 1
            ),
            f"every target polled by {exporter.name}",
            args.scrape_interval * 3 + 120,
            5,
        )
    log("every target polled by every exporter")
    floor = run.start_floor(exporters[0])
    floor_agent = run.start_agent(floor)
    servers = [*exporters, floor]
    agents.append(floor_agent)
    # The floor's agent spreads its first probes over one interval.
    time.sleep(args.scrape_interval + args.settle)

    def mark() -> dict[str, Any]:
        return {
            "t": time.monotonic(),
            "cpu": {p.name: p.cpu_seconds() for p in run.procs},
            "polls": {e.name: sum(run.polls(e).values()) for e in exporters},
            "scrapes": {a.name: run.scrapes(a) for a in agents},
        }

    profilers = []
    if args.profile:
        spy = shutil.which("py-spy")
        if spy is None:
            raise RuntimeError("--profile needs py-spy on PATH")
        Path(args.profile).mkdir(parents=True, exist_ok=True)
        for exporter in exporters:
            out = Path(args.profile) / f"{exporter.name}.txt"
            argv = [
                spy, "record", "--pid", str(exporter.process.pid),
                "--duration", str(int(args.window)), "--rate", "200",
                "--format", "raw", "--nonblocking", "--output", str(out),
            ]  # fmt: skip
            profilers.append(
                subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
    log(f"measuring for {args.window:g} s")
    start = mark()
    time.sleep(args.window)
    end = mark()
    for profiler in profilers:
        try:
            profiler.wait(120)
        except subprocess.TimeoutExpired:
            profiler.kill()
            profiler.wait()
    seconds = end["t"] - start["t"]
    rows = {}
    for server, agent in zip(servers, agents, strict=True):
        cpu = end["cpu"][server.name] - start["cpu"][server.name]
        rows[server.name] = {
            "cpu": cpu,
            "share": cpu / seconds,
            "per_1000": cpu / seconds * 1000 / len(run.sites),
            "scrapes": end["scrapes"][agent.name] - start["scrapes"][agent.name],
            "failed": run.scrape_failures(agent),
            "polls": (
                end["polls"][server.name] - start["polls"][server.name]
                if server.name in end["polls"]
                else 0
            ),
            "rss_mib": server.status_kb("VmRSS") / 1024,
        }
    sims_cpu = (end["cpu"][sims.name] - start["cpu"][sims.name]) / seconds
    return {"seconds": seconds, "rows": rows, "sims_share": sims_cpu}


def report(result: dict[str, Any], args: argparse.Namespace) -> None:
    rows = result["rows"]
    floor = rows["floor"]
    # Per probe: the floor's agent starts last and may scrape less in the window.
    floor_per_probe = max(1000 * floor["cpu"] / max(floor["scrapes"], 1), 1e-9)
    print(
        f"\n{args.pvs} PVSes, every {args.scrape_interval:g} s probed by one agent per server, "
        f"window {result['seconds']:.0f} s, load average {os.getloadavg()[0]:.2f}\n"
    )
    print(
        "| server | CPU, share of one core | per 1000 PVSes | polls | probes (failed) | "
        "CPU per probe + polls | vs floor, per probe | RSS |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, row in rows.items():
        per_probe = 1000 * row["cpu"] / max(row["scrapes"], 1)
        print(
            f"| {name} | {100 * row['share']:.2f} % | {row['per_1000']:.3f} core"
            f" | {row['polls']:.0f} | {row['scrapes']:.0f} ({row['failed']})"
            f" | {per_probe:.2f} ms | {per_probe / floor_per_probe:.2f}×"
            f" | {row['rss_mib']:.0f} MiB |"
        )
    if "before" in rows:
        after, before = rows["after"], rows["before"]
        floor_cpu = floor_per_probe / 1000 * after["scrapes"]
        above = (after["cpu"] - floor_cpu) / max(before["cpu"] - floor_cpu, 1e-9)
        print(
            f"\nafter / before: {after['cpu'] / max(before['cpu'], 1e-9):.2f}× the CPU;"
            f" above the floor: {above:.2f}×"
        )
    print(f"simulators (both exporters' polls): {100 * result['sims_share']:.1f} % of a core")


# Where a sample's stack says the time went, first match wins (py-spy frames
# read "function (path/file.py:line)").
CATEGORIES = (
    ("probe: compressing", ("gzip_if_accepted",)),
    ("probe: rendering", ("metrics_text", "(prometheus_client/")),
    ("probe: handler, other", ("handle_probe",)),
    ("/metrics and status", ("handle_metrics", "handle_status")),
    ("poll: rendering for the cache", ("_prerender", "refresh (sunpower_pvs_exporter/metrics")),
    ("poll: parsing and mapping", ("/pvs/legacy_parse", "/pvs/varserver_parse", "json")),
    ("poll: TLS", ("(ssl.py", "sslproto")),
    ("poll: HTTP client", ("aiohttp/client", "aiohttp/connector", "/pvs/transport")),
    ("poll: other", ("/poller.py",)),
    ("HTTP server: connections, parsing, writing", ("aiohttp/web_", "/web/connections")),
    ("event loop, other", ("",)),
)


def summarise(path: Path, top: int = 25) -> str:
    """A py-spy ``raw`` (collapsed stacks) file: the share of samples by
    category and the functions with the most samples, inclusive and self."""
    samples = 0
    by_category: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        samples += count
        frames = stack.split(";")
        category = next(name for name, marks in CATEGORIES if any(m in stack for m in marks))
        by_category[category] = by_category.get(category, 0) + count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
        own[frames[-1]] = own.get(frames[-1], 0) + count
    out = [f"{path.name}: {samples} samples"]
    for name, _ in CATEGORIES:
        if name in by_category:
            out.append(f"  {100 * by_category[name] / samples:5.1f} %  {name}")
    for title, table in (("inclusive", inclusive), ("self", own)):
        out.append(f"  top {top}, {title}:")
        for frame, count in sorted(table.items(), key=lambda kv: -kv[1])[:top]:
            out.append(f"  {100 * count / samples:5.1f} %  {frame[:150]}")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pvs", type=int, default=1000)
    parser.add_argument("--before", help="another checkout's src directory, measured beside")
    parser.add_argument("--varserver-every", type=int, default=3, help="every Nth site varserver")
    parser.add_argument("--big-every", type=int, default=10, help="every Nth site 30 inverters")
    parser.add_argument("--per-process", type=int, default=1000, help="PVSes per simulator")
    parser.add_argument("--scrape-interval", type=float, default=60.0)
    parser.add_argument("--idle-after", type=float, default=300.0, help="the exporters' idle_after")
    parser.add_argument("--request-histograms", choices=("on", "off"), default="off")
    parser.add_argument("--settle", type=float, default=10.0)
    parser.add_argument("--window", type=float, default=240.0)
    parser.add_argument("--profile", help="py-spy each exporter over the window into this dir")
    parser.add_argument("--summarise", nargs="+", help="summarise py-spy raw files and stop")
    parser.add_argument("--serve-floor", help=argparse.SUPPRESS)
    parser.add_argument("--ready", help=argparse.SUPPRESS)
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.summarise:
        print("\n\n".join(summarise(Path(p)) for p in args.summarise))
        return 0
    if args.serve_floor:
        asyncio.run(serve_floor(args.serve_floor, args.ready))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        run = Run(args, Path(tmp))
        try:
            result = measure(run, args)
        finally:
            run.stop()
    report(result, args)
    if args.profile:
        for path in sorted(Path(args.profile).glob("*.txt")):
            print("\n" + summarise(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
