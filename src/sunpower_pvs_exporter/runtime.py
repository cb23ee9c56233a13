"""Builds and wires the running exporter: readers, pollers, live streams, push, reload.

The CLI parses arguments and calls ``serve``; the web layer serves what this
module builds (``ExporterState``, seen by ``web/`` as ``ServedState``). What
happens between them at run time lives here:

* ``make_reader``: the PVS client a target's config asks for (``pvs/`` gets
  plain values -- host, port, a password or a function that reads it -- and
  never sees the config);
* ``make_poller``: one target's reader and schedule;
* ``ConfigReloader``: SIGHUP and ``POST /-/reload`` -- load and check the whole
  new config (referenced files included) first, then switch in one step or not
  at all, and say exactly what changed;
* ``ExporterState``: the pollers and their hooks (pre-rendering, Pushgateway),
  ``--live`` streams, a reload's switch, and shutdown;
* ``stop_within``: shutdown of every target in parallel under one deadline;
* ``serve``: the process from start to SIGTERM, with SIGHUP reloads.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import hashlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Collection, Hashable, Iterable, Sequence
from datetime import tzinfo
from typing import TYPE_CHECKING, Any

from prometheus_client import GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR
from prometheus_client.registry import CollectorRegistry

from sunpower_pvs_exporter.config import (
    PASSWORD_ENV,
    ConfigError,
    ExporterConfig,
    PollMode,
    TargetConfig,
    listen_address,
)
from sunpower_pvs_exporter.day_record import DAY_RECORD_TARGETS, DayRecord
from sunpower_pvs_exporter.health import LiveStatus, ReloadOutcome, ReloadStatus
from sunpower_pvs_exporter.metrics.cache import (
    DeviceText,
    HealthText,
)
from sunpower_pvs_exporter.poller import (
    DEFAULT_BACKOFF_CAP,
    DEFAULT_IDLE_AFTER,
    DEFAULT_JITTER,
    Poller,
    PollSchedule,
    first_poll_delay,
)
from sunpower_pvs_exporter.pvs.detect import AutoReader
from sunpower_pvs_exporter.pvs.hosts import host_port
from sunpower_pvs_exporter.pvs.legacy import LegacyClient
from sunpower_pvs_exporter.pvs.model import Snapshot
from sunpower_pvs_exporter.pvs.off_loop import LARGE_SITE_DEVICES, run_by_size
from sunpower_pvs_exporter.pvs.reader import PvsReader
from sunpower_pvs_exporter.pvs.request_counts import RequestCounts
from sunpower_pvs_exporter.pvs.transport import Endpoint, HttpTransport
from sunpower_pvs_exporter.pvs.varserver import VarserverClient
from sunpower_pvs_exporter.web.exposition import targets_text
from sunpower_pvs_exporter.wording import counted

# Only some configurations use these; they are imported where used
# (benchmarks/footprint.py; tests/test_structure.py imports each).
if TYPE_CHECKING:
    from sunpower_pvs_exporter.push import Pusher
    from sunpower_pvs_exporter.pvs.telemetry import TelemetryStream
    from sunpower_pvs_exporter.simulator.demo import DemoSite
    from sunpower_pvs_exporter.web.security import WebConfig

# Everything the targets hold must be let go within this many seconds of
# SIGTERM, so that with the web server's 1 s for open scrapes the process
# exits within the documented 2 s.
STOP_DEADLINE = 0.8

log = logging.getLogger("sunpower-pvs-exporter")
VARSERVER_PORT = 443


def endpoint_of(target: TargetConfig) -> Endpoint:
    return Endpoint(target.host, target.port, target.use_tls, target.tls_ca_file)


def varserver_endpoint_of(target: TargetConfig) -> Endpoint:
    """varserver is HTTPS only: the target's own port with ``use_tls``, else 443."""
    if target.use_tls:
        return endpoint_of(target)
    return Endpoint(target.host, VARSERVER_PORT, use_tls=True, tls_ca_file=target.tls_ca_file)


def password_of(target: TargetConfig) -> str | None:
    """Target's password_file/password_env, else $SUNPOWER_PVS_PASSWORD, else None
    (the client then derives the default from the serial)."""
    password = target.password()
    if password:
        return password
    value = os.environ.get(PASSWORD_ENV, "").strip()
    return value or None


