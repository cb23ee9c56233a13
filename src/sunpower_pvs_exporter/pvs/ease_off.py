"""Ask a PVS that keeps rebooting less often, until it has been quiet for days.

Peers saw polling load and reboots go together: two pollers every 5 minutes
on one PVS gave a reboot about every 24 h, a 30 s poller a crash every ~4 h,
and one at 10 minutes the first 72 h of uptime. The exporter cannot tell
whether its own polling is the cause, but asking a struggling unit less
often costs little (its meters and inverters refresh only every ~5 minutes)
and may be what it needs. So:

* two reboots less than ``PAIR_WITHIN`` apart (23 h) ease a target off: its
  interval doubles, and doubles again at every further such pair, up to
  ``MAX_EASED_INTERVAL`` (10 min), never below the configured interval (a
  target configured at 10 min or more is left alone);
* two reboots 23-25 h apart are what a unit that reboots once a night at
  about the same hour looks like, as many do: such a pair is not counted,
  or a healthy unit would never get its interval back;
* after ``RECOVER_AFTER`` (72 h) without a reboot the configured interval
  returns.

The decision is ``easing()``, a pure function of the reboot times, the time
and the configured interval; ``RebootEasing`` keeps one target's reboot times
for the poller, which asks it after every poll.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

HOUR = 3600.0
# "Reboots twice within 24 hours", less an hour: see the module docstring.
REBOOT_WINDOW = 24 * HOUR
NIGHTLY_MARGIN = 1 * HOUR
PAIR_WITHIN = REBOOT_WINDOW - NIGHTLY_MARGIN
RECOVER_AFTER = 72 * HOUR
MAX_EASED_INTERVAL = 600.0
# Reboot times kept per target: more than enough doublings to reach the cap
# from any interval, and days of a unit rebooting every few hours.
KEEP_REBOOTS = 64


def interval_text(seconds: float) -> str:
    """``1 min``, ``4 min``, ``90 s``: an interval as the log and status page say it."""
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:g} s"


@dataclass(frozen=True)
class Easing:
    """The interval a target is polled at, and why.

    ``reboots`` counts the reboots seen in the 24 hours up to the one that
    last lengthened the interval; ``until`` is when the configured interval
    returns if no reboot comes first.
    """

    configured: float
    interval: float
    reboots: int = 0
    until: float | None = None

    @property
    def eased(self) -> bool:
        return self.interval > self.configured

    def describe(self) -> str:
        """One line for the log and the status page ('' when not eased)."""
        if not self.eased:
            return ""
        return (
            f"polling eased to {interval_text(self.interval)} after {self.reboots} reboots "
            f"in 24 h; back to {interval_text(self.configured)} after "
            f"{RECOVER_AFTER / HOUR:.0f} h without a reboot"
        )


def not_eased(configured: float) -> Easing:
    return Easing(configured=configured, interval=configured)


def easing(reboots: Sequence[float], now: float, configured: float) -> Easing:
    """The interval to poll at, given the times of the reboots seen (any order).

    The reboots since the last quiet spell of ``RECOVER_AFTER`` form the
    episode; each reboot in it that came less than ``PAIR_WITHIN`` after the
    one before doubles the interval. A reboot that does not double it still
    restarts the 72 h count.
    """
    times = sorted(reboots)
    if configured >= MAX_EASED_INTERVAL or not times or now - times[-1] >= RECOVER_AFTER:
        return not_eased(configured)
    start = len(times) - 1
    while start > 0 and times[start] - times[start - 1] < RECOVER_AFTER:
        start -= 1
    doublings = 0
    last_pair = 0
    for index in range(start + 1, len(times)):
        if times[index] - times[index - 1] < PAIR_WITHIN:
            doublings += 1
            last_pair = index
    if doublings == 0:
        return not_eased(configured)
    interval = min(MAX_EASED_INTERVAL, configured * 2.0 ** min(doublings, 32))
    moment = times[last_pair]
    in_window = sum(1 for t in times if moment - REBOOT_WINDOW < t <= moment)
    return Easing(
        configured=configured,
        interval=interval,
        reboots=in_window,
        until=times[-1] + RECOVER_AFTER,
    )


class RebootEasing:
    """One target's reboot times, and the easing they call for.

    ``enabled=False`` (``ease_off_after_reboots: false``) still records the
    reboots, so turning it on by a reload acts on what was already seen.
    """

    def __init__(self, configured: float, *, enabled: bool) -> None:
        self.configured = configured
        self.enabled = enabled
        self.reboots: deque[float] = deque(maxlen=KEEP_REBOOTS)
        self.current = not_eased(configured)

    def decide(self, now: float, *, rebooted: bool = False) -> Easing:
        """Record a reboot seen at ``now`` (if ``rebooted``); the easing from now on."""
        if rebooted:
            self.reboots.append(now)
        if self.enabled:
            self.current = easing(self.reboots, now, self.configured)
        else:
            self.current = not_eased(self.configured)
        return self.current

    def take_reboots_from(self, old: RebootEasing) -> None:
        """Continue ``old``'s reboot history (the same PVS, after a config reload)."""
        self.reboots = deque(old.reboots, maxlen=KEEP_REBOOTS)
