"""The PVS telemetry WebSocket (``ws://<pvs>:9002``): site power pushed every few seconds.

It costs the PVS no polling: once ``/sys/telemetryws/enable=1`` is set
through varserver, the PVS pushes ``{"notification": "power", "params":
{...}}`` with the ``/sys/livedata`` short names (``pv_p``, ``net_p``, …);
a message may carry only the fields that changed, so values are merged.

``TelemetryStream`` keeps the newest merged ``LiveData`` and hands it out only
while it is fresh (``max_age``): when the stream stops, its values expire
rather than being served as current. It reconnects with capped exponential
backoff and jitter, for ever, until stopped.

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

from sunpower_pvs_exporter.pvs.model import LiveData
from sunpower_pvs_exporter.pvs.values import json_int
from sunpower_pvs_exporter.pvs.varserver_parse import LIVE_PREFIX, parse_live

TELEMETRY_PORT = 9002
MAX_MESSAGE_BYTES = 64 * 1024

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
        max_age: float = 15.0,
        backoff_start: float = 1.0,
        backoff_cap: float = 300.0,
        target_name: str = "",
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.url = url
        self.enable = enable
        self.max_age = max_age
        self.backoff_start = backoff_start
        self.backoff_cap = backoff_cap
        self.target_name = target_name
        self.clock = clock
        self.rng = rng or random.Random()
        self._live: LiveData | None = None
        self._received_at: float | None = None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.connects = 0
        self.messages = 0

    def latest(self) -> LiveData | None:
        """The merged live data, or ``None`` once it is older than ``max_age``."""
        if self._received_at is None or self.clock() - self._received_at > self.max_age:
            return None
        return self._live

    def start(self) -> None:
        if self._task is None:
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
            self._received_at = self.clock()
            self.messages += 1

    async def _session_once(self, session: aiohttp.ClientSession) -> None:
        if self.enable is not None:
            await self.enable()
        async with session.ws_connect(
            self.url, heartbeat=30.0, max_msg_size=MAX_MESSAGE_BYTES
        ) as ws:
            self.connects += 1
            log.info("target=%s telemetry stream connected", self.target_name)
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    self._handle(msg.data)
                elif msg.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
                    break

    async def run(self) -> None:
        delay = self.backoff_start
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(sock_connect=10)) as session:
            while not self._stopping.is_set():
                started = self.clock()
                try:
                    await self._session_once(session)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # any failure: wait and reconnect
                    log.info(
                        "target=%s telemetry stream failed: %s",
                        self.target_name,
                        type(exc).__name__,
                    )
                if self.clock() - started > 60.0:
                    delay = self.backoff_start  # it ran a while: start backoff afresh
                wait = min(self.backoff_cap, delay) * (1.0 + 0.2 * self.rng.random())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=wait)
                delay = min(self.backoff_cap, delay * 2)
