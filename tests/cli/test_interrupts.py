"""Ctrl-C stops every command at any moment, startup included, with one line.

Real processes, real SIGINT, at several moments: while the interpreter is
still importing (the first 0.4 s), once running, and while ``check`` waits
for a PVS that accepted the connection and never answers.

One window is outside the program's reach: a SIGINT that arrives while the
interpreter itself starts (before the first line of this package runs) ends
the process the way Python does, by the signal (exit -2, possibly with the
interpreter's own traceback through ``site`` or ``re``, or exit 1 with "Fatal
Python error: init_import_site"). Once this package's
code runs, the end is exit 130 and exactly one line, and no traceback ever
goes through this package's files.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sunpower_pvs_exporter.interrupts import EXIT_INTERRUPTED

BIN = Path(sys.executable).parent
MOMENTS = (0.1, 0.4, 1.0, 3.0)
# On a heavily loaded machine the interpreter can take longer than the last
# moment to reach this package's code; then later moments are tried, up to
# the 30 s the waiting commands wait for the PVS.
LATER_MOMENTS = (6.0, 12.0, 24.0)
STOP_LIMIT = 30.0


@pytest.fixture
def hung_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


def commands(port: int, tmp: Path) -> dict[str, list[str]]:
    exporter = str(BIN / "sunpower-pvs-exporter")
    pvs = ["--hostname", "127.0.0.1", "--port", str(port), "--timeout", "30"]
    return {
        "check": [exporter, "check", *pvs],
        "capture": [exporter, "capture", *pvs, "--output", str(tmp / "c.json")],
        "init": [exporter, "init", "--host", "127.0.0.1", "--port", str(port), "--timeout", "30"],
        "exporter": [exporter, "--demo", "--listen-on", "127.0.0.1:0"],
        "simulator": [str(BIN / "sunpower-pvs-simulator"), "--port", "0", "--tls-port", "0"],
    }


def interrupt(command: list[str], cwd: Path, *, after: float | str) -> tuple[int, str, float]:
    """Start ``command``, SIGINT it ``after`` seconds (or once stderr shows that text);
    return its exit code, its stderr, and how long it took to stop."""
    process = subprocess.Popen(
        command, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    seen = b""
    if isinstance(after, str):
        assert process.stderr is not None
        deadline = time.monotonic() + 60
        while after.encode() not in seen and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            seen += line
        assert after.encode() in seen, seen.decode()
    else:
        time.sleep(after)
    process.send_signal(signal.SIGINT)
    sent = time.monotonic()
    try:
        _out, err = process.communicate(timeout=STOP_LIMIT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise AssertionError(f"{command[1]} still running {STOP_LIMIT} s after Ctrl-C") from None
    return process.returncode, (seen + err).decode(errors="replace"), time.monotonic() - sent


def assert_one_line_end(name: str, code: int, err: str) -> None:
    # No traceback frame in this package's files, whenever the signal came.
    assert "/sunpower_pvs_exporter/" not in err, f"{name}:\n{err}"
    last = err.strip().splitlines()[-1] if err.strip() else ""
    if name.startswith("exporter") and code == 0:
        # Running: its signal handler stops pollers and sessions, as on SIGTERM.
        assert last.endswith("shutting down") and "Traceback" not in err, f"{name}:\n{err}"
        return
    if code != EXIT_INTERRUPTED:
        # The interpreter was still starting: Python's own end (see the docstring).
        assert code in (-signal.SIGINT, 1), f"{name} exit {code}:\n{err}"
        return
    assert "Traceback" not in err, f"{name}:\n{err}"
    # "…: interrupted", and init adds what it wrote: "(no file was changed)".
    assert re.search(r": interrupted( \(.+\))?$", last), f"{name}:\n{err}"


@pytest.mark.parametrize("name", ["check", "capture", "init", "exporter", "simulator"])
def test_ctrl_c_at_any_moment_ends_with_one_line(name: str, hung_port: int, tmp_path: Path):
    command = commands(hung_port, tmp_path)[name]
    ours = 0
    for moment in (*MOMENTS, *LATER_MOMENTS):
        if moment in LATER_MOMENTS and ours:
            break
        code, err, _took = interrupt(command, tmp_path, after=moment)
        assert_one_line_end(f"{name} at {moment} s", code, err)
        ours += code in (0, EXIT_INTERRUPTED)
    # The later moments reach this package's code, even on a loaded machine.
    assert ours >= 1
    assert not (tmp_path / "c.json").exists()


def test_check_waiting_for_a_hung_pvs_says_so_and_stops_at_once_on_ctrl_c(
    hung_port: int, tmp_path: Path
):
    command = commands(hung_port, tmp_path)["check"]
    code, err, took = interrupt(command, tmp_path, after="waiting for the PVS at")
    assert f"waiting for the PVS at 127.0.0.1:{hung_port}: 5 s of 30 s (Ctrl-C stops)" in err
    assert code == EXIT_INTERRUPTED, err
    assert err.strip().splitlines()[-1] == "sunpower-pvs-exporter check: interrupted"
    assert "Traceback" not in err
    # Not the rest of the 30 s timeout, nor a wait for the unanswered request.
    assert took < 5.0
