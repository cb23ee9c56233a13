"""The test helpers that start listening processes: a taken port is retried, nothing else is."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from support import http_ready, start_on_free_port, stop_process

# A stand-in for Prometheus: the first start finds its port taken (as when another
# process bound it after it was found free), the next one serves. Exits with
# ``argv[3]`` instead when given.
PROGRAM = """
import http.server, pathlib, sys
port, marker = int(sys.argv[1]), pathlib.Path(sys.argv[2])
if len(sys.argv) > 3:
    print(sys.argv[3], flush=True)
    raise SystemExit(1)
if not marker.exists():
    marker.write_text("taken")
    print(f"listen tcp 127.0.0.1:{port}: bind: address already in use", flush=True)
    raise SystemExit(1)
http.server.HTTPServer(("127.0.0.1", port), http.server.SimpleHTTPRequestHandler).serve_forever()
"""


def test_a_port_taken_before_the_bind_is_retried_on_another(tmp_path: Path):
    tried: list[int] = []

    def command(port: int) -> list[str]:
        tried.append(port)
        return [sys.executable, "-c", PROGRAM, str(port), str(tmp_path / "marker")]

    process, port = start_on_free_port(
        command, lambda port: http_ready(f"http://127.0.0.1:{port}/"), tmp_path / "out"
    )
    try:
        assert len(tried) == 2 and port == tried[1]
        assert http_ready(f"http://127.0.0.1:{port}/")
    finally:
        stop_process(process)


def test_any_other_failure_at_start_is_not_retried(tmp_path: Path):
    tried: list[int] = []

    def command(port: int) -> list[str]:
        tried.append(port)
        return [sys.executable, "-c", PROGRAM, str(port), str(tmp_path / "m"), "bad flag --x"]

    with pytest.raises(AssertionError, match="exited 1 at start:\nbad flag --x"):
        start_on_free_port(command, lambda port: False, tmp_path / "out")
    assert len(tried) == 1
