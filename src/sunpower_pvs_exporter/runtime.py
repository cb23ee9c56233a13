"""Building the running exporter's pollers, reloading its config, stopping it in time.

The CLI parses arguments; the web layer serves. What happens between them at
run time lives here:

* ``make_poller``: one target's reader, schedule and PVS gate;
* ``ConfigReloader``: SIGHUP and ``POST /-/reload`` -- load and check the whole
  new config (referenced files included) first, then switch in one step or not
  at all, and say exactly what changed;
* ``stop_within``: shutdown of every target in parallel under one deadline.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sunpower_pvs_exporter.config import ConfigError, ExporterConfig, PollMode, TargetConfig
from sunpower_pvs_exporter.health import ReloadStatus
from sunpower_pvs_exporter.poller import (
    DEFAULT_BACKOFF_CAP,
    DEFAULT_IDLE_AFTER,
    DEFAULT_JITTER,
    Poller,
    PollSchedule,
    first_poll_delay,
)
from sunpower_pvs_exporter.pvs.readers import endpoint_key, make_reader

if TYPE_CHECKING:
    from sunpower_pvs_exporter.web.app import ExporterState

# Everything the targets hold must be let go within this many seconds of
# SIGTERM, so that with the web server's 1 s for open scrapes the process
# exits within the documented 2 s.
STOP_DEADLINE = 0.8

log = logging.getLogger("sunpower-pvs-exporter")


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
    return Poller(
        name=target.name,
        host=target.host,
        api=target.api,
        reader=make_reader(target),
        schedule=PollSchedule(
            interval=target.poll_interval,
            max_age=target.max_age,
            timeout=target.timeout,
            backoff_cap=backoff_cap,
            jitter=jitter,
        ),
        mode=mode,
        endpoint=endpoint_key(target),
        idle_after=idle_after,
        first_delay=first_poll_delay(target.name, target.poll_interval, targets),
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
    of each target adding its own logout timeout one after another.
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
    "push_to",
    "push_job",
    "push_auth_file",
    "log_level",
    "log_file",
    "log_format",
)


@dataclass(frozen=True)
class ReloadOutcome:
    ok: bool
    message: str


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
            return ReloadOutcome(False, str(exc))
        running = self.state.config
        digests = {t.name: _password_digest(t) for t in new.targets}
        rotated = [
            t.name
            for t in new.targets
            if running.target(t.name) == t and digests[t.name] != self._digests.get(t.name)
        ]
        if new == running and not rotated:
            return ReloadOutcome(True, UNCHANGED)
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
            return ReloadOutcome(False, str(exc))
        self._digests = digests
        described = []
        for name in changed:
            before, after = running.target(name), new.target(name)
            keys = _target_changes(before, after) if before and after else []
            if name in rotated:
                keys.append("password")
            described.append(f"{name} ({', '.join(keys)})" if keys else name)
        message = (
            f"{len(new.targets)} targets; added: {', '.join(added) or 'none'}; "
            f"changed: {', '.join(described) or 'none'}; removed: {', '.join(removed) or 'none'}"
        )
        if ignored:
            message += f"; not applied until restart: {', '.join(ignored)}"
        return ReloadOutcome(True, message)


UNCHANGED = "configuration unchanged, nothing to do"
