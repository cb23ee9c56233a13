"""The one retry rule for anything that talks to a PVS and fails.

Both the poller (a failed poll) and the telemetry stream (a dropped
socket) wait by it, so a PVS in trouble is retried the same way whichever
part noticed. It is a pure function of its inputs; callers pass the random
draw, so tests can pin it.
"""

from __future__ import annotations


def backoff_delay(first: float, failures: int, cap: float, jitter: float, draw: float) -> float:
    """Seconds to wait after ``failures`` failures in a row.

    Doubles from ``first`` up to ``cap`` (or ``first``, if larger). The
    jitter (``draw`` in [0, 1) times ``jitter``) only ever lengthens a
    delay, so a retry never comes sooner than ``first``, and never later
    than the cap: many exporters restarted together still spread out.
    """
    if failures <= 0:
        return first
    ceiling = max(cap, first)
    # Bounded exponent: a PVS down for days must not overflow the float.
    base = min(ceiling, first * 2.0 ** min(failures - 1, 64))
    return min(ceiling, base * (1.0 + jitter * draw))
