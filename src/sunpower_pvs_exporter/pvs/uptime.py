"""One rule for "the PVS rebooted": its uptime went down."""

from __future__ import annotations


def rebooted(previous: float | None, current: float | None) -> bool:
    """True when ``current`` uptime is below ``previous`` (either unknown: False)."""
    return previous is not None and current is not None and current < previous
