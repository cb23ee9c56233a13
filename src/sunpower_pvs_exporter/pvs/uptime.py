"""The one rule for "the PVS rebooted": its uptime went backwards.

Several parts react to a reboot (API re-detection, the varserver variable
cache, the reboot counter), and they must agree on what one is.  Uptime only
ever grows while the PVS runs, so a reading below the previous one means the
supervisor started again in between.  A missing reading on either side says
nothing: an absent value is not a reboot.
"""

from __future__ import annotations


def rebooted(previous: float | None, current: float | None) -> bool:
    """True when ``current`` uptime is below ``previous``: the PVS restarted in between."""
    if previous is None or current is None:
        return False
    return current < previous
