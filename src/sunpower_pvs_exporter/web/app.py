"""The HTTP face of the exporter, assembled in one place.

Routes: ``/metrics`` (exporter health; plus device metrics in single-target
mode, as the original exporter did), ``/probe?target=NAME`` (one configured
target, blackbox_exporter style), ``/`` (status page), ``/-/healthy`` and
``/-/ready``. Handlers read poller caches only; in ``scrape`` poll mode they
may wait for a poll, bounded by the target's timeout.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol

from aiohttp import web
from prometheus_client.registry import CollectorRegistry

from sunpower_pvs_exporter import __version__
from sunpower_pvs_exporter.config import ExporterConfig, TargetConfig
from sunpower_pvs_exporter.health import ReloadOutcome
from sunpower_pvs_exporter.poller import Poller
from sunpower_pvs_exporter.pvs.hosts import host_port
from sunpower_pvs_exporter.web.exposition import gzip_if_accepted, render
from sunpower_pvs_exporter.web.probe_body import ProbeAnswers, ProbeState

SERVER_HEADER = f"sunpower-pvs-exporter/{__version__}"
MAX_TARGET_NAME = 64
# on_demand: how long the first probe of an idle target may wait for its first
# poll when Prometheus does not say its scrape timeout.
FIRST_PROBE_WAIT = 5.0

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ServedState(ProbeState, Protocol):
    """What the web layer reads: the running exporter as ``runtime`` builds it.

    A protocol, so that ``web/`` serves without importing what builds and
    changes that state (``runtime.ExporterState``): the arrows point from the
    runtime down to the web layer, never back.
    """

    @property
    def config(self) -> ExporterConfig: ...
    @property
    def metrics_registry(self) -> CollectorRegistry: ...
    @property
    def simulated(self) -> Mapping[str, str]: ...
    @property
    def ready(self) -> bool: ...
    @property
    def reloader(self) -> Callable[[], Awaitable[ReloadOutcome]] | None: ...

    def start(self) -> None:
        """Start polling (and live streams); the exporter is ready after this."""

    async def stop(self) -> None:
        """Stop everything the state runs, within the shutdown deadline."""


async def refresh(
    state: ServedState,
    pollers: Sequence[Poller],
    deadline: float | None = None,
    stopping: asyncio.Event | None = None,
) -> None:
    """Scrape poll mode: let due pollers read the PVS before rendering.

    ``deadline`` (seconds, from Prometheus's scrape timeout) bounds the
    wait for all of them together; a poll still running then goes on in
    the background and this scrape gets the last data with ``up`` 0. So
    does a scrape still waiting when ``stopping`` is set: the server is
    shutting down and gives open scrapes only a moment to answer.
    """
    if state.config.poll_mode != "scrape":
        return
    loop = asyncio.get_running_loop()
    end = None if deadline is None else loop.time() + deadline
    for poller in pollers:
        wait = poller.schedule.timeout
        if end is not None:
            wait = max(0.0, min(wait, end - loop.time()))
        await poller.refresh_if_due(wait=wait, stopping=stopping)


STOPPING_KEY = web.AppKey("stopping", asyncio.Event)


STATE_KEY = web.AppKey("exporter_state", ServedState)
PROBE_ANSWERS_KEY = web.AppKey("probe_answers", ProbeAnswers)


async def _exposition(
    request: web.Request,
    registry: CollectorRegistry,
    health_pollers: Sequence[Poller],
    device_pollers: Sequence[Poller],
    *,
    exporter_info: bool,
) -> web.Response:
    """``registry`` (process metrics), then the health of ``health_pollers``,
    then the cached device text of ``device_pollers``."""
    state = request.app[STATE_KEY]

    def appended(*, openmetrics: bool) -> bytes:
        return state.metrics_text(
            health_pollers, device_pollers, exporter_info=exporter_info, openmetrics=openmetrics
        )

    body, headers = render(registry, request.headers.get("Accept", ""), appended)
    body = await gzip_if_accepted(body, headers, request.headers.get("Accept-Encoding", ""))
    return web.Response(body=body, headers=headers)


# Seconds kept back from Prometheus's scrape timeout for rendering and the
# network, as blackbox_exporter's default --timeout-offset.
SCRAPE_TIMEOUT_MARGIN = 0.5
SCRAPE_TIMEOUT_HEADER = "X-Prometheus-Scrape-Timeout-Seconds"


def scrape_deadline(request: web.Request) -> float | None:
    """How long this scrape may wait for a poll: Prometheus's timeout minus a margin.

    ``None`` without the header (or with a value that is not a positive
    number): then the target's own timeout is the only bound.
    """
    try:
        timeout = float(request.headers.get(SCRAPE_TIMEOUT_HEADER, ""))
    except ValueError:
        return None
    if not 0 < timeout < float("inf"):
        return None
    if timeout > 2 * SCRAPE_TIMEOUT_MARGIN:
        return timeout - SCRAPE_TIMEOUT_MARGIN
    return timeout / 2


async def handle_metrics(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    if state.config.single_target:
        await refresh(
            state,
            list(state.pollers.values()),
            scrape_deadline(request),
            request.app[STOPPING_KEY],
        )
    pollers = list(state.pollers.values())
    devices = pollers if state.config.single_target else []
    return await _exposition(request, state.metrics_registry, pollers, devices, exporter_info=True)


async def handle_probe(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    names = request.query.getall("target", [])
    if len(names) != 1 or not names[0]:
        raise web.HTTPBadRequest(text="exactly one 'target' parameter is required\n")
    name = names[0]
    poller = state.pollers.get(name)
    if poller is None:
        shown = name if len(name) <= MAX_TARGET_NAME else name[:MAX_TARGET_NAME] + "…"
        if state.config.single_target:
            # Started from flags: there is no config file, and one target to name.
            known = ", ".join(repr(known) for known in state.pollers)
            why = f"this exporter runs from flags, without a config file; its target is {known}"
        else:
            why = "/probe only serves targets named in the config file"
        raise web.HTTPBadRequest(text=f"unknown target {shown!r}: {why}\n")
    poller.touch()  # on_demand: this probe keeps the target polled
    if poller.mode == "on_demand":
        await poller.wait_for_data(first_probe_wait(request, poller.schedule.timeout))
    await refresh(state, [poller], scrape_deadline(request), request.app[STOPPING_KEY])
    body, headers = await request.app[PROBE_ANSWERS_KEY].answer(
        state,
        poller,
        request.headers.get("Accept", ""),
        request.headers.get("Accept-Encoding", ""),
    )
    return web.Response(body=body, headers=headers)


def first_probe_wait(request: web.Request, poll_timeout: float) -> float:
    """How long a probe may wait for an on_demand target's first poll.

    Within Prometheus's scrape timeout less a margin (``scrape_deadline``), so
    a slow PVS costs one ``up 0`` scrape, not a failed one.
    """
    deadline = scrape_deadline(request)
    return min(poll_timeout, FIRST_PROBE_WAIT if deadline is None else deadline)


def pvs_address(target: TargetConfig) -> str:
    """host:port of a target's PVS, so two PVSes behind one host are told apart."""
    return host_port(target.host, target.port) + (" (HTTPS)" if target.use_tls else "")


def listen_address(request: web.Request) -> str:
    """host:port this request came in on: an address Prometheus can reach us at."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if isinstance(sockname, tuple) and len(sockname) >= 2:
        host, port = str(sockname[0]), int(sockname[1])
        if host.startswith("::ffff:"):
            host = host.removeprefix("::ffff:")
        return host_port(host, port)
    return request.host


async def handle_status(request: web.Request) -> web.Response:
    # The page's module (and the package metadata it reads) loads on the first
    # view, not at every start: ~1 MiB that a Prometheus-only install never
    # needs (benchmarks/footprint.py; tests/test_structure.py imports it).
    from sunpower_pvs_exporter.web.status import CSP as STATUS_PAGE_CSP
    from sunpower_pvs_exporter.web.status import render_status_page

    state = request.app[STATE_KEY]
    now = time.time()
    statuses = [poller.status() for poller in state.pollers.values()]
    # Only the first targets keep a day record (``day_record.DAY_RECORD_TARGETS``).
    curves = {
        poller.name: poller.day_record.curve(poller.clock())
        for poller in state.pollers.values()
        if poller.day_record is not None
    }
    # Rendered in a worker thread from frozen inputs: a fleet's page (0.2-0.6 s
    # for 1000 targets, benchmarks/RESULTS.md) must not hold up scrapes.
    page = await asyncio.to_thread(
        functools.partial(
            render_status_page,
            statuses,
            single_target=state.config.single_target,
            now=now,
            curves=curves,
            addresses={t.name: pvs_address(t) for t in state.config.targets},
            simulated=state.simulated,
            listen=listen_address(request),
            scheme="https" if request.secure else "http",
        )
    )
    return web.Response(
        text=page,
        content_type="text/html",
        charset="utf-8",
        headers={"Content-Security-Policy": STATUS_PAGE_CSP, "Cache-Control": "no-store"},
    )


async def handle_reload(request: web.Request) -> web.Response:
    """``POST /-/reload``: what SIGHUP does, with the outcome in the answer."""
    reloader = request.app[STATE_KEY].reloader
    if reloader is None:
        raise web.HTTPBadRequest(
            text="nothing to reload: the exporter runs from flags, not --config\n"
        )
    outcome = await reloader()
    if not outcome.ok:
        raise web.HTTPInternalServerError(text=f"reload failed: {outcome.message}\n")
    return web.Response(text=outcome.message + "\n")


async def handle_healthy(_request: web.Request) -> web.Response:
    return web.Response(text="Healthy\n")


async def handle_ready(request: web.Request) -> web.Response:
    if not request.app[STATE_KEY].ready:
        raise web.HTTPServiceUnavailable(text="Starting\n")
    return web.Response(text="Ready\n")


@web.middleware
async def common_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers["Server"] = SERVER_HEADER
        raise
    response.headers["Server"] = SERVER_HEADER
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def build_app(
    state: ServedState,
    extra_middlewares: Sequence[Handler | object] = (),
    client_max_size: int = 64 * 1024,
) -> web.Application:
    app = web.Application(
        middlewares=[common_headers, *extra_middlewares],  # type: ignore[list-item]
        client_max_size=client_max_size,
    )
    app[STATE_KEY] = state
    app[PROBE_ANSWERS_KEY] = ProbeAnswers()
    app.router.add_get("/metrics", handle_metrics)
    app.router.add_get("/probe", handle_probe)
    app.router.add_get("/", handle_status)
    app.router.add_get("/-/healthy", handle_healthy)
    app.router.add_get("/-/ready", handle_ready)
    app.router.add_post("/-/reload", handle_reload)

    app[STOPPING_KEY] = asyncio.Event()

    async def stopping(app: web.Application) -> None:
        # The server stopped listening and gives open requests a moment to end:
        # scrapes waiting on a poll answer now with what they have.
        app[STOPPING_KEY].set()

    app.on_shutdown.append(stopping)

    async def lifecycle(app: web.Application) -> object:
        state.start()
        yield
        await state.stop()

    app.cleanup_ctx.append(lifecycle)  # type: ignore[arg-type]
    return app
