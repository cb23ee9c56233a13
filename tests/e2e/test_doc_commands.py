"""Every command the docs show runs as shown, so a doc example cannot rot
(issue 22, item 6).

tests/docs/doc_commands.py collects them (README.md, SECURITY.md, docs/*.md:
shell code blocks and inline commands). Each one is run here, in its own
scratch directory, several at a time:

* ``sunpower-pvs-exporter`` and ``sunpower-pvs-simulator``, always. Where a
  command needs a PVS, its host is rewritten to a simulated PVS on 127.0.0.1
  (legacy, or varserver over HTTPS when the command says ``--api varserver``
  or sits in varserver.md): the default host, 172.27.153.1 and every other
  address are never contacted, and a final guard refuses any non-loopback
  address left in a command line. A config file it names is written there,
  pointing at the simulator, with the target name it asks for; a capture it
  replays is a capture of the simulated varserver PVS. A command that serves (the exporter, the
  simulator) must start, answer with ``sunpower_pvs_up 1`` (the exporter),
  and stop on SIGTERM with exit 0; any other must exit 0.
* ``curl`` against the exporter (port 9110 in the docs), sent to a running
  exporter, must get an HTTP success.
* ``promtool check rules``, in contrib/prometheus/ as the doc says.

What cannot run here is in SKIPPED with the reason, and the test fails on a
command that is neither runnable nor listed, and on a listed one the docs no
longer show.
"""

from __future__ import annotations

import asyncio
import glob
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from docs.doc_commands import DocCommand, doc_commands
from docs.markdown import REPO
from e2e.monitoring_stack import require_binaries
from sunpower_pvs_exporter.simulator.demo import demo_sun_zone
from sunpower_pvs_exporter.simulator.server import SimulatedPvs, SimulatorServer
from sunpower_pvs_exporter.simulator.site import SimClock, SiteConfig
from support import listening_port, start_exporter, stop_process

BIN = Path(sys.executable).parent
CONCURRENCY = 4
DEADLINE = 60.0  # seconds one command may take, start to stop

SKIPPED = {
    ("SECURITY.md", "promtool check metrics"): "reads an exposition on stdin; "
    "tests/e2e/test_prometheus.py pipes the exporter's /metrics into it and checks the "
    "accepted findings",
    ("docs/monitoring.md", "promtool check metrics"): "reads an exposition on stdin; "
    "tests/e2e/test_prometheus.py pipes the exporter's /metrics into it",
    ("docs/monitoring.md", "promtool test rules tests/*_test.yml"): "a minute of CPU; "
    "tests/contrib/test_alerts.py runs exactly this in contrib/prometheus/, file by file",
    ("docs/stack.md", "promtool check config /etc/prometheus/prometheus.yml"): "checks the "
    "file the root install recipe above it wrote to /etc; tests/contrib/test_stack.py "
    "(test_package_install_prometheus_config_passes_promtool) checks the same edited file",
    ("docs/stack.md", "curl -s -X POST http://127.0.0.1:9090/api/v1/admin/tsdb/snapshot"): (
        "Prometheus's admin API, not the exporter; tests/e2e/test_backup.py takes a snapshot "
        "through it from a real Prometheus"
    ),
    ("docs/stack.md", "promtool tsdb create-blocks-from openmetrics"): "named in prose, "
    "without its input file and directory: not a command to run",
    ("docs/stack.md", "promtool check config"): "named in prose (what CI runs), without a file",
    ("docs/stack.md", "promtool test rules"): "named in prose (what CI runs), without a file",
}
NOT_LOOPBACK = re.compile(
    r"(?<![\d.])(?!127\.)\d{1,3}(?:\.\d{1,3}){3}(?![\d.])|sunpowerconsole\.com|\.lan\b"
)


@dataclass
class Pvses:
    """The simulated PVSes the commands are pointed at, and an exporter for curl."""

    legacy: int  # HTTP port
    varserver_http: int
    varserver_tls: int
    exporter: int  # a running exporter's port
    capture: Path  # a capture of the varserver site, for --replay


