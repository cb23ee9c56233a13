"""The PVS telemetry WebSocket (``ws://<pvs>:9002``): site power pushed as it changes.

It costs the PVS no polling: once ``/sys/telemetryws/enable=1`` is set
through varserver, the PVS pushes ``{"notification": "power", "params":
{...}}`` with the ``/sys/livedata`` short names (``pv_p``, ``net_p``, …).
How real units behave, and what this module does about it:

* A message carries only the fields that changed, and at steady output
  the stream is silent for 60–70 s: values are merged and kept for as long
  as the connection is healthy, not expired after a few seconds.
* The PVS closes the socket about every 10 minutes, and sometimes goes
  silent with the TCP connection still open (also when the session that
  enabled it expired): a socket that said nothing for ``silence_timeout``
  (90 s) is closed and reconnected, after enabling telemetry again through
  the poller's varserver session (one login per PVS, not two).
* Fields are never carried over from a previous connection: after a
  reconnect only what the new connection sent is served.
* ``enable`` failing is a warning, not a reason to stay away: the socket may
  be open anyway. A PVS5 has no telemetry at all (``enable`` answers 400 and
  port 9002 is closed): after ``GIVE_UP_AFTER`` such attempts in a row the
  stream stops trying, says so once, and reports ``unsupported``.

Otherwise it reconnects with capped exponential backoff and jitter, for
ever, until stopped.

``--live`` (``web/app.py``) runs one stream per varserver target and appends
its values to that target's scrapes as ``sunpower_pvs_live_*``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from sunpower_pvs_exporter.pvs.backoff import backoff_delay
from sunpower_pvs_exporter.pvs.errors import PvsError, PvsHttpStatusError
from sunpower_pvs_exporter.pvs.model import LiveData
from sunpower_pvs_exporter.pvs.values import json_int
from sunpower_pvs_exporter.pvs.varserver_parse import LIVE_PREFIX, parse_live

TELEMETRY_PORT = 9002
MAX_MESSAGE_BYTES = 64 * 1024
# A socket that said nothing for this long is dead (real units: 60-70 s of
# silence at steady output is normal).
SILENCE_TIMEOUT = 90.0
# Attempts in a row with "enable: 400" and a refused port before giving up.
GIVE_UP_AFTER = 3
# Up to +20 % on each reconnect delay (pvs/backoff.py).
JITTER = 0.2

log = logging.getLogger(__name__)


def merge_telemetry(current: LiveData | None, message: object) -> LiveData | None:
    """Fold one pushed message into the live data; anything else leaves it as it was."""
    if not isinstance(message, dict) or message.get("notification") != "power":
        return current
    params = message.get("params")
    if not isinstance(params, dict):
        return current
    update = parse_live({LIVE_PREFIX + str(key): value for key, value in params.items()})
    if update is None:
        return current
    if current is None:
        return update
    changes = {
        spec.name: getattr(update, spec.name)
        for spec in dataclasses.fields(update)
        if getattr(update, spec.name) is not None
    }
    return dataclasses.replace(current, **changes)


class TelemetryStream:
    """One PVS's telemetry WebSocket, reconnecting until ``stop()``."""

    def __init__(
        self,
        url: str,
        enable: Callable[[], Awaitable[None]] | None = None,
        silence_timeout: float = SILENCE_TIMEOUT,
        backoff_start: float = 1.0,
        backoff_cap: float = 300.0,
        target_name: str = "",
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        check_interval: float = 5.0,
    ) -> None:
        self.url = url
        self.enable = enable
        self.silence_timeout = silence_timeout
        self.backoff_start = backoff_start
        self.backoff_cap = backoff_cap
        self.target_name = target_name
        # Every line it logs names the target (a field of its own in logfmt and JSON).
        self.log = logging.LoggerAdapter(log, {"target": target_name})
        self.clock = clock
        self.rng = rng or random.Random()
        # How often (real seconds) a quiet socket is checked against ``clock``.
        self.check_interval = check_interval
        self._live: LiveData | None = None
        self._connected = False
        self._heard_at: float | None = None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._enable_failing = False
        self._absent_in_a_row = 0
        self.unsupported = False
        self.connects = 0
        self.messages = 0
        self.silent_reconnects = 0

    def latest(self) -> LiveData | None:
        """The merged live data of the current connection while it is healthy, else ``None``."""
        if not self._connected or self._heard_at is None:
            return None
        if self.clock() - self._heard_at > self.silence_timeout:
            return None
        return self._live

    def start(self) -> None:
        if self._task is None and not self.unsupported:
            self._task = asyncio.create_task(self.run(), name=f"telemetry-{self.target_name}")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _handle(self, text: str) -> None:
        if len(text) > MAX_MESSAGE_BYTES:
            return
        try:
            message: Any = json.loads(text, parse_int=json_int)
        except ValueError:
            return
        merged = merge_telemetry(self._live, message)
        if merged is not self._live:
            self._live = merged
            self._heard_at = self.clock()
            self.messages += 1

    async def _enable(self) -> PvsError | None:
        """Enable telemetry; a failure is returned (and logged), not raised."""
        if self.enable is None:
            return None
        try:
            await self.enable()
        except PvsError as exc:
            if not self._enable_failing:
                self.log.warning(
                    "telemetry enable failed (%s); connecting anyway",
                    exc.message,
                )
            self._enable_failing = True
            return exc
        self._enable_failing = False
        return None

    async def _follow(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Read messages until the socket closes or stays silent too long."""
        while True:
            try:
                msg = await ws.receive(timeout=self.check_interval)
            except TimeoutError:
                assert self._heard_at is not None
                if self.clock() - self._heard_at > self.silence_timeout:
                    self.silent_reconnects += 1
                    self.log.info(
                        "telemetry stream silent for %.0fs; reconnecting",
                        self.clock() - self._heard_at,
                    )
                    return
                continue
            if msg.type == aiohttp.WSMsgType.TEXT:
                self._handle(msg.data)
            elif msg.type in (
                aiohttp.WSMsgType.ERROR,
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSING,
                aiohttp.WSMsgType.CLOSED,
            ):
                return

    async def _session_once(self, session: aiohttp.ClientSession) -> None:
        enable_error = await self._enable()
        try:
            ws = await session.ws_connect(self.url, heartbeat=30.0, max_msg_size=MAX_MESSAGE_BYTES)
        except aiohttp.ClientConnectorError:
            no_such_variable = (
                isinstance(enable_error, PvsHttpStatusError) and enable_error.status == 400
            )
            self._absent_in_a_row = self._absent_in_a_row + 1 if no_such_variable else 0
            raise
        self._absent_in_a_row = 0
        async with ws:
            # A new connection starts empty: nothing carried over from the last.
            self._live = None
            self._heard_at = self.clock()
            self._connected = True
            self.connects += 1
            self.log.info("telemetry stream connected")
            try:
                await self._follow(ws)
            finally:
                self._connected = False

    async def run(self) -> None:
        failures = 0
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(sock_connect=10)) as session:
            while not self._stopping.is_set():
                started = self.clock()
                try:
                    await self._session_once(session)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # any failure: wait and reconnect
                    self.log.info(
                        "telemetry stream failed: %s",
                        type(exc).__name__,
                    )
                if self._absent_in_a_row >= GIVE_UP_AFTER:
                    self.unsupported = True
                    self.log.warning(
                        "has no telemetry stream (telemetry enable answers 400 and "
                        "%s refuses connections, as on a PVS5); --live stops trying for this "
                        "target",
                        self.url,
                    )
                    return
                if self.clock() - started > 60.0:
                    failures = 0  # it ran a while: start backoff afresh
                failures += 1
                wait = backoff_delay(
                    self.backoff_start, failures, self.backoff_cap, JITTER, self.rng.random()
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=wait)
