"""The one rule for "the PVS rebooted": its uptime went backwards.

Several parts react to a reboot (API re-detection, the varserver variable
cache, the reboot counter), and they must agree on what one is.  Uptime only
ever grows while the PVS runs, so a reading below the previous one means the
supervisor started again in between.  A missing reading on either side says
nothing: an absent value is not a reboot.
"""

from __future__ import annotations

from sunpower_pvs_exporter.pvs.model import Snapshot


def rebooted(previous: float | None, current: float | None) -> bool:
    """True when ``current`` uptime is below ``previous``: the PVS restarted in between."""
    if previous is None or current is None:
        return False
    return current < previous


class RebootWatch:
    """Remembers one PVS's last uptime, so each poll can ask "rebooted since?"."""

    def __init__(self) -> None:
        self._last: float | None = None

    def saw(self, snapshot: Snapshot) -> bool:
        """Whether ``snapshot`` is the first seen after a reboot; then remember its uptime.

        A snapshot without an uptime keeps the one before, so a reboot across
        a partial read is still seen at the next full one.
        """
        uptime = snapshot.supervisor.uptime_seconds if snapshot.supervisor else None
        restarted = rebooted(self._last, uptime)
        if uptime is not None:
            self._last = uptime
        return restarted
