"""How long the status page takes to render, and what today's curve costs in memory.

The page is rendered on request, from every target's status: for 10, 100 and
1000 targets of 30 inverters each (one in error, one shaded: two problem
lines per site), with today's curve for the first ``DAY_RECORD_TARGETS``
(polled every 60 s since midnight), times ``render_status_page`` in a child
process per tree and round, the trees alternating so machine noise hits both
alike:

* after: this checkout (or ``--src``);
* before: ``--before`` (another checkout's ``src``, e.g. /work/main/src), the
  floor: the page as it was.

Prints the median of the rounds (each the best of 3 renders in its process),
the page's size, and the bytes one day record holds after a full day of
polls (tracemalloc and ``nbytes``).

    python benchmarks/status_page.py [--sizes 10,100,1000] [--rounds 5] [--before PATH]
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NOON = 1782043200.0  # 2026-06-21 12:00 UTC


def fleet_statuses(size: int) -> tuple[list[Any], dict[str, Any]]:
    """``size`` targets of one simulated 30-inverter site at noon, and their curves."""
    from sunpower_pvs_exporter.health import TargetStatus
    from sunpower_pvs_exporter.pvs.legacy_parse import parse_device_list
    from sunpower_pvs_exporter.simulator import legacy_api
    from sunpower_pvs_exporter.simulator.site import InverterFault, Site, SiteConfig

    config = SiteConfig(seed=3, inverters=30, error_inverters=1, tz=None)
    site = Site(config, NOON - 3600)
    site.set_inverter_fault(4, InverterFault("degraded", factor=0.5), NOON - 3600)
    doc = legacy_api.device_list(site.state(NOON), None, "strip")
    snapshot = parse_device_list(doc, fetched_at=NOON)
    statuses = [
        TargetStatus(
            target=f"site-{index:04d}",
            host="127.0.0.1",
            api="legacy",
            now=NOON,
            backend="legacy",
            snapshot=snapshot,
            last_snapshot_at=NOON,
            last_success_at=NOON,
            last_poll_duration=1.2,
            last_poll_ok=True,
            polls=10,
            poll_interval=60,
        )
        for index in range(size)
    ]
    curves: dict[str, Any] = {}
    try:
        from sunpower_pvs_exporter.day_record import DAY_RECORD_TARGETS, DayRecord
    except ImportError:  # the tree before: no curves
        return statuses, curves
    record = full_day_record(DayRecord)
    curve = record.curve(NOON)
    for status in statuses[:DAY_RECORD_TARGETS]:
        curves[status.target] = curve
    return statuses, curves


def full_day_record(record_class: Any) -> Any:
    """A record fed every 60 s from local midnight to NOON."""
    record = record_class()
    from sunpower_pvs_exporter.day_record import local_day

    start, _ = local_day(NOON, None)
    moment = start
    while moment <= NOON:
        hour = (moment - start) / 3600
        production = max(0.0, 7000 * math.sin(math.pi * (hour - 6) / 12))
        record.add(moment, production=production, consumption=600 + 300 * math.sin(hour))
        moment += 60
    return record


def child(size: int) -> None:
    """One round in this process: render the page for ``size`` targets, print JSON."""
    from sunpower_pvs_exporter.web import status as page_module

    statuses, curves = fleet_statuses(size)
    options: dict[str, Any] = {}
    if "curves" in inspect.signature(page_module.render_status_page).parameters:
        options["curves"] = curves
    # Warm, as in a running exporter: the best of three renders of the page.
    elapsed = math.inf
    for _ in range(3):
        started = time.perf_counter()
        page = page_module.render_status_page(statuses, single_target=False, now=NOON, **options)
        elapsed = min(elapsed, time.perf_counter() - started)
    print(json.dumps({"seconds": elapsed, "bytes": len(page.encode())}))


def record_memory() -> tuple[int, int, int]:
    """(bytes traced for one record after a day of polls, its ``nbytes``, its object)."""
    from sunpower_pvs_exporter.day_record import DayRecord

    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    record = full_day_record(DayRecord)
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return after - before, record.nbytes(), sys.getsizeof(record)


def run_round(src: str, size: int) -> dict[str, float]:
    here = str(ROOT / "benchmarks")
    code = (
        f"import sys; sys.path.insert(0, {src!r}); sys.path.insert(0, {here!r})\n"
        f"import status_page; status_page.child({size})\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=600
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--src", default=str(ROOT / "src"))
    parser.add_argument("--before", help="another checkout's src: the page as it was")
    args = parser.parse_args()
    sys.path.insert(0, args.src)
    traced, held, obj = record_memory()
    print(
        f"one day record after a day of 60 s polls: {traced} bytes traced "
        f"({held} bytes of buckets + a {obj}-byte object)\n"
    )
    trees = {"after": args.src}
    if args.before:
        trees["before"] = args.before
    print("| targets | " + " | ".join(f"{t} render (page)" for t in trees) + " |")
    print("|---|" + "---|" * len(trees))
    for size in (int(s) for s in args.sizes.split(",")):
        times: dict[str, list[float]] = {t: [] for t in trees}
        sizes: dict[str, float] = {}
        for _ in range(args.rounds):
            for tree, src in trees.items():
                result = run_round(src, size)
                times[tree].append(result["seconds"])
                sizes[tree] = result["bytes"]
        cells = [
            f"{1000 * statistics.median(times[t]):.1f} ms ({sizes[t] / 1024:.0f} KB)" for t in trees
        ]
        print(f"| {size} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
