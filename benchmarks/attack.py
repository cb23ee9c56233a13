"""Attacks on the exporter's own web port, against a real exporter process.

Starts ``python -m sunpower_pvs_exporter --demo`` (the built-in simulated
PVS, 20 inverters) on 127.0.0.1 with a web config, then plays an attacker on
the local network and a real user side by side, and prints what the user
saw. Attackers connect from 127.0.0.2 (another host, as far as the exporter
can tell); the user from 127.0.0.1. Everything stays on loopback; every loop
is bounded in count and time.

1. Wrong-password flood (basic auth, bcrypt cost 10): 50 / 300 / 500
   connections sending wrong passwords as fast as they are answered. Measured:
   a cached user's scrape latency (p50/p99), and how long a new valid user
   (not in the credential cache) waits for its first 200.
   The attackers run in a process of their own, so that answering their
   refusals does not slow this process's timing of the user's scrapes.
2. Connection flood (TLS): 2000 idle TCP connections plus 500 idle TLS
   connections, then 60 real scrapes on new TLS connections (5 s timeout
   each). Measured: failed scrapes, and the exporter's memory growth.
   The attacker opens them in batches of 100 a second, just under the
   per-address connection rate (``web_max_connection_rate``, 100): faster,
   most would be closed at accept and the exporter would hold fewer.
3. Bodies, URLs, headers: a POST declaring 100 MB (how much is sent before
   the answer, and which answer), an 100 KB URL, a 20 KB header.
4. Connection-rate flood: a separate process opens new connections from
   127.0.0.2 as fast as it can (50 at a time; one ``/-/healthy`` request on
   each, then close), over plain HTTP and TLS, while a Prometheus-like
   scraper on 127.0.0.1 scrapes ``/metrics`` over one keep-alive connection
   every 0.1 s. Measured: the scraper's p50/p99 with no flood, with the
   flood and the limit off (``--web.max-connection-rate 0``), and with the
   flood and the default limit; and what the flood got through.
   On a machine with two CPUs or more, the exporter and the scraper are
   pinned to one CPU and the flooding process to another (``--no-pin``: all
   share every CPU): a flood from another host costs the exporter its
   ``accept``s and handshakes, not the flooding client's own CPU. The
   scraper shares the exporter's CPU rather than the flooder's: its few
   scrapes a second cost little, and timed beside the flood its stopwatch
   would wait for the flooder's CPU, not the exporter. ``--nice -10`` also
   runs the exporter and the scraper before other jobs on their CPU (root
   only): the exporter as on a host of its own, the flooder as it was.

The exporter runs with a soft limit of 1024 open files, the usual default
outside systemd (the unit raises it: ``LimitNOFILE``); this process raises
its own soft limit to hold the attack's connections and prints both.

    python benchmarks/attack.py                 # the code in this checkout
    python benchmarks/attack.py --src OTHER/src # another checkout (e.g. before a fix)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import json
import os
import resource
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt

USER_HOST = "127.0.0.1"
ATTACKER_HOST = "127.0.0.2"
EXPORTER_FD_LIMIT = 1024
PASSWORD = "correct horse battery staple"
NEW_USERS = 5
BCRYPT_COST = 10


# --- a minimal HTTP/1.1 client over asyncio streams (cheap enough for 2500 connections) ---


@dataclass
class Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.transport.abort()


async def connect(
    port: int, source: str, context: ssl.SSLContext | None = None, limit: float = 5.0
) -> Connection:
    async with asyncio.timeout(limit):
        reader, writer = await asyncio.open_connection(
            USER_HOST,
            port,
            local_addr=(source, 0),
            ssl=context,
            server_hostname="localhost" if context else None,
        )
    return Connection(reader, writer)


def request_bytes(path: str, auth: str | None = None, close: bool = False) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: exporter"]
    if auth is not None:
        lines.append(f"Authorization: Basic {auth}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def exchange(conn: Connection, data: bytes, limit: float = 30.0) -> int:
    """Send one request, read the whole answer; the status code."""
    async with asyncio.timeout(limit):
        conn.writer.write(data)
        await conn.writer.drain()
        head = await conn.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        if length:
            await conn.reader.readexactly(length)
        return status


def basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


# --- the exporter process -------------------------------------------------------------------


@dataclass
class Exporter:
    process: subprocess.Popen[bytes]
    port: int
    tls: bool

    def rss_kb(self) -> int:
        return _status_kb(self.process.pid, "VmRSS")

    def open_files(self) -> int:
        try:
            return len(os.listdir(f"/proc/{self.process.pid}/fd"))
        except OSError:
            return -1

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((USER_HOST, 0))
        return int(sock.getsockname()[1])


def make_web_config(directory: Path, tls: bool, auth: bool) -> Path:
    lines = []
    if tls:
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", "/CN=localhost", "-keyout", str(directory / "server.key"),
                "-out", str(directory / "server.crt"),
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        lines += [
            "tls_server_config:",
            f"  cert_file: {directory / 'server.crt'}",
            f"  key_file: {directory / 'server.key'}",
        ]
    if auth:
        lines.append("basic_auth_users:")
        for user in ["prometheus"] + [f"new{i}" for i in range(NEW_USERS)]:
            hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(BCRYPT_COST)).decode()
            lines.append(f"  {user}: '{hashed}'")
    path = directory / f"web-{'tls' if tls else 'plain'}-{'auth' if auth else 'open'}.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _exporter_limits() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(EXPORTER_FD_LIMIT, hard), hard))
    if NICE["exporter"]:
        os.setpriority(os.PRIO_PROCESS, 0, NICE["exporter"])


NICE = {"exporter": 0}  # --nice: the exporter's (and the scraper's) scheduling priority


def pinned(cpus: set[int] | None, then: Callable[[], None] | None = None) -> Callable[[], None]:
    """A ``preexec_fn``: the child (and every thread it starts) runs on ``cpus`` only."""

    def preexec() -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)
        if then is not None:
            then()

    return preexec


def cpu_split() -> tuple[set[int], set[int]] | None:
    """(exporter and scraper, flooder): the first CPU this process may use, and the rest."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    return {cpus[0]}, set(cpus[1:])


