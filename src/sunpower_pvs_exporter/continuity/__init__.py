"""What one target's metrics carry over from one poll to the next.

``pvs/`` parses each read on its own, with no memory. Some truths need the
previous reads: a lifetime counter must not go backwards on a glitch
(``energy``), a device that vanished must stay visible as missing
(``absent``), and a PVS reboot shows only as uptime lower than last time.
The poller passes every good snapshot through ``TargetContinuity.apply``
before anything renders it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sunpower_pvs_exporter.continuity.absent import AbsentDevices
from sunpower_pvs_exporter.continuity.energy import HELD_REASONS, HeldReason, LifetimeEnergyGuard
from sunpower_pvs_exporter.pvs.model import Snapshot
from sunpower_pvs_exporter.pvs.uptime import RebootWatch

__all__ = ["HELD_REASONS", "ContinuityCounts", "HeldReason", "TargetContinuity"]


@dataclass(frozen=True)
class ContinuityCounts:
    """Counters for the health metrics, copied out for one scrape."""

    held_energy_readings: Mapping[HeldReason, int]
    reboots: int


class TargetContinuity:
    def __init__(self, target: str) -> None:
        self.energy = LifetimeEnergyGuard(target)
        self.absent = AbsentDevices()
        self.reboots = 0
        self._reboots = RebootWatch()

    def apply(self, snapshot: Snapshot, now: float) -> Snapshot:
        """``snapshot`` as it should be served, given the reads before it."""
        if self._reboots.saw(snapshot):
            self.reboots += 1
        return self.absent.apply(self.energy.apply(snapshot, now), now)

    def counts(self) -> ContinuityCounts:
        return ContinuityCounts(dict(self.energy.held), self.reboots)
