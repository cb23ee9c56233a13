"""Pushgateway mode: push each target's metrics after every poll.

Each target is its own group (``job=<push_job>``, ``instance=<target name>``)
and every push is a PUT that replaces the whole group, so a device that
disappeared from the PVS disappears from the Pushgateway too.

On a clean shutdown the groups are *deleted*, not left behind: the Pushgateway
never expires what it holds, so a stopped exporter's last values would
otherwise be scraped as current forever. While the exporter runs but the PVS
is down, the group holds ``sunpower_pvs_up 0`` and no device data once stale —
the same as ``/probe`` shows.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Any

from prometheus_client import delete_from_gateway, push_to_gateway
from prometheus_client.exposition import basic_auth_handler, default_handler
from prometheus_client.registry import CollectorRegistry

PUSH_AUTH_ENV = "SUNPOWER_PVS_PUSH_AUTH"
PUSH_TIMEOUT = 10.0

log = logging.getLogger(__name__)
Handler = Callable[[str, str, float | None, list[tuple[str, str]], bytes], Callable[[], None]]


class PushAuthError(ValueError):
    """The push credentials could not be read; phrased for the user."""


def read_push_auth(auth_file: str | None) -> tuple[str, str] | None:
    """``user:password`` from ``auth_file`` or env ``SUNPOWER_PVS_PUSH_AUTH``.

    Never from a command-line argument: those show in ``ps``.
    """
    text: str | None = None
    if auth_file:
        try:
            with open(auth_file, encoding="utf-8") as handle:
                text = handle.read().strip()
        except OSError as exc:
            raise PushAuthError(f"push_auth_file: cannot read {auth_file}: {exc.strerror}") from exc
    elif os.environ.get(PUSH_AUTH_ENV):
        text = os.environ[PUSH_AUTH_ENV].strip()
    if text is None:
        return None
    user, sep, password = text.partition(":")
    if not sep or not user:
        where = f"push_auth_file {auth_file}" if auth_file else PUSH_AUTH_ENV
        raise PushAuthError(f"{where}: expected 'user:password'")
    return user, password


class Pusher:
    def __init__(self, url: str, job: str, auth: tuple[str, str] | None = None) -> None:
        self.url = url
        self.job = job
        self._auth = auth
        self._pushed: set[str] = set()

    def _handler(self) -> Handler:
        if self._auth is None:
            return default_handler
        user, password = self._auth

        def handler(
            url: str,
            method: str,
            timeout: float | None,
            headers: list[tuple[str, str]],
            data: bytes,
        ) -> Callable[[], None]:
            return basic_auth_handler(url, method, timeout, headers, data, user, password)

        return handler

    async def push(self, target: str, registry: CollectorRegistry) -> None:
        """Replace the target's group; failures are logged, never raised."""
        try:
            await asyncio.to_thread(
                push_to_gateway,
                self.url,
                job=self.job,
                registry=registry,
                grouping_key={"instance": target},
                timeout=PUSH_TIMEOUT,
                handler=self._handler(),
            )
        except Exception as exc:
            log.warning("target=%s push to %s failed: %s", target, self.url, _describe(exc))
            return
        self._pushed.add(target)

    async def delete_all(self) -> None:
        for target in sorted(self._pushed):
            try:
                await asyncio.to_thread(
                    delete_from_gateway,
                    self.url,
                    job=self.job,
                    grouping_key={"instance": target},
                    timeout=PUSH_TIMEOUT,
                    handler=self._handler(),
                )
            except Exception as exc:
                log.warning("target=%s delete from %s failed: %s", target, self.url, _describe(exc))
        self._pushed.clear()


def _describe(exc: Any) -> str:
    # urllib's errors can carry the URL; ours never contains credentials
    # (they travel in a header), so the message is safe to log.
    return f"{type(exc).__name__}: {exc}"
