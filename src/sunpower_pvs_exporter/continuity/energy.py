"""Lifetime-energy readings that never go backwards.

Real PVS units report lifetime kWh that falls by one float32 step
(1665.559204 -> 1665.559082) and, briefly, reads 0. Prometheus takes any
drop of a counter for a reset, so ``increase()`` over a day would add the
whole lifetime (megawatt hours) as one spike. This guard sits between the
PVS read and the metrics, per target:

* a reading of 0 (or below) is missing, not a value: the last exported value
  is held; with nothing to hold, the reading is dropped (missing);
* a reading below the last exported one is held at the last one. A tiny drop
  (float rounding) is held silently for as long as it lasts; a large drop is
  logged once;
* a large drop that persists ``reset_after`` seconds is a real reset (a
  repaired or reprogrammed device): it is accepted and logged, and
  Prometheus sees an ordinary counter reset.

* a reading that is absent (``None``: not reported, or unparsable) while the
  device is still listed holds the last exported value too: legacy firmware
  leaves every reading out for each inverter in ``error`` state, every
  night, and a NaN or a gap there would break ``increase()`` and the energy
  dashboards until morning. With nothing to hold it stays absent (never NaN).
  This is the normal night, not a glitch: it is not counted.

Every held or dropped glitch is counted by reason. A device that is really
new has its own serial, so it starts its own series.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from typing import Literal, TypeVar

from sunpower_pvs_exporter.pvs.model import EnergyStorage, Inverter, Meter, Snapshot

log = logging.getLogger(__name__)

HeldReason = Literal["zero", "small_decrease", "large_decrease"]
HELD_REASONS: tuple[HeldReason, ...] = ("zero", "small_decrease", "large_decrease")

# A drop up to this size is rounding on the PVS (a float32 step of a lifetime
# value is about 1e-7 of it), never a reset, however long it lasts.
SMALL_DROP_RATIO = 1e-5
SMALL_DROP_WATT_HOURS = 10.0
# A large drop that lasts this long is a real reset (about an hour of polls).
RESET_AFTER_SECONDS = 3600.0
# A device not seen for this long is forgotten (bounds the state; a week
# covers any night and any outage an owner would still call "the same").
FORGET_AFTER_SECONDS = 7 * 86400.0

SeriesKey = tuple[str, str]  # (series, device serial)
T = TypeVar("T", Inverter, Meter, EnergyStorage)


@dataclass
class _Track:
    exported: float
    seen_at: float
    low_since: float | None = None


def _is_small(drop: float, exported: float) -> bool:
    return drop <= max(SMALL_DROP_WATT_HOURS, SMALL_DROP_RATIO * exported)


class LifetimeEnergyGuard:
    """Holds one target's lifetime-energy series monotonic across polls."""

    def __init__(
        self,
        target: str,
        reset_after: float = RESET_AFTER_SECONDS,
        forget_after: float = FORGET_AFTER_SECONDS,
    ) -> None:
        self.target = target
        # Every line it logs names the target (a field of its own in logfmt and JSON).
        self.log = logging.LoggerAdapter(log, {"target": target})
        self.reset_after = reset_after
        self.forget_after = forget_after
        self.held: dict[HeldReason, int] = dict.fromkeys(HELD_REASONS, 0)
        self._tracks: dict[SeriesKey, _Track] = {}

    def reading(self, key: SeriesKey, value: float | None, now: float) -> float | None:
        """The value to export for one reading of the series ``key``."""
        track = self._tracks.get(key)
        if value is None or math.isnan(value):
            # Not reported (an inverter in error state at night): the energy
            # did not go anywhere; hold what was exported, uncounted.
            if track is None:
                return None
            track.seen_at = now
            return track.exported
        if value <= 0 or math.isinf(value):
            self.held["zero"] += 1
            if track is None:
                return None
            track.seen_at = now
            return track.exported
        if track is None:
            self._tracks[key] = _Track(exported=value, seen_at=now)
            return value
        track.seen_at = now
        if value >= track.exported:
            track.exported = value
            track.low_since = None
            return value
        drop = track.exported - value
        if _is_small(drop, track.exported):
            self.held["small_decrease"] += 1
            return track.exported
        if track.low_since is None:
            track.low_since = now
            self.log.warning(
                "%s of %s fell from %.1f to %.1f Wh; holding %.1f until the lower "
                "value has lasted %.0f s",
                key[0],
                key[1],
                track.exported,
                value,
                track.exported,
                self.reset_after,
            )
        elif now - track.low_since >= self.reset_after:
            self.log.warning(
                "%s of %s stayed below %.1f Wh for %.0f s: accepting %.1f Wh as a reset",
                key[0],
                key[1],
                track.exported,
                now - track.low_since,
                value,
            )
            track.exported = value
            track.low_since = None
            return value
        self.held["large_decrease"] += 1
        return track.exported

    def apply(self, snapshot: Snapshot, now: float) -> Snapshot:
        """``snapshot`` with every lifetime-energy reading passed through the guard.

        Returns the same object when nothing had to change.
        """
        inverters = self._each(snapshot.inverters, now, _INVERTER_FIELDS)
        meters = self._each(snapshot.meters, now, _METER_FIELDS)
        storage = self._each(snapshot.storage, now, _STORAGE_FIELDS)
        self._forget(now)
        if inverters is None and meters is None and storage is None:
            return snapshot
        return replace(
            snapshot,
            inverters=snapshot.inverters if inverters is None else inverters,
            meters=snapshot.meters if meters is None else meters,
            storage=snapshot.storage if storage is None else storage,
        )

    def _each(
        self, items: tuple[T, ...], now: float, fields: tuple[tuple[str, str], ...]
    ) -> tuple[T, ...] | None:
        changed = False
        out: list[T] = []
        for item in items:
            updates: dict[str, float | None] = {}
            for series, attribute in fields:
                raw = getattr(item, attribute)
                value = self.reading((series, item.device.serial), raw, now)
                if value != raw:
                    updates[attribute] = value
            if updates:
                changed = True
                item = replace(item, **updates)  # type: ignore[arg-type]
            out.append(item)
        return tuple(out) if changed else None

    def _forget(self, now: float) -> None:
        stale = [k for k, t in self._tracks.items() if now - t.seen_at > self.forget_after]
        for key in stale:
            del self._tracks[key]


# (series name for logs, model attribute) per device kind: the lifetime
# energies exported as ``_total`` counters.
_INVERTER_FIELDS = (("produced energy", "energy_watt_hours"),)
_METER_FIELDS = (
    ("imported energy", "imported_energy_watt_hours"),
    ("exported energy", "exported_energy_watt_hours"),
)
_STORAGE_FIELDS = (
    ("charged energy", "charged_energy_watt_hours"),
    ("discharged energy", "discharged_energy_watt_hours"),
)
