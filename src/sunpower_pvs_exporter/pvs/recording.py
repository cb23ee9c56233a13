"""What went over the wire during a read, for ``check`` and ``capture``.

``HttpTransport`` hands every request it makes to an ``ExchangeRecorder``
when one is attached, so ``check``, ``capture`` and a normal poll share one
code path: the recorder only watches; the clients do not know it is there.

Only what a maintainer needs is kept. The request's headers are not recorded
at all (they carry the ``Authorization`` header and the session cookie); of
the response's headers only the few in ``KEPT_RESPONSE_HEADERS``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# Response headers worth keeping: the body's type, the session cookie (it is
# anonymised before anything is written), and the PVS's idea of the time.
KEPT_RESPONSE_HEADERS = ("Content-Type", "Set-Cookie", "Date", "Server")


@dataclass(frozen=True)
class Exchange:
    """One request and what came back: a response (``status``), or ``error``."""

    method: str
    scheme: str
    # Path and query string exactly as sent (never percent-decoded here).
    target: str
    request_body: str | None = None
    status: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    error: str = ""
    elapsed_seconds: float = 0.0
    # ``host:port`` it went to (an ``api: auto`` PVS is asked on two ports), and
    # whether a connection was made at all: a refused one carried no request.
    address: str = ""
    connected: bool = True

    @property
    def answered(self) -> bool:
        return self.status is not None


def kept_headers(headers: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The response headers worth recording, in a fixed order."""
    kept: list[tuple[str, str]] = []
    for name in KEPT_RESPONSE_HEADERS:
        value = headers.get(name)
        if value is not None:
            kept.append((name, value))
    return tuple(kept)


@dataclass
class ExchangeRecorder:
    """Collects exchanges in the order they happened."""

    exchanges: list[Exchange] = field(default_factory=list)

    def record(self, exchange: Exchange) -> None:
        self.exchanges.append(exchange)
