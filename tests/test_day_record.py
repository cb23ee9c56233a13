"""Today's curve the exporter keeps of its own polls: 5-minute buckets of the host's local day.

Every moment is a fixed timestamp in a named zone (never the wall clock or
the host's zone, except where the host's zone is the point), so these pass on
any date and under any TZ.
"""

from __future__ import annotations

import math
import sys
import time
import tracemalloc
from datetime import datetime
from zoneinfo import ZoneInfo

from sunpower_pvs_exporter import day_record
from sunpower_pvs_exporter.day_record import (
    BUCKET_SECONDS,
    MAX_BUCKETS,
    DayRecord,
    local_day,
)
from sunpower_pvs_exporter.pvs.model import Device, LiveData, Meter, Snapshot

LA = ZoneInfo("America/Los_Angeles")


def at(*parts: int, fold: int = 0) -> float:
    return datetime(*parts, tzinfo=LA, fold=fold).timestamp()  # type: ignore[misc]


def known(series: tuple[float | None, ...]) -> dict[int, float]:
    return {index: value for index, value in enumerate(series) if value is not None}


def test_polls_are_averaged_in_five_minute_buckets_of_the_local_day():
    record = DayRecord(tz=LA)
    record.add(at(2026, 6, 21, 0, 0, 30), production=0.0, consumption=400.0)
    record.add(at(2026, 6, 21, 0, 4, 0), production=0.0, consumption=600.0)
    record.add(at(2026, 6, 21, 12, 2, 0), production=4000.0, consumption=None)
    curve = record.curve(at(2026, 6, 21, 12, 3))
    assert curve.start == at(2026, 6, 21) and curve.end == at(2026, 6, 22)
    assert len(curve.production) == len(curve.consumption) == 288
    assert known(curve.production) == {0: 0.0, 144: 4000.0}
    assert known(curve.consumption) == {0: 500.0}
    assert curve.bucket_seconds == BUCKET_SECONDS


def test_the_record_starts_afresh_at_local_midnight():
    record = DayRecord(tz=LA)
    record.add(at(2026, 6, 21, 23, 58), production=0.0, consumption=900.0)
    before = record.curve(at(2026, 6, 21, 23, 59))
    assert known(before.consumption) == {287: 900.0}
    # No poll yet today: today's curve is empty, not yesterday's.
    assert known(record.curve(at(2026, 6, 22, 0, 1)).consumption) == {}
    record.add(at(2026, 6, 22, 0, 1), production=0.0, consumption=700.0)
    after = record.curve(at(2026, 6, 22, 0, 2))
    assert after.start == at(2026, 6, 22)
    assert known(after.consumption) == {0: 700.0}


def test_a_sample_from_before_the_day_held_is_dropped():
    """A wall clock stepping back over midnight does not wipe today."""
    record = DayRecord(tz=LA)
    record.add(at(2026, 6, 22, 0, 10), production=0.0, consumption=700.0)
    record.add(at(2026, 6, 21, 23, 59), production=0.0, consumption=900.0)
    assert known(record.curve(at(2026, 6, 22, 0, 11)).consumption) == {2: 700.0}


def test_dst_days_have_23_and_25_hours_of_buckets():
    spring = DayRecord(tz=LA)
    spring.add(at(2026, 3, 8, 3, 10), production=100.0, consumption=None)  # 2 h 10 min in
    curve = spring.curve(at(2026, 3, 8, 3, 11))
    assert len(curve.production) == 23 * 12
    assert known(curve.production) == {26: 100.0}
    autumn = DayRecord(tz=LA)
    autumn.add(at(2026, 11, 1, 1, 30, fold=1), production=1.0, consumption=None)  # 2nd 01:30
    autumn.add(at(2026, 11, 1, 23, 55), production=2.0, consumption=None)
    curve = autumn.curve(at(2026, 11, 1, 23, 56))
    assert len(curve.production) == 25 * 12 == MAX_BUCKETS
    assert known(curve.production) == {30: 1.0, 299: 2.0}
    # The hour marks sit where those local hours really fall.
    marks = dict(curve.hour_marks())
    assert marks[12] == (at(2026, 11, 1, 12) - curve.start) / (curve.end - curve.start)
    assert marks[12] > 0.5


def test_the_host_zone_is_the_default():
    """ "Today" is the exporter host's local day: its start is 00:00 there."""
    moment = 1_782_043_200.0
    start, end = local_day(moment, None)
    assert start <= moment < end
    assert time.localtime(start)[3:6] == (0, 0, 0)
    assert time.localtime(end)[3:6] == (0, 0, 0)
    assert 23 * 3600 <= end - start <= 25 * 3600


def test_the_record_is_bounded_and_costs_about_3_kb():
    """Weeks of polls every 30 s: the second week adds nothing to the first's memory.

    In the host's zone, as the exporter runs (``ZoneInfo`` keeps ~100 bytes
    per date it is asked about, which is why the exporter does not use one).
    """
    record = DayRecord()
    moment = at(2026, 6, 1)

    def a_week(first_step: int) -> None:
        for step in range(first_step, first_step + 7 * 2880):
            record.add(moment + 30 * step, production=float(step % 5000), consumption=300.0)

    # Only what this module allocates (other tests' threads may be allocating too).
    only_here = [tracemalloc.Filter(inclusive=True, filename_pattern=day_record.__file__)]

    def held() -> int:
        snapshot = tracemalloc.take_snapshot().filter_traces(only_here)
        return sum(stat.size for stat in snapshot.statistics("filename"))

    tracemalloc.start()
    try:
        a_week(0)
        after_one = held()
        a_week(7 * 2880)
        after_two = held()
    finally:
        tracemalloc.stop()
    assert 3000 <= after_one < 4096, after_one
    assert after_two - after_one < 512, after_two - after_one
    assert record.nbytes() == 3000
    assert record.nbytes() + sys.getsizeof(record) < 4096


def test_a_record_never_fed_costs_only_its_object():
    assert DayRecord(tz=LA).nbytes() == 0


def test_fed_from_a_poll_snapshot_with_the_sites_power():
    """Production and consumption as the status page's tiles show them (site_power)."""
    meters = (
        Meter(device=Device("Power Meter", "Mp"), mode="production", real_power_watts=3000.0),
        Meter(device=Device("Power Meter", "Mc"), mode="consumption", real_power_watts=-1000.0),
    )
    record = DayRecord(tz=LA)
    moment = at(2026, 6, 21, 12, 0)
    record.record(Snapshot(backend="legacy", fetched_at=moment, meters=meters), moment)
    live = LiveData(pv_power_watts=math.nan)
    record.record(Snapshot(backend="varserver", fetched_at=moment, live=live), moment + 60)
    curve = record.curve(moment)
    assert known(curve.production) == {144: 3000.0}
    assert known(curve.consumption) == {144: 2000.0}
    assert curve.energy_watt_hours(curve.production) == 3000.0 * BUCKET_SECONDS / 3600
