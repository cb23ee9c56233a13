"""One device, one series: what to do when an answer names a serial twice.

Published captures are redacted (11 inverters with the serial
``E00123456789``, both meters ``SERIAL_REDACTED``), and a redaction slip
can give two devices one serial; ``capture --anonymise`` and ``--replay``
must survive that too. Keyed by serial alone, such devices would collapse
into one series (or make the exposition invalid). So:

* the same entry twice (every field equal) is one device listed twice:
  the repeat is dropped;
* two different entries with one serial are two devices: the first keeps
  the serial as its ``device_id``, each later one becomes
  ``<serial>#<position>`` (its index in the PVS's list or family), which
  stays the same from poll to poll while the PVS lists devices in the
  same order. The serial as the PVS sent it stays in the description.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

from sunpower_pvs_exporter.pvs.model import Device

Verdict = Literal["new", "renamed", "repeat"]


class DeviceIdentities:
    """The serials of one answer so far, per device type."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
        self._taken: set[tuple[str, str]] = set()

    def admit(
        self, device: Device, position: int, entry: Mapping[str, Any]
    ) -> tuple[Verdict, Device]:
        """``device`` as it is to be exported, and whether it was renamed or is a repeat."""
        key = (device.device_type, device.serial)
        earlier = self._entries.setdefault(key, [])
        if any(entry == other for other in earlier):
            return "repeat", device
        earlier.append(entry)
        if key not in self._taken:
            self._taken.add(key)
            return "new", device
        renamed = f"{device.serial}#{position}"
        while (device.device_type, renamed) in self._taken:
            renamed += "#"
        self._taken.add((device.device_type, renamed))
        return "renamed", dataclasses.replace(device, serial=renamed)
