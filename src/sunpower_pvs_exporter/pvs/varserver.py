"""Client for the new-firmware "varserver" API (``/auth`` + ``/vars``).

Costs to the PVS, per poll:

* steady state: **one** request, ``GET /vars?fmt=obj&cache=<id>``, which
  re-reads a variable set the PVS stored when the set was first queried;
* first poll (and after a reboot, an expired cache or every
  ``cache_refresh_seconds``): ``GET /auth?login`` when there is no session,
  then ``GET /vars?match=/sys/&fmt=obj&cache=<id>``, which reads everything
  once and stores the set; without a configured password one more request
  before login reads the (unauthenticated) serial number for the default
  password.

Why not pypvs for this: pypvs 0.2.9 cannot send ``fmt``/``cache`` with a
query (it joins POST parameters without ``&``), reads the supervisor one
variable per request (13+ requests per update), treats HTTP 400 ("no such
variable") as a failed login, clears the shared cookie jar and has no
timeout. Our ``HttpTransport`` already gives bounded bodies, timeouts and
typed errors; the protocol is three small requests.

Secrets: the password and the session token are never logged, put in an
exception message or kept anywhere but this object and the cookie jar.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import secrets
import time
from collections.abc import Mapping
from typing import Any, Literal

from yarl import URL

from sunpower_pvs_exporter.pvs.errors import (
    PvsAuthError,
    PvsError,
    PvsHttpStatusError,
    PvsPayloadError,
)
from sunpower_pvs_exporter.pvs.model import Snapshot
from sunpower_pvs_exporter.pvs.transport import HttpTransport, decode_json
from sunpower_pvs_exporter.pvs.values import to_text
from sunpower_pvs_exporter.pvs.varserver_parse import parse_variables

USER = "ssm_owner"
SESSION_COOKIE = "session"
VARS_PATH = "/vars"
AUTH_PATH = "/auth"
SUPERVISOR_INFO_PATH = "/cgi-bin/dl_cgi/supervisor/info"
# Everything the exporter maps lives under /sys/ (info, pvs, devices, livedata).
MATCH_ALL = "/sys/"
CACHE_REFRESH_SECONDS = 1800.0
TELEMETRY_ENABLE = "/sys/telemetryws/enable=1"

PasswordSource = Literal["configured", "default"]

log = logging.getLogger(__name__)


def default_password(serial: str) -> str:
    """The factory password: the last five characters of the PVS serial, upper-cased."""
    return serial.strip()[-5:].upper()


def _basic_auth(password: str) -> str:
    token = base64.b64encode(f"{USER}:{password}".encode()).decode()
    return f"basic {token}"


class VarserverClient:
    """Reads one PVS through varserver; keeps its session and ``cache=`` set."""

    backend = "varserver"

    def __init__(
        self,
        transport: HttpTransport,
        password: str | None = None,
        target_name: str = "",
        serial: str | None = None,
        cache_refresh_seconds: float = CACHE_REFRESH_SECONDS,
    ) -> None:
        self.transport = transport
        self.target_name = target_name
        self.cache_refresh_seconds = cache_refresh_seconds
        self._password = password or None
        self._password_source: PasswordSource = "configured" if password else "default"
        self._serial = serial
        self._logged_in = False
        self._cache_id = "spx" + secrets.token_hex(4)
        self._cache_created_at: float | None = None
        self._last_uptime: float | None = None
        self._default_rejected_logged = False
        # Counters for the status page and tests.
        self.logins = 0
        self.auth_failures = 0

    @property
    def password_source(self) -> PasswordSource:
        return self._password_source

    def learn_serial(self, serial: str) -> None:
        """Detection already read the serial: spare the request for it."""
        if serial and not self._serial:
            self._serial = serial

    # --- login -------------------------------------------------------------------

    async def _fetch_serial(self) -> str:
        """The serial, readable without a session: ``/sys/info/serialnum``, else
        ``dl_cgi/supervisor/info``."""
        try:
            doc = await self.transport.get_json(
                VARS_PATH,
                "serial number",
                params={"name": "/sys/info/serialnum", "fmt": "obj"},
            )
            serial = to_text(doc.get("/sys/info/serialnum")) if isinstance(doc, dict) else ""
        except PvsError:
            serial = ""
        if not serial:
            doc = await self.transport.get_json(SUPERVISOR_INFO_PATH, "supervisor/info")
            sup = doc.get("supervisor") if isinstance(doc, dict) else None
            serial = to_text(sup.get("SERIAL")) if isinstance(sup, dict) else ""
        if not serial:
            raise PvsPayloadError(
                "cannot read the PVS serial number needed for the default password; "
                "set a password (password_file, --pvs-password-file or SUNPOWER_PVS_PASSWORD)"
            )
        return serial

    async def _password_to_use(self) -> str:
        if self._password is not None:
            return self._password
        if not self._serial:
            self._serial = await self._fetch_serial()
        return default_password(self._serial)

    async def login(self) -> None:
        password = await self._password_to_use()
        self.logins += 1
        try:
            body = await self.transport.request_bytes(
                "GET",
                AUTH_PATH + "?login",
                "login",
                headers={"Authorization": _basic_auth(password)},
            )
        except PvsAuthError:
            self.auth_failures += 1
            self._logged_in = False
            raise self._login_rejected() from None
        token = ""
        try:
            doc = decode_json(body, "login")
            token = to_text(doc.get("session")) if isinstance(doc, dict) else ""
        except PvsPayloadError:
            pass
        if token:
            # The same token the Set-Cookie carries; set it explicitly so a
            # missing or unstorable Set-Cookie cannot leave the jar stale.
            self.transport.session.cookie_jar.update_cookies(
                {SESSION_COOKIE: token}, URL(self.transport.endpoint.base_url)
            )
        self._logged_in = True
        log.info(
            "target=%s logged in to varserver as %s (%s password)",
            self.target_name,
            USER,
            self._password_source,
        )

    def _login_rejected(self) -> PvsAuthError:
        if self._password_source == "default":
            if not self._default_rejected_logged:
                self._default_rejected_logged = True
                log.error(
                    "target=%s varserver login as %s with the DEFAULT password (last 5 "
                    "characters of the PVS serial) was rejected; set the password with "
                    "password_file/password_env in the config, --pvs-password-file or "
                    "SUNPOWER_PVS_PASSWORD",
                    self.target_name,
                    USER,
                )
            return PvsAuthError(
                "varserver login rejected: the default password (last 5 characters of "
                "the serial) is wrong; configure the PVS password"
            )
        return PvsAuthError("varserver login rejected: the configured password is wrong")

    # --- /vars ---------------------------------------------------------------------

    async def _vars(self, params: Mapping[str, str], what: str) -> Any:
        """One ``/vars`` request, logging in first or once more when the session is gone.

        401/403 mean no valid session; some builds answer 500 instead, so a
        500 gets one re-login too. A second rejection is an auth failure.
        """
        for attempt in (1, 2):
            if not self._logged_in:
                await self.login()
            try:
                return await self.transport.get_json(VARS_PATH, what, params=params)
            except PvsAuthError:
                if attempt == 2:
                    self.auth_failures += 1
                    raise PvsAuthError(f"{what}: session rejected right after login") from None
            except PvsHttpStatusError as exc:
                if exc.status != 500 or attempt == 2:
                    raise
            log.info("target=%s varserver session expired; logging in again", self.target_name)
            self._logged_in = False
        raise AssertionError("unreachable")

    def _cache_due(self, now: float) -> bool:
        return self._cache_created_at is None or (
            now - self._cache_created_at >= self.cache_refresh_seconds
        )

    async def _read_variables(self) -> dict[str, Any]:
        now = time.monotonic()
        if not self._cache_due(now):
            try:
                doc = await self._vars({"fmt": "obj", "cache": self._cache_id}, "cached /vars")
            except PvsHttpStatusError as exc:
                if exc.status != 400:
                    raise
                # The PVS forgot the set (it rebooted): query it again below.
                log.info("target=%s varserver cache gone; re-creating it", self.target_name)
            else:
                if isinstance(doc, dict) and doc:
                    return doc
        doc = await self._vars(
            {"match": MATCH_ALL, "fmt": "obj", "cache": self._cache_id}, "/vars match"
        )
        if not isinstance(doc, dict):
            raise PvsPayloadError(f"/vars: expected a JSON object, got {type(doc).__name__}")
        self._cache_created_at = now
        return doc

    async def read(self) -> Snapshot:
        raw = await self._read_variables()
        snapshot = await asyncio.to_thread(parse_variables, raw, time.time())
        for warning in snapshot.warnings:
            log.warning("target=%s varserver: %s", self.target_name, warning)
        uptime = snapshot.supervisor.uptime_seconds if snapshot.supervisor else None
        if uptime is not None:
            if self._last_uptime is not None and uptime < self._last_uptime:
                # Rebooted: devices may have come back in a different order or
                # not at all yet; build the variable set afresh next time.
                self._cache_created_at = None
            self._last_uptime = uptime
        return snapshot

    async def enable_telemetry(self) -> None:
        """Ask the PVS to serve its telemetry WebSocket (``pvs/telemetry.py``)."""
        await self._vars({"set": TELEMETRY_ENABLE}, "telemetry enable")

    async def close(self) -> None:
        if self._logged_in:
            with contextlib.suppress(PvsError, TimeoutError):
                await asyncio.wait_for(
                    self.transport.request_bytes("GET", AUTH_PATH + "?logout", "logout"),
                    timeout=2.0,
                )
            self._logged_in = False
        await self.transport.close()
