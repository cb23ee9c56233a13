"""New connections a second, per client address: a flood from one host stays its own.

Every accepted connection costs the exporter's one event loop something
before any request is read: the ``accept``, a protocol object and, with TLS,
a handshake (a private-key operation, the dearest thing the exporter does
for a stranger). One host opening connections as fast as it can would make
that most of what the loop does, and another host's scrapes would wait
behind it. The open-connection cap (``connections.ConnectionGuard``) does
not see this: each connection is closed again before the cap fills.

So each client address (an IPv6 /64 as one: ``connections.client_key``) has
a token bucket of ``rate`` new connections, refilled at ``rate`` a second.
A connection beyond it is closed as it is accepted, before its handshake
and before aiohttp sees it. Prometheus keeps its connections alive and
opens a handful a minute; the default (``DEFAULT_CONNECTION_RATE``) leaves
room for a thousand ``/probe`` targets whose connections all timed out.

The table of buckets is bounded (``MAX_CLIENTS``): a full bucket carries no
information and is dropped first, then the least recently seen.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sunpower_pvs_exporter.config import DEFAULT_CONNECTION_RATE

__all__ = ["DEFAULT_CONNECTION_RATE", "ConnectionRate"]
MAX_CLIENTS = 4096


class ConnectionRate:
    """At most ``rate`` new connections at once per client, ``rate`` more each second."""

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive (no limit: no ConnectionRate)")
        self.rate = float(rate)
        self.burst = max(1.0, float(rate))
        self.clock = clock
        self.max_clients = max_clients
        # client -> (tokens, when counted); least recently seen first.
        self._buckets: dict[str, tuple[float, float]] = {}
        self.refused = 0

    def __len__(self) -> int:
        return len(self._buckets)

    def _tokens(self, tokens: float, since: float, now: float) -> float:
        return min(self.burst, tokens + max(0.0, now - since) * self.rate)

    def allow(self, client: str) -> bool:
        """Count a new connection from ``client``; False: over its rate, refuse it."""
        now = self.clock()
        tokens, since = self._buckets.pop(client, (self.burst, now))
        tokens = self._tokens(tokens, since, now)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        else:
            self.refused += 1
        self._buckets[client] = (tokens, now)
        if len(self._buckets) > self.max_clients:
            self._prune(now)
        return allowed

    def _prune(self, now: float) -> None:
        """Down to three quarters of ``max_clients`` (so pruning is rare): full
        buckets first, then the least recently seen clients."""
        keep = self.max_clients * 3 // 4
        for client, (tokens, since) in list(self._buckets.items()):
            if self._tokens(tokens, since, now) >= self.burst:
                del self._buckets[client]
        while len(self._buckets) > keep:
            del self._buckets[next(iter(self._buckets))]
