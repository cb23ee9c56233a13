"""Helpers shared by tests (importable: ``pythonpath = tests`` in pyproject)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sunpower_pvs_exporter.config import ExporterConfig, TargetConfig
from sunpower_pvs_exporter.poller import Poller
from sunpower_pvs_exporter.pvs.model import Snapshot
from sunpower_pvs_exporter.runtime import make_pollers, make_reader
from sunpower_pvs_exporter.simulator.server import SimulatorServer, free_port

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


class FakeTransport(asyncio.Transport):
    """A socket for ``web/connections.py``'s bookkeeping: it only records an abort."""

    def __init__(self) -> None:
        super().__init__()
        self.aborted = False

    def abort(self) -> None:
        self.aborted = True


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


def target_line(name: str, port: int, extra: str = "", host: str = "127.0.0.1") -> str:
    """One legacy target as a line of a config file's ``targets:`` list.

    Each host is one PVS to the exporter (one queue, one last poll), whatever
    the port: a second simulated PVS that must be polled as soon as a reload
    adds it listens on another host (``make_simulator(host="::1")``)."""
    return (
        f"  - {{name: {name}, host: '{host}', port: {port}, api: legacy, "
        f"poll_interval: 60s{extra}}}\n"
    )


async def probe_up(http: aiohttp.ClientSession, url: str, name: str, **kwargs: Any) -> str:
    """``/probe?target=NAME`` from the exporter at ``url`` once it reports the target up."""
    for _ in range(200):
        try:
            async with http.get(f"{url}/probe?target={name}", **kwargs) as response:
                text = await response.text()
                if response.status == 200 and f'sunpower_pvs_up{{target="{name}"}} 1.0' in text:
                    return text
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"target {name} never came up")


# --- Processes that listen ---------------------------------------------------------
#
# "Find a free port, then start a process on it" races: another process can take
# the port between the two. The exporter and the simulator bind port 0 and say
# which port they got, which removes the race; programs that cannot say (Prometheus,
# the Pushgateway) are started again on another port when they report the address
# in use.

EXPORTER_COMMAND = (sys.executable, "-m", "sunpower_pvs_exporter")
_LISTENING = re.compile(r"listening on \S+:(\d+)\b")
_START_SECONDS = 30.0


def listening_port(log_text: str) -> int | None:
    """The port of the exporter's ``listening on HOST:PORT`` start-up line, if logged yet."""
    match = _LISTENING.search(log_text)
    return int(match.group(1)) if match else None


def _exporter_args(args: Sequence[str], log_file: Path | None) -> list[str]:
    logging = ["--log-file", str(log_file)] if log_file is not None else []
    return [*args, *logging, "--listen-on", "127.0.0.1:0"]


def _exporter_started(output: Path, log: Path | None, exited: int | None) -> int | None:
    """The bound port once logged; an AssertionError with the output if the child died."""
    where = log if log is not None else output
    port = listening_port(where.read_text(errors="replace")) if where.exists() else None
    if port is not None:
        return port
    if exited is not None:
        text = output.read_text(errors="replace")
        raise AssertionError(f"the exporter exited {exited} before listening:\n{text[-2000:]}")
    return None


def start_exporter(
    *args: str,
    output: Path,
    log_file: Path | None = None,
    env: dict[str, str] | None = None,
    command: Sequence[str] = EXPORTER_COMMAND,
) -> tuple[subprocess.Popen[bytes], int]:
    """The real command line with ``args`` on 127.0.0.1, any free port: (process, port).

    Its stdout and stderr go to ``output``, its log too unless ``log_file``
    (``--log-file``). Returns once the process logged the port it bound.
    ``command`` replaces ``python -m sunpower_pvs_exporter`` (by a wrapper
    that takes the same arguments).
    """
    with open(output, "wb") as out:
        process = subprocess.Popen(
            [*command, *_exporter_args(args, log_file)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    deadline = time.monotonic() + _START_SECONDS
    try:
        while time.monotonic() < deadline:
            port = _exporter_started(output, log_file, process.poll())
            if port is not None:
                return process, port
            time.sleep(0.05)
        raise AssertionError(f"the exporter did not listen within {_START_SECONDS:g} s")
    except BaseException:
        stop_process(process)
        raise


async def start_exporter_async(
    *args: str,
    output: Path,
    log_file: Path | None = None,
    env: dict[str, str] | None = None,
    start_new_session: bool = False,
) -> tuple[asyncio.subprocess.Process, int]:
    """``start_exporter`` for a test whose event loop must keep running meanwhile."""
    out = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        process = await asyncio.create_subprocess_exec(
            *EXPORTER_COMMAND, *_exporter_args(args, log_file),
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=start_new_session,
        )  # fmt: skip
    finally:
        os.close(out)
    try:
        for _ in range(int(_START_SECONDS / 0.05)):
            port = _exporter_started(output, log_file, process.returncode)
            if port is not None:
                return process, port
            await asyncio.sleep(0.05)
        raise AssertionError(f"the exporter did not listen within {_START_SECONDS:g} s")
    except BaseException:
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise


def start_on_free_port(
    command: Callable[[int], Sequence[str]],
    ready: Callable[[int], bool],
    output: Path,
    tries: int = 5,
    *,
    env: Mapping[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``command(port)`` on a port found free, retried on another port if taken.

    For programs that cannot bind port 0 and tell (Prometheus, the Pushgateway):
    if the child exits saying the address is in use, some other process took the
    port after we found it free, and the next try picks a new one. Any other
    early exit is a failure with the child's output (stdout and stderr go to
    ``output``). Returns once ``ready(port)``. ``env``: variables added to ours.
    """
    for _ in range(tries):
        port = free_port()
        with open(output, "wb") as log:
            process = subprocess.Popen(
                list(command(port)),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **env} if env else None,
            )
        deadline = time.monotonic() + _START_SECONDS
        while process.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if ready(port):
                    return process, port
            time.sleep(0.1)
        text = output.read_text(errors="replace")
        if process.poll() is None:
            stop_process(process)
            raise AssertionError(f"not ready after {_START_SECONDS:g} s:\n{text[-2000:]}")
        if "address already in use" not in text.lower():
            raise AssertionError(f"exited {process.returncode} at start:\n{text[-2000:]}")
    raise AssertionError(f"port taken {tries} times in a row")


def http_ready(url: str) -> bool:
    """Whether ``url`` answers 200 now (a readiness probe for ``start_on_free_port``)."""
    with urllib.request.urlopen(url, timeout=1) as response:
        return bool(response.status == 200)


def stop_process(process: subprocess.Popen[Any], timeout: float = 10.0) -> int:
    """SIGTERM, then SIGKILL after ``timeout``: the exit status."""
    process.terminate()
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(5)


class HungGateway:
    """A Pushgateway on 127.0.0.1 that takes every PUT and answers the DELETE of
    a group named ``hung-*`` never (it accepts, reads, and holds the connection)."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.held: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line = head.split(b"\r\n", 1)[0].decode()
        self.requests.append(request_line)
        length = re.search(rb"(?i)content-length: *(\d+)", head)
        if length:
            await reader.readexactly(int(length.group(1)))
        if request_line.startswith("DELETE") and "/instance/hung-" in request_line:
            self.held.append(writer)  # never answered
            return
        writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()
