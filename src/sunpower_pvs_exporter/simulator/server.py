"""The simulated PVS as an aiohttp server on a loopback address.

Real sockets, real HTTP: tests and ``--demo`` talk to it exactly as the
exporter talks to a PVS. Fault injection sits in one middleware so every API
misbehaves the same way.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from sunpower_pvs_exporter.simulator import legacy_api, varserver_api
from sunpower_pvs_exporter.simulator.certificate import CertificateError, make_certificate
from sunpower_pvs_exporter.simulator.state import (
    API_MODES,
    MIXED_FIELD_BUILD,
    NEW_FIRMWARE_BUILD,
    NEW_FIRMWARE_SWVER,
    VARSERVER_MIN_BUILD,
    SimulatedPvs,
)

__all__ = [
    "API_MODES",
    "MIXED_FIELD_BUILD",
    "NEW_FIRMWARE_BUILD",
    "NEW_FIRMWARE_SWVER",
    "VARSERVER_MIN_BUILD",
    "CertificateError",
    "SimulatedPvs",
    "SimulatorServer",
    "free_port",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


PVS_KEY = web.AppKey("pvs", SimulatedPvs)


def request_name(request: web.Request) -> str:
    """The name faults and the log use: the dl_cgi Command, else the path."""
    command = request.query.get("Command")
    return command if command else request.path


@web.middleware
async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    pvs = request.app[PVS_KEY]
    if pvs.down():
        # Rebooting ("reboot_schedule"): the request never reaches the PVS's
        # software, so it is not in the request log; the client sees the
        # connection dropped unanswered.
        pvs.refused_while_down += 1
        if request.transport is not None:
            request.transport.abort()
        raise ConnectionResetError("simulated PVS rebooting")
    name = request_name(request)
    pvs.log.add(request.method, request.path, name, request.raw_path)
    if request.headers.get("Upgrade", "").lower() == "websocket":
        # The telemetry stream is one long-lived connection, not a request in flight.
        return await _with_faults(request, handler, pvs, name)
    pvs.log.started()
    try:
        response = await _with_faults(request, handler, pvs, name)
        delivered = request.transport is not None and not request.transport.is_closing()
        if isinstance(response, web.Response) and delivered:
            # An answer to a client that hung up meanwhile is not logged: it never arrives.
            body = response.body
            size = len(body) if isinstance(body, bytes | bytearray) else 0
            pvs.log.answered(name, request.raw_path, response.status, size)
        return response
    finally:
        pvs.log.finished()


async def _with_faults(
    request: web.Request, handler: Handler, pvs: SimulatedPvs, name: str
) -> web.StreamResponse:
    plan = pvs.faults
    if not plan.applies_to(name):
        return await handler(request)
    plan.consume()
    if plan.latency:
        await asyncio.sleep(plan.latency)
    if plan.reset:
        if request.transport is not None:
            request.transport.abort()
        raise ConnectionResetError("simulated connection reset")
    if plan.status is not None:
        return web.json_response(
            {"status": plan.status, "error": "simulated failure", "path": request.path},
            status=plan.status,
        )
    if plan.invalid_json:
        return web.Response(
            body=b"<html><body>dl_cgi: segmentation fault</body></html>", content_type="text/html"
        )
    if plan.huge_bytes:
        return web.Response(body=b" " * plan.huge_bytes, content_type="application/json")
    response = await handler(request)
    if plan.huge_number_field and isinstance(response, web.Response) and response.body:
        response = _with_huge_number(response, plan.huge_number_field)
    if plan.truncate and isinstance(response, web.Response) and response.body:
        body = bytes(response.body)  # type: ignore[arg-type]
        return web.Response(body=body[: len(body) // 2], content_type="application/json")
    return response


HUGE_NUMBER = 10**400


def _with_huge_number(response: web.Response, field: str) -> web.Response:
    """The same JSON answer with the first value of ``field`` replaced by 10**400."""
    try:
        doc = json.loads(bytes(response.body))  # type: ignore[arg-type]
    except ValueError:
        return response
    done = False

    def visit(node: Any) -> None:
        nonlocal done
        if done:
            return
        if isinstance(node, dict):
            for key in node:
                if key == field or (isinstance(key, str) and key.endswith("/" + field)):
                    node[key] = HUGE_NUMBER
                    done = True
                    return
            for child in node.values():
                visit(child)
        elif isinstance(node, list):
            for child in node:
                visit(child)

    visit(doc)
    return web.Response(
        body=json.dumps(doc).encode(), status=response.status, content_type="application/json"
    )


def _json(doc: Any) -> web.Response:
    return web.Response(body=json.dumps(doc).encode(), content_type="application/json")


async def handle_dl_cgi(request: web.Request) -> web.Response:
    pvs = request.app[PVS_KEY]
    command = request.query.get("Command", "")
    state = pvs.state()
    tz = pvs.config.device_clock_tz
    if command == "DeviceList":
        if pvs.api == "varserver":
            return web.json_response(
                {"status": 403, "error": "Unauthorized", "path": ""}, status=403
            )
        config = pvs.config
        return _json(
            legacy_api.device_list(
                pvs.data_state(),
                tz,
                config.error_style,
                layout=config.legacy_layout,
                storage_side=config.storage_side_devices,
            )
        )
    if command == "Get_Comm":
        return _json(
            legacy_api.get_comm(state, pvs.network.home_ssid, cell_modem=pvs.config.cell_modem)
        )
    if command in ("GridProfileGet", "GridProfile"):
        return _json(legacy_api.grid_profile(state))
    if command == "Start":
        return _json(legacy_api.start(state))
    if command == "Stop":
        return _json({"result": "succeed"})
    return web.json_response({"result": "unknown command"}, status=400)


async def handle_supervisor_info(request: web.Request) -> web.Response:
    pvs = request.app[PVS_KEY]
    return _json(varserver_api.supervisor_info(pvs.state(), pvs.config.build))


async def handle_ess_status(request: web.Request) -> web.Response:
    pvs = request.app[PVS_KEY]
    if pvs.api == "varserver":
        return web.json_response({"status": 403, "error": "Unauthorized", "path": ""}, status=403)
    state = pvs.state()
    if state.storage is None:
        return web.json_response({"result": "no ESS"}, status=404)
    config = pvs.config
    return _json(
        legacy_api.ess_status(state, config.legacy_ess_units, config.legacy_agg_power_sign)
    )


async def handle_auth(request: web.Request) -> web.Response:
    return await varserver_api.handle_auth(request, request.app[PVS_KEY])


async def handle_vars(request: web.Request) -> web.StreamResponse:
    return await varserver_api.handle_vars(request, request.app[PVS_KEY])


async def handle_telemetry(request: web.Request) -> web.StreamResponse:
    return await varserver_api.handle_telemetry(request, request.app[PVS_KEY])


def build_telemetry_app(pvs: SimulatedPvs) -> web.Application:
    """The telemetry WebSocket lives on its own port (9002 on a real PVS)."""
    app = web.Application(middlewares=[fault_middleware])
    app[PVS_KEY] = pvs
    app.router.add_get("/", handle_telemetry)
    return app


def build_app(pvs: SimulatedPvs) -> web.Application:
    app = web.Application(middlewares=[fault_middleware])
    app[PVS_KEY] = pvs
    app.router.add_get("/cgi-bin/dl_cgi", handle_dl_cgi)
    app.router.add_get("/cgi-bin/dl_cgi/supervisor/info", handle_supervisor_info)
    app.router.add_get("/cgi-bin/dl_cgi/energy-storage-system/status", handle_ess_status)
    app.router.add_get("/auth", handle_auth)
    app.router.add_get("/vars", handle_vars)
    app.router.add_post("/vars", handle_vars)
    return app


_CERT_DIR: Path | None = None


def self_signed_certificate() -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1/::1/localhost, made once per process.

    Made in Python (simulator/certificate.py): no ``openssl`` command needed.
    Files, because ``ssl`` loads a certificate only from a file.
    """
    global _CERT_DIR
    if _CERT_DIR is not None and (_CERT_DIR / "cert.pem").exists():
        return _CERT_DIR / "cert.pem", _CERT_DIR / "key.pem"
    try:
        directory = Path(tempfile.mkdtemp(prefix="pvs-sim-tls-"))
        cert, key = directory / "cert.pem", directory / "key.pem"
        certificate_pem, key_pem = make_certificate()
        cert.write_text(certificate_pem, encoding="ascii")
        # mkdtemp made the directory 0700; the key is the owner's alone as well.
        key.touch(mode=0o600)
        key.write_text(key_pem, encoding="ascii")
    except OSError as exc:
        raise CertificateError(
            f"cannot make a directory for the simulator's certificate in "
            f"{tempfile.gettempdir()}: {exc.strerror or exc} (set TMPDIR to a writable directory)"
        ) from exc
    _CERT_DIR = directory
    return cert, key


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