def make_varserver(
    target: TargetConfig, *, requests: RequestCounts | None = None
) -> VarserverClient:
    transport = HttpTransport(varserver_endpoint_of(target), target.timeout, requests=requests)
    password: str | Callable[[], str] | None = password_of(target)
    if target.password_file:
        # Checked now (startup, reload) and read again at every login.
        path = target.password_file

        def password_from_file() -> str:
            value = target.password()
            if not value:
                raise ConfigError(f"password_file {path}: is empty")
            return value

        password = password_from_file
    return VarserverClient(transport, password, target_name=target.name)


def make_reader(target: TargetConfig, *, requests: RequestCounts | None = None) -> PvsReader:
    """``requests``: where its transports count what they send (the target's poller
    reads it); one record for both transports of an ``api: auto`` target."""
    tz: tzinfo | None = None
    if target.timezone:
        from zoneinfo import ZoneInfo  # only for a PVS whose clock runs local time

        tz = ZoneInfo(target.timezone)
    if requests is None:
        requests = RequestCounts()
    if target.api == "varserver":
        return make_varserver(target, requests=requests)
    legacy = LegacyClient(
        HttpTransport(endpoint_of(target), target.timeout, requests=requests),
        tz,
        target_name=target.name,
    )
    if target.api == "legacy":
        return legacy
    return AutoReader(legacy, make_varserver(target, requests=requests), target_name=target.name)


def make_live_stream(target: TargetConfig, reader: PvsReader) -> TelemetryStream | None:
    """The telemetry stream for ``--live``, or ``None`` when the target has no varserver.

    The stream is enabled through the varserver session the poller already
    holds, so following it costs no extra login.
    """
    varserver: VarserverClient | None = None
    if isinstance(reader, VarserverClient):
        varserver = reader
    elif isinstance(reader, AutoReader):
        varserver = reader.varserver
    if varserver is None:
        return None
    from sunpower_pvs_exporter.pvs.telemetry import TelemetryStream  # --live only

    # A request to the PVS like any poll's: it waits its turn in the host's queue.
    return TelemetryStream(
        f"ws://{host_port(target.host, target.telemetry_port)}/",
        enable=varserver.enable_telemetry,
        target_name=target.name,
    )


def make_poller(
    target: TargetConfig,
    mode: PollMode,
    backoff_cap: float = DEFAULT_BACKOFF_CAP,
    jitter: float = DEFAULT_JITTER,
    *,
    idle_after: float = DEFAULT_IDLE_AFTER,
    targets: int = 1,
) -> Poller:
    """``targets``: how many the config has, to spread their first polls."""
    requests = RequestCounts()
    return Poller(
        name=target.name,
        host=target.host,
        api=target.api,
        reader=make_reader(target, requests=requests),
        requests=requests,
        schedule=PollSchedule(
            interval=target.poll_interval,
            max_age=target.max_age,
            timeout=target.timeout,
            backoff_cap=backoff_cap,
            jitter=jitter,
        ),
        mode=mode,
        idle_after=idle_after,
        first_delay=first_poll_delay(target.name, target.poll_interval, targets),
        inverter_arrays=target.inverter_arrays,
        ease_off=target.ease_off_after_reboots,
        request_histograms=target.request_histograms,
    )


def make_pollers(
    config: ExporterConfig,
    backoff_cap: float = DEFAULT_BACKOFF_CAP,
    jitter: float = DEFAULT_JITTER,
) -> list[Poller]:
    """One poller per target; tests shrink the backoff cap and drop the jitter."""
    return [
        make_poller(
            target,
            config.poll_mode,
            backoff_cap,
            jitter,
            idle_after=config.idle_after,
            targets=len(config.targets),
        )
        for target in config.targets
    ]


async def stop_within(stoppers: Iterable[Awaitable[Any]], deadline: float) -> None:
    """Run every stop coroutine at once; cancel what is still running at ``deadline``.

    One hung PVS then costs the whole shutdown ``deadline`` at most, instead
    of each target adding its own wait for a request still on its PVS one
    after another.
    """
    tasks = [asyncio.ensure_future(stopper) for stopper in stoppers]
    if not tasks:
        return
    _done, pending = await asyncio.wait(tasks, timeout=deadline)
    for task in pending:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, Exception):
            log.warning("stopping a target failed: %s", result)


