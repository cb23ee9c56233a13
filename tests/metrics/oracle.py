"""The reference the exporter's encoder is held to: prometheus_client's own rendering.

The exporter encodes catalog rows itself (``metrics/encoder.py``, cached by
``metrics/cache.py``) because prometheus_client's families and
``generate_latest`` are several times slower. Here the same rows become
``GaugeMetricFamily``/``CounterMetricFamily``/``InfoMetricFamily``/
``HistogramMetricFamily`` objects, rendered by prometheus_client; tests
compare the two byte for byte, so the encoder cannot drift from what the
library would write. Benchmarks use ``ExporterCollector`` as the slow path
they measure the fast one against.

Also here: ``FixedStatus`` and ``health_text``, a target's health encoded from
a fixed status, to compare the cached ``HealthText`` with a fresh encoding.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest as text_latest
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

from sunpower_pvs_exporter import __version__
from sunpower_pvs_exporter.health import ReloadStatus, TargetStatus
from sunpower_pvs_exporter.metrics.cache import HealthText, status_key
from sunpower_pvs_exporter.metrics.catalog import (
    CONFIG_METRICS,
    EXPORTER_METRICS,
    HEALTH_METRICS,
    MetricSpec,
    Subject,
    device_metrics_for,
)
from sunpower_pvs_exporter.pvs.model import Snapshot


def _new_family(spec: MetricSpec[Any, Any]) -> Metric:
    labels = list(spec.label_names)
    if spec.kind == "counter":
        return CounterMetricFamily(spec.family_name, spec.help, labels=labels)
    if spec.kind == "info":
        return InfoMetricFamily(spec.family_name, spec.help, labels=labels)
    if spec.kind == "histogram":
        return HistogramMetricFamily(spec.family_name, spec.help, labels=labels)
    return GaugeMetricFamily(spec.family_name, spec.help, labels=labels)


def _adder(family: Metric, spec: MetricSpec[Any, Any]) -> Callable[[list[str], Any, Any], None]:
    if isinstance(family, HistogramMetricFamily):
        histogram = family
        bounds = [floatToGoString(bound) for bound in spec.buckets] + ["+Inf"]

        def add_histogram(labels: list[str], item: Any, timestamp: Any) -> None:
            assert spec.histogram is not None
            cumulative, total = spec.histogram(item)
            pairs = zip(bounds, cumulative, strict=True)
            buckets = [(bound, float(count)) for bound, count in pairs]
            histogram.add_metric(labels, buckets, total, timestamp=timestamp)

        return add_histogram
    if isinstance(family, InfoMetricFamily):
        info = family

        def add_info(labels: list[str], _value: float, timestamp: Any) -> None:
            info.add_metric(labels, {}, timestamp=timestamp)

        return add_info
    if isinstance(family, CounterMetricFamily):
        counter = family

        def add_counter(labels: list[str], value: float, timestamp: Any) -> None:
            counter.add_metric(labels, value, timestamp=timestamp)

        return add_counter
    assert isinstance(family, GaugeMetricFamily), spec.kind
    gauge = family

    def add_gauge(labels: list[str], value: float, timestamp: Any) -> None:
        gauge.add_metric(labels, value, timestamp=timestamp)

    return add_gauge


def build_families(
    specs: Sequence[MetricSpec[Any, Any]],
    root: object,
    use_timestamps: bool = False,
    openmetrics: bool = False,
) -> list[Metric]:
    """Families for ``specs`` over ``root``; families without samples are left out."""
    prepared: dict[int, list[tuple[Any, list[str], float | None]]] = {}
    families: list[Metric] = []
    for spec in specs:
        subject: Subject[Any, Any] = spec.subject
        rows = prepared.get(id(subject))
        if rows is None:
            rows = [
                (
                    item,
                    list(subject.labels(item)),
                    subject.data_time(item) if use_timestamps else None,
                )
                for item in subject.items(root)
            ]
            prepared[id(subject)] = rows
        if not rows:
            continue
        family = _new_family(spec)
        add = _adder(family, spec)
        for item, labels, timestamp in rows:
            if spec.kind == "histogram":
                add(labels, item, timestamp)
                continue
            value = spec.sample_value(item, openmetrics=openmetrics)
            if value is not None:
                add(labels, value, timestamp)
        if family.samples:
            families.append(family)
    return families


def device_families(snapshot: Snapshot, use_timestamps: bool = False) -> list[Metric]:
    """The device families of ``snapshot``, with the rows its API can fill."""
    return build_families(device_metrics_for(snapshot), snapshot, use_timestamps)


class FixedCollector(Collector):
    """Yields the families it was given, on every collect."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        return self.families


