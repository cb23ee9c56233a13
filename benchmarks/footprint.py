"""Footprint of a single-site exporter, next to the floor of its stack.

The floor is what any exporter on aiohttp + prometheus_client pays: a bare
process that has run ``import aiohttp.web, prometheus_client``, and for
serving, an aiohttp server on that import. Everything is measured side by side
in one run, on 127.0.0.1, against one simulated PVS (20 inverters):

* ``--version``: wall time of ``sunpower-pvs-exporter --version`` (goal <= 0.2 s),
  next to ``python -c pass`` and to the floor's import;
* RSS with one target, after its first poll (goal <= floor + 4 MiB);
* start to the first served ``/metrics`` (goal <= 0.5 s), next to the floor
  server's start to its first response, and the CPU time each had used by
  then (what the start costs on an idle machine, less the disk);
* scrape cost: ``/metrics`` of that site on a keep-alive connection, against
  aiohttp serving the same device bytes statically plus prometheus_client's
  process, platform and GC collectors rendered per request (goal <= 1.3x).

    python benchmarks/footprint.py [--runs 7] [--no-bytecode-cache]

Every child runs with a bytecode cache (``PYTHONPYCACHEPREFIX``, a temporary
directory warmed by one discarded round), as an installed package does: pip
compiles at install time. Without it (this session's environment sets
``PYTHONDONTWRITEBYTECODE=1`` and the package is an editable install), each
start compiled the exporter's modules (~10 000 lines) again -- time and RSS that no
installed exporter pays, while the floor's site-packages had their ``.pyc``.
``--no-bytecode-cache`` measures that way again, for comparison.

The machine is shared: read the ratios, not the absolute times; the load
average is printed at the start and the end of the run.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PYTHON = sys.executable
UP = re.compile(rb"^sunpower_pvs_up\{[^}]*\} 1\.0$", re.M)
FLOOR_IMPORT = "import aiohttp.web, prometheus_client"
# The floor server: aiohttp answering /metrics with prometheus_client's
# process/platform/GC collectors rendered per request, followed by static
# bytes (the device metrics) read from the file named in argv[2].
FLOOR_SERVER = """
import sys, aiohttp.web as web, prometheus_client
from prometheus_client import generate_latest, REGISTRY
static = open(sys.argv[2], 'rb').read() if len(sys.argv) > 2 else b''
async def metrics(request):
    return web.Response(body=generate_latest(REGISTRY) + static,
                        content_type='text/plain', charset='utf-8')
app = web.Application()
app.router.add_get('/metrics', metrics)
web.run_app(app, host='127.0.0.1', port=int(sys.argv[1]), print=None, access_log=None)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def bare_import_rss_kb(workdir: Path) -> int:
    """RSS of a process that ran ``import aiohttp.web, prometheus_client`` and waits."""
    ready = workdir / "bare.ready"
    ready.unlink(missing_ok=True)
    code = (
        f"{FLOOR_IMPORT}\nimport pathlib, time\n"
        f"pathlib.Path({str(ready)!r}).touch()\ntime.sleep(60)"
    )
    process = subprocess.Popen([PYTHON, "-c", code], env=CHILD_ENV)
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)
        return rss_kb(process.pid)
    finally:
        process.kill()
        process.wait()


# The environment every measured child runs in (set by main).
CHILD_ENV: dict[str, str] = dict(os.environ)


def child_env(pycache: Path | None) -> dict[str, str]:
    """The children's environment: with a bytecode cache in ``pycache``, or none."""
    env = dict(os.environ)
    if pycache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def wall(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, timeout=60, env=CHILD_ENV)
    return time.perf_counter() - started


