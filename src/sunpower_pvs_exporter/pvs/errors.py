"""Why a PVS read failed, as a closed set of reasons.

The reason is a metric label (``sunpower_pvs_poll_failures_total{reason}``),
so the set is small and fixed; the message is for logs and the status page and
must never contain credentials.
"""

from __future__ import annotations

from typing import Literal

# ``internal``: an exception in the exporter's own code (a bug), never the PVS's fault.
FailureReason = Literal[
    "timeout", "connection", "http_status", "invalid_payload", "auth", "internal"
]
FAILURE_REASONS: tuple[FailureReason, ...] = (
    "timeout",
    "connection",
    "http_status",
    "invalid_payload",
    "auth",
    "internal",
)


class PvsError(Exception):
    """A PVS read that produced no usable data."""

    reason: FailureReason = "connection"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PvsTimeoutError(PvsError):
    reason: FailureReason = "timeout"


class PvsConnectionError(PvsError):
    reason: FailureReason = "connection"


class PvsHttpStatusError(PvsError):
    """An answer other than 200; ``body`` holds its first bytes (the PVS's
    error bodies say why, e.g. fcgi_vars' ``errorcode``)."""

    reason: FailureReason = "http_status"

    def __init__(self, message: str, status: int, body: bytes = b"") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class PvsPayloadError(PvsError):
    """The PVS answered, but not with the JSON shape we need."""

    reason: FailureReason = "invalid_payload"


class PvsAuthError(PvsError):
    reason: FailureReason = "auth"
