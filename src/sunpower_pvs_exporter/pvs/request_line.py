"""One queue per PVS host: our requests go one at a time, counting those we gave up on.

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

"The same PVS" is its host, whatever the port: ``dl_cgi`` on 80,
varserver on 443 and the telemetry enable request all reach one box, and
the PVS keys its sessions by the client's address, not by port. Every
transport, reader and stream of the process finds its host's line through
``line_for``, so a reload that moves a target to the PVS's other port, or
a poller that replaces another, queues behind the requests already there.

The line also remembers when its PVS was last polled, so a poller that
starts afresh (a target removed by one reload and added back by the next)
does not poll it again before its interval has passed. Lines nobody holds
are forgotten once that memory no longer matters (``RequestLines``), so a
fleet whose targets come and go does not accumulate them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


class RequestLine:
    """The queue of one PVS host's requests, shared by every client of that host."""

    def __init__(
        self, host: str, remember: Callable[[RequestLine, float], None] | None = None
    ) -> None:
        self.host = host
        # The registry's: keeps this line findable while its last poll matters.
        self._remember = remember
        self._lock = asyncio.Lock()
        # Each request still running (on the PVS or waiting for its turn), and
        # who sent it: closing one client ends its own requests, not another's.
        self._running: dict[asyncio.Task[object], object] = {}
        # Requests a caller stopped waiting for after they were sent.
        self.abandoned = 0
        # When a poll of this PVS last started (the poller's wall clock).
        self.last_poll_at: float | None = None
        # Until when (``RequestLines``' monotonic clock) that still matters.
        self.remember_until = 0.0

    @property
    def busy(self) -> bool:
        """A request is on the PVS or waiting for its turn."""
        return any(not task.done() for task in self._running)

    def polled(self, at: float, remember_for: float) -> None:
        """A poll of this PVS starts at ``at`` (the poller's clock); remember it for
        ``remember_for`` s, even if every poller of the PVS goes away meanwhile."""
        self.last_poll_at = at
        if self._remember is not None:
            self._remember(self, remember_for)

    def running_for(self, owner: object) -> bool:
        """``owner`` has a request on the PVS or waiting for its turn."""
        return any(sent_by is owner and not task.done() for task, sent_by in self._running.items())

    async def wait_idle(self, within: float) -> bool:
        """Wait up to ``within`` s until no request is running; True if none is."""
        pending = {task for task in self._running if not task.done()}
        if pending and within > 0:
            await asyncio.wait(pending, timeout=within)
        return not any(not task.done() for task in pending)

    async def run(
        self, exchange: Callable[[], Awaitable[T]], limit: float | None, owner: object
    ) -> T:
        """``exchange()`` once the line is free; its result within ``limit`` s.

        Past ``limit`` (or when the caller is cancelled) a request already
        sent is left to finish in the background, and a TimeoutError (or the
        cancellation) is raised; one still waiting for its turn is dropped.
        ``owner`` is whoever may later ``drain`` it.
        """
        sent = False

        async def turn() -> T:
            nonlocal sent
            async with self._lock:
                sent = True
                return await exchange()

        task: asyncio.Task[T] = asyncio.create_task(turn())
        self._running[task] = owner
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
        self._running.pop(task, None)
        if not task.cancelled():
            task.exception()  # retrieved: an abandoned request's error is nobody's

    async def drain(self, within: float, owner: object) -> None:
        """Let ``owner``'s abandoned requests end (at most ``within`` s), then
        cancel what is left of them. Other clients' requests go on."""
        mine = [task for task, sent_by in self._running.items() if sent_by is owner]
        try:
            if mine and within > 0:
                await asyncio.wait(mine, timeout=within)
        finally:
            for task in mine:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


def host_key(host: str) -> str:
    """One spelling per host: case and IPv6 brackets and zeros do not make another PVS."""
    bare = host.strip().strip("[]").lower()
    try:
        return ipaddress.ip_address(bare).compressed
    except ValueError:
        return bare


class RequestLines:
    """The line of every PVS host one event loop talks to.

    A line is found again for as long as anyone holds it (a client, a
    poller), and for as long as its memory of the last poll matters after
    that (``RequestLine.remember_until``); then it is forgotten, so the
    number of lines follows the hosts in use, not every host ever seen.
    """

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.monotonic = monotonic
        self._held: weakref.WeakValueDictionary[str, RequestLine] = weakref.WeakValueDictionary()
        self._remembered: dict[str, RequestLine] = {}

    def line_for(self, host: str) -> RequestLine:
        key = host_key(host)
        self.forget_expired()
        line = self._held.get(key)
        if line is None:
            line = RequestLine(key, self._remember)
            self._held[key] = line
        return line

    def _remember(self, line: RequestLine, seconds: float) -> None:
        line.remember_until = max(line.remember_until, self.monotonic() + seconds)
        self._remembered[line.host] = line

    def forget_expired(self) -> None:
        """Let go of lines whose last poll no longer matters and that are idle;
        one still held by a client stays findable (``_held`` is weak)."""
        now = self.monotonic()
        for key, line in list(self._remembered.items()):
            if line.remember_until <= now and not line.busy:
                del self._remembered[key]

    def __len__(self) -> int:
        return len(self._held)


# One registry per event loop: a line's lock and tasks belong to one loop.
_LINES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RequestLines] = (
    weakref.WeakKeyDictionary()
)


def request_lines() -> RequestLines:
    """The running event loop's lines."""
    loop = asyncio.get_running_loop()
    lines = _LINES.get(loop)
    if lines is None:
        lines = _LINES[loop] = RequestLines()
    return lines


def line_for(host: str) -> RequestLine:
    """The request line of the PVS at ``host`` (in the running event loop)."""
    return request_lines().line_for(host)