class ExporterState:
    """The running exporter: the config, one poller per target, and their wiring.

    The web layer reads it (``web.app.ServedState``); this class is what
    changes it: the hooks each poller gets (pre-rendering, Pushgateway),
    ``--live`` streams, the switch a reload makes, and the shutdown.
    """

    def __init__(self, config: ExporterConfig, pollers: Sequence[Poller]) -> None:
        self.config = config
        self.pollers = {poller.name: poller for poller in pollers}
        self.cache = DeviceText(use_timestamps=config.use_device_data_timestamp)
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
            from sunpower_pvs_exporter.push import Pusher, read_push_auth

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
        self._give_day_records()

    def _give_day_records(self) -> None:
        """A day record for each of the first ``DAY_RECORD_TARGETS`` targets, in
        config order (the status page draws their curves); none for the rest,
        so a fleet's memory stays bounded. One already held is kept."""
        for index, poller in enumerate(self.pollers.values()):
            if index >= DAY_RECORD_TARGETS:
                poller.day_record = None
            elif poller.day_record is None:
                poller.day_record = DayRecord()

    def _attach(self, poller: Poller) -> None:
        """Hooks and telemetry stream for a poller joining the exporter."""
        poller.prepare = self._prerender
        poller.settled = self.health.refresh
        if self.pusher is not None:
            poller.after_poll = self._push_hook(poller)
        target = self.config.target(poller.name)
        if self.config.live and target is not None:
            stream = make_live_stream(target, poller.reader)
            if stream is None:
                poller.log.warning("--live needs the varserver API; this target is legacy only")
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
            self._give_day_records()  # before a successor takes its predecessor's
            for poller in retired:
                successor = pollers.get(poller.name)
                if successor is not None:
                    successor.take_schedule_from(poller)
                stream = self.streams.pop(poller.name, None)
                self._retire(poller, stream)
                self.cache.forget(poller.name)
                self.health.forget(poller.name)
            for name in added + changed:
                self._attach(pollers[name])
                if self.ready:
                    pollers[name].start()
                    if name in self.streams:
                        self.streams[name].start()
            return added, changed, removed

    def _retire(self, poller: Poller, stream: TelemetryStream | None) -> None:
        """Stop a replaced poller in the background; its request may finish first."""
        # At once, not when the task runs: a poll ending meanwhile must not put
        # the retired poller's lines back into the shared health cache.
        poller.settled = None

        async def retire() -> None:
            if stream is not None:
                await stream.stop()
            await poller.retire()

        task = asyncio.create_task(retire(), name=f"retire-{poller.name}")
        self.retiring[task] = poller
        task.add_done_callback(lambda done: self.retiring.pop(done, None))

    def start(self) -> None:
        """Start every poller and live stream; the exporter is ready from now."""
        for poller in self.pollers.values():
            poller.start()
        for stream in self.streams.values():
            stream.start()
        self.ready = True

    async def stop(self, deadline: float = STOP_DEADLINE) -> None:
        """Stop every poller, stream and retiring poller in parallel, within ``deadline`` s.

        Each stopper closes its PVS sessions without a logout (``/auth?logout``
        would end the session of every other program on that PVS,
        docs/protocol-varserver.md); whatever is still running at the deadline is
        cancelled, and its sessions still close.
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
        if self.pusher is not None:
            await self.pusher.delete_all()

    async def _prerender(self, target: str, snapshot: Snapshot) -> None:
        """Encode a new snapshot's device metrics before it is served: in a thread
        for a large site, on the loop for a small one (less work than the thread
        hop itself; ``pvs/off_loop.py``).

        Scrapes keep getting the previous snapshot's cached text meanwhile, so
        none pays for the encoding (benchmarks/RESULTS.md, render: "first scrape after
        a poll, if not pre-rendered").
        """
        for openmetrics in sorted(self.cache.wanted):
            await run_by_size(
                len(snapshot.devices),
                LARGE_SITE_DEVICES,
                self.cache.parts,
                target,
                snapshot,
                openmetrics=openmetrics,
            )

    def _push_hook(self, poller: Poller) -> Callable[[], Awaitable[None]]:
        async def push() -> None:
            if self.pusher is not None:
                # Exactly what /probe serves for this target, in the text format.
                body = self.metrics_text(
                    [poller],
                    [poller],
                    exporter_info=False,
                    openmetrics=False,
                    health=HealthText(),
                )
                await self.pusher.push(poller.name, body)

        return push

    def live_status(self, target: str) -> LiveStatus | None:
        stream = self.streams.get(target)
        if stream is None:
            return None
        return LiveStatus(
            target, stream.latest(), stream.connects, stream.messages, stream.unsupported
        )

    def probe_key(self, poller: Poller, now: float) -> Hashable | None:
        """Equal at two times when ``poller``'s ``/probe`` body can differ only in
        its snapshot age (``HealthText`` keys its lines on the same
        ``health_key``; a new snapshot bumps it); None when it may differ in
        more: a live stream's metrics change between polls."""
        if poller.name in self.streams:
            return None
        return poller.health_key(now)

    def snapshot_age_sample(self, poller: Poller, now: float) -> tuple[str, str] | None:
        """``HealthText.age_sample`` of ``poller`` at ``now``."""
        return self.health.age_sample(poller, now)

    def metrics_text(
        self,
        health_pollers: Sequence[Poller],
        device_pollers: Sequence[Poller],
        *,
        exporter_info: bool,
        openmetrics: bool,
        health: HealthText | None = None,
    ) -> bytes:
        """The health of ``health_pollers``, then the device and live metrics of
        ``device_pollers``: the body of ``/metrics``, ``/probe`` and a push."""
        # One time per target, so its health and device metrics agree.
        timed = [(poller, poller.clock()) for poller in health_pollers]
        nows = {poller.name: now for poller, now in timed} if device_pollers else {}
        devices = []
        for poller in device_pollers:
            now = nows.get(poller.name)
            status = poller.status(poller.clock() if now is None else now)
            devices.append((status, self.live_status(poller.name)))
        return targets_text(
            self.health if health is None else health,
            self.cache,
            timed,
            devices,
            openmetrics=openmetrics,
            reload_status=self.reload_status if exporter_info else None,
            exporter_info=exporter_info,
        )


# Settings a reload cannot change in a running process: they need a restart.
RESTART_ONLY = (
    "listen_host",
    "listen_port",
    "poll_mode",
    "idle_after",
    "use_device_data_timestamp",
    "live",
    "web_config_file",
    "web_health_without_auth",
    "web_max_connections",
    "web_max_connection_rate",
    "push_to",
    "push_job",
    "push_auth_file",
    "log_level",
    "log_file",
    "log_format",
)


def _password_digest(target: TargetConfig) -> str:
    """A digest of the password a target would use: a rotated password file is a
    change even when the config file is byte for byte the same."""
    try:
        password = target.password() or ""
    except ConfigError:
        password = ""
    return hashlib.sha256(password.encode()).hexdigest()


def _target_changes(old: TargetConfig, new: TargetConfig) -> list[str]:
    return [
        spec.name
        for spec in dataclasses.fields(TargetConfig)
        if getattr(old, spec.name) != getattr(new, spec.name)
    ]


class ConfigReloader:
    """Re-reads the config (``load``) and applies it to ``state`` all or nothing.

    ``load`` is the same function startup used -- the file, the flags that
    override it, every referenced file checked -- so a reload sees exactly
    what a restart would, and flags never look like changes.
    """

    def __init__(
        self,
        state: ExporterState,
        load: Callable[[], ExporterConfig],
        poller_factory: Callable[[TargetConfig, PollMode], Poller] = make_poller,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.load = load
        self.poller_factory = poller_factory
        self.clock = clock
        self._lock = asyncio.Lock()
        self._digests = {t.name: _password_digest(t) for t in state.config.targets}
        state.reloader = self.reload

    async def reload(self) -> ReloadOutcome:
        async with self._lock:
            outcome = await self._reload()
        status = self.state.reload_status
        self.state.reload_status = ReloadStatus(
            successful=outcome.ok,
            last_success_at=self.clock()
            if outcome.ok and outcome.message != UNCHANGED
            else status.last_success_at,
        )
        if outcome.ok:
            log.info("reload: %s", outcome.message)
        else:
            log.error("reload failed, keeping the running configuration: %s", outcome.message)
        return outcome

    async def _reload(self) -> ReloadOutcome:
        try:
            new = await asyncio.to_thread(self.load)
        except ConfigError as exc:
            return ReloadOutcome(ok=False, message=str(exc))
        running = self.state.config
        digests = {t.name: _password_digest(t) for t in new.targets}
        rotated = [
            t.name
            for t in new.targets
            if running.target(t.name) == t and digests[t.name] != self._digests.get(t.name)
        ]
        if new == running and not rotated:
            return ReloadOutcome(ok=True, message=UNCHANGED)
        ignored = [key for key in RESTART_ONLY if getattr(new, key) != getattr(running, key)]
        mode = running.poll_mode

        def build(target: TargetConfig) -> Poller:
            poller = self.poller_factory(target, mode)
            # idle_after is restart-only: a new target goes idle like the others.
            poller.idle_after = running.idle_after
            poller.first_delay = first_poll_delay(
                target.name, target.poll_interval, len(new.targets)
            )
            return poller

        try:
            # A target whose password changed gets a new poller, as if its settings had.
            added, changed, removed = await self.state.replace_targets(
                new.targets, build, renew=rotated
            )
        except ConfigError as exc:
            return ReloadOutcome(ok=False, message=str(exc))
        self._digests = digests
        described = []
        for name in changed:
            before, after = running.target(name), new.target(name)
            keys = _target_changes(before, after) if before and after else []
            if name in rotated:
                keys.append("password")
            described.append(f"{name} ({', '.join(keys)})" if keys else name)
        message = (
            f"{counted(len(new.targets), 'target')}; added: {', '.join(added) or 'none'}; "
            f"changed: {', '.join(described) or 'none'}; removed: {', '.join(removed) or 'none'}"
        )
        if ignored:
            message += f"; not applied until restart: {', '.join(ignored)}"
        return ReloadOutcome(ok=True, message=message)


UNCHANGED = "configuration unchanged, nothing to do"


def freeze_startup_heap() -> int:
    """Keep what start-up made (modules, the app, the config) out of every
    later garbage collection; the number of objects now left out.

    Python's full collections walk every object it tracks, and most of them
    are the imported libraries', which live as long as the process: under a
    flood of requests a full collection took 25-40 ms (benchmarks/RESULTS.md,
    attack), all of it spent by the event loop that serves the scrapes.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


async def serve(
    config: ExporterConfig,
    demo: DemoSite | None = None,
    web_config: WebConfig | None = None,
    load: Callable[[], ExporterConfig] | None = None,
) -> None:
    """Run until SIGTERM/SIGINT; then stop pollers, close sessions and return.

    SIGHUP and ``POST /-/reload`` call ``load`` again and apply the result
    (when running from a config file).
    """
    from sunpower_pvs_exporter.web.security import build_security
    from sunpower_pvs_exporter.web.server import ExporterServer

    if demo is not None:
        await demo.start()
        config = demo.point_at(config)
    security = build_security(web_config, health_without_auth=config.web_health_without_auth)
    state = ExporterState(config, make_pollers(config))
    if demo is not None:
        state.simulated = {t.name: demo.description for t in config.targets}
    server = ExporterServer(
        state,
        ssl_context=security.ssl_context,
        middlewares=security.middlewares,
    )
    reloader = ConfigReloader(state, load) if load is not None else None
    reloads: set[asyncio.Task[ReloadOutcome]] = set()
    try:
        await server.start()
        freeze_startup_heap()
        log.info(
            "listening on %s (%s; %s)",
            listen_address(config.listen_host, server.port),
            counted(len(config.targets), "target"),
            security.summary,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)

        def on_hangup() -> None:
            if reloader is None:
                log.warning("SIGHUP: nothing to reload (running from flags, not --config)")
                return
            task = loop.create_task(reloader.reload())
            reloads.add(task)
            task.add_done_callback(reloads.discard)

        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signal.SIGHUP, on_hangup)
        await stop.wait()
        log.info("shutting down")
    finally:
        for task in list(reloads):
            task.cancel()
        await server.stop()
        if demo is not None:
            await demo.stop()
