"""``pvs/off_loop.py``: small work stays on the event loop's thread, large work leaves it."""

from __future__ import annotations

import threading

from sunpower_pvs_exporter.pvs.off_loop import run_by_size


def where(tag: str, *, suffix: str) -> tuple[str, int]:
    return tag + suffix, threading.get_ident()


async def test_small_work_runs_on_the_loop_and_large_work_in_a_thread():
    loop_thread = threading.get_ident()
    assert await run_by_size(99, 100, where, "a", suffix="!") == ("a!", loop_thread)
    result, thread = await run_by_size(100, 100, where, "b", suffix="?")
    assert result == "b?"
    assert thread != loop_thread
