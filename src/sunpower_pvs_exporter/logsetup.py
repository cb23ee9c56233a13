"""Logging setup: plain (the original exporter's style), logfmt or JSON lines.

* ``plain``  — ``2026-06-21 12:00:00,000 WARNING name: target=site poll failed …``
* ``logfmt`` — ``time=… level=warning logger=… target=site msg="poll failed …"``
* ``json``   — ``{"time": "…", "level": "warning", "logger": "…", "target": "site", …}``

logfmt and JSON write exactly one line per event (tracebacks go into an
``exc`` field with newlines escaped). The target a line is about travels
beside the message, never inside it: pollers and PVS clients log through a
``logging.LoggerAdapter`` that adds ``extra={"target": NAME}`` (one-off
calls pass it themselves). logfmt and JSON make it a field of its own;
plain writes it as ``target=NAME `` before the message, as it always has.

Repeated identical warnings and errors are rate-limited: the first one of a
kind is written, the same kind again within ``window`` seconds is only
counted, and the first one after the window is written with a summary
``[N more like this in the last M s]`` (if the errors stop instead, the
count is dropped; the poller logs its own "answering again after N failed
polls" line on recovery). "The same kind" means the same
logger, level, target and message once numbers are blanked out (so "next try in 240s"
and "next try in 300s" count as one). A dead PVS therefore writes a few lines
an hour, not one per poll, and cannot fill a Raspberry Pi's SD card.

A record can name its kind itself (``extra={"repeat_kind": ...}``) when its
message holds what a client chooses, such as its address; aiohttp's own
records are of the kind of their message template and exception type, for
the same reason (a client that changes its IPv6 address each time would
otherwise be a new kind each time).
"""

from __future__ import annotations

import copy
import json
import logging
import re
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_FORMATS = ("plain", "logfmt", "json")
DEFAULT_RATE_LIMIT_WINDOW = 600.0
MAX_TRACKED_KINDS = 512

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_LOGFMT_BARE = re.compile(r"^[^\s=\"\\]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def target_of(record: logging.LogRecord) -> str:
    """The target a record is about (``extra={"target": NAME}``), or ''."""
    target = getattr(record, "target", None)
    return "" if target is None else str(target)


def _iso_time(created: float) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{stamp}.{int(created % 1 * 1000):03d}Z"


class _StructuredFormatter(logging.Formatter):
    def fields(self, record: logging.LogRecord) -> dict[str, str]:
        target = target_of(record)
        fields = {
            "time": _iso_time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        if target:
            fields["target"] = target
        fields["msg"] = record.getMessage()
        if record.exc_info:
            fields["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            fields["exc"] = record.exc_text
        return fields


def _logfmt_value(value: str) -> str:
    if value and _LOGFMT_BARE.match(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    escaped = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", escaped)
    return f'"{escaped}"'


class LogfmtFormatter(_StructuredFormatter):
    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{k}={_logfmt_value(v)}" for k, v in self.fields(record).items())


class JsonFormatter(_StructuredFormatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(self.fields(record), ensure_ascii=False)


class PlainFormatter(logging.Formatter):
    """The original's format, with ``target=NAME `` before the message of a
    record about a target; control characters in messages are escaped."""

    def __init__(self) -> None:
        super().__init__(PLAIN_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        target = target_of(record)
        if target:
            # A copy: other handlers of the same record see its own message.
            record = copy.copy(record)
            record.message = f"target={target} {record.message}"
        text = super().formatMessage(record)
        return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def make_formatter(log_format: str) -> logging.Formatter:
    if log_format == "logfmt":
        return LogfmtFormatter()
    if log_format == "json":
        return JsonFormatter()
    if log_format == "plain":
        return PlainFormatter()
    raise ValueError(f"unknown log format {log_format!r}; use one of {', '.join(LOG_FORMATS)}")


@dataclass
class _Kind:
    window_start: float
    suppressed: int = 0


class RepeatFilter(logging.Filter):
    """Lets the first of a kind of WARNING+ record through, counts the repeats.

    The first record of a kind after ``window`` seconds goes through carrying
    ``[N more like this in the last M s]``. Records below ``min_level``
    (INFO, DEBUG) are never held back: the user asked for them.
    """

    def __init__(
        self,
        window: float = DEFAULT_RATE_LIMIT_WINDOW,
        min_level: int = logging.WARNING,
        clock: Callable[[], float] = time.monotonic,
        max_kinds: int = MAX_TRACKED_KINDS,
    ) -> None:
        super().__init__()
        self.window = window
        self.min_level = min_level
        self.clock = clock
        self.max_kinds = max_kinds
        self._kinds: OrderedDict[tuple[str, int, str, str], _Kind] = OrderedDict()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.min_level or self.window <= 0:
            return True
        message = record.getMessage()
        key = (record.name, record.levelno, target_of(record), _kind_of(record, message))
        now = self.clock()
        kind = self._kinds.get(key)
        if kind is None:
            self._kinds[key] = _Kind(window_start=now)
            while len(self._kinds) > self.max_kinds:
                self._kinds.popitem(last=False)
            return True
        self._kinds.move_to_end(key)
        if now - kind.window_start < self.window:
            kind.suppressed += 1
            return False
        if kind.suppressed:
            elapsed = now - kind.window_start
            record.msg = f"{message} [{kind.suppressed} more like this in the last {elapsed:.0f} s]"
            record.args = None
        kind.window_start = now
        kind.suppressed = 0
        return True


def _kind_of(record: logging.LogRecord, message: str) -> str:
    kind = getattr(record, "repeat_kind", None)
    if kind is not None:
        return str(kind)
    if record.name == "aiohttp" or record.name.startswith("aiohttp."):
        error = record.exc_info[1] if record.exc_info else None
        return f"{record.msg} {type(error).__name__ if error is not None else ''}"
    return _NUMBER.sub("N", message)


def configure_logging(
    level: str,
    log_file: str | None,
    log_format: str = "plain",
    rate_limit_window: float = DEFAULT_RATE_LIMIT_WINDOW,
) -> None:
    handler: logging.Handler
    formatter = make_formatter(log_format)
    handler = (
        logging.FileHandler(log_file, encoding="utf-8")
        if log_file
        else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(formatter)
    handler.addFilter(RepeatFilter(window=rate_limit_window))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        if type(old) is logging.FileHandler:  # one we opened on an earlier call
            old.close()
    root.addHandler(handler)
    root.setLevel(level)
    # aiohttp's access log is noise at INFO for a scrape every few seconds.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