def spawn_exporter(
    src: str | None,
    web_config: Path,
    port: int,
    extra: tuple[str, ...] = (),
    cpus: set[int] | None = None,
) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    return subprocess.Popen(
        [
            sys.executable, "-m", "sunpower_pvs_exporter", "--demo",
            "--listen-on", f"{USER_HOST}:{port}", "--web.config.file", str(web_config),
            "--log-level", "ERROR", *extra,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=pinned(cpus, _exporter_limits),
    )  # fmt: skip


async def start_exporter(
    src: str | None,
    web_config: Path,
    tls: bool,
    extra: tuple[str, ...] = (),
    cpus: set[int] | None = None,
) -> Exporter:
    port = free_port()
    exporter = Exporter(spawn_exporter(src, web_config, port, extra, cpus), port, tls)
    context = client_context(web_config.parent) if tls else None
    for _ in range(200):
        with contextlib.suppress(OSError, TimeoutError, asyncio.IncompleteReadError):
            conn = await connect(port, USER_HOST, context)
            try:
                await exchange(conn, request_bytes("/-/healthy", close=True), limit=5)
                await asyncio.sleep(1.0)  # let the first poll finish
                return exporter
            finally:
                conn.close()
        await asyncio.sleep(0.1)
    exporter.stop()
    raise RuntimeError("the exporter did not start")


def client_context(directory: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(directory / "server.crt"))


# --- attack 1: wrong-password flood ---------------------------------------------------------


@dataclass
class FloodStats:
    sent: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    connected: int = 0  # attacking connections open now


async def password_flood(port: int, stop: asyncio.Event, stats: FloodStats) -> None:
    """One attacking connection: wrong passwords, as fast as answers come, reconnecting."""
    data = request_bytes("/metrics", basic("prometheus", "wrong password"))
    while not stop.is_set():
        try:
            conn = await connect(port, ATTACKER_HOST)
        except (OSError, TimeoutError):
            stats.errors += 1
            await asyncio.sleep(0.05)
            continue
        stats.connected += 1
        try:
            while not stop.is_set():
                status = await exchange(conn, data, limit=60)
                stats.sent += 1
                stats.statuses[status] = stats.statuses.get(status, 0) + 1
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            stats.errors += 1
        finally:
            stats.connected -= 1
            conn.close()


async def flood_passwords(port: int, attackers: int) -> None:
    """The attacking process: ``connected N`` once every connection is open (or
    after 15 s), then the flood until a line on stdin; then its stats as JSON."""
    stop = asyncio.Event()
    stats = FloodStats()
    tasks = [asyncio.create_task(password_flood(port, stop, stats)) for _ in range(attackers)]
    for _ in range(150):
        if stats.connected >= attackers:
            break
        await asyncio.sleep(0.1)
    print(f"connected {stats.connected}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    stop.set()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(10):
            await asyncio.gather(*tasks, return_exceptions=True)
    stats.connected = 0
    print(json.dumps(dataclasses.asdict(stats)), flush=True)


async def timed(request: Callable[[], Awaitable[int]]) -> tuple[float, int]:
    started = time.perf_counter()
    try:
        status = await request()
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
        status = 0
    return time.perf_counter() - started, status


async def run_password_flood(src: str | None, directory: Path, attackers: int) -> dict[str, str]:
    web_config = make_web_config(directory, tls=False, auth=True)
    exporter = await start_exporter(src, web_config, tls=False)
    try:
        user = await connect(exporter.port, USER_HOST)
        known = request_bytes("/metrics", basic("prometheus", PASSWORD))
        assert await exchange(user, known) == 200  # now cached
        # The attacker is another process (another host, as far as CPU goes):
        # its event loop answering hundreds of refusals must not delay this
        # one's timing of the user's scrapes. It says when every attacking
        # connection is open (the exporter admits 100 new connections a second
        # from one address); then the flood runs 3 s before measuring.
        flood = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--flood-passwords", str(exporter.port),
            "--attackers", str(attackers),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert flood.stdout is not None and flood.stdin is not None
        connected = int((await flood.stdout.readline()).split()[1])
        await asyncio.sleep(3.0)
        latencies = []
        statuses = []
        reconnects = 0
        for _ in range(100):
            # Keep-alive like Prometheus; a connection the exporter closed is
            # reopened and the scrape retried (Go's HTTP client does the same).
            elapsed, status = await timed(lambda c=user: exchange(c, known, limit=30))
            if status == 0:
                reconnects += 1
                user.close()
                started = time.perf_counter()
                user = await connect(exporter.port, USER_HOST)
                _retry, status = await timed(lambda c=user: exchange(c, known, limit=30))
                elapsed += time.perf_counter() - started
            latencies.append(elapsed)
            statuses.append(status)
            await asyncio.sleep(0.1)
        new_user_waits = []
        for i in range(NEW_USERS):
            # A new client, as Prometheus would be after a restart: retries on 429
            # after Retry-After, like a patient client; the time to its first 200.
            data = request_bytes("/metrics", basic(f"new{i}", PASSWORD))
            started = time.perf_counter()
            got = 0
            for _ in range(60):
                conn = await connect(exporter.port, USER_HOST)
                try:
                    got = await exchange(conn, data, limit=30)
                except (OSError, TimeoutError, asyncio.IncompleteReadError):
                    got = 0
                finally:
                    conn.close()
                if got == 200 or time.perf_counter() - started > 30:
                    break
                await asyncio.sleep(1.0)
            new_user_waits.append((time.perf_counter() - started, got))
        flood.stdin.write(b"stop\n")
        await flood.stdin.drain()
        stats = FloodStats(**json.loads(await flood.stdout.read()))
        await flood.wait()
        user.close()
    finally:
        exporter.stop()
    latencies.sort()
    ok = statuses.count(200)
    waits = [w for w, _ in new_user_waits]
    answers = ", ".join(f"{k}: {v}" for k, v in sorted(stats.statuses.items()))
    verified = all(s == 200 for _, s in new_user_waits)
    return {
        "attackers (connected)": f"{attackers} ({connected})",
        "attack requests": f"{stats.sent} ({answers})",
        "cached user 200s": f"{ok}/{len(statuses)} ({reconnects} reconnects)",
        "cached user p50": f"{statistics.median(latencies) * 1000:.1f} ms",
        "cached user p99": f"{latencies[int(len(latencies) * 0.99) - 1] * 1000:.1f} ms",
        "cached user max": f"{latencies[-1] * 1000:.1f} ms",
        "new user verified in (median, max)": f"{statistics.median(waits):.2f} s, "
        f"{max(waits):.2f} s" + ("" if verified else " (NOT all verified)"),
    }  # fmt: skip


# --- attack 2: connection flood ----------------------------------------------------------------


# The attacker's pace: one batch of this many connections a second, just
# under the exporter's default web_max_connection_rate.
IDLE_BATCH = 100


async def hold_idle(port: int, count: int, context: ssl.SSLContext | None) -> list[Connection]:
    held: list[Connection] = []
    failures = 0
    for start in range(0, count, IDLE_BATCH):
        if start:
            await asyncio.sleep(1.05)
        size = min(count, start + IDLE_BATCH) - start
        batch = await asyncio.gather(
            *(connect(port, ATTACKER_HOST, context, limit=10) for _ in range(size)),
            return_exceptions=True,
        )
        for item in batch:
            if isinstance(item, Connection):
                held.append(item)
            else:
                failures += 1
    return held


async def run_connection_flood(src: str | None, directory: Path) -> dict[str, str]:
    web_config = make_web_config(directory, tls=True, auth=False)
    exporter = await start_exporter(src, web_config, tls=True)
    context = client_context(directory)
    held: list[Connection] = []
    try:
        rss_before = exporter.rss_kb()
        peak = rss_before
        held += await hold_idle(exporter.port, 2000, None)
        peak = max(peak, exporter.rss_kb())
        held += await hold_idle(exporter.port, 500, context)
        peak = max(peak, exporter.rss_kb())
        failed = 0
        latencies = []
        for _ in range(60):

            async def scrape() -> int:
                conn = await connect(exporter.port, USER_HOST, context, limit=5)
                try:
                    return await exchange(conn, request_bytes("/metrics", close=True), limit=5)
                finally:
                    conn.close()

            elapsed, status = await timed(scrape)
            peak = max(peak, exporter.rss_kb())
            if status != 200:
                failed += 1
            else:
                latencies.append(elapsed)
            await asyncio.sleep(0.05)
        open_files = exporter.open_files()
        peak = max(peak, exporter.rss_kb())
    finally:
        for conn in held:
            conn.close()
        exporter.stop()
    latencies.sort()
    return {
        "failed scrapes": f"{failed}/60",
        "scrape p50 / max": (
            f"{statistics.median(latencies) * 1000:.0f} ms / {latencies[-1] * 1000:.0f} ms"
            if latencies
            else "-"
        ),
        "attack connections made": str(len(held)),
        "exporter open files at the end": str(open_files),
        "memory growth (peak RSS - RSS before)": f"{(peak - rss_before) / 1024:.1f} MB",
    }


# --- attack 3: bodies, URLs, headers -------------------------------------------------------------


async def run_size_attacks(src: str | None, directory: Path) -> dict[str, str]:
    web_config = make_web_config(directory, tls=False, auth=False)
    exporter = await start_exporter(src, web_config, tls=False)
    results: dict[str, str] = {}
    try:
        conn = await connect(exporter.port, ATTACKER_HOST)
        size = 100 * 1024 * 1024
        conn.writer.write(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
        sent = 0
        chunk = b"z" * 65536
        started = time.perf_counter()
        answer = b""
        read = asyncio.create_task(conn.reader.read(200))
        try:
            while sent < size and not read.done() and time.perf_counter() - started < 60:
                conn.writer.write(chunk)
                sent += len(chunk)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.001):
                        await conn.writer.drain()
            async with asyncio.timeout(30):
                answer = await read
        except (OSError, TimeoutError):
            pass
        elapsed = time.perf_counter() - started
        # Does the exporter keep reading (draining) the body after answering?
        drained = 0
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(15):
                while drained < size - sent:
                    conn.writer.write(chunk)
                    await conn.writer.drain()
                    drained += len(chunk)
        conn.close()
        status = answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/") else "none"
        results["100 MB body"] = (
            f"{status} after {elapsed:.2f} s; then {drained / 1024 / 1024:.0f} MB more "
            "accepted before the connection closed"
        )
        for name, data in (
            ("100 KB URL", b"GET /" + b"p" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
            ("20 KB header", b"GET / HTTP/1.1\r\nX-A: " + b"a" * 20_000 + b"\r\n\r\n"),
            ("100 headers", b"GET / HTTP/1.1\r\n" + b"X-A: v\r\n" * 100 + b"\r\n"),
        ):
            conn = await connect(exporter.port, ATTACKER_HOST)
            try:
                conn.writer.write(data)
                async with asyncio.timeout(10):
                    head = await conn.reader.read(100)
                results[name] = head.split(b" ", 2)[1].decode() if head else "closed"
            except (OSError, TimeoutError):
                results[name] = "error"
            finally:
                conn.close()
    finally:
        exporter.stop()
    return results


# --- attack 4: a flood of new connections from one address ---------------------------------


async def flood_connections(
    port: int, tls_dir: str | None, seconds: float, tasks: int
) -> dict[str, int]:
    """The flooding process: new connections from ATTACKER_HOST for ``seconds``."""
    context = client_context(Path(tls_dir)) if tls_dir else None
    counts = {"attempts": 0, "answered": 0, "closed": 0}
    deadline = time.monotonic() + seconds
    data = request_bytes("/-/healthy", close=True)

    async def one_task() -> None:
        while time.monotonic() < deadline:
            counts["attempts"] += 1
            try:
                conn = await connect(port, ATTACKER_HOST, context, limit=5)
            except (OSError, TimeoutError, ssl.SSLError):
                counts["closed"] += 1
                continue
            try:
                await exchange(conn, data, limit=5)
                counts["answered"] += 1
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
                counts["closed"] += 1
            finally:
                conn.close()

    await asyncio.gather(*(one_task() for _ in range(tasks)))
    return counts


FLOOD_TASKS = 50
FLOOD_SCRAPES = 100


async def scrape_latencies(port: int, context: ssl.SSLContext | None) -> tuple[list[float], int]:
    """``FLOOD_SCRAPES`` scrapes of /metrics from USER_HOST on one keep-alive connection."""
    user = await connect(port, USER_HOST, context, limit=30)
    data = request_bytes("/metrics")
    latencies, failed = [], 0
    try:
        for _ in range(FLOOD_SCRAPES):
            elapsed, status = await timed(lambda c=user: exchange(c, data, limit=30))
            if status != 200:
                failed += 1
                user.close()
                user = await connect(port, USER_HOST, context, limit=30)
            else:
                latencies.append(elapsed)
            await asyncio.sleep(0.1)
    finally:
        user.close()
    return sorted(latencies), failed


def spawn_flooder(
    port: int, seconds: float, tls_dir: Path | None, cpus: set[int] | None = None
) -> subprocess.Popen[bytes]:
    tls = ["--flood-tls", str(tls_dir)] if tls_dir else []
    return subprocess.Popen(
        [
            sys.executable, __file__, "--flood-connections", str(port),
            "--flood-seconds", str(seconds), *tls,
        ],
        stdout=subprocess.PIPE,
        preexec_fn=pinned(cpus, lambda: os.setpriority(os.PRIO_PROCESS, 0, 0)),
    )  # fmt: skip


async def run_connection_rate(
    src: str | None,
    directory: Path,
    tls: bool,
    limit: int | None,
    flood: bool,
    split: tuple[set[int], set[int]] | None,
) -> dict[str, str]:
    web_config = make_web_config(directory, tls=tls, auth=False)
    extra = () if limit is None else ("--web.max-connection-rate", str(limit))
    own_cpus, flood_cpus = split if split else (None, None)
    exporter = await start_exporter(src, web_config, tls=tls, extra=extra, cpus=own_cpus)
    context = client_context(directory) if tls else None
    flooder = None
    counts: dict[str, int] = {}
    seconds = FLOOD_SCRAPES * 0.13 + 5
    load = os.getloadavg()[0]
    try:
        if flood:
            flooder = spawn_flooder(exporter.port, seconds, directory if tls else None, flood_cpus)
            await asyncio.sleep(2.0)  # the flood at full speed
        cpu0 = _cpu_seconds(exporter.process.pid)
        started = time.monotonic()
        latencies, failed = await scrape_latencies(exporter.port, context)
        cpu = (_cpu_seconds(exporter.process.pid) - cpu0) / (time.monotonic() - started)
        if flooder is not None:
            out, _ = flooder.communicate(timeout=seconds + 30)
            counts = {k: int(v) for k, v in (item.split("=") for item in out.decode().split())}
    finally:
        if flooder is not None and flooder.poll() is None:
            flooder.kill()
        exporter.stop()
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)] if latencies else float("nan")
    return {
        "transport": "TLS" if tls else "HTTP",
        "flood from 127.0.0.2": (
            "none" if not flood else ("limit off" if limit == 0 else "default limit")
        ),
        "flood connections/s (answered)": (
            f"{counts['attempts'] / seconds:.0f} ({counts['answered'] / seconds:.0f})"
            if counts
            else "-"
        ),
        "scraper p50": f"{statistics.median(latencies) * 1000:.1f} ms" if latencies else "-",
        "scraper p99": f"{p99 * 1000:.1f} ms",
        "scraper max": f"{latencies[-1] * 1000:.1f} ms" if latencies else "-",
        "failed scrapes": f"{failed}/{FLOOD_SCRAPES}",
        "exporter CPU": f"{100 * cpu:.0f} %",
        "load": f"{load:.1f}",
    }


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def print_table(title: str, rows: list[dict[str, str]]) -> None:
    print(f"\n{title}")
    if not rows:
        return
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(row.get(k, "") for k in keys) + " |")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", help="PYTHONPATH for the exporter (default: installed package)")
    parser.add_argument(
        "--only",
        choices=["password", "connections", "sizes", "connection-rate"],
        action="append",
        default=None,
    )
    parser.add_argument("--attackers", type=int, action="append", default=None)
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="connection-rate flood: exporter, scraper and flooder share every CPU",
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="connection-rate flood: the exporter's and scraper's nice value (-10: before "
        "other jobs on their CPU; below 0 needs root); the flooder stays at 0",
    )
    parser.add_argument("--flood-connections", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--flood-passwords", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--flood-seconds", type=float, default=10.0, help=argparse.SUPPRESS)
    parser.add_argument("--flood-tls", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.flood_passwords:
        await flood_passwords(args.flood_passwords, (args.attackers or [500])[0])
        return
    if args.flood_connections:
        counts = await flood_connections(
            args.flood_connections, args.flood_tls, args.flood_seconds, FLOOD_TASKS
        )
        print(" ".join(f"{k}={v}" for k, v in counts.items()))
        return
    if shutil.which("openssl") is None:
        raise SystemExit("openssl is needed for the TLS attack")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, 8192)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    print(
        f"open-file limits: this process {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}, "
        f"exporter started with soft limit {EXPORTER_FD_LIMIT}; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    only = args.only or ["password", "connections", "sizes", "connection-rate"]
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        if "password" in only:
            rows = [
                await run_password_flood(args.src, directory, n)
                for n in (args.attackers or [50, 300, 500])
            ]
            print_table("1. wrong-password flood (basic auth, bcrypt cost 10)", rows)
        if "connections" in only:
            row = await run_connection_flood(args.src, directory)
            print_table("2. 2000 idle TCP + 500 idle TLS connections, 60 TLS scrapes", [row])
        if "sizes" in only:
            row = await run_size_attacks(args.src, directory)
            print_table("3. bodies, URLs, headers", [row])
        if "connection-rate" in only:
            split = None if args.no_pin else cpu_split()
            if split:
                os.sched_setaffinity(0, split[0])  # the scraper beside the exporter
            if args.nice:
                NICE["exporter"] = args.nice
                os.setpriority(os.PRIO_PROCESS, 0, args.nice)
            rows = []
            for tls in (False, True):
                for limit, flood in ((None, False), (0, True), (None, True)):
                    rows.append(
                        await run_connection_rate(args.src, directory, tls, limit, flood, split)
                    )
            pinning = (
                f"exporter and scraper on CPU {sorted(split[0])}, flooder on CPU {sorted(split[1])}"
                if split
                else "not pinned"
            ) + (f", exporter and scraper at nice {args.nice}" if args.nice else "")
            print_table(
                "4. new connections from one address as fast as they go (50 at a time), "
                f"scrapes from another every 0.1 s on one keep-alive connection ({pinning})",
                rows,
            )


if __name__ == "__main__":
    asyncio.run(main())
