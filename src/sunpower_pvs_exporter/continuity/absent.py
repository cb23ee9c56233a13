"""Devices that were seen and are now absent stay visible, as ``missing``.

On varserver firmware a device that stops reporting simply vanishes from the
data, as every inverter does at night. Without a series left, no alert can
tell a dead inverter from the dark. So each device seen is remembered, and
while it is absent the snapshot lists it again with state ``missing`` and its
last sample time: ``sunpower_pvs_device_state`` is 0 and
``sunpower_pvs_device_last_report_timestamp_seconds`` keeps ageing, while its
readings stay absent (nothing is invented). The "inverter not reporting"
alert then fires in daylight, when the other inverters produce, and stays
quiet at night, when none do.

A device absent for ``forget_after`` is forgotten, which bounds the memory
(and ends the series of a device that was really removed).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sunpower_pvs_exporter.pvs.model import Device, Snapshot

MISSING_STATE = "missing"
# Longer than any night plus a day of alerting, short enough that a device
# the installer removed disappears within the week.
FORGET_AFTER_SECONDS = 7 * 86400.0


@dataclass
class _Seen:
    device: Device
    seen_at: float


class AbsentDevices:
    """Remembers one target's devices and lists the absent ones as missing."""

    def __init__(self, forget_after: float = FORGET_AFTER_SECONDS) -> None:
        self.forget_after = forget_after
        self._seen: dict[tuple[str, str], _Seen] = {}

    def apply(self, snapshot: Snapshot, now: float) -> Snapshot:
        present: set[tuple[str, str]] = set()
        for device in snapshot.devices:
            if not device.serial or device.device_type == "PVS":
                continue
            key = (device.device_type, device.serial)
            present.add(key)
            self._seen[key] = _Seen(device, now)
        for key in [k for k, s in self._seen.items() if now - s.seen_at > self.forget_after]:
            del self._seen[key]
        missing = tuple(
            replace(seen.device, state=MISSING_STATE)
            for key, seen in self._seen.items()
            if key not in present
        )
        if not missing:
            return snapshot
        return replace(snapshot, devices=snapshot.devices + missing)

    @property
    def remembered(self) -> int:
        return len(self._seen)
