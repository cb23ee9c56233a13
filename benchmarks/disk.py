"""Disk per site per year: the TSDB growth of a simulated site, measured.

Why a backfill and not a real scrape run: Prometheus cuts and compacts blocks on
the samples' own clock (2 h blocks, compacted later), so minutes of real
scraping leave everything in the head and WAL and say nothing about what a year
costs on disk. Instead the simulator's site (N inverters, a production and a
consumption meter, the PVS; old "legacy" firmware, which reports the most
device fields) is stepped through ``--days`` simulated days, each PVS poll
(every 120 s, the legacy default) goes through the exporter's own parser and
renderer, and each scrape (every 60 s, the stack's interval) records every
sample of what the exporter serves for the site (device metrics and the
target's health), with the values and timestamps it would have. The samples are
written as OpenMetrics and turned into one block by Prometheus's own
``promtool tsdb create-blocks-from openmetrics``; the block's bytes on disk per
simulated day, times 365, is the growth per year.

What it leaves out (said in the results): the WAL and head (a fixed few tens of
MB, not growing with the years), recording rules (~10 series per site, ~1 %),
and the exporter's own /metrics job (one per exporter, not per site). Blocks
that Prometheus compacts to 31 days share one index instead of one per block
here, so the real figure is a little lower, not higher.

    python benchmarks/disk.py                       # 30 inverters, 2 days
    python benchmarks/disk.py --inverters 10 --days 2
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from sunpower_pvs_exporter.health import TargetStatus
from sunpower_pvs_exporter.metrics.cache import DeviceText
from sunpower_pvs_exporter.pvs.legacy_parse import parse_device_list
from sunpower_pvs_exporter.pvs.model import Snapshot
from sunpower_pvs_exporter.simulator import legacy_api
from sunpower_pvs_exporter.simulator.site import Site, SiteConfig

# The exporter's health encoder (HealthText) fed one fixed status, as the tests use it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from metrics.oracle import health_text

START = 1780272000.0  # 2026-06-01 00:00 UTC: a summer day, sun from the simulator's UTC zone
POLL_INTERVAL = 120.0
SCRAPE_INTERVAL = 60.0
DAYS_PER_YEAR = 365.25
# Marks a scrape in which a series was absent (NaN is a real value: an inverter
# in error at night is served as NaN, and Prometheus stores it).
ABSENT = -1.0e308


Sample = tuple[str, str, float]  # name, labels as written in OpenMetrics, value


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def samples_of(text: str) -> list[Sample]:
    found = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(
                f'{key}="{_escape(value)}"' for key, value in sorted(sample.labels.items())
            )
            found.append((sample.name, labels, sample.value))
    return found


def poll(site: Site, at: float) -> tuple[Snapshot, list[Sample]]:
    """One PVS poll through the exporter's parser and renderer: its device samples."""
    doc = legacy_api.device_list(site.state(at), None, "strip")
    snapshot = parse_device_list(doc, fetched_at=at)
    return snapshot, samples_of(DeviceText(False).text("home", snapshot, False).decode())


def health(snapshot: Snapshot, poll_at: float, scrape_at: float, polls: int) -> list[Sample]:
    """The target's health samples in a scrape at ``scrape_at``."""
    status = TargetStatus(
        target="home",
        host="172.27.153.1",
        api="auto",
        now=scrape_at,
        backend="legacy",
        snapshot=snapshot,
        last_snapshot_at=poll_at,
        last_attempt_at=poll_at,
        last_success_at=poll_at,
        last_poll_duration=20.0 + (polls % 7),
        last_poll_ok=True,
        polls=polls,
        poll_interval=POLL_INTERVAL,
        next_poll_at=poll_at + POLL_INTERVAL,
    )
    return samples_of(
        health_text([status], openmetrics=False, include_exporter_info=False).decode()
    )


