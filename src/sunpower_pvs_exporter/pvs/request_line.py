"""Our requests to one PVS go one at a time, counting those we stopped waiting for.

A PVS works on one request at a time (its ``/vars`` handler, ``fcgi_vars``,
is a single FastCGI process that lighttpd runs once) and finishes a request
even after the client gave up on it. Cancelling a timed-out request on our
side therefore frees nothing on the PVS: sending the next one at once puts
two requests on it, the second queued behind the first or, on the
simulator, served beside it.

So a request whose caller stopped waiting (a group's or the poll's timeout)
is *abandoned*, not cancelled: it stays on its connection until the PVS
answers or its own hard limit (``HttpTransport``: the target's timeout plus
as much again) ends it, and every later request to the same PVS, from
whichever client, waits for it first. ``wait_idle`` lets a caller wait for
that on its own budget before starting a request's timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


class RequestLine:
    """The queue of one PVS's requests; share one between the clients of a PVS."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._running: set[asyncio.Task[object]] = set()
        # Requests a caller stopped waiting for after they were sent.
        self.abandoned = 0

    @property
    def busy(self) -> bool:
        """A request is on the PVS or waiting for its turn."""
        return any(not task.done() for task in self._running)

    async def wait_idle(self, within: float) -> bool:
        """Wait up to ``within`` s until no request is running; True if none is."""
        pending = {task for task in self._running if not task.done()}
        if pending and within > 0:
            await asyncio.wait(pending, timeout=within)
        return not any(not task.done() for task in pending)

    async def run(self, exchange: Callable[[], Awaitable[T]], limit: float | None) -> T:
        """``exchange()`` once the line is free; its result within ``limit`` s.

        Past ``limit`` (or when the caller is cancelled) a request already
        sent is left to finish in the background, and a TimeoutError (or the
        cancellation) is raised; one still waiting for its turn is dropped.
        """
        sent = False

        async def turn() -> T:
            nonlocal sent
            async with self._lock:
                sent = True
                return await exchange()

        task: asyncio.Task[T] = asyncio.create_task(turn())
        self._running.add(task)
        task.add_done_callback(self._finished)
        try:
            async with asyncio.timeout(limit):
                return await asyncio.shield(task)
        except (TimeoutError, asyncio.CancelledError):
            if not sent:
                task.cancel()
            elif not task.done():
                self.abandoned += 1
                log.debug("a request was given up on; the PVS is left to finish it")
            raise

    def _finished(self, task: asyncio.Task[object]) -> None:
        self._running.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: an abandoned request's error is nobody's

    async def drain(self, within: float) -> None:
        """Let abandoned requests end (at most ``within`` s), then cancel what is left."""
        try:
            await self.wait_idle(within)
        finally:
            for task in list(self._running):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
