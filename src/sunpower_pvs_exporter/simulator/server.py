"""The simulated PVS as an aiohttp server on a loopback address.

Real sockets, real HTTP: tests and ``--demo`` talk to it exactly as the
exporter talks to a PVS. Fault injection sits in one middleware so every API
misbehaves the same way.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sunpower_pvs_exporter.simulator import legacy_api
from sunpower_pvs_exporter.simulator.faults import FaultPlan, RequestLog
from sunpower_pvs_exporter.simulator.site import SimClock, Site, SiteConfig, SiteState

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REQUEST_NAME = web.AppKey("request_name", str)


@dataclass
class SimulatedPvs:
    """Everything the simulated PVS knows: its site, clock, faults and log."""

    config: SiteConfig
    clock: SimClock
    faults: FaultPlan = field(default_factory=FaultPlan)
    log: RequestLog = field(default_factory=RequestLog)
    # "legacy": dl_cgi only (old firmware).
    api: str = "legacy"
    site: Site = field(init=False)

    def __post_init__(self) -> None:
        self.site = Site(self.config, self.clock.now())

    def state(self) -> SiteState:
        return self.site.state(self.clock.now())


PVS_KEY = web.AppKey("pvs", SimulatedPvs)


def request_name(request: web.Request) -> str:
    """The name faults and the log use: the dl_cgi Command, else the path."""
    command = request.query.get("Command")
    return command if command else request.path


@web.middleware
async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    pvs = request.app[PVS_KEY]
    name = request_name(request)
    pvs.log.add(request.method, request.path, name)
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
    if plan.truncate and isinstance(response, web.Response) and response.body:
        body = bytes(response.body)  # type: ignore[arg-type]
        return web.Response(body=body[: len(body) // 2], content_type="application/json")
    return response


def _json(doc: Any) -> web.Response:
    return web.Response(body=json.dumps(doc).encode(), content_type="application/json")


async def handle_dl_cgi(request: web.Request) -> web.Response:
    pvs = request.app[PVS_KEY]
    command = request.query.get("Command", "")
    state = pvs.state()
    tz = pvs.config.tz
    if command == "DeviceList":
        if pvs.api == "varserver":
            return web.json_response(
                {"status": 403, "error": "Unauthorized", "path": ""}, status=403
            )
        return _json(legacy_api.device_list(state, tz, pvs.config.error_style))
    if command == "Get_Comm":
        return _json(legacy_api.get_comm(state))
    if command in ("GridProfileGet", "GridProfile"):
        return _json(legacy_api.grid_profile(state))
    if command == "Start":
        return _json(legacy_api.start(state))
    if command == "Stop":
        return _json({"result": "succeed"})
    return web.json_response({"result": "unknown command"}, status=400)


def build_app(pvs: SimulatedPvs) -> web.Application:
    app = web.Application(middlewares=[fault_middleware])
    app[PVS_KEY] = pvs
    app.router.add_get("/cgi-bin/dl_cgi", handle_dl_cgi)
    return app


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class SimulatorServer:
    """Runs a ``SimulatedPvs`` on ``host:port`` (port 0: pick a free one)."""

    def __init__(self, pvs: SimulatedPvs, host: str = "127.0.0.1", port: int = 0) -> None:
        self.pvs = pvs
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(build_app(self.pvs), access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"
