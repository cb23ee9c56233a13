"""Turning the PVS's loosely typed JSON values into numbers and label text.

The PVS sends numbers as strings (``"1.9867"``), sometimes as JSON numbers,
and occasionally as junk. Everything here is total: any input gives a value or
``None``, never an exception, so one odd field cannot cost a whole poll —
not even a JSON integer like ``10**400``, which Python parses exactly and
``float()`` then refuses with ``OverflowError``.

A value that is present but unusable (junk text, a wrong type, NaN, infinity,
a number beyond a double) is exported as missing, and counted: the poller
wraps each poll in ``count_dropped_values()``, ``to_float`` adds every drop to
that tally, and the total becomes ``sunpower_pvs_dropped_values_total``. The
tally lives in a context variable so the parsers stay pure functions of their
input (outside a poll nothing is counted).
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime, tzinfo

MAX_LABEL_LENGTH = 256
PVS_TIME_FORMAT = "%Y,%m,%d,%H,%M,%S"
# A PVS clock reading outside these years is a broken clock or a hostile
# answer; as a sample timestamp it would be refused by Prometheus (it wants
# int64 milliseconds) or land data decades away.
EARLIEST_EPOCH = 946684800.0  # 2000-01-01T00:00:00Z
LATEST_EPOCH = 4102444800.0  # 2100-01-01T00:00:00Z
# Python refuses to turn a string of more digits than this into an int.
MAX_INT_DIGITS = 4000


class DroppedValues:
    """How many present-but-unusable numbers one poll met."""

    def __init__(self) -> None:
        self.count = 0


_TALLY: ContextVar[DroppedValues | None] = ContextVar("dropped_values", default=None)


@contextlib.contextmanager
def count_dropped_values() -> Iterator[DroppedValues]:
    """Count the values ``to_float`` drops inside this block (tasks started in it too)."""
    tally = DroppedValues()
    token = _TALLY.set(tally)
    try:
        yield tally
    finally:
        _TALLY.reset(token)


def _drop(value: object) -> None:
    """Count a value that was there but unusable; absent or blank is not a drop."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return
    tally = _TALLY.get()
    if tally is not None:
        tally.count += 1


def json_int(text: str) -> int | float:
    """``json.loads(..., parse_int=json_int)``: a huge integer costs one field, not the answer.

    Python raises ``ValueError`` on integers of more than 4300 digits, which
    would fail the whole document; such a number becomes infinity instead,
    which ``to_float`` drops (and counts) like any unusable value.
    """
    return int(text) if len(text) <= MAX_INT_DIGITS else float(text)


# kW -> W, kWh -> Wh, kvar -> var: the PVS reports power and energy in kilo units.
KILO = 1000.0


def to_float(value: object, scale: float = 1.0) -> float | None:
    """A finite float from a PVS value, times ``scale``; ``None`` otherwise."""
    number = _finite(value)
    if number is None:
        _drop(value)
        return None
    if scale == 1.0:
        return number
    # 0.3051 kVA * 1000 is 305.09999999999997 in binary floating point; 15
    # significant digits (all a double holds exactly) give back 305.1.
    scaled = float(f"{number * scale:.15g}")
    if not math.isfinite(scaled):
        _drop(value)
        return None
    return scaled


def _finite(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            number = float(value)  # OverflowError for ints beyond a double
        elif isinstance(value, str):
            number = float(value.strip())
        else:
            return None
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def product(*factors: float | None) -> float | None:
    """The product of readings, or ``None`` if one is missing or the result is not finite."""
    result = 1.0
    for factor in factors:
        if factor is None:
            return None
        result *= factor
    return result if math.isfinite(result) else None


def to_text(value: object) -> str:
    """Label-safe text: scalars only, valid UTF-8, bounded length.

    JSON can carry lone surrogates (``"\\ud800"``) that cannot be encoded as
    UTF-8 and would break the exposition; they are replaced.

    Interned: a site's 30 inverters share one model, type, firmware and state
    string each, and a fleet keeps every site's snapshot (a third of the
    label strings per 30-inverter site, ~12 KB: benchmarks/RESULTS.md, fleet).
    Text that is one device's own (a serial number) goes through
    ``to_unique_text`` instead.
    """
    return sys.intern(to_unique_text(value))


def to_unique_text(value: object) -> str:
    """``to_text`` for a device's own identifier (serial, module serial, description).

    Not interned: no other device shares it, so interning saved nothing and
    grew the interpreter's table of interned strings by an entry per
    device, ~3 KB per 30-inverter site (benchmarks/RESULTS.md, "Bigger sites").
    """
    if value is None or isinstance(value, dict | list):
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = repr(value)
    else:
        try:
            text = str(value)
        except ValueError:  # an int of more digits than Python will print
            return ""
    return text.encode("utf-8", "replace").decode("utf-8")[:MAX_LABEL_LENGTH]


def plausible_epoch(seconds: float | None) -> float | None:
    """``seconds`` if it is a time this century could see, else ``None``."""
    if seconds is None or not EARLIEST_EPOCH <= seconds < LATEST_EPOCH:
        return None
    return seconds


def parse_pvs_time(value: object, tz: tzinfo | None) -> float | None:
    """Epoch seconds from a legacy ``DATATIME``/``CURTIME`` string.

    The string carries no zone. Real PVS clocks run UTC (recorded dumps show
    a Californian array at its midday peak at "18:02"), so ``tz=None`` reads
    it as UTC whatever this machine's zone; ``tz`` is only for a unit whose
    clock really was set to local time.
    """
    if not isinstance(value, str):
        return None
    try:
        naive = datetime.strptime(value.strip(), PVS_TIME_FORMAT)
    except ValueError:
        return None
    try:
        aware = naive.replace(tzinfo=tz if tz is not None else UTC)
        return plausible_epoch(aware.timestamp())
    except (OverflowError, OSError, ValueError):
        return None


def parse_iso_utc(value: object) -> float | None:
    """Epoch seconds from a varserver ``msmtEps`` (``2025-06-28T04:10:00Z``)."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    try:
        return plausible_epoch(parsed.timestamp())
    except (OverflowError, OSError, ValueError):
        return None
