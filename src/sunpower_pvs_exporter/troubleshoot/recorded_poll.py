"""One recorded poll of one PVS: what ``check`` reports on and ``capture`` writes.

The reader is built exactly as the exporter builds it for a poll
(``runtime.make_reader``) and read once; a recorder on its HTTP
transports sees every request. So the PVS gets the requests of one poll
(plus detection's one or two with ``api: auto``) and nothing else: no extra
probing, and no logout either, because ``/auth?logout`` ends the session of
every program on this host, including an exporter that is running here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sunpower_pvs_exporter.config import TargetConfig
from sunpower_pvs_exporter.pvs.detect import AutoReader
from sunpower_pvs_exporter.pvs.errors import PvsError, PvsTimeoutError
from sunpower_pvs_exporter.pvs.legacy import LegacyClient
from sunpower_pvs_exporter.pvs.model import Snapshot
from sunpower_pvs_exporter.pvs.reader import PvsReader
from sunpower_pvs_exporter.pvs.recording import Exchange, ExchangeRecorder
from sunpower_pvs_exporter.pvs.transport import HttpTransport
from sunpower_pvs_exporter.pvs.varserver import VarserverClient
from sunpower_pvs_exporter.runtime import make_reader

Clock = Callable[[], float]


@dataclass(frozen=True)
class LoginInfo:
    """The varserver login as seen by the client; never the password itself."""

    password_source: str
    attempts: int
    failures: int
    # Accepted by the PVS: an attempt that got no answer is neither this nor a failure.
    successes: int = 0


@dataclass(frozen=True)
class PollOutcome:
    target: TargetConfig
    started_at: float
    duration: float
    snapshot: Snapshot | None = None
    error: PvsError | None = None
    backend: str = ""
    choice_reason: str = ""
    login: LoginInfo | None = None
    exchanges: tuple[Exchange, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.snapshot is not None


def transports_of(reader: PvsReader) -> list[HttpTransport]:
    if isinstance(reader, AutoReader):
        return [reader.legacy.transport, reader.varserver.transport]
    if isinstance(reader, LegacyClient | VarserverClient):
        return [reader.transport]
    return []


def _varserver_of(reader: PvsReader) -> VarserverClient | None:
    if isinstance(reader, VarserverClient):
        return reader
    if isinstance(reader, AutoReader):
        return reader.varserver
    return None


def _backend_and_reason(reader: PvsReader, target: TargetConfig) -> tuple[str, str]:
    if isinstance(reader, AutoReader):
        return reader.backend, reader.choice_reason
    backend = getattr(reader, "backend", "")
    return backend, f"api: {target.api} is configured (no detection)"


async def poll_once(
    target: TargetConfig,
    clock: Clock = time.time,
    reader: PvsReader | None = None,
) -> PollOutcome:
    """Read ``target`` once, recording every exchange; never raises a ``PvsError``."""
    reader = reader if reader is not None else make_reader(target)
    recorder = ExchangeRecorder()
    transports = transports_of(reader)
    for transport in transports:
        transport.recorder = recorder
    started_at = clock()
    begun = time.monotonic()
    snapshot: Snapshot | None = None
    error: PvsError | None = None
    try:
        # One timeout for the whole read: detection's fallback must not wait a
        # second timeout behind a request the PVS never answers.
        async with asyncio.timeout(target.timeout):
            snapshot = await reader.read()
    except PvsError as exc:
        error = exc
    except TimeoutError:
        error = PvsTimeoutError(f"no answer within {target.timeout:g}s")
    finally:
        # Closed before the recorder goes: a request given up on is recorded as it
        # ends. Nothing reads this PVS after a check, so nothing waits for it.
        for transport in transports:
            await transport.close(drain_within=0)
        for transport in transports:
            transport.recorder = None
    duration = time.monotonic() - begun
    varserver = _varserver_of(reader)
    login = None
    if varserver is not None and varserver.logins:
        login = LoginInfo(
            varserver.password_source,
            varserver.logins,
            varserver.auth_failures,
            varserver.login_successes,
        )
    backend, reason = _backend_and_reason(reader, target)
    return PollOutcome(
        target=target,
        started_at=started_at,
        duration=duration,
        snapshot=snapshot,
        error=error,
        backend=backend,
        choice_reason=reason,
        login=login,
        exchanges=tuple(recorder.exchanges),
    )
