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
from typing import Any

from sunpower_pvs_exporter.pvs.model import Device


class DeviceIdentities:
    """The serials of one answer so far, per device type, and what was done about
    a repeated one (``warnings``)."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
        self._taken: set[tuple[str, str]] = set()
        self.warnings: list[str] = []

    def admit(
        self, device: Device, where: str, position: int, entry: Mapping[str, Any]
    ) -> Device | None:
        """``device`` as it is to be exported; ``None`` for a repeat of an earlier entry.

        ``where`` names the entry in warnings (``devices[3]``, ``inverter/3``).
        """
        key = (device.device_type, device.serial)
        earlier = self._entries.setdefault(key, [])
        if any(entry == other for other in earlier):
            self.warnings.append(f"{where}: listed twice; the repeat skipped")
            return None
        earlier.append(entry)
        if key not in self._taken:
            self._taken.add(key)
            return device
        renamed = f"{device.serial}#{position}"
        while (device.device_type, renamed) in self._taken:
            renamed += "#"
        self._taken.add((device.device_type, renamed))
        self.warnings.append(
            f"{where}: serial {device.serial!r} already taken by another device; "
            f"exported as {renamed!r}"
        )
        return dataclasses.replace(device, serial=renamed)
