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


@dataclass(slots=True)
class _Seen:
    """Kept for every device of every target: slots (no per-instance dict)
    take ~3 KB off a 30-inverter site (benchmarks/RESULTS.md, "Bigger sites")."""

    device: Device
    seen_at: float


class AbsentDevices:
    """Remembers one target's devices and lists the absent ones as missing."""

    def __init__(self, forget_after: float = FORGET_AFTER_SECONDS) -> None:
        self.forget_after = forget_after
        # Device type -> serial -> when last seen. Nested rather than keyed by
        # (type, serial): no key tuple per device of every target.
        self._seen: dict[str, dict[str, _Seen]] = {}

    def apply(self, snapshot: Snapshot, now: float) -> Snapshot:
        present: set[tuple[str, str]] = set()
        for device in snapshot.devices:
            if not device.serial or device.device_type == "PVS":
                continue
            present.add((device.device_type, device.serial))
            of_type = self._seen.get(device.device_type)
            if of_type is None:
                of_type = self._seen[device.device_type] = {}
            of_type[device.serial] = _Seen(device, now)
        for device_type, of_type in list(self._seen.items()):
            for serial in [k for k, s in of_type.items() if now - s.seen_at > self.forget_after]:
                del of_type[serial]
            if not of_type:
                del self._seen[device_type]
        missing = tuple(
            replace(seen.device, state=MISSING_STATE)
            for device_type, of_type in self._seen.items()
            for serial, seen in of_type.items()
            if (device_type, serial) not in present
        )
        if not missing:
            return snapshot
        return replace(snapshot, devices=snapshot.devices + missing)

    @property
    def remembered(self) -> int:
        return sum(len(of_type) for of_type in self._seen.values())
