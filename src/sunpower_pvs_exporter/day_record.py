"""Today's production and consumption, as the exporter's own polls saw them.

The status page draws this curve without Prometheus: the first thing an
owner asks ("what did my system do today?") answered by the exporter alone.
The poller feeds the record from each good poll's ``Snapshot``; the web layer
reads a frozen ``DayCurve`` of it: data flows one way.

"Today" is the exporter host's local day (or ``tz``, for tests): buckets of
5 minutes from local midnight to the next, so a DST day has 23 or 25 hours
(276 or 300 buckets); at the first poll of a new day the record starts
afresh. Each bucket holds the mean of the polls that fell in it.

Memory is fixed, whatever the uptime: two ``array('f')`` of 300 means and two
``array('B')`` of 300 poll counts, 3000 bytes, allocated at the first poll
(a target that never answers costs only the object). A fleet caps how many
targets keep one (``DAY_RECORD_TARGETS``, the first in config order; the
status page draws the curve and the inverter grid of those only).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from sunpower_pvs_exporter.pvs.model import Snapshot
from sunpower_pvs_exporter.site_facts import site_power

# Targets that keep a record (~3 KB each): the runtime gives one to the first
# of them in config order, and the status page details those (docs/monitoring.md).
DAY_RECORD_TARGETS = 50
BUCKET_SECONDS = 300
# A 25-hour day (DST ends) in 5-minute buckets.
MAX_BUCKETS = 300
_MAX_COUNT = 255
_EMPTY_MEANS = array("f", [math.nan]) * MAX_BUCKETS
_EMPTY_COUNTS = array("B", [0]) * MAX_BUCKETS


def _midnight(day: date, tz: tzinfo | None) -> float:
    if tz is None:
        # A naive datetime is local time: the host's zone, DST included (mktime).
        # The exporter runs this way: a ``ZoneInfo`` keeps ~100 bytes for each
        # date it converts (CPython 3.11), a slow leak for a process up for years.
        return datetime(day.year, day.month, day.day).timestamp()
    return datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()


def local_day(moment: float, tz: tzinfo | None) -> tuple[float, float]:
    """The local midnights around ``moment`` in ``tz`` (``None``: the host's zone)."""
    day = datetime.fromtimestamp(moment, tz).date()
    return _midnight(day, tz), _midnight(day + timedelta(days=1), tz)


@dataclass(frozen=True)
class DayCurve:
    """One local day of means, one per 5-minute bucket from ``start`` (epoch
    seconds of local midnight) to ``end``; ``None`` where no poll fell."""

    start: float
    end: float
    bucket_seconds: float
    production: tuple[float | None, ...]
    consumption: tuple[float | None, ...]
    # The zone the day is local to (``None``: the host's).
    tz: tzinfo | None = None

    def hour_marks(self, hours: Sequence[int] = (6, 12, 18)) -> list[tuple[int, float]]:
        """(local hour, fraction of the day) for each hour: where its label goes,
        on a DST day too."""
        tz = self.tz
        day = datetime.fromtimestamp(self.start, tz).date()
        length = self.end - self.start
        marks = []
        for hour in hours:
            if tz is None:
                moment = datetime(day.year, day.month, day.day, hour).timestamp()
            else:
                moment = datetime(day.year, day.month, day.day, hour, tzinfo=tz).timestamp()
            marks.append((hour, (moment - self.start) / length))
        return marks

    def energy_watt_hours(self, series: Sequence[float | None]) -> float:
        """The energy of the buckets that have a mean (gaps count as nothing)."""
        return sum(v for v in series if v is not None) * self.bucket_seconds / 3600


class DayRecord:
    """One target's day of polls, in fixed memory."""

    __slots__ = ("_consumption", "_counts", "_end", "_production", "_start", "tz")

    def __init__(self, tz: tzinfo | None = None) -> None:
        self.tz = tz
        self._start = 0.0
        self._end = 0.0
        self._production: array[float] | None = None
        self._consumption: array[float] | None = None
        self._counts: tuple[array[int], array[int]] | None = None

    def record(self, snapshot: Snapshot, moment: float) -> None:
        """A good poll at ``moment``: the site's power as the status page shows it."""
        power = site_power(snapshot)
        self.add(moment, production=power.production, consumption=power.consumption)

    def add(self, moment: float, *, production: float | None, consumption: float | None) -> None:
        if moment >= self._end or self._production is None:
            self._start_day(moment)
        elif moment < self._start:
            return  # the clock stepped back over midnight: today is kept
        assert self._production is not None and self._consumption is not None
        assert self._counts is not None
        index = min(int((moment - self._start) // BUCKET_SECONDS), MAX_BUCKETS - 1)
        for means, counts, value in (
            (self._production, self._counts[0], production),
            (self._consumption, self._counts[1], consumption),
        ):
            if value is None or not math.isfinite(value):
                continue
            count = min(counts[index] + 1, _MAX_COUNT)
            old = means[index] if counts[index] else 0.0
            means[index] = old + (value - old) / count
            counts[index] = count

    def _start_day(self, moment: float) -> None:
        self._start, self._end = local_day(moment, self.tz)
        if self._production is None or self._consumption is None or self._counts is None:
            self._production = array("f", _EMPTY_MEANS)
            self._consumption = array("f", _EMPTY_MEANS)
            self._counts = (array("B", _EMPTY_COUNTS), array("B", _EMPTY_COUNTS))
            return
        self._production[:] = _EMPTY_MEANS
        self._consumption[:] = _EMPTY_MEANS
        self._counts[0][:] = _EMPTY_COUNTS
        self._counts[1][:] = _EMPTY_COUNTS

    def curve(self, now: float) -> DayCurve:
        """Today's curve as of ``now``: empty if no poll fell today yet."""
        start, end = local_day(now, self.tz)
        buckets = min(math.ceil((end - start) / BUCKET_SECONDS), MAX_BUCKETS)
        empty: tuple[float | None, ...] = (None,) * buckets
        if self._production is None or self._start != start:
            return DayCurve(start, end, BUCKET_SECONDS, empty, empty, self.tz)
        assert self._consumption is not None and self._counts is not None
        production = self._counts[0]
        consumption = self._counts[1]
        return DayCurve(
            start,
            end,
            BUCKET_SECONDS,
            tuple(self._production[i] if production[i] else None for i in range(buckets)),
            tuple(self._consumption[i] if consumption[i] else None for i in range(buckets)),
            self.tz,
        )

    def nbytes(self) -> int:
        """The bytes its buckets hold (0 until the first poll)."""
        if self._production is None or self._consumption is None or self._counts is None:
            return 0
        arrays = (self._production, self._consumption, *self._counts)
        return sum(a.itemsize * len(a) for a in arrays)
