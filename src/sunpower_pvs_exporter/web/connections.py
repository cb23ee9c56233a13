"""Admitting connections: a cap, idle ones evicted first, TLS handshakes bounded.

aiohttp accepts every connection the kernel hands it and keeps it until its
keep-alive timeout. Hostile clients can therefore hold thousands of sockets
(file descriptors run out: ``accept`` fails and real scrapes time out) and,
with TLS, ~300 KB each. Here every accepted socket is counted from the
moment it is accepted — before its TLS handshake, which this module runs
itself with ``loop.start_tls`` so that a connection stuck in its handshake
can be closed like any other.

When ``max_connections`` are open, a new connection takes the place of the
longest idle connection (no request in progress: an idle keep-alive, a
half-sent request line, a TLS handshake that never finishes) of the client
address holding the most connections; a newcomer from that biggest holder is
refused instead. So a flood of connections from one host stays that host's
problem, and a scrape — whose request is in progress — is never closed.
Before all that, a connection beyond its address's rate of new connections
(``connection_rate.py``) is reset as it is accepted, before asyncio makes
anything of it (``acceptor.py``).

Request-level limits that aiohttp reports as a bare 400 are answered with
their own status here: an over-long request line is 414, an over-long or
excessive header is 431.

aiohttp has no public API for some of this, so a few private names are used,
each listed in ``PRIVATE_AIOHTTP``: ``GuardedSite.start`` refuses to start
if the installed aiohttp lacks one (``tests/web/test_connections.py`` checks
them on the installed aiohttp, and pyproject.toml caps aiohttp at the
versions tested).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
from collections import OrderedDict
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aiohttp import __version__ as aiohttp_version
from aiohttp import hdrs, web
from aiohttp.http_exceptions import BadHttpMessage, HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler
from multidict import CIMultiDict

from sunpower_pvs_exporter.config import DEFAULT_MAX_CONNECTIONS
from sunpower_pvs_exporter.web.acceptor import Acceptor
from sunpower_pvs_exporter.web.connection_rate import ConnectionRate

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_MAX_CONNECTIONS", "ConnectionGuard", "GuardedSite", "client_key"]
TLS_HANDSHAKE_TIMEOUT = 5.0
# How much of a request head is kept to tell a long URL from a long header:
# more than aiohttp's longest allowed line.
LINE_WINDOW = 16 * 1024
# File descriptors kept back for what is not a client connection: PVS
# sessions, the log file, the Pushgateway, Python itself.
FD_RESERVE = 64
# Seconds between two log lines about connections refused over their rate.
RATE_LOG_EVERY = 60.0


# asyncio's TLS transport reads into a buffer of this size, allocated and
# zero-filled for every connection: 256 KiB by default, most of what a TLS
# connection costs. A TLS record holds at most 16 KiB, so 32 KiB loses nothing
# but a few more read calls on a multi-megabyte body.
TLS_READ_BUFFER_BYTES = 32 * 1024

# The private names of aiohttp this module relies on (aiohttp offers no public
# way to do what they do), and what for.
PRIVATE_AIOHTTP = {
    "aiohttp.web_protocol.RequestHandler._request_in_progress": (
        "tells a connection serving a request (never evicted) from an idle one"
    ),
    "aiohttp.web_server.Server._kwargs": (
        "the handler settings (timeouts, size limits) the runner was given, "
        "for the handlers GuardedSite makes"
    ),
}


class UnsupportedAiohttp(RuntimeError):
    """The installed aiohttp lacks a private name of ``PRIVATE_AIOHTTP``: nothing is served."""


def missing_private_aiohttp(server: web.Server) -> list[str]:
    """The names of ``PRIVATE_AIOHTTP`` that ``server`` and the handlers it makes lack."""
    missing = []
    kwargs = getattr(server, "_kwargs", None)
    if not isinstance(kwargs, dict):
        missing.append("aiohttp.web_server.Server._kwargs")
        kwargs = {}
    probe = RequestHandler(server, loop=asyncio.get_running_loop(), **kwargs)
    if not isinstance(getattr(probe, "_request_in_progress", None), bool):
        missing.append("aiohttp.web_protocol.RequestHandler._request_in_progress")
    return missing


def shrink_tls_read_buffers() -> bool:
    """Make every TLS connection of this process (server and PVS client) allocate less.

    ``max_size`` is a class attribute of asyncio's private ``sslproto``
    module (Python 3.11-3.13): if a Python lacks it, TLS connections keep
    asyncio's own buffer size and a warning says so. True if the size is
    ``TLS_READ_BUFFER_BYTES`` or less now.
    """
    from asyncio import sslproto

    size = getattr(sslproto.SSLProtocol, "max_size", None)
    if not isinstance(size, int):
        log.warning(
            "asyncio.sslproto.SSLProtocol.max_size is missing in this Python: TLS "
            "connections keep asyncio's own read buffer (256 KiB each until Python 3.13)"
        )
        return False
    if size > TLS_READ_BUFFER_BYTES:
        sslproto.SSLProtocol.max_size = TLS_READ_BUFFER_BYTES
    return True


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft limit on open files towards ``wanted`` (never above the hard limit).

    Most systems start processes with a soft limit of 1024 and a much higher
    hard limit; Go programs raise it themselves, Python ones must. Returns
    the soft limit in force.
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Linux
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return wanted if soft == resource.RLIM_INFINITY else int(soft)


def client_key(address: str | None) -> str:
    """Who a waiting check is charged to: the IP address, an IPv6 /64 as a whole.

    One host on an IPv6 network can use any address of its /64, so counting
    per address would let it take every waiting slot.
    """
    if not address:
        return "?"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


class Admission:
    """One accepted socket, from ``accept`` to close, wherever it is in its life."""

    __slots__ = ("client", "handler", "handshake", "transport")

    def __init__(self, transport: asyncio.Transport, client: str = "?") -> None:
        self.transport = transport
        self.client = client
        self.handler: GuardedRequestHandler | None = None
        self.handshake: asyncio.Task[None] | None = None

    @property
    def busy(self) -> bool:
        """A request is being handled: never evicted."""
        return self.handler is not None and self.handler.request_in_progress


class ConnectionGuard:
    """Counts open connections; when full, closes an idle one of the biggest holder.

    When ``max_connections`` are open, a newcomer from a client address that
    holds fewer connections than some other address takes the place of that
    biggest holder's longest idle connection. A newcomer from the biggest
    holder itself is refused (closed at once): a flooding host cannot push
    anyone else out, and cannot make its own connections churn. If every
    connection of the bigger holders is busy with a request, the newcomer is
    refused too. With a ``rate``, ``allows`` refuses a newcomer beyond its
    address's rate of new connections first (at ``accept``), whatever the count.
    """

    def __init__(
        self, max_connections: int = DEFAULT_MAX_CONNECTIONS, rate: ConnectionRate | None = None
    ) -> None:
        self.max_connections = max_connections
        self.rate = rate
        self._rate_logged_at: float | None = None
        # Per client, least recently active first.
        self._by_client: dict[str, OrderedDict[Admission, None]] = {}
        self._count = 0
        self.evicted = 0
        self.refused = 0
        self.peak = 0

    @property
    def open(self) -> int:
        return self._count

    def _victim(self, newcomer: Admission) -> Admission | None:
        holders = sorted(self._by_client.items(), key=lambda item: len(item[1]), reverse=True)
        own = len(self._by_client.get(newcomer.client, ()))
        for client, admissions in holders:
            if client == newcomer.client or len(admissions) <= own:
                # The newcomer's own client holds the most: it is refused rather
                # than closing its own older connections (which would only churn).
                return None
            for admission in admissions:
                if not admission.busy:
                    return admission
        return None

    def allows(self, address: str | None) -> bool:
        """Within its address's rate of new connections (always, without a ``rate``).

        Asked once per accepted socket, before ``admit``: False, and the
        socket is reset without anything else being made for it.
        """
        if self.rate is None:
            return True
        client = client_key(address)
        if self.rate.allow(client):
            return True
        self._rate_refused(client, self.rate)
        return False

    def admit(self, admission: Admission) -> bool:
        """Make room for ``admission`` (evicting if needed); False: refuse it."""
        if self._count >= self.max_connections:
            victim = self._victim(admission)
            if victim is None:
                self.refused += 1
                return False
            self.evicted += 1
            self.close(victim)
        self._by_client.setdefault(admission.client, OrderedDict())[admission] = None
        self._count += 1
        self.peak = max(self.peak, self._count)
        return True

    def _rate_refused(self, client: str, rate: ConnectionRate) -> None:
        """One log line per ``RATE_LOG_EVERY`` s at most: a flood must not cost a
        log record per connection (logsetup would drop most, after making them)."""
        now = rate.clock()
        if self._rate_logged_at is not None and now - self._rate_logged_at < RATE_LOG_EVERY:
            return
        self._rate_logged_at = now
        log.warning(
            "refusing new connections from %s: more than %g a second from one address "
            "(web_max_connection_rate); %d refused since start",
            client,
            rate.rate,
            rate.refused,
        )

    def touch(self, admission: Admission) -> None:
        admissions = self._by_client.get(admission.client)
        if admissions is not None and admission in admissions:
            admissions.move_to_end(admission)

    def release(self, admission: Admission) -> None:
        admissions = self._by_client.get(admission.client)
        if admissions is None or admission not in admissions:
            return
        del admissions[admission]
        self._count -= 1
        if not admissions:
            del self._by_client[admission.client]

    def close(self, admission: Admission) -> None:
        """Close at once (no TLS close_notify, no lingering): the socket is freed now."""
        self.release(admission)
        if admission.handshake is not None:
            admission.handshake.cancel()
        admission.transport.abort()

    def close_idle(self) -> None:
        """Shutting down: close what has no request in progress (aiohttp lets the rest finish)."""
        for admissions in list(self._by_client.values()):
            for admission in list(admissions):
                if not admission.busy:
                    self.close(admission)


class GuardedRequestHandler(RequestHandler):
    """aiohttp's handler, reporting activity to the guard and naming size limits."""

    __slots__ = ("_admission", "_guard", "_line_done", "_line_window", "_max_line")

    def __init__(self, admission: Admission, guard: ConnectionGuard, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._admission = admission
        self._guard = guard
        self._line_window = b""
        self._line_done = False
        self._max_line = int(kwargs.get("max_line_size", 8190))

    @property
    def request_in_progress(self) -> bool:
        """From the start of a request's handling to the end of its response.

        aiohttp's own flag (``PRIVATE_AIOHTTP``; checked before serving).
        """
        return self._request_in_progress

    def data_received(self, data: bytes) -> None:
        self._guard.touch(self._admission)
        # The first bytes of the request being read: if the request line ends
        # within the limit, a "line too long" is a header (431), else the URL (414).
        window = self._line_window
        if len(window) < LINE_WINDOW and b"\n" not in window:
            window += data[: LINE_WINDOW - len(window)]
        line_end = window.find(b"\n")
        self._line_done = 0 <= line_end <= self._max_line + 2
        end = data.rfind(b"\r\n\r\n")
        self._line_window = data[end + 4 : end + 4 + LINE_WINDOW] if end >= 0 else window
        super().data_received(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._guard.release(self._admission)
        super().connection_lost(exc)

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        limit_status = None
        if isinstance(exc, LineTooLong):
            limit_status = 431 if self._line_done else 414
        elif isinstance(exc, BadHttpMessage) and "too many headers" in str(exc).lower():
            limit_status = 431
        if limit_status is None and isinstance(exc, HttpProcessingError):
            return _refuse_malformed(request, exc)
        if limit_status is None:
            return super().handle_error(request, status, exc, message)
        # An expected refusal, not an error in the exporter: no traceback in the log.
        log.debug("refused a request from %s: %s", request.remote, HTTPStatus(limit_status).phrase)
        return closing_response(limit_status)


def closing_response(status: int, text: str | None = None) -> web.Response:
    """A refusal that ends the connection: whatever else the client sent is not read."""
    if text is None:
        text = f"{status} {HTTPStatus(status).phrase}\n"
    response = web.Response(status=status, text=text, headers={"Connection": "close"})
    response.force_close()
    return response


MALFORMED_DETAIL_CHARS = 120


def describe_malformed(exc: HttpProcessingError) -> str:
    """``BadStatusLine: Bad status line 'x'``: the parser's complaint, one short line.

    The parser's message quotes the client's bytes and spans several lines
    (the bytes, then a caret under the fault): only its first line is kept,
    cut to ``MALFORMED_DETAIL_CHARS``.
    """
    lines = str(exc.message).strip().splitlines()
    detail = lines[0].strip().rstrip(":") if lines else ""
    if len(detail) > MALFORMED_DETAIL_CHARS:
        detail = detail[: MALFORMED_DETAIL_CHARS - 1] + "…"
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def _refuse_malformed(request: Any, exc: HttpProcessingError) -> web.StreamResponse:
    """Answer a request the HTTP parser refused: 400 and one log line.

    aiohttp would log each with a traceback at ERROR; it is the client's
    mistake, not the exporter's, and anyone who can connect can send
    thousands. The line is a warning of the kind "malformed request, this
    parser error" (not this client: addresses are the attacker's to choose),
    so logsetup's rate limit writes one per kind per window.
    """
    if request.writer.output_size > 0:
        raise ConnectionError("malformed request after the response started")
    log.warning(
        "refused a malformed request from %s: %s",
        request.remote,
        describe_malformed(exc),
        extra={"repeat_kind": f"malformed request: {type(exc).__name__}"},
    )
    return closing_response(exc.code if 400 <= exc.code < 500 else 400)


def _utf8_safe(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


class WithoutExpect:
    """Requests as aiohttp builds them, minus any ``Expect`` header.

    aiohttp answers ``Expect`` before any middleware runs: ``100-continue``
    invites a body before authentication, and an unknown expectation with
    bytes that are not UTF-8 made it answer 500 (found by
    ``tests/fuzz/test_http_fuzz.py``). No route here reads a body worth
    inviting, so the header is dropped: a client that sent it sends its body
    anyway after a short wait (RFC 9110 §10.1.1) or gets the answer first.
    Installed as the server's ``request_factory``.
    """

    def __init__(self, factory: Any) -> None:
        self.factory = factory

    def __call__(self, message: Any, *args: Any, **kwargs: Any) -> Any:
        request = self.factory(message, *args, **kwargs)
        if hdrs.EXPECT in request.headers:
            # clone() re-encodes every header as UTF-8: bytes that were not
            # UTF-8 (kept as surrogates) become U+FFFD instead of an error.
            headers = CIMultiDict(
                (name, _utf8_safe(value))
                for name, value in request.headers.items()
                if name.lower() != "expect"
            )
            try:
                request = request.clone(headers=headers)
            except Exception:  # never lose the connection's task over this
                log.debug("could not drop an Expect header", exc_info=True)
        return request


HANDSHAKE_FAILURES = (OSError, ssl.SSLError, TimeoutError, ConnectionError, asyncio.CancelledError)


def forget_traceback(exc: BaseException) -> None:
    """Drop the frames a failed handshake's exceptions hold, so its memory goes now.

    ``start_tls`` fails with an exception whose traceback holds its frame,
    whose locals hold the handshake (an ``SSLProtocol``: its read buffer and
    OpenSSL state, ~80 KB) and the future the exception was set on: a cycle,
    freed only by a full garbage collection. A client that opens connections
    and never completes a handshake made ~80 KB of such garbage per
    connection, which the collector let reach 90 MB in 12 s
    (benchmarks/attack.py, part 2).
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.__traceback__ = None
        current = current.__context__ or current.__cause__


class _Admitter(asyncio.Protocol):
    """The protocol of a freshly accepted socket: admit, run TLS, hand over to aiohttp."""

    def __init__(
        self,
        guard: ConnectionGuard,
        make_handler: Callable[[Admission], GuardedRequestHandler],
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self.guard = guard
        self.make_handler = make_handler
        self.ssl_context = ssl_context
        self.admission: Admission | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        peer = transport.get_extra_info("peername")
        address = peer[0] if isinstance(peer, tuple) and peer else None
        admission = Admission(transport, client_key(address))
        if not self.guard.admit(admission):
            transport.abort()
            return
        self.admission = admission
        if self.ssl_context is None:
            self._hand_over(admission, transport)
            return
        transport.pause_reading()  # start_tls takes the bytes from here
        admission.handshake = asyncio.get_running_loop().create_task(
            self._tls(admission, self.ssl_context)
        )

    def _hand_over(self, admission: Admission, transport: asyncio.Transport) -> None:
        handler = self.make_handler(admission)
        admission.handler = handler
        transport.set_protocol(handler)
        handler.connection_made(transport)

    async def _tls(self, admission: Admission, context: ssl.SSLContext) -> None:
        relay = _HandshakeRelay()
        try:
            tls = await asyncio.get_running_loop().start_tls(
                admission.transport,
                relay,
                context,
                server_side=True,
                ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT,
            )
        except HANDSHAKE_FAILURES as exc:
            self.guard.release(admission)
            admission.transport.abort()
            forget_traceback(exc)
            return
        finally:
            admission.handshake = None
        if tls is None or tls.is_closing() or relay.lost:
            self.guard.release(admission)
            admission.transport.abort()
            return
        handler = self.make_handler(admission)
        admission.handler = handler
        tls.set_protocol(handler)
        handler.connection_made(tls)
        relay.replay(handler)

    def connection_lost(self, exc: BaseException | None) -> None:
        # Only reached before the hand-over (the socket closed while admitted).
        admission = self.admission
        if admission is not None and admission.handler is None and admission.handshake is None:
            self.guard.release(admission)


class _HandshakeRelay(asyncio.Protocol):
    """Holds what arrives between the end of the handshake and aiohttp taking over.

    ``start_tls`` delivers decrypted data as soon as the handshake ends, one
    loop turn before it returns the new transport.
    """

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.eof = False
        self.lost = False

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)

    def eof_received(self) -> bool | None:
        self.eof = True
        return None

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost = True

    def replay(self, handler: RequestHandler) -> None:
        for chunk in self.chunks:
            handler.data_received(chunk)
        self.chunks.clear()
        if self.eof:
            handler.eof_received()


class GuardedSite(web.BaseSite):
    """A TCP site whose connections go through a ``ConnectionGuard``.

    Like aiohttp's own sites it sets ``_server`` (the listening
    ``asyncio.Server``), which ``BaseSite.stop`` closes and
    ``AppRunner.addresses`` reads the bound addresses from.
    """

    def __init__(
        self,
        runner: web.AppRunner,
        host: str | None,
        port: int,
        guard: ConnectionGuard,
        ssl_context: ssl.SSLContext | None = None,
        backlog: int = 128,
        sock: socket.socket | None = None,
    ) -> None:
        """``sock``: an already bound socket to serve on instead of ``host``/``port``."""
        super().__init__(runner, backlog=backlog)
        self._app_runner = runner
        self._listen_backlog = backlog
        self._host = host
        self._port = port
        self.guard = guard
        self._tls_context = ssl_context
        self._bound = sock
        self._acceptors: list[Acceptor] = []

    @property
    def name(self) -> str:
        scheme = "https" if self._tls_context else "http"
        host = self._host or "0.0.0.0"
        return f"{scheme}://{host}:{self._port}"

    async def start(self) -> None:
        server = self._app_runner.server
        assert server is not None
        missing = missing_private_aiohttp(server)
        if missing:
            raise UnsupportedAiohttp(
                f"aiohttp {aiohttp_version} lacks {', '.join(missing)}, which this "
                "exporter needs; install the aiohttp version pyproject.toml names"
            )
        await super().start()
        loop = asyncio.get_running_loop()
        if not isinstance(server.request_factory, WithoutExpect):
            server.request_factory = WithoutExpect(server.request_factory)
        # aiohttp's own factory (Server.__call__) with our subclass: the same
        # settings (timeouts, size limits) the runner was given.
        kwargs = dict(server._kwargs)

        def make_handler(admission: Admission) -> GuardedRequestHandler:
            return GuardedRequestHandler(admission, self.guard, server, loop=loop, **kwargs)

        def protocol() -> _Admitter:
            return _Admitter(self.guard, make_handler, self._tls_context)

        # asyncio binds (and later closes) the listening sockets; accepting
        # on them is ``Acceptor``'s, which refuses a flood cheaper.
        if self._bound is not None:
            listener = await loop.create_server(
                protocol, sock=self._bound, backlog=self._listen_backlog, start_serving=False
            )
        else:
            listener = await loop.create_server(
                protocol,
                self._host,
                self._port,
                backlog=self._listen_backlog,
                reuse_address=True,
                start_serving=False,
            )
        self._server = listener
        for listening in listener.sockets:
            acceptor = Acceptor(listening, protocol, self.guard.allows, self._listen_backlog)
            self._acceptors.append(acceptor)
            acceptor.start()

    async def stop(self) -> None:
        for acceptor in self._acceptors:
            acceptor.close()
        self._acceptors.clear()
        await super().stop()
        self.guard.close_idle()
