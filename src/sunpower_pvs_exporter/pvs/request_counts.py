"""What the exporter asks of one PVS: its requests by kind, how each ended, how long
the PVS took to answer.

Owners fear that polling harms the unit (peer reports tie hard polling to daily
reboots), so the exporter shows what it sends. Every request to a PVS passes
``HttpTransport``, which counts it here: when it is sent, and when it ends --
answered (by HTTP status class, with the body's size and the answer time) or
not (no answer within its hard limit, no connection, or closed by the exporter
first). A request the poll stopped waiting for is counted when it really ends:
the PVS goes on working on it (``request_line.py``).

One ``RequestCounts`` per target, shared by the target's transports (both of
an ``api: auto`` target) and read by its poller; the metrics layer renders
``view()``. A kind's counters are created at its first request, or earlier
when the reader knows it will send that kind on its next poll (``expect``:
the cached ``/vars`` reads, once their set is built). ``2xx`` is shown for
every kind shown; any other way of ending from the first request that ended
so. A target that was never polled, or never sends a kind, costs nothing
for it.

Why a freshly polled target shows every series a long-polled one does: when
a sharded fleet moves a site to another shard, Prometheus 2.42 can send the
old shard's staleness marker of a series at the very millisecond of that
series' last sample, 1.1 scrape intervals late. The central server refuses
it as a duplicate, with the whole remote-write request, unless the new
shard has sent the series since: a series its exporter shows only from the
second poll on had not been (docs/scaling.md, "Adding or removing a shard").
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

# The requests the exporter sends. There is deliberately no logout: it would end
# the session of every program on this host (pvs/varserver.py).
RequestKind = Literal[
    "device_list",  # legacy dl_cgi DeviceList, every poll
    "get_comm",  # legacy Get_Comm, every aux refresh (600 s)
    "grid_profile",  # legacy GridProfileGet, with Get_Comm
    "ess_status",  # legacy SunVault report (300 s), only on sites with one
    "supervisor_info",  # dl_cgi/supervisor/info: API detection; varserver serial fallback
    "login",  # varserver /auth?login
    "vars_match",  # varserver /vars by match= or name=: builds a cache= set
    "vars_cached",  # varserver /vars of a cache= set built earlier
    "telemetry_enable",  # varserver /vars?set=/sys/telemetryws/enable=1 (--live)
]
REQUEST_KINDS: tuple[RequestKind, ...] = get_args(RequestKind)

# How a request ended: answered (the HTTP status class), or not.
EndClass = Literal["2xx", "3xx", "4xx", "5xx", "timeout", "connection_error", "cancelled"]
END_CLASSES: tuple[EndClass, ...] = get_args(EndClass)
ANSWERED: frozenset[EndClass] = frozenset({"2xx", "3xx", "4xx", "5xx"})
_CLASS_INDEX = {end: index for index, end in enumerate(END_CLASSES)}
_STATUS_CLASSES: dict[int, EndClass] = {2: "2xx", 3: "3xx", 4: "4xx"}

# Upper bounds of the answer-time histogram, seconds: a /vars read of a cached
# set answers well under a second, DeviceList in seconds and sometimes over a
# minute; 10 s is the default timeout. Few buckets: a fleet of 1000 targets
# serves each bucket line once per target and kind (benchmarks/RESULTS.md, fleet).
ANSWER_SECONDS_BUCKETS: tuple[float, ...] = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def status_class(status: int) -> EndClass:
    """``2xx``, ``3xx``, ``4xx``; ``5xx`` for 5xx and anything outside 200-499."""
    return _STATUS_CLASSES.get(status // 100, "5xx")


class _KindCounts:
    """One kind's counters; small, as a fleet keeps a few per target."""

    __slots__ = ("answer_microseconds", "body_bytes", "buckets", "ended", "sent")

    def __init__(self) -> None:
        self.sent = 0
        self.ended = [0] * len(END_CLASSES)
        self.body_bytes = 0
        # Answers per bucket (not cumulative), the last one past every bound.
        self.buckets = [0] * (len(ANSWER_SECONDS_BUCKETS) + 1)
        # Whole microseconds: the exported sum stays short (the text is kept per
        # target and served on every scrape) and adds up exactly.
        self.answer_microseconds = 0


