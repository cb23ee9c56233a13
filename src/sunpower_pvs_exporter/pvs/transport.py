"""HTTP plumbing shared by the PVS clients: one session, bounded bodies, typed errors.

Everything that can go wrong on the wire is turned into a ``PvsError`` with a
reason here, once, so the clients above only deal with JSON.

Every request passes its PVS host's ``RequestLine``, shared by every
transport to that host: one at a time, and a request whose caller gave up
stays on its connection until the PVS answers (at most ``ABANDONED_GRACE``
times the timeout more), with the next request waiting for it, because the
PVS goes on working on it anyway.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from sunpower_pvs_exporter.pvs.errors import (
    PvsAuthError,
    PvsConnectionError,
    PvsError,
    PvsHttpStatusError,
    PvsPayloadError,
    PvsTimeoutError,
)
from sunpower_pvs_exporter.pvs.hosts import host_port
from sunpower_pvs_exporter.pvs.off_loop import LARGE_BODY_BYTES, run_by_size
from sunpower_pvs_exporter.pvs.recording import Exchange, ExchangeRecorder, kept_headers
from sunpower_pvs_exporter.pvs.request_counts import (
    ANSWERED,
    EndClass,
    RequestCounts,
    RequestKind,
    status_class,
)
from sunpower_pvs_exporter.pvs.request_line import RequestLine, line_for
from sunpower_pvs_exporter.pvs.values import json_int

# A DeviceList for a very large site (thousands of devices) is a few MB; a body
# past this is not a PVS answer we want to hold in memory.
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
# A request given up on stays open this many target timeouts longer, for the
# PVS to answer it, before its connection is closed (the PVS may still be
# working on it then: the bound is ours, not the PVS's).
ABANDONED_GRACE = 1.0
# Of an error answer, only this much is read: enough for the PVS's JSON
# error bodies, never a large page.
ERROR_BODY_BYTES = 4096


@dataclass(frozen=True)
class Endpoint:
    """Where a PVS is and how to reach it. No credentials here: never logged."""

    host: str
    port: int
    use_tls: bool = False
    tls_ca_file: str | None = None

    @property
    def base_url(self) -> str:
        scheme = "https" if self.use_tls else "http"
        return f"{scheme}://{host_port(self.host, self.port)}"


def make_ssl_context(ca_file: str | None) -> ssl.SSLContext:
    """Verify against ``ca_file`` when given; else accept the PVS's self-signed cert.

    Every PVS ships a self-signed certificate for its own address, so
    verification is opt-in (``--tls-ca-file``) rather than a default that can
    never work.
    """
    if ca_file:
        try:
            return ssl.create_default_context(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            # Checked at start and reload; this is the file vanishing later.
            problem = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise PvsConnectionError(f"tls_ca_file {ca_file}: cannot use it: {problem}") from exc
    global _ACCEPT_SELF_SIGNED
    if _ACCEPT_SELF_SIGNED is None:
        # Built without the system CA store: a context that verifies nothing
        # has no use for it, and loading it cost ~0.85 MiB per PVS session,
        # 850 MiB for a fleet of 1000 (benchmarks/RESULTS.md, fleet). One
        # context serves every PVS: it holds no per-connection state.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        _ACCEPT_SELF_SIGNED = context
    return _ACCEPT_SELF_SIGNED


_ACCEPT_SELF_SIGNED: ssl.SSLContext | None = None


def connect_failure_text(exc: BaseException) -> str:
    """Why no connection was made, in words: ``connection refused``, ``No route to host``."""
    os_error = getattr(exc, "os_error", None) or exc
    if isinstance(os_error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(os_error, socket.gaierror):
        return "no such host name"
    if isinstance(os_error, ssl.SSLError):
        return f"TLS handshake failed ({os_error.reason or os_error})"
    return getattr(os_error, "strerror", None) or type(os_error).__name__


async def _read_head(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body's first ``limit`` bytes (all of it, if shorter), however it arrives."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await response.content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def decode_json(body: bytes, what: str) -> Any:
    try:
        return json.loads(body, parse_int=json_int)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise PvsPayloadError(f"{what}: response is not valid JSON ({type(exc).__name__})") from exc


@dataclass(slots=True)
class _Received:
    """What came back so far of one request: its status, once known, and body bytes."""

    status: int | None = None
    body_bytes: int = 0


class HttpTransport:
    """One reused aiohttp session per PVS, created lazily inside the event loop."""

    def __init__(
        self,
        endpoint: Endpoint,
        timeout: float,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        *,
        requests: RequestCounts | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.max_body_bytes = max_body_bytes
        # Every request is counted there (its target's record: the metrics show it).
        self.requests = RequestCounts() if requests is None else requests
        self._line: RequestLine | None = None
        self._session: aiohttp.ClientSession | None = None
        # ``check`` and ``capture`` attach one to see every request; polls do not.
        self.recorder: ExchangeRecorder | None = None

    @property
    def line(self) -> RequestLine:
        """The host's queue, shared by every transport to it (legacy and varserver
        of one ``api: auto`` target, the poller a reload puts in place): the
        PVS is one box whichever port. Found inside the event loop it serves."""
        if self._line is None:
            self._line = line_for(self.endpoint.host)
        return self._line

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            ssl_context: ssl.SSLContext | bool = (
                make_ssl_context(self.endpoint.tls_ca_file) if self.endpoint.use_tls else False
            )
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=ssl_context, limit_per_host=1),
                # Each request sets its own hard limit (``request_bytes``).
                timeout=aiohttp.ClientTimeout(total=self.timeout * (1 + ABANDONED_GRACE)),
                # The PVS sets no cookies on dl_cgi; varserver's session cookie
                # is set for an IP host, which the default jar refuses.
                cookie_jar=aiohttp.CookieJar(unsafe=True),
            )
        return self._session

    @property
    def session_open(self) -> bool:
        """A session (and its connector and cookie jar) is held now."""
        return self._session is not None and not self._session.closed

    async def release_idle(self) -> None:
        """Close the session until the next request, if nothing is lost by it.

        Called when a poll ends. Between polls a minute apart the session's
        keep-alive connection has timed out anyway, and a fleet kept a
        session, connector and cookie jar per target, ~6 KB each
        (benchmarks/RESULTS.md, "Bigger sites"). Kept: a session holding a
        cookie (a varserver login), and one with a request still running
        (given up on, left to finish).
        """
        session = self._session
        if session is None or len(session.cookie_jar):
            return
        if self._line is not None and self._line.running_for(self):
            return
        self._session = None
        await session.close()

    async def close(self, *, drain_within: float | None = None) -> None:
        """Close, once a request given up on has been answered (bounded): whoever
        reads this PVS next, e.g. the poller a reload puts in place, must not
        send its first request while the PVS still works on ours.

        ``drain_within``: how long to wait for that (default: as long as such a
        request may stay open); ``0`` for a process that is about to end anyway
        (``check``, ``capture``), where nobody reads this PVS next.
        """
        within = self.timeout * (1 + ABANDONED_GRACE) if drain_within is None else drain_within
        try:
            if self._line is not None:
                await self._line.drain(within, owner=self)
        finally:
            if self._session is not None:
                await self._session.close()
                self._session = None

    async def request_bytes(
        self,
        method: str,
        path: str,
        what: str,
        *,
        kind: RequestKind,
        params: Mapping[str, str] | None = None,
        data: str | None = None,
        headers: Mapping[str, str] | None = None,
        limit: float | None = None,
    ) -> bytes:
        """Body of a 200 answer, or a ``PvsError`` saying why there is none.

        Waits its turn behind any request still on the PVS, then for the
        answer, ``limit`` s in all (default: the timeout). A request sent and
        not answered by then (or whose caller is cancelled) is abandoned, not
        cancelled: it stays open ``ABANDONED_GRACE`` timeouts longer and the
        next request waits for it (``RequestLine``). ``kind``: what it is
        counted as (``request_counts.RequestKind``).
        """
        wait = self.timeout if limit is None else limit
        hard_limit = aiohttp.ClientTimeout(total=wait + self.timeout * ABANDONED_GRACE)

        async def exchange() -> bytes:
            return await self._counted(
                kind,
                lambda received: self._exchange(
                    method, path, what, params, data, headers, hard_limit, received
                ),
            )

        try:
            return await self.line.run(exchange, wait, owner=self)
        except TimeoutError as exc:
            # A recorder sees the exchange itself, when it ends (late answer or error).
            raise PvsTimeoutError(f"{what}: no answer within {wait:g}s") from exc

    async def _counted(
        self, kind: RequestKind, send: Callable[[_Received], Awaitable[bytes]]
    ) -> bytes:
        """``send`` (an ``_exchange``), counted: sent when it gets its turn, and how it ended.

        Counted here, where a request given up on by its caller still runs,
        so its real end is what is counted (a late answer, with its time).
        """
        counts = self.requests
        counts.sent(kind)
        received = _Received()
        end: EndClass = "connection_error"
        started = counts.monotonic()
        try:
            body = await send(received)
            end = "2xx"
            return body
        except PvsTimeoutError:
            end = "timeout"
            raise
        except PvsConnectionError:
            end = "connection_error"
            raise
        except PvsError:
            # Refused (401/403, another status) or refused by us (too large, bad JSON).
            if received.status is not None:
                end = status_class(received.status)
            raise
        except asyncio.CancelledError:
            end = "cancelled"
            raise
        finally:
            seconds = counts.monotonic() - started if end in ANSWERED else None
            counts.ended(kind, end, body_bytes=received.body_bytes, seconds=seconds)

    async def _exchange(
        self,
        method: str,
        path: str,
        what: str,
        params: Mapping[str, str] | None,
        data: str | None,
        headers: Mapping[str, str] | None,
        hard_limit: aiohttp.ClientTimeout,
        received: _Received,
    ) -> bytes:
        # Sent as written (``encoded=True``): the PVS never percent-decodes,
        # so callers put raw query strings in ``path`` (pvs/varserver_query.py).
        url = URL(self.endpoint.base_url + path, encoded=True)
        started = time.monotonic()
        scheme = "https" if self.endpoint.use_tls else "http"
        address = host_port(self.endpoint.host, self.endpoint.port)
        connected = True
        try:
            async with self.session.request(
                method,
                url,
                params=params,
                data=data,
                headers=headers,
                allow_redirects=False,
                timeout=hard_limit,
            ) as response:
                received.status = response.status
                body: bytes | None = None
                if self.recorder is not None:
                    body = await self._read_bounded(response, what, received)
                    self.recorder.record(
                        Exchange(
                            method=method,
                            scheme=scheme,
                            target=response.request_info.url.raw_path_qs,
                            request_body=data,
                            status=response.status,
                            headers=kept_headers(response.headers),
                            body=body,
                            elapsed_seconds=time.monotonic() - started,
                            address=address,
                        )
                    )
                if response.status != 200 and body is None:
                    body = await _read_head(response, ERROR_BODY_BYTES)
                    received.body_bytes += len(body)
                if response.status in (401, 403):
                    raise PvsAuthError(f"{what}: HTTP {response.status} (not authorized)")
                if response.status != 200:
                    assert body is not None
                    raise PvsHttpStatusError(
                        f"{what}: HTTP {response.status}", response.status, body[:ERROR_BODY_BYTES]
                    )
                if body is None:
                    body = await self._read_bounded(response, what, received)
                return body
        except PvsError:
            raise
        except TimeoutError as exc:
            limit = hard_limit.total or 0.0
            error: PvsError = PvsTimeoutError(f"{what}: no answer within {limit:g}s")
            cause: BaseException = exc
        except aiohttp.ClientPayloadError as exc:
            error, cause = PvsConnectionError(f"{what}: response cut short ({exc})"), exc
        except aiohttp.ClientResponseError as exc:
            error = PvsConnectionError(f"{what}: malformed HTTP response ({exc.message})")
            cause = exc
        except aiohttp.ClientConnectorError as exc:
            error = PvsConnectionError(
                f"{what}: no connection to {address} ({connect_failure_text(exc)})"
            )
            cause, connected = exc, False
        except asyncio.CancelledError:
            # Given up while sent and unanswered (a check or capture ending at its
            # timeout or on Ctrl-C): still a request the PVS got, so it is recorded.
            self._record_unanswered(
                method,
                scheme,
                path,
                params,
                data,
                f"{what}: no answer; given up after {time.monotonic() - started:.1f}s",
                started,
                address,
                connected=True,
            )
            raise
        except (aiohttp.ClientError, OSError) as exc:
            error, cause = PvsConnectionError(f"{what}: {type(exc).__name__}: {exc}"), exc
        self._record_unanswered(
            method, scheme, path, params, data, error.message, started, address, connected=connected
        )
        raise error from cause

    def _record_unanswered(
        self,
        method: str,
        scheme: str,
        path: str,
        params: Mapping[str, str] | None,
        data: str | None,
        error: str,
        started: float,
        address: str,
        *,
        connected: bool,
    ) -> None:
        if self.recorder is None:
            return
        query = "&".join(f"{k}={v}" for k, v in (params or {}).items())
        self.recorder.record(
            Exchange(
                method=method,
                scheme=scheme,
                target=path + ("?" + query if query else ""),
                request_body=data,
                error=error,
                elapsed_seconds=time.monotonic() - started,
                address=address,
                connected=connected,
            )
        )

    async def _read_bounded(
        self, response: aiohttp.ClientResponse, what: str, received: _Received
    ) -> bytes:
        declared = response.content_length
        if declared is not None and declared > self.max_body_bytes:
            raise PvsPayloadError(
                f"{what}: body of {declared} bytes exceeds the {self.max_body_bytes}-byte cap"
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(65536):
            size += len(chunk)
            received.body_bytes += len(chunk)
            if size > self.max_body_bytes:
                raise PvsPayloadError(f"{what}: body exceeds the {self.max_body_bytes}-byte cap")
            chunks.append(chunk)
        return b"".join(chunks)

    async def get_json(
        self,
        path: str,
        what: str,
        params: Mapping[str, str] | None = None,
        *,
        kind: RequestKind,
    ) -> Any:
        body = await self.request_bytes("GET", path, what, kind=kind, params=params)
        return await run_by_size(len(body), LARGE_BODY_BYTES, decode_json, body, what)