@dataclass
class Outcome:
    ok: bool
    detail: str


def simulated(api: str, loop: asyncio.AbstractEventLoop) -> SimulatorServer:
    """A healthy site (no inverter in error) whose sun is up whatever the hour,
    with device clocks on the real clock, as --demo does: check finds nothing to
    warn about."""
    now = time.time()
    pvs = SimulatedPvs(
        config=SiteConfig(inverters=3, error_inverters=0, tz=demo_sun_zone(now)),
        clock=SimClock(start=now),
        api=api,
    )
    server = SimulatorServer(pvs, host="127.0.0.1", port=0, tls_port=0)
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(30)
    return server


@pytest.fixture(scope="module")
def pvses(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pvses]:
    require_binaries("curl", "promtool")  # the docs' curl and promtool commands
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    servers = [simulated("legacy", loop), simulated("varserver", loop)]
    legacy, varserver = servers
    assert varserver.tls_port is not None
    scratch = tmp_path_factory.mktemp("exporter")
    config = scratch / "config.yml"
    config.write_text(
        f"targets:\n  - {{name: home, host: 127.0.0.1, port: {legacy.port}, api: legacy}}\n"
    )
    # What the docs' replay commands read: a capture of this healthy site, as
    # the docs' own capture command makes one (tests/captures/ sites warn on purpose).
    capture = scratch / "my-pvs.json"
    subprocess.run(
        [BIN / "sunpower-pvs-exporter", "capture", "--hostname", "127.0.0.1", "--api",
         "varserver", "--use-tls", "--port", str(varserver.tls_port), "--output", capture],
        check=True, capture_output=True, timeout=DEADLINE,
    )  # fmt: skip
    exporter, port = start_exporter("--config", str(config), output=scratch / "output")
    try:
        yield Pvses(legacy.port, varserver.port, varserver.tls_port, port, capture)
    finally:
        stop_process(exporter)
        for server in servers:
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def option(args: list[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args else None


def without(args: list[str], flag: str, *, takes_value: bool = True) -> list[str]:
    while flag in args:
        at = args.index(flag)
        del args[at : at + (2 if takes_value else 1)]
    return args


def write_config(path: Path, target: str, pvses: Pvses, *, varserver: bool) -> None:
    where = (
        f"port: {pvses.varserver_tls}, use_tls: true, api: varserver"
        if varserver
        else f"port: {pvses.legacy}, api: legacy"
    )
    path.write_text(f"targets:\n  - {{name: {target}, host: 127.0.0.1, {where}}}\n")


def exporter_command(
    command: DocCommand, pvses: Pvses, cwd: Path
) -> tuple[list[str], bool, Path | None]:
    """(argv, serves, file it must write): the command aimed at loopback only."""
    args = list(command.argv[1:])
    word = args.pop(0) if args[:1] in (["init"], ["check"], ["capture"]) else None
    varserver = option(args, "--api") == "varserver" or command.page == "docs/varserver.md"
    if "--hostname" in args:
        args[args.index("--hostname") + 1] = "127.0.0.1"
        without(args, "--port")
        without(args, "--use-tls", takes_value=False)
        tls = ["--use-tls", "--port", str(pvses.varserver_tls)]
        args += tls if varserver else ["--port", str(pvses.legacy)]
    if word == "init":
        without(args, "--host")
        without(args, "--scan")
        without(args, "--port")
        args += ["--host", "127.0.0.1", "--port", str(pvses.varserver_http)]
        args += ["--tls-port", str(pvses.varserver_tls), "--exporter-host", "127.0.0.1", "--yes"]
    config = option(args, "--config")
    if config is not None:
        local = cwd / Path(config).name
        args[args.index("--config") + 1] = local.name
        write_config(local, option(args, "--target") or "home", pvses, varserver=varserver)
    replay = option(args, "--replay")
    if replay is not None:
        shutil.copy(pvses.capture, cwd / replay)
    informational = {"--help", "--version", "--check-config"} & set(args)
    needs_pvs = word in ("check", "capture") or (word is None and not informational)
    if needs_pvs and not {"--hostname", "--config", "--demo"} & set(args):
        args += ["--hostname", "127.0.0.1", "--port", str(pvses.legacy)]
    writes = cwd / "sunpower-pvs-exporter.yml" if word == "init" else None
    if word == "capture":
        writes = cwd / (option(args, "--output") or "")
    argv = [str(BIN / "sunpower-pvs-exporter"), *([word] if word else []), *args]
    return argv, word is None and not informational, writes


def run_to_exit(argv: list[str], cwd: Path, writes: Path | None = None) -> Outcome:
    run = subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=DEADLINE, stdin=subprocess.DEVNULL
    )
    said = (run.stdout + run.stderr)[-3000:]
    if run.returncode != 0:
        return Outcome(False, f"exit {run.returncode}:\n{said}")
    if "Traceback" in said:
        return Outcome(False, f"a traceback:\n{said}")
    if writes is not None and not writes.is_file():
        return Outcome(False, f"exit 0 but {writes.name} was not written:\n{said}")
    return Outcome(True, said)


def scrape_until_up(port: int) -> str:
    deadline = time.monotonic() + 30
    text = ""
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            text = answer.read().decode()
        if re.search(r"^sunpower_pvs_up\{[^}]*\} 1(\.0)?$", text, flags=re.MULTILINE):
            return ""
        time.sleep(0.2)
    return "never sunpower_pvs_up 1:\n" + "\n".join(
        line for line in text.splitlines() if line.startswith("sunpower_pvs_up")
    )


def serve_exporter(argv: list[str], cwd: Path) -> Outcome:
    """Start it where the doc's reader would (files it names are relative to
    there), on any free port; up, then SIGTERM and exit 0."""
    argv = [*argv, "--listen-on", "127.0.0.1:0"]
    output = cwd / "output"
    with open(output, "wb") as out:
        process = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    problem = "did not listen"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            port = listening_port(output.read_text(errors="replace"))
            if port is not None:
                problem = scrape_until_up(port)
                break
            time.sleep(0.1)
    finally:
        code = stop_process(process)
    said = output.read_text(errors="replace")[-3000:]
    if problem or code != 0 or "Traceback" in said:
        return Outcome(False, f"{problem}; exit {code} on SIGTERM:\n{said}")
    return Outcome(True, said)


def serve_simulator(command: DocCommand, pvses: Pvses, cwd: Path) -> Outcome:
    args = without(without(list(command.argv[1:]), "--port"), "--tls-port")
    if "--help" in args:
        return run_to_exit([str(BIN / "sunpower-pvs-simulator"), *args], cwd)
    replay = option(args, "--replay")
    if replay is not None:
        shutil.copy(pvses.capture, cwd / replay)
    argv = [str(BIN / "sunpower-pvs-simulator"), *args, "--port", "0", "--tls-port", "0"]
    with open(cwd / "output", "wb") as out:
        process = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    started = False
    while not started and time.monotonic() < deadline and process.poll() is None:
        said = (cwd / "output").read_text()
        started = (
            re.search(r"^(simulated PVS|replaying) .*http://127\.0\.0\.1:\d+", said, re.M)
            is not None
        )
        time.sleep(0.1)
    code = stop_process(process)
    said = (cwd / "output").read_text(errors="replace")
    return Outcome(started and code == 0, f"started={started} exit {code}:\n{said}")


def curl_command(command: DocCommand, pvses: Pvses) -> list[str] | None:
    """The curl, sent to the running exporter; None unless the doc aims it at the exporter."""
    args = list(command.argv[1:])
    urls = [i for i, word in enumerate(args) if "://" in word]
    if len(urls) != 1 or not re.match(r"https?://[^/]+:9110/", args[urls[0]]):
        return None
    args[urls[0]] = re.sub(r"//[^/]+:9110/", f"//127.0.0.1:{pvses.exporter}/", args[urls[0]])
    return [require_binaries("curl")["curl"], "--fail", "--silent", "--show-error", *args]


def promtool_command(command: DocCommand) -> tuple[list[str], Path] | None:
    """``promtool check rules *.yml``, in contrib/prometheus/ as monitoring.md says."""
    if command.argv[1:3] != ("check", "rules"):
        return None
    cwd = REPO / "contrib" / "prometheus"
    words: list[str] = []
    for word in command.argv[3:]:
        words += sorted(glob.glob(word, root_dir=cwd)) if "*" in word else [word]
    return [require_binaries("promtool")["promtool"], "check", "rules", *words], cwd


def run_one(command: DocCommand, pvses: Pvses, cwd: Path) -> Outcome:
    cwd.mkdir(parents=True)
    try:
        return run_in(command, pvses, cwd)
    except Exception as exc:  # reported as this command's failure, not the fixture's
        return Outcome(False, f"{type(exc).__name__}: {exc}")


def run_in(command: DocCommand, pvses: Pvses, cwd: Path) -> Outcome:
    if command.program == "sunpower-pvs-exporter":
        argv, serves, writes = exporter_command(command, pvses, cwd)
        loopback_only(command, argv, cwd)
        return serve_exporter(argv, cwd) if serves else run_to_exit(argv, cwd, writes)
    if command.program == "sunpower-pvs-simulator":
        return serve_simulator(command, pvses, cwd)
    if command.program == "curl" and (curl := curl_command(command, pvses)) is not None:
        return run_to_exit(curl, cwd)
    if command.program == "promtool" and (promtool := promtool_command(command)) is not None:
        return run_to_exit(*promtool)
    return Outcome(False, "neither runnable here nor in SKIPPED (with the reason)")


def loopback_only(command: DocCommand, argv: list[str], cwd: Path) -> None:
    """The guard: nothing in the command line or the config it reads leaves 127.0.0.1."""
    written = " ".join(path.read_text() for path in cwd.glob("*.yml"))
    for text in (*argv, written):
        assert not NOT_LOOPBACK.search(text), f"{command}: would contact {text!r}"


RUNNABLE = [c for c in doc_commands() if c.key not in SKIPPED]


@pytest.fixture(scope="module")
def outcomes(pvses: Pvses, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Every runnable command, CONCURRENCY at a time."""
    root = tmp_path_factory.mktemp("doc-commands")
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        futures = {
            str(c): pool.submit(run_one, c, pvses, root / f"{n:02d}")
            for n, c in enumerate(RUNNABLE)
        }
        return {name: future.result() for name, future in futures.items()}


def test_the_skip_list_names_only_commands_the_docs_show():
    shown = {c.key for c in doc_commands()}
    assert sorted(set(SKIPPED) - shown) == []
    assert len(RUNNABLE) >= 25


@pytest.mark.parametrize("name", [pytest.param(str(c), id=str(c)) for c in RUNNABLE])
def test_every_doc_command_runs(name: str, outcomes: dict[str, Outcome]):
    outcome = outcomes[name]
    assert outcome.ok, f"{name}\n{outcome.detail}"


def test_the_guard_refuses_what_is_not_loopback(tmp_path: Path):
    command = DocCommand("x.md", 1, "", ("sunpower-pvs-exporter",))
    for leak in ("172.27.153.1", "sunpowerconsole.com", "192.168.1.50", "pvs-cabin.lan"):
        with pytest.raises(AssertionError, match="would contact"):
            loopback_only(command, ["sunpower-pvs-exporter", "--hostname", leak], tmp_path)
    loopback_only(command, ["sunpower-pvs-exporter", "--hostname", "127.0.0.1"], tmp_path)
