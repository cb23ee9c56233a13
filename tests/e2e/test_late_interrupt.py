"""Ctrl-C after a command has ended, while the interpreter shuts down.

On a loaded machine the interpreter's shutdown (atexit handlers, threads,
modules collected) can take seconds after a command printed its one error
line; a Ctrl-C then used to raise ``KeyboardInterrupt`` into that shutdown:
a traceback after the error, and the command's exit code lost (found by
tests/e2e/test_no_traceback.py under load). The shutdown is held open here
by an atexit handler, so the Ctrl-C lands in it every time.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

# Runs a command through its real entry point (argv from sys.argv, as the
# console script does), with an atexit handler that says when the command has
# ended and then keeps the interpreter's shutdown going.
SCRIPT = """
import atexit, sys, time
def _linger():
    print("shutting down", flush=True)
    time.sleep(20)
atexit.register(_linger)
from {module} import main
raise SystemExit(main())
"""

CASES = {
    # A web config file that is not there: one error line, exit 2.
    "exporter": ("sunpower_pvs_exporter.cli.entry", ["--web.config.file", "{missing}"], 2),
    # An unknown flag: argparse's refusal (SystemExit, exit 2).
    "exporter-flag": ("sunpower_pvs_exporter.cli.entry", ["--no-such-flag"], 2),
    # A simulator refusing its flags: one error line, exit 2.
    "simulator": ("sunpower_pvs_exporter.simulator.cli", ["--reboot-every", "0"], 2),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_ctrl_c_during_shutdown_keeps_the_exit_code_and_prints_no_traceback(
    case: str, tmp_path: Path
):
    module, argv, expected = CASES[case]
    args = [arg.format(missing=tmp_path / "missing.yml") for arg in argv]
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT.format(module=module), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # the atexit handler's line ('' if it died first)
    assert line.strip() == "shutting down", line
    process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    assert "Traceback" not in err, err
    assert "KeyboardInterrupt" not in err, err
    assert process.returncode == expected, (process.returncode, err)
    assert err.strip(), "the command's own error line"
