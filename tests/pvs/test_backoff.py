"""The one retry rule shared by the poller and the telemetry stream."""

from __future__ import annotations

import random

from sunpower_pvs_exporter.pvs.backoff import backoff_delay


def test_doubles_from_first_up_to_the_cap():
    delays = [backoff_delay(1.0, n, 300.0, 0.0, 0.0) for n in range(1, 12)]
    assert delays[:4] == [1.0, 2.0, 4.0, 8.0]
    assert delays[-1] == 300.0
    assert delays == sorted(delays)


def test_jitter_only_lengthens_and_never_passes_the_cap():
    for failures in range(1, 20):
        for draw in (0.0, 0.5, 0.999):
            delay = backoff_delay(120.0, failures, 300.0, 0.2, draw)
            assert 120.0 <= delay <= 300.0
    assert backoff_delay(120.0, 2, 300.0, 0.2, 0.5) == 240.0 * 1.1


def test_no_failure_waits_first_and_a_first_above_the_cap_wins():
    assert backoff_delay(120.0, 0, 300.0, 0.2, 0.9) == 120.0
    assert backoff_delay(900.0, 5, 300.0, 0.2, 0.9) == 900.0


def test_a_pvs_down_for_days_does_not_overflow():
    # 2.0 ** 1024 overflows a float; a PVS retried every 5 minutes gets there in 3.5 days.
    assert backoff_delay(120.0, 5000, 300.0, 0.2, random.Random(1).random()) == 300.0
