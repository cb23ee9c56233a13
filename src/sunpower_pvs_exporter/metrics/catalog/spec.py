"""The shape of a catalog row: ``MetricSpec`` (one metric) and ``Subject``
(what a group of metrics describes, and how to label it).

A subject knows how to find its items in its root object (a ``Snapshot``, a
target's poll health…) and how to label them, so label sets are defined once
per subject, not once per metric.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

Root = TypeVar("Root")
Item = TypeVar("Item")
MetricKind = Literal["gauge", "counter", "info", "histogram"]
# A histogram's sample: cumulative counts per bucket (the last is +Inf, the
# count), and the sum of the observations.
HistogramValue = tuple[Sequence[int], float]
Missing = Literal["nan", "omit"]
BOTH_APIS = frozenset({"legacy", "varserver"})
LEGACY_ONLY = frozenset({"legacy"})
VARSERVER_ONLY = frozenset({"varserver"})


@dataclass(frozen=True)
class Subject(Generic[Root, Item]):
    """What a group of metrics describes, and how to label it."""

    name: str
    doc: str
    label_names: tuple[str, ...]
    items: Callable[[Root], Iterable[Item]]
    labels: Callable[[Item], tuple[str, ...]]
    data_time: Callable[[Item], float | None]


@dataclass(frozen=True)
class MetricSpec(Generic[Root, Item]):
    """One metric. ``name`` is the full exposed name (counters end in ``_total``)."""

    name: str
    kind: MetricKind
    help: str
    unit: str
    subject: Subject[Root, Item]
    value: Callable[[Item], float | None]
    source: str
    missing: Missing = "omit"
    compatible: bool = False
    extra_label_names: tuple[str, ...] = ()
    # The APIs that have this field. For a snapshot from any other API the
    # metric is left out entirely (not NaN): the PVS is not failing to report
    # it, that API simply has no such value.
    backends: frozenset[str] = BOTH_APIS

    # A histogram's bucket bounds, and its sample per item (``value`` then
    # gives the count, for whoever reads one number).
    buckets: tuple[float, ...] = ()
    histogram: Callable[[Item], HistogramValue] | None = None

    @property
    def label_names(self) -> tuple[str, ...]:
        return self.subject.label_names + self.extra_label_names

    def sample_value(self, item: Item, *, openmetrics: bool) -> float | None:
        """The value to expose for one item, or ``None`` to leave the sample out.

        A counter can never be negative: a negative reading is PVS garbage and
        counts as missing. Missing compatible values are NaN, as in the
        original exporter — except counters in OpenMetrics, which forbids NaN
        counters, so there the sample is left out.
        """
        value = self.value(item)
        if value is not None and self.kind == "counter" and value < 0:
            value = None
        if value is not None:
            return value
        if self.missing == "nan" and not (openmetrics and self.kind == "counter"):
            return math.nan
        return None

    @property
    def family_name(self) -> str:
        """The name ``prometheus_client`` wants: no ``_total``/``_info`` suffix."""
        if self.kind == "counter":
            return self.name.removesuffix("_total")
        if self.kind == "info":
            return self.name.removesuffix("_info")
        return self.name


def one(_: object) -> float:
    """The value of an info metric: its labels carry the information."""
    return 1.0
