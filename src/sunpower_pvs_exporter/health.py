"""A point-in-time view of one target's polling health.

The poller owns the mutable state; scrapes and the status page get this
frozen copy, so rendering never races a poll that finishes meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sunpower_pvs_exporter.continuity import HELD_REASONS, HeldReason
from sunpower_pvs_exporter.pvs.ease_off import Easing
from sunpower_pvs_exporter.pvs.errors import FAILURE_REASONS, FailureReason
from sunpower_pvs_exporter.pvs.model import LiveData, Snapshot
from sunpower_pvs_exporter.pvs.request_counts import KindView


def zero_failures() -> dict[FailureReason, int]:
    return dict.fromkeys(FAILURE_REASONS, 0)


def zero_held() -> dict[HeldReason, int]:
    return dict.fromkeys(HELD_REASONS, 0)


@dataclass(frozen=True)
class LastPoll:
    """What a target's polls so far left: the last good data, the last outcome, the counts.

    The poller holds one and replaces it whole at every change, never field
    by field; a poller that takes over from another for the same PVS (a
    reload) takes it whole, and ``TargetStatus`` is one plus the time.
    """

    snapshot: Snapshot | None = None
    last_snapshot_at: float | None = None
    last_attempt_at: float | None = None
    last_success_at: float | None = None
    last_poll_duration: float | None = None
    last_poll_ok: bool = False
    last_error: str = ""
    last_error_reason: str = ""
    polls: int = 0
    # Values present in PVS answers but unusable (junk, NaN, 10**400): exported as missing.
    dropped_values: int = 0
    failures: Mapping[FailureReason, int] = field(default_factory=zero_failures)

    def failed(self, reason: FailureReason, message: str, duration: float) -> LastPoll:
        failures = dict(self.failures)
        failures[reason] += 1
        return replace(
            self,
            last_poll_duration=duration,
            last_poll_ok=False,
            last_error=message,
            last_error_reason=reason,
            failures=failures,
        )

    def shown(self, *, fresh: bool, overdue: bool) -> dict[str, Any]:
        """The fields as a ``TargetStatus`` shows them: the snapshot only while
        fresh, and a poll a scrape stopped waiting for (scrape mode) not ok."""
        fields = dict(vars(self))
        fields["snapshot"] = self.snapshot if fresh else None
        fields["last_poll_ok"] = self.last_poll_ok and not overdue
        fields["failures"] = dict(self.failures)
        return fields


@dataclass(frozen=True, kw_only=True)
class TargetStatus(LastPoll):
    """Health of one target as of ``now``: what its polls left, and its schedule.

    ``snapshot`` is the last good read only while it is fresher than
    ``max_age``; stale data is withheld so no one graphs it as current.
    """

    target: str
    host: str
    api: str
    now: float
    backend: str = ""
    consecutive_failures: int = 0
    # In effect: the configured interval, or longer while eased off after reboots.
    poll_interval: float = 0.0
    configured_poll_interval: float = 0.0
    # Why the interval is what it is (None: a status not made by a poller).
    easing: Easing | None = None
    next_poll_at: float | None = None
    # Lifetime-energy readings held or dropped, by reason (continuity/energy.py).
    held_energy_readings: Mapping[HeldReason, int] = field(default_factory=zero_held)
    # Reboots seen as uptime going backwards between two polls.
    reboots: int = 0
    # False while an on_demand target is idle (not probed lately, not polled).
    active: bool = True
    # The requests sent to the PVS so far, per kind sent (pvs/request_counts.py).
    requests: tuple[KindView, ...] = ()
    # Whether the answer-time histogram of each kind is exported (config
    # ``request_histograms``; the counters are always).
    request_histograms: bool = True

    @property
    def up(self) -> bool:
        """The last poll worked and its data is still being served."""
        return self.last_poll_ok and self.snapshot is not None

    @property
    def snapshot_age(self) -> float | None:
        if self.last_snapshot_at is None:
            return None
        return snapshot_age(self.now, self.last_snapshot_at)


def snapshot_age(now: float, last_snapshot_at: float) -> float:
    """Seconds since the newest good data; a clock stepping back never gives a negative age.

    Shared by ``TargetStatus`` and the per-scrape fast path of
    ``metrics.cache.HealthText``, which must give the same value.
    """
    return max(0.0, now - last_snapshot_at)


@dataclass(frozen=True)
class LiveStatus:
    """One target's telemetry stream (``--live``) as of a scrape.

    ``live`` is ``None`` while the stream is down or has been silent longer
    than its ``silence_timeout``: a dead stream's readings vanish instead of
    freezing. ``unsupported``: the PVS has no stream (PVS5); no more tries.
    """

    target: str
    live: LiveData | None
    connects: int = 0
    messages: int = 0
    unsupported: bool = False


@dataclass(frozen=True)
class ReloadStatus:
    """The outcome of the last configuration load (startup or reload).

    ``last_success_at`` is when the running configuration was loaded: a failed
    reload leaves it, and the running configuration, as they were.
    """

    successful: bool
    last_success_at: float


@dataclass(frozen=True)
class ReloadOutcome:
    """What one reload did: ``POST /-/reload`` answers with it, SIGHUP logs it."""

    ok: bool
    message: str