async def _start_site(runner: web.AppRunner, site: web.TCPSite) -> int:
    """Start ``site``; the port it bound, from the runner's public ``addresses``
    (each started site's sockets are listed after those of the sites before it)."""
    known = len(runner.addresses)
    await site.start()
    port: int = runner.addresses[known][1]
    return port


def server_url(scheme: str, host: str, port: int) -> str:
    """The simulator's own URL writing (it shares none with the exporter it tests)."""
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def certificate_context() -> tuple[ssl.SSLContext, Path]:
    """A server context on a fresh self-signed certificate, and that certificate's
    path (for clients that want to trust it)."""
    cert, key = self_signed_certificate()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context, cert


class Listeners:
    """One app served on HTTP and, when given a context, on HTTPS beside it:
    how a PVS listens, whether simulated or replayed."""

    host: str
    port: int
    tls_port: int
    _runner: web.AppRunner | None = None

    async def _listen(
        self, app: web.Application, ssl_context: ssl.SSLContext | None, backlog: int = 128
    ) -> None:
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=backlog)
        self.port = await _start_site(self._runner, site)
        if ssl_context is not None:
            tls_site = web.TCPSite(self._runner, self.host, self.tls_port, ssl_context=ssl_context)
            self.tls_port = await _start_site(self._runner, tls_site)

    async def _close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return server_url("http", self.host, self.port)

    @property
    def tls_url(self) -> str:
        return server_url("https", self.host, self.tls_port)


