"""The web config's ``rate_limit``: one token bucket for every request, as exporter-toolkit.

exporter-toolkit's meaning, kept here so that a file written for a Go
exporter behaves the same: ``interval`` is the time one token takes to come
back (a Go duration: ``1s``, ``250ms``, ``1m30s``; ``0`` turns the limit off),
``burst`` how many tokens the bucket holds (full at start). Every request
takes a token, on every path and from every client, before authentication;
without one it is answered 429 at once. One bucket for everyone is the
point and the weakness: it bounds what the exporter serves, and a flood from
anyone uses up Prometheus's tokens too (SECURITY.md says so).

Two files Go would accept are refused instead, with a message: a bare
number as ``interval`` (Go reads nanoseconds) and ``burst: 0`` (or none)
with an interval, which makes Go refuse every request.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from sunpower_pvs_exporter.config_values import check_keys, error, mapping

log = logging.getLogger(__name__)

KEYS = frozenset({"interval", "burst"})
# Go's time.ParseDuration units, in seconds.
GO_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
GO_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


@dataclass(frozen=True)
class RateLimit:
    """``interval`` seconds per token, at most ``burst`` tokens."""

    interval: float
    burst: int

    def __str__(self) -> str:
        return f"rate limit: {self.burst} at once, then 1 per {self.interval:g} s"


def parse_go_duration(value: object, key: str) -> float:
    """Seconds in a Go duration string (``1h2m3.5s``, ``250ms``, ``0``)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise error(key, "expected a duration such as 1s or 250ms")
    if not isinstance(value, str):
        if value == 0:
            return 0.0
        raise error(
            key, f"a duration needs a unit, e.g. {value}s (Go reads a bare number as nanoseconds)"
        )
    text = value.strip()
    if text == "0":
        return 0.0
    if text.startswith("-"):
        raise error(key, "must not be negative")
    body = text[1:] if text.startswith("+") else text
    parts = GO_PART.findall(body)
    if not body or "".join(number + unit for number, unit in parts) != body:
        raise error(key, f"not a duration: {value!r} (examples: 1s, 250ms, 1m30s)")
    return sum(float(number) * GO_UNITS[unit] for number, unit in parts)


def parse_rate_limit(raw: object) -> RateLimit | None:
    """The ``rate_limit`` mapping; None when absent or turned off (``interval: 0``)."""
    if raw is None:
        return None
    doc = mapping(raw, "rate_limit")
    check_keys(doc, KEYS, "rate_limit.")
    interval = parse_go_duration(doc.get("interval", "0"), "rate_limit.interval")
    burst = doc.get("burst", 0)
    if isinstance(burst, bool) or not isinstance(burst, int):
        raise error("rate_limit.burst", "expected a whole number of requests")
    if interval == 0:
        return None
    if burst < 1:
        raise error(
            "rate_limit.burst",
            f"must be at least 1 with an interval, got {burst} (with 0, exporter-toolkit "
            "refuses every request)",
        )
    return RateLimit(interval, burst)


class TokenBucket:
    """``burst`` tokens, one back every ``interval`` seconds of ``clock``."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.clock = clock
        self.tokens = float(limit.burst)
        self.updated = clock()

    def _refill(self) -> None:
        now = self.clock()
        elapsed = max(0.0, now - self.updated)
        self.updated = now
        self.tokens = min(float(self.limit.burst), self.tokens + elapsed / self.limit.interval)

    def take(self) -> bool:
        """Take a token if there is one."""
        self._refill()
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def seconds_to_next(self) -> float:
        """How long until a token is back (0 if one is there)."""
        self._refill()
        return max(0.0, (1.0 - self.tokens) * self.limit.interval)


def make_rate_limit_middleware(bucket: TokenBucket) -> Any:
    """429 for a request that finds the bucket empty, before authentication."""

    @web.middleware
    async def rate_limit(request: web.Request, handler: Any) -> web.StreamResponse:
        if bucket.take():
            response: web.StreamResponse = await handler(request)
            return response
        log.warning(
            "refused a request from %s: over the web config's rate_limit",
            request.remote,
            extra={"repeat_kind": "rate_limit"},
        )
        retry = max(1, math.ceil(bucket.seconds_to_next()))
        return web.Response(
            status=429, text="429 Too Many Requests\n", headers={"Retry-After": str(retry)}
        )

    return rate_limit
