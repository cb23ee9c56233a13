"""Small work runs on the event loop; only large work takes a thread.

A hop to asyncio's default executor costs about 150 µs of CPU (the queue, a
worker's wake-up, the loop's wake-up to take the result): more than decoding
and parsing a small site's DeviceList (2 inverters: about 230 µs for both,
and the hops made it 520 µs). Parsing and encoding hold the GIL, so a thread
saves no CPU; it only lets scrapes interleave with work long enough to delay
them. Below these sizes the work takes well under a millisecond on the loop
(30 inverters: 0.8 ms to decode and parse; benchmarks/RESULTS.md, fleet).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

# A PVS answer this long or longer is decoded in a thread (30 inverters: ~15 KB).
LARGE_BODY_BYTES = 16 * 1024
# A snapshot with this many devices or more is encoded in a thread.
LARGE_SITE_DEVICES = 40

P = ParamSpec("P")
T = TypeVar("T")


async def run_by_size(
    size: int, large: int, func: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
) -> T:
    """``func(*args, **kwargs)``: in a thread when ``size >= large``, else here and now."""
    if size >= large:
        return await asyncio.to_thread(func, *args, **kwargs)
    return func(*args, **kwargs)
