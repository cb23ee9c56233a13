"""Encoded exposition text, kept until what it was encoded from changes.

A scrape joins bytes encoded earlier instead of rendering every sample anew:

* ``DeviceText``: each target's device metrics, encoded once per snapshot and
  text format (a snapshot is immutable, and 300 inverters' worth of samples
  is most of a scrape's cost);
* ``HealthText``: each target's health lines, re-encoded only when the
  poller's state changes; only the snapshot age is formatted per scrape.

Everything is encoded by ``metrics/encoder.py``, whose bytes the tests compare
with prometheus_client's own rendering of the same catalog rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Sequence
from typing import Protocol

from sunpower_pvs_exporter import __version__
from sunpower_pvs_exporter.health import ReloadStatus, TargetStatus, snapshot_age
from sunpower_pvs_exporter.metrics.catalog import (
    CONFIG_METRICS,
    EXPORTER_METRICS,
    HEALTH_METRICS,
    device_metrics_for,
)
from sunpower_pvs_exporter.metrics.encoder import (
    assemble,
    encode_metrics,
    encode_parts,
    go_float,
    sample_lines,
)
from sunpower_pvs_exporter.pvs.model import Snapshot


class DeviceText:
    """Each target's device metrics, encoded once per snapshot and text format."""

    def __init__(self, *, use_timestamps: bool) -> None:
        self.use_timestamps = use_timestamps
        self._texts: dict[str, tuple[Snapshot, dict[bool, list[bytes]]]] = {}
        # The formats scrapes have asked for (True: OpenMetrics), which a new
        # snapshot is pre-rendered in. Prometheus asks for OpenMetrics; the
        # classic text format (curl, a Pushgateway push) is added the first
        # time it is wanted. Rendering only what is read halves the memory a
        # large fleet keeps per target (benchmarks/RESULTS.md, fleet).
        self.wanted: set[bool] = {True}

    def forget(self, target: str) -> None:
        """Drop a target that left the configuration."""
        self._texts.pop(target, None)

    def text(self, target: str, snapshot: Snapshot, *, openmetrics: bool) -> bytes:
        """The device families already rendered, once per snapshot and format."""
        return b"".join(self.parts(target, snapshot, openmetrics=openmetrics))

    def parts(self, target: str, snapshot: Snapshot, *, openmetrics: bool) -> list[bytes]:
        """The device families already rendered, as pieces to concatenate.

        Rendering 300 inverters' worth of samples is most of a scrape's cost;
        the snapshot is immutable, so every scrape until the next poll reuses
        the bytes. The family headers in the pieces are shared by all
        targets (``encoder.encode_parts``). OpenMetrics text comes without
        its ``# EOF`` line so it can be appended to other families.
        """
        self.wanted.add(openmetrics)
        entry = self._texts.get(target)
        if entry is None or entry[0] is not snapshot:
            entry = (snapshot, {})
            self._texts[target] = entry
        cached = entry[1].get(openmetrics)
        if cached is None:
            cached = encode_parts(
                device_metrics_for(snapshot),
                snapshot,
                use_timestamps=self.use_timestamps,
                openmetrics=openmetrics,
            )
            entry[1][openmetrics] = cached
        return cached


# Health metrics whose value depends on the time of the scrape, not only on
# the poller's state: rendered anew on every scrape. (tests/metrics check that
# every other health metric is a function of the state alone.)
NOW_DEPENDENT = frozenset({"sunpower_pvs_snapshot_age_seconds"})
_UNKEYED = frozenset({"now", "snapshot", "failures"})


def status_key(status: TargetStatus) -> tuple[object, ...]:
    """Everything a target's health lines depend on, apart from the time."""
    fields = tuple(value for name, value in vars(status).items() if name not in _UNKEYED)
    return (*fields, tuple(status.failures.items()), status.snapshot is not None)


def _age_value(now: float, last_snapshot_at: float) -> str:
    return go_float(snapshot_age(now, last_snapshot_at))


class HealthSource(Protocol):
    """A target as ``HealthText`` reads it: a poller, or a fixed status."""

    @property
    def name(self) -> str: ...

    def clock(self) -> float: ...

    def health_key(self, now: float) -> Hashable:
        """Equal at two times exactly when ``status`` differs only in ``now``."""

    def status(self, now: float | None = None) -> TargetStatus: ...


_AGE_INDEX = next(i for i, spec in enumerate(HEALTH_METRICS) if spec.name in NOW_DEPENDENT)
# All that is said of a target this exporter has never polled and does not
# poll (poll_mode on_demand: another shard's).
_ACTIVE_INDEX = next(
    i for i, spec in enumerate(HEALTH_METRICS) if spec.name == "sunpower_pvs_target_active"
)
assert len(NOW_DEPENDENT) == 1, "HealthText renders exactly one time-dependent metric"

# The two text formats write a sample line differently only for a missing
# counter exported as NaN (OpenMetrics leaves it out) and for timestamps,
# which health metrics do not carry. Without such counters a target's health
# lines are the same in both formats and are encoded once.
FORMAT_NEUTRAL = not any(
    spec.kind == "counter" and spec.missing == "nan" for spec in HEALTH_METRICS
)