def collect(inverters: int, days: float) -> tuple[dict[str, dict[str, array[float]]], int]:
    """Every series' values, scrape by scrape: {sample name: {labels: values}}."""
    site = Site(SiteConfig(seed=7, inverters=inverters, error_inverters=0), START)
    series: dict[str, dict[str, array[float]]] = {}
    scrapes = int(days * 86400 / SCRAPE_INTERVAL)
    polls = 0
    poll_at = START
    snapshot, devices = poll(site, START)
    for index in range(scrapes):
        now = START + index * SCRAPE_INTERVAL
        if now >= poll_at + POLL_INTERVAL:
            poll_at = now
            snapshot, devices = poll(site, now)
            polls += 1
        for name, labels, value in devices + health(snapshot, poll_at, now, polls):
            values = series.setdefault(name, {}).setdefault(labels, array("d"))
            # Absent from scrapes since its last sample (a series that comes and
            # goes, e.g. when an inverter is silent at night); absent at the end:
            # the array is simply shorter.
            while len(values) < index:
                values.append(ABSENT)
            values.append(value)
    return series, scrapes


def write_openmetrics(series: dict[str, dict[str, array[float]]], path: Path) -> int:
    samples = 0
    with path.open("w") as out:
        for name in sorted(series):
            out.write(f"# TYPE {name} unknown\n")
            for labels, values in series[name].items():
                head = f"{name}{{{labels}}}" if labels else name
                for index, value in enumerate(values):
                    if value == ABSENT:
                        continue
                    stamp = int(START + index * SCRAPE_INTERVAL)
                    out.write(f"{head} {value!r} {stamp}\n")
                    samples += 1
        out.write("# EOF\n")
    return samples


def block_bytes(directory: Path) -> dict[str, int]:
    """Bytes of each part of the block(s) promtool wrote."""
    parts = {"chunks": 0, "index": 0, "other": 0}
    for path in directory.rglob("*"):
        if path.is_file():
            kind = "chunks" if path.parent.name == "chunks" else path.name
            parts[kind if kind in parts else "other"] += path.stat().st_size
    return parts


def measure(inverters: int, days: float, promtool: str) -> dict[str, float]:
    started = time.perf_counter()
    series, scrapes = collect(inverters, days)
    count = sum(len(by_labels) for by_labels in series.values())
    with tempfile.TemporaryDirectory(prefix="sunpower-disk-") as tmp:
        source = Path(tmp) / "samples.om"
        samples = write_openmetrics(series, source)
        del series
        blocks = Path(tmp) / "data"
        hours = math.ceil(days * 24) + 2
        run = subprocess.run(
            [
                promtool,
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                f"--max-block-duration={hours}h",
                str(source),
                str(blocks),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if run.returncode != 0:
            raise SystemExit(f"promtool failed:\n{run.stdout}\n{run.stderr}")
        parts = block_bytes(blocks)
        block_count = sum(1 for p in blocks.iterdir() if p.is_dir())
    total = sum(parts.values())
    per_day = total / days
    result = {
        "inverters": inverters,
        "days": days,
        "scrapes": scrapes,
        "series": count,
        "samples": samples,
        "blocks": block_count,
        "chunks_bytes": parts["chunks"],
        "index_bytes": parts["index"],
        "other_bytes": parts["other"],
        "bytes_per_sample": total / samples,
        "mb_per_day": per_day / 1e6,
        "gb_per_year": per_day * DAYS_PER_YEAR / 1e9,
        "seconds": time.perf_counter() - started,
    }
    print(
        f"{inverters:>3} inverters | {days:g} days, {scrapes} scrapes at 60 s | "
        f"{count} series, {samples} samples | {block_count} block(s): chunks "
        f"{parts['chunks'] / 1e6:.2f} MB, index {parts['index'] / 1e6:.2f} MB | "
        f"{total / samples:.2f} bytes/sample | {per_day / 1e6:.2f} MB/day | "
        f"{per_day * DAYS_PER_YEAR / 1e9:.3f} GB/year | {result['seconds']:.0f} s"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inverters", type=int, nargs="+", default=[30])
    parser.add_argument("--days", type=float, default=2.0)
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args()
    promtool = shutil.which("promtool")
    if promtool is None:
        raise SystemExit("promtool not found (Debian: apt-get install prometheus)")
    version = subprocess.run([promtool, "--version"], capture_output=True, text=True, check=False)
    print(f"TSDB growth per site, blocks written by {version.stdout.splitlines()[0]}")
    results = [measure(n, args.days, promtool) for n in args.inverters]
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