@dataclass(frozen=True, slots=True)
class KindView:
    """One kind's counters at one moment, as the metrics show them."""

    kind: RequestKind
    sent: int
    # The ways requests of this kind ended so far, in END_CLASSES order, with
    # how many ended so: 2xx always, another class only once a request ended so.
    ended: tuple[tuple[EndClass, int], ...]
    body_bytes: int
    # Cumulative answers per ANSWER_SECONDS_BUCKETS bound, then the total (+Inf).
    cumulative: tuple[int, ...]
    answer_seconds: float

    @property
    def answered(self) -> int:
        return self.cumulative[-1]


class RequestCounts:
    """One target's requests to its PVS, by kind; ``version`` changes with every count.

    ``monotonic`` times the answers (tests pin it). After a reload the new
    poller's record ``take_over``s the old one's counts, and requests of the
    old transports that end later are counted in the new record.
    """

    __slots__ = ("_kinds", "_successor", "monotonic", "version")

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._kinds: dict[RequestKind, _KindCounts] = {}
        self._successor: RequestCounts | None = None
        self.monotonic = monotonic
        self.version = 0

    def _current(self) -> RequestCounts:
        counts = self
        while counts._successor is not None:
            counts = counts._successor
        return counts

    def _kind(self, kind: RequestKind) -> _KindCounts:
        found = self._kinds.get(kind)
        if found is None:
            found = self._kinds[kind] = _KindCounts()
        return found

    def sent(self, kind: RequestKind) -> None:
        counts = self._current()
        counts._kind(kind).sent += 1
        counts.version += 1

    def ended(
        self, kind: RequestKind, end: EndClass, *, body_bytes: int, seconds: float | None
    ) -> None:
        """``seconds``: the answer time, for an answered request (else None)."""
        counts = self._current()
        found = counts._kind(kind)
        found.ended[_CLASS_INDEX[end]] += 1
        found.body_bytes += body_bytes
        if seconds is not None:
            found.buckets[bisect.bisect_left(ANSWER_SECONDS_BUCKETS, seconds)] += 1
            found.answer_microseconds += round(seconds * 1e6)
        counts.version += 1

    def expect(self, kind: RequestKind) -> None:
        """Show ``kind``'s counters, at zero, before its first request: the
        reader sends it from its next poll on (see the module's docstring)."""
        counts = self._current()
        if kind not in counts._kinds:
            counts._kind(kind)
            counts.version += 1

    def take_over(self, earlier: RequestCounts) -> None:
        """Continue ``earlier``'s counts (a reload replaced its target's poller)."""
        earlier = earlier._current()
        if earlier is self:
            return
        for kind, old in earlier._kinds.items():
            new = self._kind(kind)
            new.sent += old.sent
            new.ended = [a + b for a, b in zip(new.ended, old.ended, strict=True)]
            new.body_bytes += old.body_bytes
            new.buckets = [a + b for a, b in zip(new.buckets, old.buckets, strict=True)]
            new.answer_microseconds += old.answer_microseconds
        earlier._kinds = {}
        earlier._successor = self
        self.version += 1

    def view(self) -> tuple[KindView, ...]:
        """Every kind sent so far, in ``REQUEST_KINDS`` order."""
        views = []
        for kind in REQUEST_KINDS:
            found = self._kinds.get(kind)
            if found is None:
                continue
            cumulative = []
            total = 0
            for count in found.buckets:
                total += count
                cumulative.append(total)
            views.append(
                KindView(
                    kind,
                    found.sent,
                    tuple(
                        (end, n)
                        for end, n in zip(END_CLASSES, found.ended, strict=True)
                        if n or end == "2xx"
                    ),
                    found.body_bytes,
                    tuple(cumulative),
                    found.answer_microseconds / 1e6,
                )
            )
        return tuple(views)
