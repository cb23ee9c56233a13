"""How long a /metrics render takes, against the floor of plain prometheus_client gauges.

For a 1-meter/30-inverter site and a 4-meter/300-inverter site, times

* ours: the exporter's registry (process + platform + gc collectors, health and
  device metrics through ``ExporterCollector``) rendered with ``generate_latest``;
* floor: a registry of plain ``Gauge`` objects holding exactly the same samples
  (same names, labels and values), rendered with ``generate_latest``;

and prints the ratio ours / floor. Target: <= 1.5. Both are measured in the same
process, interleaved, best of several rounds, so machine noise hits both alike.

    python benchmarks/render.py
"""

from __future__ import annotations

import copy
import gc
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Gauge,
    generate_latest,
)
from prometheus_client.parser import text_string_to_metric_families

from sunpower_pvs_exporter.health import TargetStatus
from sunpower_pvs_exporter.metrics.cache import DeviceText
from sunpower_pvs_exporter.pvs.legacy_parse import parse_device_list
from sunpower_pvs_exporter.simulator import legacy_api
from sunpower_pvs_exporter.simulator.site import Site, SiteConfig
from sunpower_pvs_exporter.web.exposition import render

# prometheus_client's rendering of the catalog, which the tests hold the encoder to.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from metrics.oracle import ExporterCollector

NOON = 1782043200.0  # 2026-06-21 12:00 UTC


def site_snapshot(meters: int, inverters: int) -> Any:
    site = Site(SiteConfig(seed=3, inverters=inverters, error_inverters=inverters // 30), NOON)
    doc = legacy_api.device_list(site.state(NOON), None, "strip")
    base_meters = [d for d in doc["devices"] if d["DEVICE_TYPE"] == "Power Meter"]
    for surplus in base_meters[meters:]:
        doc["devices"].remove(surplus)
    for index in range(meters - len(base_meters)):
        extra = copy.deepcopy(base_meters[index % len(base_meters)])
        extra["SERIAL"] = f"{extra['SERIAL']}x{index}"
        doc["devices"].append(extra)
    return parse_device_list(doc, fetched_at=NOON)


def our_render(snapshot: Any) -> Callable[[], bytes]:
    """What /metrics does per scrape: encode health, append cached device text."""
    status = TargetStatus(
        target="bench",
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
        poll_interval=120,
    )
    cache = DeviceText(False)
    registry = CollectorRegistry(auto_describe=False)
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(collector)
    registry.register(ExporterCollector(lambda: [status], include_devices=False))

    def scrape() -> bytes:
        body, _ = render(registry, "", lambda om: cache.text("bench", snapshot, om))
        return body

    return scrape


def first_scrape_after_poll(snapshot: Any, repeat: int) -> float:
    """Cost of the one scrape per poll that builds and encodes the device families."""
    best = math.inf
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(repeat):
            our_render(snapshot)()
        best = min(best, (time.perf_counter() - started) / repeat)
    return best


def floor_registry(text: str) -> CollectorRegistry:
    """Plain gauges carrying every sample of ``text``: the cheapest possible render."""
    registry = CollectorRegistry(auto_describe=False)
    for family in text_string_to_metric_families(text):
        by_name: dict[str, Gauge] = {}
        for sample in family.samples:
            gauge = by_name.get(sample.name)
            if gauge is None:
                gauge = Gauge(
                    sample.name,
                    family.documentation or "help",
                    labelnames=list(sample.labels),
                    registry=registry,
                )
                by_name[sample.name] = gauge
            if sample.labels:
                gauge.labels(**sample.labels).set(sample.value)
            else:
                gauge.set(sample.value)
    return registry


def best_time(render_once: Callable[[], bytes], rounds: int, repeat: int) -> float:
    times = []
    for _ in range(rounds):
        gc.collect()
        started = time.perf_counter()
        for _ in range(repeat):
            render_once()
        times.append((time.perf_counter() - started) / repeat)
    return min(times)


def measure(label: str, meters: int, inverters: int, repeat: int) -> dict[str, float]:
    snapshot = site_snapshot(meters, inverters)
    ours = our_render(snapshot)
    text = ours().decode()
    floor_registry_ = floor_registry(text)

    def floor() -> bytes:
        return generate_latest(floor_registry_)

    samples = sum(len(f.samples) for f in text_string_to_metric_families(text))
    ours_times, floor_times = [], []
    for _ in range(5):  # interleave so drift hits both alike
        ours_times.append(best_time(ours, 3, repeat))
        floor_times.append(best_time(floor, 3, repeat))
    ours_s = statistics.median(ours_times)
    floor_s = statistics.median(floor_times)
    first_s = first_scrape_after_poll(snapshot, max(1, repeat // 5))
    ratio = ours_s / floor_s
    print(
        f"{label:<26} {samples:>5} samples | floor {floor_s * 1000:6.2f} ms | "
        f"ours {ours_s * 1000:6.2f} ms (ratio {ratio:4.2f}, "
        f"{'OK' if ratio <= 1.5 else 'OVER TARGET'}) | first scrape after a poll "
        f"{first_s * 1000:6.2f} ms (ratio {first_s / floor_s:4.2f})"
    )
    return {"samples": samples, "ours_ms": ours_s * 1000, "floor_ms": floor_s * 1000}


def main() -> None:
    print(
        "render /metrics: our scrape path vs generate_latest on plain gauges with the same "
        "samples (target: ratio <= 1.5)"
    )
    measure("1 meter / 30 inverters", 1, 30, repeat=50)
    measure("4 meters / 300 inverters", 4, 300, repeat=10)


if __name__ == "__main__":
    main()