@dataclasses.dataclass(frozen=True, slots=True)
class _TargetLines:
    """One target's encoded health lines and what they were encoded from.

    Kept for every target of a fleet: slots, and one list for both formats
    when they agree (``FORMAT_NEUTRAL``), keep it small.
    """

    key: Hashable
    # One string per HEALTH_METRICS entry, in the classic text format...
    text: list[str]
    # ...and in OpenMetrics, when that differs (None: the same as ``text``).
    openmetrics: list[str] | None
    last_snapshot_at: float | None
    # ``name{labels} `` of the snapshot-age sample, for re-encoding its value.
    age_prefix: str

    def lines(self, *, openmetrics: bool) -> list[str]:
        if openmetrics and self.openmetrics is not None:
            return self.openmetrics
        return self.text


class HealthText:
    """``/metrics`` health of every target, re-encoding only what changed.

    A target's lines change when it is polled (every minute or two), not per
    scrape; with a large fleet, building every target's status and encoding
    every sample on every scrape took most of its time (benchmarks/RESULTS.md,
    fleet). Each target's lines are kept with the ``health_key`` they were
    encoded under and reused while it is unchanged; only the snapshot age,
    which moves with the clock, is formatted per scrape. One instance serves
    ``/metrics`` and ``/probe`` alike: entries are per target and stay until
    ``forget``, so a probe of one target never evicts the others.
    """

    def __init__(self) -> None:
        self._entries: dict[str, _TargetLines] = {}
        self._info: tuple[tuple[bool, ReloadStatus | None], bytes] | None = None

    def forget(self, target: str) -> None:
        """Drop a target that left the configuration."""
        self._entries.pop(target, None)

    def refresh(self, source: HealthSource) -> None:
        """Encode ``source``'s lines now (its poll just ended).

        At 1000 targets polled every minute and scraped every 15 s, a quarter
        of the fleet has new lines at each scrape; encoded as each poll ends,
        they cost the scrape nothing (benchmarks/RESULTS.md, fleet "paced").
        """
        self._lines(source, source.clock())

    def _lines(self, source: HealthSource, now: float) -> _TargetLines:
        key = source.health_key(now)
        entry = self._entries.get(source.name)
        if entry is not None and entry.key == key:
            return entry
        return self._encode(source, now, key)

    def _encode(self, source: HealthSource, now: float, key: Hashable) -> _TargetLines:
        status = source.status(now)
        text = sample_lines(HEALTH_METRICS, (status,), use_timestamps=False, openmetrics=False)
        openmetrics = (
            None
            if FORMAT_NEUTRAL
            else sample_lines(HEALTH_METRICS, (status,), use_timestamps=False, openmetrics=True)
        )
        if not status.active and status.polls == 0:
            # Another shard's PVS, never polled here: its zero counters and "up
            # 0" said nothing, and in a sharded fleet they were most of every
            # exporter's /metrics and of the central server's series (N shards:
            # N - 1 idle copies of each site). Only target_active 0 remains.
            text = [line if i == _ACTIVE_INDEX else "" for i, line in enumerate(text)]
            if openmetrics is not None:
                openmetrics = [
                    line if i == _ACTIVE_INDEX else "" for i, line in enumerate(openmetrics)
                ]
        age_line = text[_AGE_INDEX]
        entry = _TargetLines(
            key, text, openmetrics, status.last_snapshot_at, age_line[: age_line.rfind(" ") + 1]
        )
        self._entries[source.name] = entry
        return entry

    def age_sample(self, source: HealthSource, now: float) -> tuple[str, str] | None:
        """``source``'s snapshot-age sample at ``now`` as ``text`` writes it: its
        ``name{labels} `` and its value. None before the target's first data:
        the line is then the same at any time.

        A ``/probe`` answer differs between two polls only there
        (``web/probe_body.py`` keeps the rest compressed).
        """
        entry = self._lines(source, now)
        if entry.last_snapshot_at is None:
            return None
        return entry.age_prefix, _age_value(now, entry.last_snapshot_at)

    def text(
        self,
        sources: Sequence[tuple[HealthSource, float]],
        *,
        openmetrics: bool,
        include_exporter_info: bool,
        reload_status: ReloadStatus | None = None,
    ) -> bytes:
        """The health of each ``(source, now)``, as of its ``now``."""
        rows: list[list[str]] = []
        ages: list[str] = []
        for source, now in sources:
            entry = self._lines(source, now)
            lines = entry.lines(openmetrics=openmetrics)
            rows.append(lines)
            last = entry.last_snapshot_at
            if last is None:
                ages.append(lines[_AGE_INDEX])
            else:
                ages.append(f"{entry.age_prefix}{_age_value(now, last)}\n")
        if rows:
            merged = ["".join(column) for column in zip(*rows, strict=True)]
        else:
            merged = [""] * len(HEALTH_METRICS)
        merged[_AGE_INDEX] = "".join(ages)
        health = assemble(HEALTH_METRICS, merged, openmetrics=openmetrics)
        if not include_exporter_info:
            return health
        # Changes only with a reload: encoded once per outcome and format.
        info_key = (openmetrics, reload_status)
        if self._info is None or self._info[0] != info_key:
            info = encode_metrics(
                EXPORTER_METRICS, __version__, use_timestamps=False, openmetrics=openmetrics
            )
            if reload_status is not None:
                info += encode_metrics(
                    CONFIG_METRICS, reload_status, use_timestamps=False, openmetrics=openmetrics
                )
            self._info = (info_key, info)
        return self._info[1] + health