def cpu_seconds(pid: int) -> float:
    """CPU time all of ``pid``'s threads have run so far (schedstat: nanoseconds)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


# pid -> CPU seconds it had used when its first /metrics answer arrived: on a
# shared machine the wall time to it grows with the load, its CPU time much less.
FIRST_CPU: dict[int, float] = {}


def first_response(args: list[str], port: int, timeout: float = 30.0) -> tuple[float, int]:
    """Seconds from spawning ``args`` to its first 200 on /metrics; leaves it running."""
    started = time.perf_counter()
    process = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=CHILD_ENV
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/metrics")
            if conn.getresponse().status == 200:
                seconds = time.perf_counter() - started
                FIRST_CPU[process.pid] = cpu_seconds(process.pid)
                return seconds, process.pid
        except OSError:
            time.sleep(0.002)
    process.kill()
    raise RuntimeError(f"no /metrics from {args}")


def stop(pid: int) -> None:
    os.kill(pid, 15)
    with_deadline = time.monotonic() + 10
    while time.monotonic() < with_deadline:
        try:
            os.waitpid(pid, os.WNOHANG)
            os.kill(pid, 0)
        except (ChildProcessError, ProcessLookupError):
            return
        time.sleep(0.02)
    os.kill(pid, 9)


def scrape_times(port: int, count: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    times = []
    for index in range(count + 5):
        started = time.perf_counter()
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        response.read()
        assert response.status == 200
        if index >= 5:
            times.append(time.perf_counter() - started)
    return times


# The API the simulated PVS speaks and the exporter reads (--api).
API = "legacy"


def start_simulator(port: int) -> subprocess.Popen[bytes]:
    """The simulated PVS; with the varserver API, ``port`` is its HTTPS port."""
    command = [PYTHON, "-m", "sunpower_pvs_exporter.simulator.cli", "--port", str(port)]
    if API == "varserver":
        command[-1] = "0"
        command += ["--api", "varserver", "--tls-port", str(port)]
    sim = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return sim
        except OSError:
            if time.monotonic() > deadline:
                sim.kill()
                raise
            time.sleep(0.05)


def exporter_args(sim_port: int, port: int) -> list[str]:
    over_tls = ["--use-tls", "--api", "varserver"] if API == "varserver" else []
    return [
        PYTHON,
        "-m",
        "sunpower_pvs_exporter",
        "--hostname",
        "127.0.0.1",
        "--port",
        str(sim_port),
        "--listen-on",
        f"127.0.0.1:{port}",
        "--log-level",
        "ERROR",
        *over_tls,
    ]


def run_exporter(sim_port: int) -> tuple[float, float, int, int, bytes]:
    """Start one exporter: (seconds to its first /metrics, CPU seconds used by
    then, RSS after its first poll, its port, that /metrics body); it is left
    running (its pid is ``PIDS[-1]``)."""
    port = free_port()
    seconds, pid = first_response(exporter_args(sim_port, port), port)
    PIDS.append(pid)
    # After the first poll: the device metrics are there.
    deadline = time.monotonic() + 30
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/metrics")
        body = conn.getresponse().read()
        if UP.search(body):
            break
        if time.monotonic() > deadline:
            raise RuntimeError("the exporter never polled the simulator")
        time.sleep(0.1)
    time.sleep(0.5)
    return seconds, FIRST_CPU[pid], rss_kb(pid), port, body


def run_floor_server() -> tuple[float, int, float]:
    """The floor server's seconds to its first /metrics, its RSS, and the CPU
    seconds it had used at that first answer; then stopped."""
    port = free_port()
    seconds, pid = first_response([PYTHON, "-c", FLOOR_SERVER, str(port)], port)
    time.sleep(0.5)
    rss = rss_kb(pid)
    stop(pid)
    return seconds, rss, FIRST_CPU[pid]


PIDS: list[int] = []


def main() -> int:
    global CHILD_ENV, API
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--scrapes", type=int, default=400)
    parser.add_argument(
        "--api",
        choices=["legacy", "varserver"],
        default="legacy",
        help="the one target's API: legacy dl_cgi over HTTP, or varserver over HTTPS",
    )
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="children compile every module at every start (PYTHONDONTWRITEBYTECODE=1)",
    )
    args = parser.parse_args()
    API = args.api
    exporter = [PYTHON, "-m", "sunpower_pvs_exporter"]
    results: dict[str, float] = {"load_start": os.getloadavg()[0]}

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        CHILD_ENV = child_env(None if args.no_bytecode_cache else workdir / "pycache")
        sim_port = free_port()
        sim = start_simulator(sim_port)
        try:
            # --- one discarded round: fills the bytecode cache --------------------
            for command in ([PYTHON, "-c", FLOOR_IMPORT], [*exporter, "--version"]):
                wall(command)
            run_floor_server()
            run_exporter(sim_port)
            stop(PIDS.pop())

            # --- --version, interleaved with the references -----------------------
            pass_t, floor_t, version_t = [], [], []
            for _ in range(args.runs):
                pass_t.append(wall([PYTHON, "-c", "pass"]))
                floor_t.append(wall([PYTHON, "-c", FLOOR_IMPORT]))
                version_t.append(wall([*exporter, "--version"]))
            results["python_pass"] = statistics.median(pass_t)
            results["floor_import"] = statistics.median(floor_t)
            results["version"] = statistics.median(version_t)

            # --- start and RSS: the floor server first, then ours, alternating ----
            starts, floor_starts, rss, floor_rss, cpu, floor_cpu = [], [], [], [], [], []
            device_bytes = b""
            ours_port = 0
            for run in range(max(3, args.runs // 2)):
                seconds, kb, used = run_floor_server()
                floor_starts.append(seconds)
                floor_cpu.append(used)
                floor_rss.append(kb)
                seconds, used, kb, port, body = run_exporter(sim_port)
                starts.append(seconds)
                cpu.append(used)
                rss.append(kb)
                if run == 0:
                    start = body.find(b"# HELP sunpower_pvs_supervisor")
                    device_bytes = body[start:] if start >= 0 else b""
                    ours_port = port  # kept running for the scrape cost
                else:
                    stop(PIDS.pop())
            results["start_to_metrics"] = statistics.median(starts)
            results["start_to_metrics_max"] = max(starts)
            results["floor_start"] = statistics.median(floor_starts)
            results["start_cpu"] = statistics.median(cpu)
            results["floor_start_cpu"] = statistics.median(floor_cpu)
            results["floor_start_max"] = max(floor_starts)
            results["rss_kb"] = statistics.median(rss)
            results["floor_server_rss_kb"] = statistics.median(floor_rss)
            results["floor_rss_kb"] = statistics.median(
                [bare_import_rss_kb(workdir) for _ in range(3)]
            )

            # --- scrape cost, interleaved with the floor server ----------------------
            device_file = workdir / "device.prom"
            device_file.write_bytes(device_bytes)
            floor_port = free_port()
            _, floor_pid = first_response(
                [PYTHON, "-c", FLOOR_SERVER, str(floor_port), str(device_file)], floor_port
            )
            ours, floor = [], []
            for _ in range(5):
                floor.extend(scrape_times(floor_port, args.scrapes // 5))
                ours.extend(scrape_times(ours_port, args.scrapes // 5))
            results["scrape"] = statistics.median(ours)
            results["scrape_floor"] = statistics.median(floor)
            results["device_bytes"] = len(device_bytes)
            stop(floor_pid)
        finally:
            while PIDS:
                stop(PIDS.pop())
            sim.terminate()
            sim.wait(10)
    results["load_end"] = os.getloadavg()[0]

    mib = 1024.0
    print(json.dumps(results), file=sys.stderr)
    cache = "no bytecode cache" if args.no_bytecode_cache else "bytecode cached"
    print(
        f"{args.api} target; {cache}; "
        f"load average (1 min) {results['load_start']:.2f} at the start, "
        f"{results['load_end']:.2f} at the end; medians of {len(starts)} starts "
        f"(slowest: ours {results['start_to_metrics_max'] * 1000:.0f} ms, "
        f"floor {results['floor_start_max'] * 1000:.0f} ms)\n"
    )
    print("| measure | ours | floor | ratio / difference | goal |")
    print("|---|---|---|---|---|")
    print(
        f"| `--version` | {results['version'] * 1000:.0f} ms | "
        f"`python -c pass` {results['python_pass'] * 1000:.0f} ms; "
        f"`{FLOOR_IMPORT}` {results['floor_import'] * 1000:.0f} ms | "
        f"{results['version'] / results['floor_import']:.2f}× the floor import | ≤ 200 ms |"
    )
    print(
        f"| RSS, one target polled | {results['rss_kb'] / mib:.1f} MiB | "
        f"{results['floor_rss_kb'] / mib:.1f} MiB (bare import; floor server "
        f"{results['floor_server_rss_kb'] / mib:.1f} MiB) | "
        f"+{(results['rss_kb'] - results['floor_rss_kb']) / mib:.1f} MiB | ≤ floor + 4 MiB |"
    )
    print(
        f"| start → first /metrics | {results['start_to_metrics'] * 1000:.0f} ms | "
        f"{results['floor_start'] * 1000:.0f} ms (floor server) | "
        f"{results['start_to_metrics'] / results['floor_start']:.2f}× | ≤ 500 ms |"
    )
    print(
        f"| CPU used by the first /metrics | {results['start_cpu'] * 1000:.0f} ms | "
        f"{results['floor_start_cpu'] * 1000:.0f} ms (floor server) | "
        f"{results['start_cpu'] / results['floor_start_cpu']:.2f}× | (what the start "
        "costs without waiting for the CPU) |"
    )
    print(
        f"| /metrics, keep-alive, {results['device_bytes'] / 1024:.0f} KB of device metrics | "
        f"{results['scrape'] * 1000:.3f} ms | {results['scrape_floor'] * 1000:.3f} ms "
        f"(static bytes + process/platform/GC collectors) | "
        f"{results['scrape'] / results['scrape_floor']:.2f}× | ≤ 1.3× |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
