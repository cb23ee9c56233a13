"""Reads one PVS on a schedule and keeps its last good ``Snapshot``.

The PVS is a small embedded box that has been seen to crash or stop uploading
when polled hard, and ``DeviceList`` can take over a minute. So:

* scrapes never wait on the PVS: they read what the poller cached;
* at most one request is in flight per PVS (single-flight), whatever the
  number of scrapers -- and across pollers: every request to a PVS host, from
  any poller, reader or stream, waits its turn in that host's one queue
  (``pvs/request_line.py``), so a poller that replaces another on a reload
  queues behind the old one's request; a request given up on (a timeout)
  still counts until the PVS answered it, so the next poll waits for that
  first;
* a poller that starts afresh (a target added back by a reload) polls its
  PVS no sooner than one interval after the last poll of that host, which
  the queue remembers;
* after failures the next poll waits longer (exponential backoff with jitter,
  capped), and never less than the normal interval;
* data older than ``max_age`` is withheld instead of served as current;
* a PVS that reboots twice within a day is polled less often until it has
  run 72 h without a reboot (``pvs/ease_off.py``); ``max_age`` stretches with
  the interval, so the slower polls' data is still served.

``mode="scrape"`` keeps the original exporter's behaviour of reading the PVS
inside a scrape (for Pushgateway/cron use), still single-flight and never
more often than the interval.

``mode="on_demand"`` polls in the background like the default, but only while
someone wants the data: the first ``/probe`` of a target starts its poller and
it stops once no probe came for ``idle_after``. Replicas that share one config
file then split a fleet the way their Prometheus servers split the scrape
targets (``hashmod``), without a coordinator: each PVS is polled by the one
exporter its shard's Prometheus probes. The cache, schedule and backoff stay
on the stopped poller, so a short gap never makes a PVS be polled early.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import random
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from sunpower_pvs_exporter.config import DEFAULT_IDLE_AFTER, PollMode
from sunpower_pvs_exporter.continuity import TargetContinuity
from sunpower_pvs_exporter.day_record import DayRecord
from sunpower_pvs_exporter.health import LastPoll, TargetStatus
from sunpower_pvs_exporter.pvs.backoff import backoff_delay
from sunpower_pvs_exporter.pvs.ease_off import RebootEasing, interval_text
from sunpower_pvs_exporter.pvs.errors import FailureReason, PvsError, PvsTimeoutError
from sunpower_pvs_exporter.pvs.model import Snapshot
from sunpower_pvs_exporter.pvs.reader import PvsReader
from sunpower_pvs_exporter.pvs.request_counts import RequestCounts
from sunpower_pvs_exporter.pvs.request_line import RequestLine, line_for
from sunpower_pvs_exporter.pvs.transport import ABANDONED_GRACE
from sunpower_pvs_exporter.pvs.values import count_dropped_values

__all__ = ["DEFAULT_IDLE_AFTER", "PollSchedule", "Poller", "first_poll_delay"]

DEFAULT_BACKOFF_CAP = 300.0  # seconds: a dead PVS is still retried every 5 minutes
DEFAULT_JITTER = 0.2  # up to +20 % on each backoff delay, never less than the interval
# First polls of a fleet spread over this much per target, up to the interval.
SPREAD_PER_TARGET = 0.25

log = logging.getLogger(__name__)

# Health-state versions, unique across every poller of the process: a poller
# that replaces another on a reload never reuses a version the old one had,
# so lines cached for the old one cannot pass for the new one's.
_STATE_VERSIONS = itertools.count(1)
_JITTER_RNG = random.Random()


def first_poll_delay(name: str, interval: float, targets: int) -> float:
    """When a target's first background poll falls, after start.

    Spread by a hash of the name, so a fleet's first polls do not all hit
    the event loop (and the network) at once, and a restart puts each PVS
    at the same offset again. The window grows with the fleet
    (``SPREAD_PER_TARGET`` each, at most the interval): a single target
    starts at once, so the demo and single-site users see data immediately,
    and a handful of sites wait a second or two, not minutes.
    """
    window = min(interval, SPREAD_PER_TARGET * (targets - 1))
    if window <= 0:
        return 0.0
    return zlib.crc32(name.encode("utf-8")) / 2**32 * window


@dataclass(frozen=True)
class PollSchedule:
    interval: float
    max_age: float
    timeout: float
    backoff_cap: float = DEFAULT_BACKOFF_CAP
    jitter: float = DEFAULT_JITTER

    def retry_delay(self, consecutive_failures: int, rng: random.Random) -> float:
        """Delay before the next poll after ``consecutive_failures`` failures.

        Doubles from the interval up to the cap (or the interval, if larger);
        the jitter only ever lengthens it, so a failing PVS is never polled
        faster than a healthy one.
        """
        if consecutive_failures <= 0:
            return self.interval
        return backoff_delay(
            self.interval, consecutive_failures, self.backoff_cap, self.jitter, rng.random()
        )


class Poller:
    """One target's PVS on its schedule; the last poll's result for every reader."""

    def __init__(
        self,
        name: str,
        reader: PvsReader,
        schedule: PollSchedule,
        *,
        host: str,
        api: str = "",
        mode: PollMode = "background",
        idle_after: float = DEFAULT_IDLE_AFTER,
        first_delay: float = 0.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        inverter_arrays: tuple[tuple[str, str], ...] = (),
        requests: RequestCounts | None = None,
        ease_off: bool = True,
        request_histograms: bool = True,
    ) -> None:
        self.name = name
        # Every line it logs names the target (a field of its own in logfmt and JSON).
        self.log = logging.LoggerAdapter(log, {"target": name})
        self.host = host
        self._line: RequestLine | None = None
        self.api = api
        self.reader = reader
        # What the reader's transports count of the requests they send (the
        # same record: ``runtime.make_poller`` hands it to both).
        self.requests = RequestCounts() if requests is None else requests
        self.request_histograms = request_histograms
        # As configured; ``_timing`` is what is in effect (eased off, or the same).
        self.schedule = schedule
        self._timing = schedule
        # The reboots seen, and how much less often they say to poll.
        self.easing = RebootEasing(schedule.interval, enabled=ease_off)
        self.mode = mode
        # Hooks the runtime sets. Runs after every poll, good or bad (the
        # Pushgateway pusher):
        self.after_poll: Callable[[], Awaitable[None]] | None = None
        # Runs on a new snapshot before scrapes can see it (pre-rendering):
        self.prepare: Callable[[str, Snapshot], Awaitable[None]] | None = None
        # Called (on the event loop) when a poll has ended, good or bad, with
        # the state final: the health lines are encoded then, not in the
        # next scrape of a large fleet's /metrics.
        self.settled: Callable[[Poller], None] | None = None
        self.clock = clock
        # Measures poll durations; tests pin it (with ``clock``) to get exact output.
        self.monotonic = monotonic
        # Only the backoff jitter draws from it: one generator serves every
        # poller (its state is 2.5 KB, a fleet's worth of them adds up).
        self.rng = rng or _JITTER_RNG
        # on_demand: polling stops this long after the last probe.
        self.idle_after = idle_after
        # background: the first poll waits this long, so that a fleet's first
        # polls spread over the interval instead of all starting at once.
        self.first_delay = first_delay
        # The owner's inverter -> array assignment, carried on every snapshot.
        self.inverter_arrays = inverter_arrays
        # Today's curve of the site's power for the status page, fed by every
        # good poll; the runtime gives one to the first targets of a fleet only.
        self.day_record: DayRecord | None = None
        self._last_probe_at: float | None = None
        self._last = LastPoll()
        self._consecutive_failures = 0
        # Scrape mode: a scrape stopped waiting for the poll that is still running.
        self._overdue = False
        self._internal_errors_logged: set[tuple[str, str, int]] = set()
        self._next_poll_at: float | None = None
        # The poller this one replaced on a reload, until its last request is done.
        self._predecessor: Poller | None = None
        self._inflight: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        # Memory across polls: counters held monotonic, vanished devices, reboots.
        self.continuity = TargetContinuity(name)
        # Changes whenever anything ``status()`` reports may have changed,
        # apart from the time (see ``health_key``).
        self._version = next(_STATE_VERSIONS)

    @property
    def line(self) -> RequestLine:
        """The PVS host's one queue, shared with every other reader of it (found
        in the event loop that polls, which need not be the one that built this)."""
        if self._line is None:
            self._line = line_for(self.host)
        return self._line

    def _changed(self) -> None:
        self._version = next(_STATE_VERSIONS)

    # --- reading the cache ---------------------------------------------------

    def health_key(self, now: float) -> tuple[int, bool, bool, str, int]:
        """Equal for two times exactly when ``status()`` differs only in ``now``.

        A scrape of a large fleet compares this, a few attribute reads, instead
        of building every target's status and comparing its fields: the cached
        health lines of a target are reused while its key is unchanged
        (``metrics.cache.HealthText``). Every change to the state bumps
        the version (``_changed``); freshness, activity, the backend and the
        request counts, which change without the poller noticing (a request
        given up on ends after its poll; ``--live`` enables its stream
        between polls), are read directly.
        """
        return (
            self._version,
            self._fresh(now),
            self.active,
            self.reader.backend,
            self.requests.version,
        )

    def _fresh(self, now: float) -> bool:
        last = self._last
        return (
            last.snapshot is not None
            and last.last_snapshot_at is not None
            and now - last.last_snapshot_at <= self._timing.max_age
        )

    def status(self, now: float | None = None) -> TargetStatus:
        if now is None:
            now = self.clock()
        return TargetStatus(
            target=self.name,
            host=self.host,
            api=self.api,
            now=now,
            backend=self.reader.backend,
            **self._last.shown(fresh=self._fresh(now), overdue=self._overdue),
            consecutive_failures=self._consecutive_failures,
            poll_interval=self._timing.interval,
            configured_poll_interval=self.schedule.interval,
            easing=self.easing.current,
            next_poll_at=self._next_poll_at,
            held_energy_readings=dict(self.continuity.energy.held),
            reboots=self.continuity.reboots,
            active=self.active,
            requests=self.requests.view(),
            request_histograms=self.request_histograms,
        )

    @property
    def active(self) -> bool:
        """Whether this target is being polled: in on_demand mode, only while probed."""
        if self.mode != "on_demand":
            return True
        return self._task is not None and not self._task.done()

    # --- polling -------------------------------------------------------------

    def is_due(self) -> bool:
        return self._next_poll_at is None or self.clock() >= self._next_poll_at

    def _schedule_first_poll(self) -> None:
        """Give a poller without a schedule of its own its first poll time.

        Background mode spreads a fleet's first polls (``first_delay``). And
        the PVS may have been polled moments ago by a poller this one
        replaces (a target removed by one reload, added back by the next):
        its queue remembers when, and the first poll waits for the interval
        to pass -- at most one interval from now, should the wall clock have
        stepped back since.
        """
        if self._next_poll_at is not None:
            return
        now = self.clock()
        times = []
        if self.mode == "background" and self.first_delay > 0:
            times.append(now + self.first_delay)
        if self.line.last_poll_at is not None:
            interval = self._timing.interval
            times.append(min(self.line.last_poll_at + interval, now + interval))
        if times:
            self._next_poll_at = max(times)
            self._changed()

    async def poll(self) -> None:
        """Poll now, or join the poll already in flight (single-flight)."""
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.create_task(self._poll_once(), name=f"poll-{self.name}")
        await asyncio.shield(self._inflight)

    async def refresh_if_due(self, wait: float, stopping: asyncio.Event | None = None) -> None:
        """Scrape mode: poll if the schedule allows, waiting at most ``wait`` s,
        and no longer once ``stopping`` is set (the exporter shuts down).

        A scrape that arrives within the interval of the last poll gets the
        cached result; one that arrives while a poll runs joins it.
        """
        self._schedule_first_poll()
        if not (self.is_due() or (self._inflight is not None and not self._inflight.done())):
            return
        if stopping is not None and stopping.is_set():
            # Shutting down: no new poll; the scrape answers with what there is.
            self._overdue = True
            self._changed()
            return
        poll: asyncio.Task[object] = asyncio.ensure_future(self.poll())
        waits = {poll}
        if stopping is not None:
            waits.add(asyncio.ensure_future(stopping.wait()))
        try:
            done, _ = await asyncio.wait(waits, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                if not waiting.done():
                    waiting.cancel()  # the poll itself is shielded: it goes on
        if poll in done:
            poll.result()
            return
        # The poll goes on in the background; until it ends the target is
        # reported down, with its last data, instead of failing the scrape.
        self._overdue = True
        self._changed()

    async def _poll_once(self) -> None:
        if self._predecessor is not None:
            await self._await_predecessor()
            if not self.is_due():
                return
        await self._read_and_record()
        if self.after_poll is not None:
            try:
                await self.after_poll()
            except Exception:
                self.log.exception("after-poll hook failed")

    async def _read_and_record(self) -> None:
        started_wall = self.clock()
        started = self.monotonic()
        self._last = replace(self._last, last_attempt_at=started_wall, polls=self._last.polls + 1)
        self.line.polled(started_wall, remember_for=self._timing.interval)
        self._changed()
        try:
            await self._read_and_record_inner(started, started_wall)
        finally:
            self._overdue = False
            self._changed()
            if self.settled is not None:
                try:
                    self.settled(self)
                except Exception:  # a bug there must not stop the polling
                    self.log.exception("encoding the new health failed")

    async def _read_and_record_inner(self, started: float, started_wall: float) -> None:
        try:
            try:
                # A request given up on (by this poller or another of the same
                # PVS) may still be on the PVS: this poll's timeout runs once
                # the PVS answered it, or its connection was closed.
                await self.line.wait_idle(self.schedule.timeout * (1 + ABANDONED_GRACE))
                async with asyncio.timeout(self.schedule.timeout):
                    with count_dropped_values() as dropped:
                        try:
                            snapshot = await self.reader.read()
                        finally:
                            self._last = replace(
                                self._last,
                                dropped_values=self._last.dropped_values + dropped.count,
                            )
            except TimeoutError as exc:
                raise PvsTimeoutError(
                    f"no complete answer within {self.schedule.timeout:g}s"
                ) from exc
        except PvsError as exc:
            self._record_failure(exc.reason, exc.message, started, started_wall)
            return
        except Exception as exc:  # a bug in our code must not kill the poller
            self._record_internal_error(exc, started, started_wall)
            return
        self._last = replace(self._last, last_poll_duration=self.monotonic() - started)
        reboots = self.continuity.reboots
        try:
            snapshot = self.continuity.apply(snapshot, self.clock())
        except Exception:  # a bug here must not stop the polling
            self.log.exception("carrying state over from earlier polls failed")
        if self.inverter_arrays:
            snapshot = dataclasses.replace(snapshot, inverter_arrays=self.inverter_arrays)
        # The counters above changed; a scrape during the pre-rendering must see it.
        self._changed()
        if self.prepare is not None:
            try:
                await self.prepare(self.name, snapshot)
            except Exception:
                self.log.exception("preparing the snapshot failed")
        now = self.clock()
        self._last = replace(
            self._last,
            snapshot=snapshot,
            last_snapshot_at=now,
            last_success_at=now,
            last_poll_ok=True,
        )
        if self.day_record is not None:
            try:
                self.day_record.record(snapshot, now)
            except Exception:  # a bug here must not stop the polling
                self.log.exception("recording the day's curve failed")
        if self._consecutive_failures:
            self.log.info(
                "PVS answering again after %d failed polls",
                self._consecutive_failures,
            )
        self._consecutive_failures = 0
        self._ease_off(now, rebooted=self.continuity.reboots > reboots)
        self._next_poll_at = started_wall + self._timing.interval
        self.log.debug(
            "poll ok in %.3fs: %d devices",
            self._last.last_poll_duration,
            len(snapshot.devices),
        )

    def _record_internal_error(self, exc: Exception, started: float, started_wall: float) -> None:
        """A bug in the exporter, not the PVS: ``reason="internal"``.

        The traceback is logged the first time each kind of error happens, so a
        bug that repeats every poll does not flood the log; later occurrences
        are the usual one-line poll failure.
        """
        kind = _error_kind(exc)
        if kind not in self._internal_errors_logged:
            self._internal_errors_logged.add(kind)
            self.log.error(
                "internal error while polling (a bug in the exporter, please "
                "report it); logged once, later ones are counted as reason=internal",
                exc_info=exc,
            )
        self._record_failure(
            "internal",
            f"internal error: {type(exc).__name__} (a bug in the exporter; see its log)",
            started,
            started_wall,
        )

    def _record_failure(
        self, reason: FailureReason, message: str, started: float, started_wall: float
    ) -> None:
        self._last = self._last.failed(reason, message, self.monotonic() - started)
        self._consecutive_failures += 1
        self._ease_off(self.clock())
        delay = self._timing.retry_delay(self._consecutive_failures, self.rng)
        self._next_poll_at = self.clock() + delay
        self.log.warning(
            "poll failed (%s): %s; next try in %.0fs",
            reason,
            message,
            delay,
        )

    def _ease_off(self, now: float, *, rebooted: bool = False) -> None:
        """Ask ``easing`` how often to poll from now on; say so when that changes.

        One WARNING when reboots start the easing, an INFO line when a further
        one lengthens it again and when the configured interval returns: a line
        per change, never one per poll.
        """
        before = self.easing.current
        after = self.easing.decide(now, rebooted=rebooted)
        if after == before:
            return
        self._changed()
        if after.interval == before.interval:
            return
        interval = after.interval
        self._timing = self._timing_for(interval)
        if after.eased and not before.eased:
            self.log.warning("PVS keeps rebooting: %s", after.describe())
        elif after.eased and interval > before.interval:
            self.log.info("PVS still rebooting: %s", after.describe())
        elif not after.eased:
            why = "72 h without a reboot" if self.easing.enabled else "ease_off_after_reboots off"
            self.log.info("polling back to the configured %s (%s)", interval_text(interval), why)
        else:
            self.log.info("%s", after.describe())

    def _timing_for(self, interval: float) -> PollSchedule:
        """The schedule at ``interval``: ``max_age`` stretched alike, so data from
        polls that come less often is not withheld as stale between them."""
        if interval == self.schedule.interval:
            return self.schedule
        return replace(
            self.schedule,
            interval=interval,
            max_age=self.schedule.max_age * interval / self.schedule.interval,
        )

    # --- on demand -----------------------------------------------------------

    def touch(self) -> bool:
        """A probe wants this target's data; in on_demand mode, (re)start polling.

        True when this call started the poller. A due first poll starts here,
        not in the task, so ``wait_for_data`` can join it at once.
        """
        self._last_probe_at = self.clock()
        if self.mode != "on_demand" or self._stopping.is_set() or self.active:
            return False
        self._schedule_first_poll()
        if self.is_due() and (self._inflight is None or self._inflight.done()):
            self._inflight = asyncio.create_task(self._poll_once(), name=f"poll-{self.name}")
        self._task = asyncio.create_task(self.run(), name=f"poller-{self.name}")
        self.log.info(
            "probed: polling on demand until %gs without a probe",
            self.idle_after,
        )
        return True

    async def wait_for_data(self, wait: float) -> None:
        """Join a poll in flight while nothing is cached yet, for at most ``wait`` s.

        So the first probe of an idle target answers with data rather than
        ``up 0`` when the PVS is quick, and never stalls a scrape for long.
        """
        inflight = self._inflight
        if self._last.snapshot is not None or inflight is None or inflight.done() or wait <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(inflight), timeout=wait)

    def _idle_for(self) -> float | None:
        """Seconds left before an on_demand poller goes idle (None: never)."""
        if self.mode != "on_demand":
            return None
        last = self._last_probe_at if self._last_probe_at is not None else self.clock()
        return last + self.idle_after - self.clock()

    async def run(self) -> None:
        """Poll on the schedule until ``stop()`` (on_demand: or until idle)."""
        self._schedule_first_poll()
        while not self._stopping.is_set():
            left = self._idle_for()
            if left is not None and left <= 0:
                self.log.info(
                    "not probed for %gs: polling stops until the next probe",
                    self.idle_after,
                )
                return
            if self.is_due():
                await self.poll()
            delay = 0.0
            if self._next_poll_at is not None:
                delay = max(0.0, self._next_poll_at - self.clock())
            left = self._idle_for()
            if left is not None:
                delay = min(delay, max(left, 0.0))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=max(delay, 0.001))

    def start(self) -> None:
        """Background mode: start polling now (on_demand waits for a probe)."""
        if self.mode == "background" and self._task is None:
            self._task = asyncio.create_task(self.run(), name=f"poller-{self.name}")

    def take_schedule_from(self, old: Poller) -> None:
        """Continue ``old``'s schedule and backoff (a reload changed this target).

        If ``old`` still has a request on the PVS, this poller's first poll
        waits for it and then continues from its result: the PVS is neither
        polled twice at once nor earlier than it would have been. For the
        same PVS host the last data and counters carry over too, so a
        reload leaves no gap in the metrics.
        """
        self._predecessor = old
        self._inherit(old)
        if old.line is self.line:
            # Counted on: a request of ``old`` still on the PVS ends in this record.
            self.requests.take_over(old.requests)

    def _inherit(self, old: Poller) -> None:
        self._changed()
        self._next_poll_at = old._next_poll_at
        self._consecutive_failures = old._consecutive_failures
        if old.line is self.line:
            # The same PVS: no gap in its metrics, its reboots remembered, and
            # a PVS eased off stays eased off (unless the new settings say not).
            self._last = old._last
            self.continuity = old.continuity
            self.easing.take_reboots_from(old.easing)
            self.easing.current = old.easing.current
            self._ease_off(self.clock())
            self._timing = self._timing_for(self.easing.current.interval)
            if self.day_record is not None and old.day_record is not None:
                self.day_record = old.day_record  # nor in its day's curve

    async def _await_predecessor(self) -> None:
        old, self._predecessor = self._predecessor, None
        if old is None:
            return
        inflight = old._inflight
        if inflight is not None and not inflight.done():
            with contextlib.suppress(Exception):
                await asyncio.shield(inflight)
            self._inherit(old)

    async def retire(self) -> None:
        """Stop polling, but let a request already on the PVS finish (bounded by
        the timeout) before closing: the poller replacing this one queues behind
        it meanwhile, so the PVS never has two requests at once."""
        self._stopping.set()
        self.prepare = None
        self.after_poll = None
        self.settled = None
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._inflight is not None and not self._inflight.done():
            with contextlib.suppress(Exception):
                await asyncio.shield(self._inflight)
        await self.stop()

    async def stop(self) -> None:
        self._stopping.set()
        for task in (self._task, self._inflight):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.reader.close()


def _error_kind(exc: BaseException) -> tuple[str, str, int]:
    """An exception's type and the innermost place it was raised."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return (type(exc).__name__, "", 0)
    return (type(exc).__name__, tb.tb_frame.f_code.co_filename, tb.tb_lineno)
