"""Starting and stopping the exporter's HTTP server (used by the CLI and tests)."""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Sequence

from aiohttp import web

from sunpower_pvs_exporter.pvs.hosts import host_port
from sunpower_pvs_exporter.web.app import ServedState, build_app
from sunpower_pvs_exporter.web.connection_rate import ConnectionRate
from sunpower_pvs_exporter.web.connections import (
    FD_RESERVE,
    ConnectionGuard,
    GuardedSite,
    raise_fd_limit,
    shrink_tls_read_buffers,
)
from sunpower_pvs_exporter.web.security import RequestLimits, make_body_limit_middleware

log = logging.getLogger(__name__)
# Open scrapes get this long to finish on shutdown: SIGTERM must end the
# process within two seconds (with a Pushgateway that answers).
OPEN_SCRAPES_GRACE = 1.0
# ``--listen-on [::]:PORT``: every address, of both families.
ANY_IPV6 = "::"


def dual_stack_socket(port: int) -> socket.socket | None:
    """A socket bound to ``[::]:port`` that takes IPv4 connections too; None if it cannot.

    asyncio binds ``::`` IPv6 only (IPV6_V6ONLY on), so ``--listen-on
    [::]:9110`` left 127.0.0.1 unanswered while ``--listen-on 9110`` answered
    both. One socket with IPV6_V6ONLY off takes both families on one port
    (port 0 included, which two sockets would each pick differently). A
    system without IPv6, or one that will not turn the option off, gets None.
    A bind error (the port in use) is raised as usual.
    """
    if not socket.has_ipv6 or not hasattr(socket, "IPV6_V6ONLY"):
        return None
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:
        return None
    try:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    except OSError:
        sock.close()
        return None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ANY_IPV6, port))
    except BaseException:
        sock.close()
        raise
    return sock


class ExporterServer:
    """The web app plus its pollers, bound to ``config.listen_host:listen_port``.

    Port 0 picks a free port; ``port`` tells which after ``start()``.
    """

    def __init__(
        self,
        state: ServedState,
        ssl_context: ssl.SSLContext | None = None,
        middlewares: Sequence[object] = (),
        limits: RequestLimits | None = None,
    ) -> None:
        config = state.config
        self.config = config
        self.state = state
        self.ssl_context = ssl_context
        self.middlewares = middlewares
        self.limits = limits or RequestLimits(
            max_connections=config.web_max_connections,
            max_connection_rate=config.web_max_connection_rate,
        )
        self.port = config.listen_port
        self.guard = ConnectionGuard(self.limits.max_connections)
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        limits = self.limits
        app = build_app(
            self.state,
            [make_body_limit_middleware(limits.client_max_size), *self.middlewares],
            limits.client_max_size,
        )
        self._runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=OPEN_SCRAPES_GRACE,
            **limits.handler_args(),
        )
        await self._runner.setup()
        fds = raise_fd_limit(limits.max_connections + FD_RESERVE)
        cap = max(1, min(limits.max_connections, fds - FD_RESERVE))
        if cap < limits.max_connections:
            log.warning(
                "only %d open files allowed (ulimit -n): serving at most %d connections "
                "instead of %d; raise LimitNOFILE",
                fds,
                cap,
                limits.max_connections,
            )
        rate = limits.max_connection_rate
        self.guard = ConnectionGuard(cap, ConnectionRate(rate) if rate else None)
        if self.ssl_context is not None:
            shrink_tls_read_buffers()
        sock = None
        try:
            if self.config.listen_host == ANY_IPV6:
                sock = dual_stack_socket(self.config.listen_port)
                if sock is None:
                    log.warning("[::] takes IPv6 connections only on this system")
            site = GuardedSite(
                self._runner,
                self.config.listen_host or None,
                self.config.listen_port,
                self.guard,
                ssl_context=self.ssl_context,
                sock=sock,
            )
            await site.start()
        except BaseException:
            if sock is not None:
                sock.close()
            await self._runner.cleanup()
            raise
        addresses = self._runner.addresses
        if addresses:
            self.port = addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        host = self.config.listen_host or "127.0.0.1"
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{host_port(host, self.port)}"