def registry_of(families: Iterable[Metric]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FixedCollector(families))
    return registry


def exposition(registry: CollectorRegistry, openmetrics: bool) -> bytes:
    """prometheus_client's text for ``registry``; OpenMetrics without its ``# EOF``,
    as the exporter's encoder writes it (the caller appends the ``# EOF``)."""
    if openmetrics:
        return openmetrics_latest(registry).removesuffix(b"# EOF\n")
    return text_latest(registry)


def reference_exposition(
    specs: Sequence[MetricSpec[Any, Any]], root: object, use_timestamps: bool, openmetrics: bool
) -> bytes:
    """What ``encoder.encode_metrics`` must write for the same arguments."""
    families = build_families(specs, root, use_timestamps, openmetrics)
    return exposition(registry_of(families), openmetrics)


class ExporterCollector(Collector):
    """Health of the given targets, plus their device metrics when asked.

    ``statuses`` is called on every collect so each scrape sees the current state.
    """

    def __init__(
        self,
        statuses: Callable[[], Iterable[TargetStatus]],
        *,
        include_devices: bool,
        include_exporter_info: bool = True,
        reload_status: Callable[[], ReloadStatus] | None = None,
        use_timestamps: bool = False,
    ) -> None:
        self.statuses = statuses
        self.reload_status = reload_status
        self.include_devices = include_devices
        self.include_exporter_info = include_exporter_info
        self.use_timestamps = use_timestamps

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        statuses = list(self.statuses())
        if self.include_exporter_info:
            yield from build_families(EXPORTER_METRICS, __version__)
            if self.reload_status is not None:
                yield from build_families(CONFIG_METRICS, self.reload_status())
        merged: dict[str, Metric] = {}
        for status in statuses:
            for family in build_families(HEALTH_METRICS, status):
                existing = merged.get(family.name)
                if existing is None:
                    merged[family.name] = family
                else:
                    existing.samples.extend(family.samples)
        yield from merged.values()
        if self.include_devices:
            for status in statuses:
                if status.snapshot is not None:
                    yield from device_families(status.snapshot, self.use_timestamps)


class FixedStatus:
    """A ``metrics.cache.HealthSource`` that always reports one status."""

    def __init__(self, status: TargetStatus) -> None:
        self._status = status
        self.name = status.target
        self._key = status_key(status)

    def clock(self) -> float:
        return self._status.now

    def health_key(self, now: float) -> Hashable:
        return self._key

    def status(self, now: float | None = None) -> TargetStatus:
        if now is None or now == self._status.now:
            return self._status
        return dataclasses.replace(self._status, now=now)


def health_text(
    statuses: Sequence[TargetStatus],
    openmetrics: bool,
    include_exporter_info: bool,
    reload_status: ReloadStatus | None = None,
) -> bytes:
    """These statuses' health, freshly encoded by a new ``HealthText``."""
    sources = [(FixedStatus(status), status.now) for status in statuses]
    return HealthText().text(
        sources,
        openmetrics=openmetrics,
        include_exporter_info=include_exporter_info,
        reload_status=reload_status,
    )
