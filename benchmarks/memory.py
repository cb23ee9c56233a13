"""Resident memory of the exporter process: 1 target vs 4 targets of 30 inverters each.

Starts simulated PVSes (``sunpower-pvs-simulator``) on loopback ports, runs the
exporter with a generated config file, waits until every target is up and has
been probed, then reads VmRSS and VmHWM (peak) from /proc. Target: a 4-target
config under 60 MB RSS.

    python benchmarks/memory.py
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

INVERTERS = 30
LIMIT_MB = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(url: str, needle: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                text: str = response.read().decode()
            if needle in text:
                return text
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} never showed {needle!r}")
        time.sleep(0.2)


def rss_mb(pid: int) -> tuple[float, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def measure(targets: int, workdir: Path) -> tuple[float, float]:
    sims = []
    ports = [free_port() for _ in range(targets)]
    for index, port in enumerate(ports):
        sims.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "sunpower_pvs_exporter.simulator.cli",
                    "--port",
                    str(port),
                    "--inverters",
                    str(INVERTERS),
                    "--seed",
                    str(index + 1),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    config = workdir / f"config-{targets}.yml"
    lines = ["targets:"]
    for index, port in enumerate(ports):
        lines += [
            f"  - name: site{index}",
            "    host: 127.0.0.1",
            f"    port: {port}",
            "    api: legacy",
            "    poll_interval: 60s",
        ]
    config.write_text("\n".join(lines) + "\n")
    listen = free_port()
    exporter = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sunpower_pvs_exporter",
            "--config",
            str(config),
            "--listen-on",
            f"127.0.0.1:{listen}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{listen}"
        for index in range(targets):
            wait_http(
                f"{base}/probe?target=site{index}", f'sunpower_pvs_up{{target="site{index}"}} 1.0'
            )
        for _ in range(5):  # scrapes as Prometheus would make them
            for index in range(targets):
                wait_http(
                    f"{base}/probe?target=site{index}", "sunpower_pvs_inverter_ac_power_watts"
                )
            wait_http(f"{base}/metrics", "sunpower_pvs_up")
        return rss_mb(exporter.pid)
    finally:
        exporter.terminate()
        exporter.wait(timeout=10)
        for sim in sims:
            sim.terminate()
            sim.wait(timeout=10)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        one_rss, one_peak = measure(1, Path(tmp))
        four_rss, four_peak = measure(4, Path(tmp))
    print(f"exporter RSS, {INVERTERS} inverters per target (target: 4 targets < {LIMIT_MB:.0f} MB)")
    print(f"  1 target : RSS {one_rss:5.1f} MB  peak {one_peak:5.1f} MB")
    print(
        f"  4 targets: RSS {four_rss:5.1f} MB  peak {four_peak:5.1f} MB  "
        f"(x{four_rss / one_rss:.2f} of 1 target; {'OK' if four_rss < LIMIT_MB else 'OVER'})"
    )


if __name__ == "__main__":
    main()
