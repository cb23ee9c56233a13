"""No traceback on any path: every command, every flag, a missing tool, a closed port, Ctrl-C.

The runs are made from the argument parsers themselves: each option of each
command (the exporter, ``check``, ``capture``, ``init``, the simulator) is
added to a run of its command, and each choice of the options whose choices
take different paths gets a run, so a flag added tomorrow is covered without
touching this file. (A nonsense value for each option is refused before any
of this runs: tests/cli/test_arguments.py tries those in-process, quickly.)
Every run has no ``openssl`` (nor anything else) on PATH, aims at a closed
port, and what does not end by itself is ended with Ctrl-C (SIGINT), once it
is up and at moments during its start.

What holds for every run: no "Traceback (most recent call last)" in its
output, and an exit code of those the command documents.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sunpower_pvs_exporter.cli import init_command, serve, subcommands
from sunpower_pvs_exporter.simulator import cli as simulator_cli

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / "tests" / "captures"
# Subprocesses at once: the machine has 2 cores, and most of a run is waiting.
CONCURRENCY = 6
RUN_TIMEOUT = 30.0
# A long-running command whose "up" line goes elsewhere (--log-file, --log-level
# ERROR) gets Ctrl-C this long after its start instead.
READY_FALLBACK = 8.0
# Options whose every choice takes another path; any other gets its last choice.
EVERY_CHOICE = {"api", "demo_api", "poll_mode", "format", "error_style"}
TRACEBACK = "Traceback (most recent call last)"
# Documented exit codes; 130 is Ctrl-C (interrupts.EXIT_INTERRUPTED).
EXITS = {
    "serve": {0, 1, 2, 130},
    "check": {0, 1, 2, 130},
    "capture": {0, 1, 2, 130},
    "init": {0, 1, 2, 130},
    "simulator": {0, 2, 130},
}
# What a long-running command prints once it is up (then it gets Ctrl-C).
READY = {"serve": re.compile(r"listening on \S+:\d+"), "simulator": re.compile(r" on https?://")}
LONG_RUNNING = set(READY)
# Ctrl-C this long after the start as well: during the imports, during the start.
EARLY_INTERRUPTS = (0.3, 0.6)
# A Ctrl-C that lands while the interpreter itself starts (site, runpy, finding
# the package), before the first line of this project runs, is CPython's to
# report: its traceback holds no frame of this project. Such a run says
# nothing about this project, and is not counted.


@dataclass
class Run:
    command: str
    argv: list[str]
    why: str
    interrupt_after: float | None = None  # seconds; None: when ready (long-running only)
    exits: set[int] = field(default_factory=set)

    @property
    def label(self) -> str:
        return f"{self.command} {' '.join(self.argv)} ({self.why})"


@dataclass
class Result:
    run: Run
    code: int | None
    output: str
    seconds: float


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def command_line(command: str) -> list[str]:
    if command == "simulator":
        return [sys.executable, "-m", "sunpower_pvs_exporter.simulator.cli"]
    word = [] if command == "serve" else [command]
    return [sys.executable, "-m", "sunpower_pvs_exporter", *word]


def parser_for(command: str) -> argparse.ArgumentParser:
    if command == "serve":
        return serve.build_parser()
    if command == "init":
        return init_command.build_parser()
    if command == "simulator":
        return simulator_cli.build_parser()
    return subcommands.build_parser(command)


def options(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    for action in parser._actions:
        if any(o.startswith("--") for o in action.option_strings):
            yield action


@dataclass(frozen=True)
class Scene:
    """The files and ports every run uses."""

    directory: Path
    closed: int
    hung: int  # accepts connections and never answers
    password: Path
    config: Path


def base_args(command: str, scene: Scene) -> list[str]:
    closed = str(scene.closed)
    if command == "serve":
        return ["--hostname", "127.0.0.1", "--port", closed, "--listen-on", "127.0.0.1:0"]
    if command == "check":
        return ["--hostname", "127.0.0.1", "--port", closed, "--timeout", "2", "--api", "legacy"]
    if command == "capture":
        return [*base_args("check", scene), "--output", str(scene.directory / "c.json")]
    if command == "init":
        return [
            *("--host", "127.0.0.1", "--port", closed, "--tls-port", closed),
            *("--timeout", "1", "--yes", "--config", str(scene.directory / "init.yml")),
        ]
    return ["--port", "0", "--tls-port", "0", "--inverters", "2"]


# A valid value for the options whose value has a shape; any other gets "1"
# (or a readable file for FILE).
VALUES = {
    "hostname": "127.0.0.1",
    "host": "127.0.0.1",
    "listen_on": "127.0.0.1:0",
    "push_to": "http://127.0.0.1:{closed}",
    "scan": "127.0.0.1/31",
    "name": "pvs",
    "target": "home",
    "exporter_host": "localhost",
    "pvs_timezone": "America/Denver",
    "start": "12:00",
    "inverter_fault": "0:error",
    "timeout": "1",
    "port": "{closed}",
    "tls_port": "{closed}",
}
FILE_VALUE = {"output": "{directory}/out.json", "log_file": "{directory}/exporter.log"}


def value_for(action: argparse.Action, scene: Scene) -> str:
    dest = action.dest
    if dest in FILE_VALUE:
        template = FILE_VALUE[dest]
    elif dest == "config":
        template = str(scene.config)
    elif dest == "replay":
        template = str(CAPTURES / "simulator-legacy-sunvault.json")
    elif dest in VALUES:
        template = VALUES[dest]
    elif action.metavar == "FILE" or dest.endswith("_file"):
        template = str(scene.password)
    else:
        template = "1"
    return template.format(closed=scene.closed, directory=scene.directory)


def without(argv: list[str], option: str, count: int) -> list[str]:
    """``argv`` less ``option`` and the ``count`` values after it."""
    if option not in argv:
        return argv
    at = argv.index(option)
    return argv[:at] + argv[at + 1 + count :]


def with_option(command: str, base: list[str], option: str, values: list[str]) -> list[str]:
    """``base`` with ``option`` set (replacing it if there); --config drops target flags."""
    argv = without(list(base), option, len(values))
    if option == "--config" and command != "init":
        for target_flag in ("--hostname", "--port", "--timeout"):
            argv = without(argv, target_flag, 1)
    if option == "--replay" and command != "simulator":
        argv.append("--demo")
    return [*argv, option, *values]


def runs_for(command: str, scene: Scene) -> Iterator[Run]:
    base = base_args(command, scene)
    exits = EXITS[command]
    yield Run(command, base, "closed port", exits=exits)
    # capture takes check's flags through the same code: only its own ones again.
    shared = {a.dest for a in options(parser_for("check"))} if command == "capture" else set()
    for action in options(parser_for(command)):
        if action.dest in shared:
            continue
        option = next(o for o in action.option_strings if o.startswith("--"))
        if option in ("--help", "--version"):
            yield Run(command, [option], option, exits={0})
            continue
        if action.nargs == 0:
            yield Run(command, with_option(command, base, option, []), option, exits=exits)
            continue
        choices = list(action.choices or [])
        if choices and action.dest not in EVERY_CHOICE:
            choices = choices[-1:]
        for value in choices or [value_for(action, scene)]:
            yield Run(
                command, with_option(command, base, option, [str(value)]), option, exits=exits
            )
    # Without the openssl command: the varserver simulator and a varserver replay.
    if command in ("serve", "check", "capture"):
        demo = without(without(without(base, "--hostname", 1), "--port", 1), "--api", 1)
        demo += ["--demo", "--demo-inverters", "2"]
        for api in ("varserver", "both"):
            yield Run(command, [*demo, "--demo-api", api], "no openssl", exits=exits)
        replay = str(CAPTURES / "simulator-varserver-sunvault.json")
        yield Run(command, [*demo, "--replay", replay], "no openssl", exits=exits)
    if command == "simulator":
        yield Run(command, [*base, "--api", "varserver"], "no openssl", exits=exits)
    # Ctrl-C during the start, and (commands that wait on a PVS) while one hangs.
    for moment in EARLY_INTERRUPTS:
        yield Run(command, base, f"Ctrl-C at {moment} s", interrupt_after=moment, exits=exits)
    if command in ("check", "capture"):
        hung = [*base, "--port", str(scene.hung), "--timeout", "30"]
        yield Run(command, hung, "Ctrl-C, hung PVS", interrupt_after=1.5, exits={130})
    if command == "init":
        hung = [*base, "--port", str(scene.hung), "--timeout", "30"]
        yield Run(command, hung, "Ctrl-C, hung PVS", interrupt_after=1.5, exits={130})


def execute(run: Run, scene: Scene, env: dict[str, str]) -> Result:
    out_path = scene.directory / f"run-{os.getpid()}-{id(run)}.out"
    started = time.monotonic()
    with open(out_path, "wb") as out:
        process = subprocess.Popen(
            [*command_line(run.command), *run.argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=scene.directory,
            env=env,
        )
    ready = READY.get(run.command)
    interrupted = False
    while process.poll() is None and time.monotonic() - started < RUN_TIMEOUT:
        elapsed = time.monotonic() - started
        if not interrupted:
            due = run.interrupt_after is not None and elapsed >= run.interrupt_after
            up = (
                run.interrupt_after is None
                and ready is not None
                and (
                    elapsed >= READY_FALLBACK or ready.search(out_path.read_text(errors="replace"))
                )
            )
            if due or up:
                process.send_signal(signal.SIGINT)
                interrupted = True
        time.sleep(0.02)
    if process.poll() is None:
        process.kill()
        process.wait()
        code = None
    else:
        code = process.returncode
    return Result(run, code, out_path.read_text(errors="replace"), time.monotonic() - started)


def last_line(output: str) -> str:
    lines = output.strip().splitlines()
    return lines[-1] if lines else ""


def exit_code(code: int) -> int:
    """As a shell shows it: ended by SIGINT (how Ctrl-C ends a command, after its line) is 130."""
    return 128 - code if code < 0 else code


def before_the_project(result: Result) -> bool:
    """Ctrl-C while CPython itself started, before any line of this project ran."""
    if result.code == -signal.SIGINT and not result.output:
        return True  # before CPython installed its own SIGINT handler: nothing said
    frames = [line for line in result.output.splitlines() if line.lstrip().startswith('File "')]
    return (
        TRACEBACK in result.output
        and "KeyboardInterrupt" in result.output
        and not any("sunpower_pvs_exporter" in frame for frame in frames)
    )


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    directory = tmp_path_factory.mktemp("no-traceback")
    password = directory / "pvs.password"
    password.write_text("A1B2C\n")
    password.chmod(0o600)
    config = directory / "exporter.yml"
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(64)
    closed = closed_port()
    config.write_text(
        f"targets:\n  - name: home\n    host: 127.0.0.1\n    port: {closed}\n"
        f"    api: legacy\n    timeout: 2\n    password_file: {password}\n"
    )
    with hung:
        yield Scene(directory, closed, hung.getsockname()[1], password, config)


def test_no_command_flag_or_interrupt_ends_in_a_traceback(scene: Scene):
    empty_path = scene.directory / "bin"
    empty_path.mkdir()
    env = {
        **os.environ,
        "PATH": str(empty_path),  # no openssl, nor any other tool
        "HOME": str(scene.directory),
        "TMPDIR": str(scene.directory),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.pop("SUNPOWER_PVS_PASSWORD", None)
    runs = [run for command in EXITS for run in runs_for(command, scene)]
    # Every option of every parser is in some run (the table follows the parsers).
    for command in EXITS:
        tried = "check" if command == "capture" else command  # capture: check's flags too
        for action in options(parser_for(command)):
            flag = next(o for o in action.option_strings if o.startswith("--"))
            assert any(flag in r.argv for r in runs if r.command in (command, tried)), flag
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        results = list(pool.map(lambda run: execute(run, scene, env), runs))
    elapsed = time.monotonic() - started
    problems = []
    for result in results:
        if before_the_project(result):
            continue
        if TRACEBACK in result.output:
            problems.append(f"{result.run.label}: traceback\n{result.output}")
        elif result.code is None:
            problems.append(f"{result.run.label}: still running after {RUN_TIMEOUT:g} s")
        elif exit_code(result.code) not in result.run.exits:
            problems.append(f"{result.run.label}: exit {result.code}\n{result.output}")
        elif exit_code(result.code) == 130 and "interrupted" not in last_line(result.output):
            problems.append(f"{result.run.label}: Ctrl-C without its line\n{result.output}")
    slowest = sorted(results, key=lambda r: -r.seconds)[:5]
    print(f"{len(runs)} runs in {elapsed:.1f} s; slowest:")
    for result in slowest:
        print(f"  {result.seconds:.1f} s {result.run.label}")
    assert problems == [], "\n\n".join(problems[:10])
