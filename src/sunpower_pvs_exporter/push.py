"""Pushgateway mode: push each target's metrics after every poll.

Each target is its own group (``job=<push_job>``, ``instance=<target name>``)
and every push is a PUT that replaces the whole group, so a device that
disappeared from the PVS disappears from the Pushgateway too.

On a clean shutdown the groups are *deleted*, not left behind: the Pushgateway
never expires what it holds, so a stopped exporter's last values would
otherwise be scraped as current forever. While the exporter runs but the PVS
is down, the group holds ``sunpower_pvs_up 0`` and no device data once stale —
the same as ``/probe`` shows: the body pushed is rendered by the same code
(``web.exposition.targets_text``) as ``/probe``'s.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus, urlparse

from prometheus_client.exposition import basic_auth_handler, default_handler

PUSH_AUTH_ENV = "SUNPOWER_PVS_PUSH_AUTH"
PUSH_TIMEOUT = 10.0
# All of shutdown's DELETEs together, sent at once: with the web server's 1 s
# for open scrapes and the pollers' STOP_DEADLINE, a hung Pushgateway still
# lets the process end well inside the systemd unit's TimeoutStopSec (20 s;
# tests/contrib/test_systemd.py checks the sum).
DELETE_DEADLINE = 5.0
# What web.exposition.targets_text writes when not asked for OpenMetrics.
TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

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


def _path_part(name: str, value: str) -> str:
    """One ``/name/value`` of a group's URL, as the Pushgateway's API spells it:
    base64 for a value that is empty or holds a slash."""
    if value == "":
        return f"/{name}@base64/="
    if "/" in value:
        return f"/{name}@base64/{base64.urlsafe_b64encode(value.encode()).decode()}"
    return f"/{name}/{quote_plus(value)}"


def group_url(gateway: str, job: str, instance: str) -> str:
    """The URL of the ``job``/``instance`` group on ``gateway`` (``http://`` if no scheme)."""
    if urlparse(gateway).scheme not in ("http", "https"):
        gateway = f"http://{gateway}"
    return (
        gateway.rstrip("/") + "/metrics" + _path_part("job", job) + _path_part("instance", instance)
    )


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

    def _send(self, target: str, method: str, body: bytes, timeout: float = PUSH_TIMEOUT) -> None:
        headers = [("Content-Type", TEXT_CONTENT_TYPE)]
        url = group_url(self.url, self.job, target)
        self._handler()(url, method, timeout, headers, body)()

    async def push(self, target: str, body: bytes) -> None:
        """Replace the target's group with ``body`` (text format); failures are
        logged, never raised."""
        try:
            await asyncio.to_thread(self._send, target, "PUT", body)
        except Exception as exc:
            log.warning("push to %s failed: %s", self.url, _describe(exc), extra={"target": target})
            return
        self._pushed.add(target)

    async def delete_all(self, deadline: float = DELETE_DEADLINE) -> None:
        """Delete every group pushed, all at once, within ``deadline`` s in all.

        One after another, a hung Pushgateway cost ``PUSH_TIMEOUT`` per group
        and systemd's stop timeout ended the process with SIGKILL. Each DELETE
        runs in a daemon thread: one still waiting at the deadline is given up
        (one line per group left behind) and cannot hold the process's exit.
        """
        targets = sorted(self._pushed)
        self._pushed.clear()
        if not targets:
            return
        loop = asyncio.get_running_loop()
        # The socket gives up a little after the deadline: a hung group is then
        # always reported as not done in time, and its thread ends soon after.
        timeout = min(PUSH_TIMEOUT, deadline + 1.0)
        waits = {target: loop.create_future() for target in targets}
        for target, done in waits.items():
            thread = threading.Thread(
                target=self._delete_in_thread,
                args=(target, timeout, loop, done),
                name=f"push-delete-{target}",
                daemon=True,
            )
            thread.start()
        await asyncio.wait(waits.values(), timeout=deadline)
        for target, done in waits.items():
            if not done.done():
                done.cancel()
                log.warning(
                    "delete from %s not done within %g s: the group stays on the Pushgateway",
                    self.url,
                    deadline,
                    extra={"target": target},
                )
            elif done.result() is not None:
                log.warning(
                    "delete from %s failed: %s",
                    self.url,
                    _describe(done.result()),
                    extra={"target": target},
                )

    def _delete_in_thread(
        self,
        target: str,
        timeout: float,
        loop: asyncio.AbstractEventLoop,
        done: asyncio.Future[Exception | None],
    ) -> None:
        outcome: Exception | None = None
        try:
            self._send(target, "DELETE", b"", timeout)
        except Exception as exc:
            outcome = exc

        def settle() -> None:
            if not done.done():
                done.set_result(outcome)

        # The loop may be closed already (the deadline passed, the process ends).
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle)


def _describe(exc: Any) -> str:
    # urllib's errors can carry the URL; ours never contains credentials
    # (they travel in a header), so the message is safe to log.
    return f"{type(exc).__name__}: {exc}"
