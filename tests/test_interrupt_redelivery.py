"""A Ctrl-C caught in a weakref callback comes back to the program; other errors are left alone."""

from __future__ import annotations

import sys
import time
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from sunpower_pvs_exporter import interrupt_redelivery


class Thing:
    pass


def _drop_with_failing_callback(error: BaseException) -> None:
    def callback(_ref: object) -> None:
        raise error

    thing = Thing()
    ref = weakref.ref(thing, callback)
    del thing  # the callback runs here; CPython hands its exception to sys.unraisablehook
    assert ref() is None


@pytest.fixture
def recorded() -> Iterator[list[Any]]:
    """What reaches the hook that was there before ours (instead of stderr)."""
    seen: list[Any] = []
    before = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: seen.append(unraisable.exc_type)
    try:
        interrupt_redelivery.install()
        yield seen
    finally:
        interrupt_redelivery.uninstall()
        sys.unraisablehook = before


def _interrupted_in_a_callback_then_wait() -> None:
    _drop_with_failing_callback(KeyboardInterrupt())
    # It comes back within milliseconds; bounded so a failure here cannot end
    # the test session later.
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        time.sleep(0.001)


def test_a_ctrl_c_in_a_weakref_callback_is_raised_in_the_program(recorded: list[Any]) -> None:
    with pytest.raises(KeyboardInterrupt):
        _interrupted_in_a_callback_then_wait()
    assert recorded == []  # not printed as "Exception ignored"


def test_other_errors_in_callbacks_go_to_the_previous_hook(recorded: list[Any]) -> None:
    _drop_with_failing_callback(ValueError("not ours"))
    assert recorded == [ValueError]


def test_uninstall_gives_the_previous_hook_back(recorded: list[Any]) -> None:
    interrupt_redelivery.install()  # twice: still one hook, the same previous one
    interrupt_redelivery.uninstall()
    _drop_with_failing_callback(KeyboardInterrupt())
    assert recorded == [KeyboardInterrupt]  # reported, not raised again
