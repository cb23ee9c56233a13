"""The reboot rule shared by detection, the varserver cache and the reboot counter."""

from __future__ import annotations

import pytest

from sunpower_pvs_exporter.pvs.uptime import rebooted


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
