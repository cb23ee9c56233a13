"""Accepting connections: a flood from one address refused for the price of an ``accept``.

asyncio's own accept loop turns every accepted socket into a task, a
transport and a protocol before any code of ours learns who is calling; a
connection beyond its address's rate (``connection_rate.py``) then cost
that whole setup and its teardown, about ten times the ``accept`` itself.
Under a flood from one host (thousands a second) that setup was most of
what the event loop did, and another address's scrape waited behind it.

So the listening socket is read here: each ``accept`` is followed at once by
the rate check on the peer address, and a refused socket is closed with a
reset (``SO_LINGER`` 0: no FIN handshake, nothing left in ``TIME_WAIT``)
before asyncio ever sees it. An admitted socket goes to asyncio's public
``connect_accepted_socket``, which is what its own accept loop does.

Like asyncio's loop, one readiness event accepts at most ``backlog`` sockets,
so a full listen queue is drained in one turn (a new client's SYN is not
dropped for long) without holding the loop for an unbounded time; when the
process is out of file descriptors, accepting pauses for a second instead of
spinning.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import struct
from collections.abc import Callable

log = logging.getLogger(__name__)

__all__ = ["ACCEPT_RETRY_DELAY", "Acceptor"]

# Seconds to stop accepting after running out of file descriptors (as asyncio does).
ACCEPT_RETRY_DELAY = 1.0
_OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_RESET_ON_CLOSE = struct.pack("ii", 1, 0)


def close_with_reset(sock: socket.socket) -> None:
    """Close at once: the peer gets a reset, no FIN exchange, no ``TIME_WAIT`` here."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
    sock.close()


class Acceptor:
    """Accepts on one listening socket; ``allow(peer address)`` False: reset at once.

    ``listening`` is duplicated (its own file descriptor): the
    ``asyncio.Server`` that bound it closes the original when the site
    stops, and ``close`` here closes the duplicate.
    """

    def __init__(
        self,
        listening: socket.socket,
        protocol_factory: Callable[[], asyncio.Protocol],
        allow: Callable[[str | None], bool],
        backlog: int = 128,
        retry_delay: float = ACCEPT_RETRY_DELAY,
    ) -> None:
        self.sock = socket.fromfd(listening.fileno(), listening.family, listening.type)
        self.sock.settimeout(0.0)  # non-blocking
        self.protocol_factory = protocol_factory
        self.allow = allow
        self.backlog = backlog
        self.retry_delay = retry_delay
        self.refused = 0
        self._loop = asyncio.get_running_loop()
        self._tasks: set[asyncio.Task[None]] = set()
        self._reading = False
        self._retry: asyncio.TimerHandle | None = None

    @property
    def accepting(self) -> bool:
        """Watching the listening socket (False: paused, out of file descriptors, or closed)."""
        return self._reading

    def start(self) -> None:
        """Listen and accept from now on."""
        self.sock.listen(self.backlog)
        self._resume()

    def _resume(self) -> None:
        self._retry = None
        if self.sock.fileno() >= 0 and not self._reading:
            self._loop.add_reader(self.sock.fileno(), self.accept_ready)
            self._reading = True

    def _pause(self) -> None:
        if self._reading:
            self._loop.remove_reader(self.sock.fileno())
            self._reading = False

    def accept_ready(self) -> None:
        """The listening socket is readable: accept what is queued, up to ``backlog``."""
        for _ in range(self.backlog):
            try:
                conn, peer = self.sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return  # the listen queue is empty (or that client gave up)
            except OSError as exc:
                if exc.errno not in _OUT_OF_RESOURCES:
                    raise
                log.warning(
                    "cannot accept connections (%s): pausing for %g s", exc, self.retry_delay
                )
                self._pause()
                self._retry = self._loop.call_later(self.retry_delay, self._resume)
                return
            address = peer[0] if isinstance(peer, tuple) and peer else None
            if not self.allow(address):
                self.refused += 1
                close_with_reset(conn)
                continue
            conn.settimeout(0.0)  # non-blocking, as asyncio wants it
            task = self._loop.create_task(self._connect(conn))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _connect(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self.protocol_factory, conn)
        except OSError:  # the client left before its transport was made
            conn.close()

    def close(self) -> None:
        """Stop accepting and close the duplicate (connections already made stay)."""
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self.sock.fileno() >= 0:
            self._pause()
            self.sock.close()
