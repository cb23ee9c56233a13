"""Turning the PVS's loosely typed JSON values into numbers and label text.

The PVS sends numbers as strings (``"1.9867"``), sometimes as JSON numbers,
and occasionally as junk. Everything here is total: any input gives a value or
``None``, never an exception, so one odd field cannot cost a whole poll.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, tzinfo

MAX_LABEL_LENGTH = 256
PVS_TIME_FORMAT = "%Y,%m,%d,%H,%M,%S"


def to_float(value: object, scale: float = 1.0) -> float | None:
    """A finite float from a PVS value, times ``scale``; ``None`` otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    if not math.isfinite(number):
        return None
    if scale == 1.0:
        return number
    # 0.3051 kVA * 1000 is 305.09999999999997 in binary floating point; 15
    # significant digits (all a double holds exactly) give back 305.1.
    scaled = float(f"{number * scale:.15g}")
    return scaled if math.isfinite(scaled) else None


def to_text(value: object) -> str:
    """Label-safe text: scalars only, valid UTF-8, bounded length.

    JSON can carry lone surrogates (``"\\ud800"``) that cannot be encoded as
    UTF-8 and would break the exposition; they are replaced.
    """
    if value is None or isinstance(value, dict | list):
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = repr(value)
    else:
        text = str(value)
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text[:MAX_LABEL_LENGTH]


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
        return aware.timestamp()
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
        return parsed.timestamp()
    except (OverflowError, OSError, ValueError):
        return None
