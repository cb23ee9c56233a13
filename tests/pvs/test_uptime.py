"""The reboot rule shared by detection, the varserver cache and the reboot counter."""

from __future__ import annotations

import pytest

from sunpower_pvs_exporter.pvs.model import Device, Snapshot, Supervisor
from sunpower_pvs_exporter.pvs.uptime import RebootWatch, rebooted


@pytest.mark.parametrize(
    ("previous", "current", "expected"),
    [
        (3600.0, 12.0, True),  # uptime fell: the PVS started again
        (3600.0, 3599.99, True),  # any fall counts; uptime never decreases while running
        (3600.0, 3600.0, False),  # a cached, unchanged reading
        (3600.0, 3720.0, False),
        (None, 12.0, False),  # first reading: nothing to compare with
        (3600.0, None, False),  # a missing reading is not a reboot
        (None, None, False),
    ],
)
def test_rebooted_only_when_uptime_goes_backwards(
    previous: float | None, current: float | None, expected: bool
) -> None:
    assert rebooted(previous, current) is expected


def _read(uptime: float | None) -> Snapshot:
    supervisor = Supervisor(device=Device("PVS", "ZT01"), uptime_seconds=uptime)
    return Snapshot(backend="varserver", fetched_at=0.0, supervisor=supervisor)


def test_reboot_watch_sees_each_reboot_once_across_reads_without_uptime() -> None:
    watch = RebootWatch()
    seen = [watch.saw(_read(uptime)) for uptime in (3600.0, 3720.0, None, 40.0, 100.0, 20.0)]
    # 40 after 3720 (a read without uptime in between keeps 3720), then 20 after 100.
    assert seen == [False, False, False, True, False, True]
    no_supervisor = Snapshot(backend="legacy", fetched_at=0.0)
    assert watch.saw(no_supervisor) is False
    assert watch.saw(_read(10.0)) is True