class SimulatorServer(Listeners):
    """Runs a ``SimulatedPvs`` on ``host:port`` (port 0: pick a free one).

    Like a real PVS it also listens with HTTPS (``tls_port``; 0: any free
    port) whenever it speaks varserver, or when ``tls=True``. Both listeners
    serve every route.
    """

    def __init__(
        self,
        pvs: SimulatedPvs,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tls: bool | None = None,
        tls_port: int = 0,
        telemetry_port: int = 0,
        backlog: int = 128,
    ) -> None:
        self.pvs = pvs
        # Listen backlog: a fleet benchmark opens many connections at once.
        self.backlog = backlog
        self.host = host
        self.port = port
        self.tls = pvs.api != "legacy" if tls is None else tls
        self.tls_port = tls_port
        self.telemetry_port = telemetry_port
        self.cert_file: Path | None = None
        self._runner: web.AppRunner | None = None
        self._telemetry_runner: web.AppRunner | None = None

    async def start(self) -> None:
        ssl_context: ssl.SSLContext | None = None
        if self.tls:
            ssl_context, self.cert_file = certificate_context()
        await self._listen(build_app(self.pvs), ssl_context, self.backlog)
        if ssl_context is not None and self.pvs.telemetry:
            self._telemetry_runner = web.AppRunner(
                build_telemetry_app(self.pvs), access_log=None, shutdown_timeout=0.5
            )
            await self._telemetry_runner.setup()
            ws_site = web.TCPSite(self._telemetry_runner, self.host, self.telemetry_port)
            self.telemetry_port = await _start_site(self._telemetry_runner, ws_site)
        elif self.telemetry_port == 0:
            # No telemetry (legacy, PVS5): a port nothing listens on.
            self.telemetry_port = free_port(self.host)

    async def stop(self) -> None:
        self.pvs.telemetry_enabled = False  # ends the push loops
        if self._telemetry_runner is not None:
            await self._telemetry_runner.cleanup()
            self._telemetry_runner = None
        await self._close()
