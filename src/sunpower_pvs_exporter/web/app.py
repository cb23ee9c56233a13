"""The HTTP face of the exporter, assembled in one place.

Routes: ``/metrics`` (exporter health; plus device metrics in single-target
mode, as the original exporter did), ``/probe?target=NAME`` (one configured
target, blackbox_exporter style), ``/`` (status page), ``/-/healthy`` and
``/-/ready``. Handlers read poller caches only; in ``scrape`` poll mode they
may wait for a poll, bounded by the target's timeout.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Sequence

from aiohttp import web
from prometheus_client import GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR
from prometheus_client.registry import CollectorRegistry

from sunpower_pvs_exporter import __version__
from sunpower_pvs_exporter.config import ExporterConfig, TargetConfig
from sunpower_pvs_exporter.health import LiveStatus, ReloadStatus
from sunpower_pvs_exporter.metrics.collector import DeviceFamilyCache, HealthText
from sunpower_pvs_exporter.poller import Poller
from sunpower_pvs_exporter.push import Pusher, read_push_auth
from sunpower_pvs_exporter.pvs.hosts import host_port
from sunpower_pvs_exporter.pvs.model import Snapshot
from sunpower_pvs_exporter.pvs.readers import make_live_stream
from sunpower_pvs_exporter.pvs.telemetry import TelemetryStream
from sunpower_pvs_exporter.runtime import STOP_DEADLINE, ReloadOutcome, stop_within
from sunpower_pvs_exporter.web.exposition import gzip_if_accepted, render, targets_text
from sunpower_pvs_exporter.web.status import CSP as STATUS_PAGE_CSP
from sunpower_pvs_exporter.web.status import render_status_page

SERVER_HEADER = f"sunpower-pvs-exporter/{__version__}"
MAX_TARGET_NAME = 64
# on_demand: how long the first probe of an idle target may wait for its first
# poll when Prometheus does not say its scrape timeout.
FIRST_PROBE_WAIT = 5.0

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ExporterState:
    """What the web layer reads: the config and one poller per target."""

    def __init__(self, config: ExporterConfig, pollers: Sequence[Poller]) -> None:
        self.config = config
        self.pollers = {poller.name: poller for poller in pollers}
        self.cache = DeviceFamilyCache(config.use_device_data_timestamp)
        self.ready = False
        # The process's own metrics; health and device metrics are appended
        # as text by the handlers (see _exposition).
        self.metrics_registry = CollectorRegistry(auto_describe=False)
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            self.metrics_registry.register(collector)
        self.empty_registry = CollectorRegistry(auto_describe=False)
        self.health = HealthText()
        self.pusher: Pusher | None = None
        if config.push_to:
            self.pusher = Pusher(
                config.push_to, config.push_job, read_push_auth(config.push_auth_file)
            )
        self.streams: dict[str, TelemetryStream] = {}
        # Target name -> what stands in for its PVS (``--demo``), for the status page.
        self.simulated: dict[str, str] = {}
        # Pollers replaced by a reload, finishing their last request.
        self.retiring: dict[asyncio.Task[None], Poller] = {}
        self._reload_lock = asyncio.Lock()
        # Set by the runtime when the config can be reloaded (``POST /-/reload``).
        self.reloader: Callable[[], Awaitable[ReloadOutcome]] | None = None
        self.reload_status = ReloadStatus(successful=True, last_success_at=time.time())
        for poller in self.pollers.values():
            self._attach(poller)

    def _attach(self, poller: Poller) -> None:
        """Hooks and telemetry stream for a poller joining the exporter."""
        poller.prepare = self._prerender
        if self.pusher is not None:
            poller.after_poll = self._push_hook(poller)
        target = self.config.target(poller.name)
        if self.config.live and target is not None:
            stream = make_live_stream(target, poller.reader)
            if stream is None:
                log.warning(
                    "target=%s --live needs the varserver API; this target is legacy only",
                    poller.name,
                )
            else:
                self.streams[poller.name] = stream

    async def replace_targets(
        self,
        targets: Sequence[TargetConfig],
        make_poller: Callable[[TargetConfig], Poller],
        renew: Collection[str] = (),
    ) -> tuple[list[str], list[str], list[str]]:
        """Switch to a new target list (config reload): (added, changed, removed) names.

        All or nothing: every new poller is built before anything changes, so
        a target that cannot be built (``ConfigError``) leaves the running
        targets whole. A target whose settings did not change keeps its
        poller, with its cache, schedule and backoff; a changed one's new
        poller continues the old schedule and waits for the old poller's
        request to leave the PVS: a reload never makes a PVS be polled early
        or twice at once. Targets named in ``renew`` get a new poller even if
        unchanged (their password file was rotated).
        """
        async with self._reload_lock:
            old = {target.name: target for target in self.config.targets}
            pollers: dict[str, Poller] = {}
            added: list[str] = []
            changed: list[str] = []
            for target in targets:
                current = self.pollers.get(target.name)
                if (
                    current is not None
                    and old.get(target.name) == target
                    and target.name not in renew
                ):
                    pollers[target.name] = current
                    continue
                (changed if target.name in old else added).append(target.name)
                pollers[target.name] = make_poller(target)  # may raise: nothing touched yet
            # Past this point nothing fails: the switch is complete.
            retired = [p for name, p in self.pollers.items() if pollers.get(name) is not p]
            removed = [name for name in self.pollers if name not in pollers]
            self.config = dataclasses.replace(self.config, targets=tuple(targets))
            self.pollers = pollers
            for poller in retired:
                successor = pollers.get(poller.name)
                if successor is not None:
                    successor.take_schedule_from(poller)
                stream = self.streams.pop(poller.name, None)
                self._retire(poller, stream)
                self.cache.forget(poller.name)
            for name in added + changed:
                self._attach(pollers[name])
                if self.ready:
                    pollers[name].start()
                    if name in self.streams:
                        self.streams[name].start()
            return added, changed, removed

    def _retire(self, poller: Poller, stream: TelemetryStream | None) -> None:
        """Stop a replaced poller in the background; its request may finish first."""

        async def retire() -> None:
            if stream is not None:
                await stream.stop()
            await poller.retire()

        task = asyncio.create_task(retire(), name=f"retire-{poller.name}")
        self.retiring[task] = poller
        task.add_done_callback(lambda done: self.retiring.pop(done, None))

    async def stop(self, deadline: float = STOP_DEADLINE) -> None:
        """Stop every poller, stream and retiring poller in parallel, within ``deadline`` s.

        Each PVS session gets a logout attempt while time remains; whatever is
        still waiting on a hung PVS then is cancelled (its sessions still close).
        """
        self.ready = False
        retiring = dict(self.retiring)
        for task in retiring:
            task.cancel()
        stoppers = [stream.stop() for stream in self.streams.values()]
        stoppers += [poller.stop() for poller in self.pollers.values()]
        stoppers += [poller.stop() for poller in retiring.values()]
        await stop_within(stoppers, deadline)
        await asyncio.gather(*retiring, return_exceptions=True)

    async def _prerender(self, target: str, snapshot: Snapshot) -> None:
        """Encode a new snapshot's device metrics off the event loop, before it is served.

        Scrapes keep getting the previous snapshot's cached text meanwhile, so
        none pays for the encoding (benchmarks/RESULTS.md, render: "first scrape after
        a poll, if not pre-rendered").
        """
        for openmetrics in (False, True):
            await asyncio.to_thread(self.cache.text, target, snapshot, openmetrics)

    def _push_hook(self, poller: Poller) -> Callable[[], Awaitable[None]]:
        async def push() -> None:
            if self.pusher is not None:
                # Exactly what /probe serves for this target, in the text format.
                body = self.metrics_text([poller], [poller], False, False, HealthText())
                await self.pusher.push(poller.name, body)

        return push

    def live_status(self, target: str) -> LiveStatus | None:
        stream = self.streams.get(target)
        if stream is None:
            return None
        return LiveStatus(
            target, stream.latest(), stream.connects, stream.messages, stream.unsupported
        )

    def metrics_text(
        self,
        health_pollers: Sequence[Poller],
        device_pollers: Sequence[Poller],
        exporter_info: bool,
        openmetrics: bool,
        health: HealthText | None = None,
    ) -> bytes:
        """The health of ``health_pollers``, then the device and live metrics of
        ``device_pollers``: the body of ``/metrics``, ``/probe`` and a push."""
        # One status per target, so health and device metrics agree.
        statuses = {poller.name: poller.status() for poller in health_pollers}
        devices = [
            (statuses.get(poller.name) or poller.status(), self.live_status(poller.name))
            for poller in device_pollers
        ]
        return targets_text(
            self.health if health is None else health,
            self.cache,
            list(statuses.values()),
            devices,
            openmetrics,
            self.reload_status if exporter_info else None,
            exporter_info,
        )

    async def refresh(self, pollers: Sequence[Poller], deadline: float | None = None) -> None:
        """Scrape poll mode: let due pollers read the PVS before rendering.

        ``deadline`` (seconds, from Prometheus's scrape timeout) bounds the
        wait for all of them together; a poll still running then goes on in
        the background and this scrape gets the last data with ``up`` 0.
        """
        if self.config.poll_mode != "scrape":
            return
        loop = asyncio.get_running_loop()
        end = None if deadline is None else loop.time() + deadline
        for poller in pollers:
            wait = poller.schedule.timeout
            if end is not None:
                wait = max(0.0, min(wait, end - loop.time()))
            await poller.refresh_if_due(wait=wait)


STATE_KEY = web.AppKey("exporter_state", ExporterState)


async def _exposition(
    request: web.Request,
    registry: CollectorRegistry,
    health_pollers: Sequence[Poller],
    device_pollers: Sequence[Poller],
    exporter_info: bool,
) -> web.Response:
    """``registry`` (process metrics), then the health of ``health_pollers``,
    then the cached device text of ``device_pollers``."""
    state = request.app[STATE_KEY]

    def appended(openmetrics: bool) -> bytes:
        return state.metrics_text(health_pollers, device_pollers, exporter_info, openmetrics)

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
        await state.refresh(list(state.pollers.values()), scrape_deadline(request))
    pollers = list(state.pollers.values())
    devices = pollers if state.config.single_target else []
    return await _exposition(request, state.metrics_registry, pollers, devices, True)


async def handle_probe(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    names = request.query.getall("target", [])
    if len(names) != 1 or not names[0]:
        raise web.HTTPBadRequest(text="exactly one 'target' parameter is required\n")
    name = names[0]
    poller = state.pollers.get(name)
    if poller is None:
        shown = name if len(name) <= MAX_TARGET_NAME else name[:MAX_TARGET_NAME] + "…"
        raise web.HTTPBadRequest(
            text=f"unknown target {shown!r}: /probe only serves targets named in the config file\n"
        )
    poller.touch()  # on_demand: this probe keeps the target polled
    if poller.mode == "on_demand":
        await poller.wait_for_data(first_probe_wait(request, poller.schedule.timeout))
    await state.refresh([poller], scrape_deadline(request))
    return await _exposition(request, state.empty_registry, [poller], [poller], False)


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
    state = request.app[STATE_KEY]
    statuses = [poller.status() for poller in state.pollers.values()]
    page = render_status_page(
        statuses,
        state.config.single_target,
        addresses={t.name: pvs_address(t) for t in state.config.targets},
        simulated=state.simulated,
        listen=listen_address(request),
        scheme="https" if request.secure else "http",
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
    state: ExporterState,
    extra_middlewares: Sequence[Handler | object] = (),
    client_max_size: int = 64 * 1024,
) -> web.Application:
    app = web.Application(
        middlewares=[common_headers, *extra_middlewares],  # type: ignore[list-item]
        client_max_size=client_max_size,
    )
    app[STATE_KEY] = state
    app.router.add_get("/metrics", handle_metrics)
    app.router.add_get("/probe", handle_probe)
    app.router.add_get("/", handle_status)
    app.router.add_get("/-/healthy", handle_healthy)
    app.router.add_get("/-/ready", handle_ready)
    app.router.add_post("/-/reload", handle_reload)

    async def lifecycle(app: web.Application) -> object:
        for poller in state.pollers.values():
            poller.start()
        for stream in state.streams.values():
            stream.start()
        state.ready = True
        yield
        await state.stop()
        if state.pusher is not None:
            await state.pusher.delete_all()

    app.cleanup_ctx.append(lifecycle)  # type: ignore[arg-type]
    return app
