"""The ease-off rule as a pure function: reboot times, now, configured interval."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sunpower_pvs_exporter.pvs.ease_off import (
    MAX_EASED_INTERVAL,
    RebootEasing,
    easing,
    interval_text,
)

H = 3600.0
T0 = 1_800_000_000.0


def at(*hours: float) -> list[float]:
    return [T0 + h * H for h in hours]


def test_one_reboot_changes_nothing():
    result = easing(at(0), T0 + H, 60.0)
    assert (result.interval, result.eased, result.until) == (60.0, False, None)
    assert result.describe() == ""


def test_the_second_reboot_within_a_day_doubles_and_each_further_pair_doubles_again():
    assert easing(at(0, 4), T0 + 5 * H, 60.0).interval == 120.0
    assert easing(at(0, 4, 8), T0 + 9 * H, 60.0).interval == 240.0
    assert easing(at(0, 4, 8, 12), T0 + 13 * H, 60.0).interval == 480.0
    assert easing(at(0, 4, 8, 12, 16), T0 + 17 * H, 60.0).interval == MAX_EASED_INTERVAL
    assert easing(at(*range(0, 80, 4)), T0 + 81 * H, 60.0).interval == MAX_EASED_INTERVAL


def test_what_it_says():
    result = easing(at(0, 4, 8), T0 + 9 * H, 60.0)
    assert result.reboots == 3
    assert result.until == T0 + (8 + 72) * H
    assert result.describe() == (
        "polling eased to 4 min after 3 reboots in 24 h; back to 1 min after 72 h without a reboot"
    )
    assert interval_text(90.0) == "90 s"
    assert interval_text(0.5) == "0.5 s"


def test_back_to_the_configured_interval_after_72_hours_without_a_reboot():
    reboots = at(0, 4, 8)
    assert easing(reboots, T0 + (8 + 72) * H - 1, 60.0).interval == 240.0
    assert easing(reboots, T0 + (8 + 72) * H, 60.0).interval == 60.0
    # A lone reboot after the quiet spell starts afresh: no pair, no easing.
    assert easing([*reboots, T0 + 100 * H], T0 + 101 * H, 60.0).interval == 60.0
    # ...and a new pair eases from the configured interval again, not from where it was.
    assert easing([*reboots, *at(100, 104)], T0 + 105 * H, 60.0).interval == 120.0


def test_a_lone_reboot_while_eased_restarts_the_count_without_doubling():
    reboots = at(0, 4, 40)  # the third comes 36 h after the second
    result = easing(reboots, T0 + 41 * H, 60.0)
    assert result.interval == 120.0
    assert result.until == T0 + (40 + 72) * H
    assert result.reboots == 2  # the pair that eased it


def test_a_nightly_reboot_at_about_the_same_hour_is_not_a_pair():
    nightly = [T0 + day * 24 * H + jitter for day, jitter in enumerate([0, -600, 900, -1800, 0])]
    assert easing(nightly, nightly[-1] + H, 60.0).interval == 60.0
    # The nightly reboot plus one more in the afternoon is.
    assert easing([*nightly, nightly[-1] + 12 * H], nightly[-1] + 13 * H, 60.0).interval == 120.0


@pytest.mark.parametrize("configured", [600.0, 900.0])
def test_an_interval_of_ten_minutes_or_more_is_left_alone(configured):
    assert easing(at(0, 1, 2, 3), T0 + 4 * H, configured).interval == configured


def test_never_below_the_configured_interval_and_capped_at_ten_minutes():
    assert easing(at(0, 1), T0 + 2 * H, 400.0).interval == 600.0


@given(
    st.lists(st.floats(min_value=0, max_value=400 * H), max_size=30),
    st.floats(min_value=0, max_value=500 * H),
    st.sampled_from([30.0, 60.0, 120.0, 300.0, 599.0, 600.0, 3600.0]),
)
def test_always_between_the_configured_interval_and_the_cap(reboots, now, configured):
    result = easing([T0 + r for r in reboots], T0 + now, configured)
    assert result.interval >= configured
    assert result.interval <= max(configured, MAX_EASED_INTERVAL)
    assert result.eased == (result.interval > configured)
    if result.eased:
        assert result.reboots >= 2
        assert result.until is not None and T0 + now < result.until


def test_the_tracker_records_reboots_and_can_be_turned_off():
    tracker = RebootEasing(60.0, enabled=True)
    assert tracker.decide(T0, rebooted=True).interval == 60.0
    assert tracker.decide(T0 + H).interval == 60.0
    assert tracker.decide(T0 + 2 * H, rebooted=True).interval == 120.0
    off = RebootEasing(60.0, enabled=False)
    off.take_reboots_from(tracker)
    assert off.decide(T0 + 3 * H, rebooted=True).interval == 60.0
    assert list(off.reboots) == at(0, 2, 3)
    on = RebootEasing(60.0, enabled=True)
    on.take_reboots_from(off)
    assert on.decide(T0 + 3 * H).interval == 240.0
