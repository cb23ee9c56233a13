"""Client for the new-firmware "varserver" API (``/auth`` + ``/vars``).

The read is split into groups of variables (``GROUPS``: supervisor info,
flash wear, each device family, site live data, network interfaces). Each
group has its own ``cache=`` set on the PVS and its own request timeout, so
a group that hangs or fails (some builds never answer
``/sys/pvs/flashwear_type_b``) costs only its own metrics; the poll fails
only when the supervisor info itself cannot be read.

Costs to the PVS, per poll (docs/protocol-varserver.md has the table):

* steady state: one ``GET /vars?fmt=obj&cache=<id>`` per group present on
  the site (a family the site does not have is looked for again only every
  ``cache_refresh_seconds``);
* first poll, every ``cache_refresh_seconds`` and after a reboot: the same
  number of requests, but each builds its set afresh with
  ``match=<prefix>&fmt=obj&clearcache=<id>`` (the supervisor's with
  ``name=<the variables used>``: never ``match=/sys/info/``, which holds the
  hotspot's Wi-Fi key), plus ``GET /auth?login`` when
  there is no session (and, without a configured password, one
  unauthenticated read of the serial number for the default password);
* while the device population is changing (inverters returning one by one
  after the nightly reboot), the family's set is rebuilt on every poll, so a
  returning device is back within one poll, at no extra request.

Requests are built raw by ``varserver_query`` (the PVS never URL-decodes).
Sessions belong to the client's IP address and end 300 s after login; a
login 240 s after the last renews the same session (one request every 4
minutes). One that ended anyway is noticed (401/403, 500, or an empty
``200`` on some builds) and renewed once within the request. There is
deliberately no ``/auth?logout``: it would end the session of every other
program on this host too.

Why not pypvs for this: pypvs 0.2.9 cannot send ``fmt``/``cache`` with a
query (it joins POST parameters without ``&``), reads the supervisor one
variable per request (13+ requests per update), treats HTTP 400 ("no such
variable") as a failed login, clears the shared cookie jar and has no
timeout.

Secrets: the password and the session token are never logged, put in an
exception message or kept anywhere but this object and the cookie jar. The
PVS's own (its Wi-Fi key) are never asked for, and a variable whose name
says it is one is dropped from every answer (``pvs/privacy.py``).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from yarl import URL

from sunpower_pvs_exporter.pvs.errors import (
    PvsAuthError,
    PvsError,
    PvsHttpStatusError,
    PvsPayloadError,
    PvsTimeoutError,
)
from sunpower_pvs_exporter.pvs.model import ReadGroupStatus, Snapshot
from sunpower_pvs_exporter.pvs.off_loop import LARGE_BODY_BYTES, run_by_size
from sunpower_pvs_exporter.pvs.privacy import SUPERVISOR_VARIABLES, without_secrets
from sunpower_pvs_exporter.pvs.request_counts import RequestKind
from sunpower_pvs_exporter.pvs.transport import ABANDONED_GRACE, HttpTransport, decode_json
from sunpower_pvs_exporter.pvs.uptime import RebootWatch
from sunpower_pvs_exporter.pvs.values import to_text
from sunpower_pvs_exporter.pvs.varserver_parse import (
    NOTHING_MATCHED,
    answer_variables,
    fcgi_error_code,
    parse_variables,
)
from sunpower_pvs_exporter.pvs.varserver_query import Params, vars_target

USER = "ssm_owner"
SESSION_COOKIE = "session"
AUTH_PATH = "/auth"
SUPERVISOR_INFO_PATH = "/cgi-bin/dl_cgi/supervisor/info"
SERIAL_VARIABLE = "/sys/info/serialnum"
CACHE_REFRESH_SECONDS = 1800.0
# PVS sessions last 300 s from login; renew a little before.
SESSION_RENEW_SECONDS = 240.0
TELEMETRY_ENABLE = "/sys/telemetryws/enable=1"
# A device missing from its family is looked for on every poll for this long
# (inverters are absent from a nightly reboot until dawn), then forgotten.
FOLLOW_MISSING_SECONDS = 86400.0
# A failing group is skipped for 1, 2, 4 … up to this many polls.
MAX_SKIPPED_POLLS = 16


@dataclass(frozen=True)
class VarGroup:
    """Variables read together, under one ``cache=`` set.

    Chosen by ``match`` (every variable whose name contains it) or by
    ``names``. ``required``: the poll fails without it (the supervisor's
    serial and uptime). ``family``: a device family, whose population is
    watched.
    """

    name: str
    match: str = ""
    names: tuple[str, ...] = ()
    required: bool = False
    family: str = ""

    def selector(self) -> tuple[str, str]:
        """The ``name=``/``match=`` parameter that builds the group's set."""
        return ("name", ",".join(self.names)) if self.names else ("match", self.match)


GROUPS: tuple[VarGroup, ...] = (
    # By name: ``match=/sys/info/`` would return the hotspot's Wi-Fi key
    # (``/sys/info/wpa_key``), its SSID and the finance type too (pvs/privacy.py).
    VarGroup("info", names=SUPERVISOR_VARIABLES, required=True),
    VarGroup("flashwear", "/sys/pvs/"),
    VarGroup("meter", "/sys/devices/meter/", family="meter"),
    VarGroup("inverter", "/sys/devices/inverter/", family="inverter"),
    VarGroup("ess", "/sys/devices/ess/", family="ess"),
    VarGroup("transfer_switch", "/sys/devices/transfer_switch/", family="transfer_switch"),
    VarGroup("livedata", "/sys/livedata/"),
    VarGroup("net", "/net/"),
)


@dataclass
class _GroupState:
    """What the client knows about one group's set on the PVS."""

    cache_id: str
    built: bool = False  # the PVS holds our set (as far as we know)
    absent: bool = False  # the last build found no variables
    rebuild: bool = False  # build the set afresh on the next poll
    ok: bool = False
    failures: int = 0
    consecutive_failures: int = 0
    skip_polls: int = 0
    observed: bool = False
    serials: frozenset[str] = frozenset()
    known: frozenset[str] = frozenset()
    missing_since: float | None = None
    lacking: tuple[str, ...] = ()  # names of a ``name=`` group this PVS does not have


PasswordSource = Literal["configured", "default"]

log = logging.getLogger(__name__)


def default_password(serial: str) -> str:
    """The factory password: the last five characters of the PVS serial, upper-cased."""
    return serial.strip()[-5:].upper()


def _basic_auth(password: str) -> str:
    token = base64.b64encode(f"{USER}:{password}".encode()).decode()
    return f"basic {token}"


class VarserverClient:
    """Reads one PVS through varserver; keeps its session and ``cache=`` sets."""

    backend = "varserver"

    def __init__(
        self,
        transport: HttpTransport,
        password: str | Callable[[], str] | None = None,
        target_name: str = "",
        serial: str | None = None,
        cache_refresh_seconds: float = CACHE_REFRESH_SECONDS,
        request_timeout: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.transport = transport
        self.target_name = target_name
        # Every line it logs names the target (a field of its own in logfmt and JSON).
        self.log = logging.LoggerAdapter(log, {"target": target_name})
        self.cache_refresh_seconds = cache_refresh_seconds
        # Per request, well under the poll's own timeout (the transport's):
        # one stuck group must leave time for the others.
        self.request_timeout = request_timeout or max(1.0, transport.timeout / 4)
        self.clock = clock
        self._password = password or None
        self._password_source: PasswordSource = "configured" if password else "default"
        self._serial = serial
        self._logged_in = False
        self._logged_in_at = 0.0
        # Stable ids: the PVS keeps every set it was ever asked for until it
        # reboots, so a restarted exporter reuses its sets instead of adding.
        self._groups = {group.name: _GroupState(cache_id="spx_" + group.name) for group in GROUPS}
        self._refreshed_at: float | None = None
        self._sets_lost = False
        self._reboots = RebootWatch()
        self._default_rejected_logged = False
        # Counters for the status page and tests.
        self.logins = 0
        # Logins the PVS accepted (``logins`` counts attempts, answered or not).
        self.login_successes = 0
        self.auth_failures = 0
        self.relogins_after_empty_answer = 0

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
                vars_target([("name", SERIAL_VARIABLE), ("fmt", "obj")]),
                "serial number",
                kind="vars_match",
            )
            serial = to_text(doc.get(SERIAL_VARIABLE)) if isinstance(doc, dict) else ""
        except PvsError:
            serial = ""
        if not serial:
            doc = await self.transport.get_json(
                SUPERVISOR_INFO_PATH, "supervisor/info", kind="supervisor_info"
            )
            sup = doc.get("supervisor") if isinstance(doc, dict) else None
            serial = to_text(sup.get("SERIAL")) if isinstance(sup, dict) else ""
        if not serial:
            raise PvsPayloadError(
                "cannot read the PVS serial number needed for the default password; "
                "set a password (password_file, --pvs-password-file or SUNPOWER_PVS_PASSWORD)"
            )
        return serial

    async def _password_to_use(self) -> str:
        if callable(self._password):
            # Read at each login (a password file): a rotated file is used
            # from the next login on; one that vanished is an auth failure.
            try:
                return self._password()
            except ValueError as exc:
                raise PvsAuthError(str(exc)) from exc
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
                kind="login",
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
        self.login_successes += 1
        self._logged_in_at = self.clock()
        self.log.info(
            "logged in to varserver as %s (%s password)",
            USER,
            self._password_source,
        )

    def _login_rejected(self) -> PvsAuthError:
        if self._password_source == "default":
            if not self._default_rejected_logged:
                self._default_rejected_logged = True
                self.log.error(
                    "varserver login as %s with the DEFAULT password (last 5 "
                    "characters of the PVS serial) was rejected; set the password with "
                    "password_file/password_env in the config, --pvs-password-file or "
                    "SUNPOWER_PVS_PASSWORD",
                    USER,
                )
            return PvsAuthError(
                "varserver login rejected: the default password (last 5 characters of "
                "the serial) is wrong; configure the PVS password"
            )
        return PvsAuthError("varserver login rejected: the configured password is wrong")

    # --- /vars ---------------------------------------------------------------------

    async def _request(
        self, params: Params, what: str, limit: float | None, kind: RequestKind
    ) -> bytes:
        # Past ``limit`` the request is abandoned, not cancelled: the PVS
        # finishes it anyway, and the next request waits for that.
        return await self.transport.request_bytes(
            "GET", vars_target(params), what, kind=kind, limit=limit
        )

    async def _vars(
        self,
        params: Params,
        what: str,
        limit: float | None = None,
        *,
        kind: RequestKind,
        needs_serial: bool = False,
    ) -> Any:
        """One ``/vars`` request, logging in first or once more when the session is gone.

        401/403 mean no valid session; some builds answer 500, others ``200``
        with an empty body, so those get one re-login too, as does a
        supervisor read (``needs_serial``) that lacks the serial number. A
        second rejection right after login is an auth failure.
        """
        for attempt in (1, 2):
            if not self._logged_in or self.clock() - self._logged_in_at >= SESSION_RENEW_SECONDS:
                # Sessions end 300 s after login whatever the use; logging in
                # again from the same address renews the same session, so do
                # it before it ends: no refused request, and the telemetry
                # stream, which stops with the session, keeps going.
                await self.login()
            try:
                body = await self._request(params, what, limit, kind)
            except PvsAuthError:
                if attempt == 2:
                    self.auth_failures += 1
                    raise PvsAuthError(f"{what}: session rejected right after login") from None
            except PvsHttpStatusError as exc:
                if exc.status != 500 or attempt == 2:
                    raise
            else:
                if not body.strip():
                    if attempt == 2:
                        raise PvsPayloadError(f"{what}: empty answer right after login")
                    self.relogins_after_empty_answer += 1
                else:
                    doc = await run_by_size(len(body), LARGE_BODY_BYTES, decode_json, body, what)
                    if not needs_serial or attempt == 2 or _has_serial(doc):
                        return doc
                    self.relogins_after_empty_answer += 1
            self.log.info("varserver session expired; logging in again")
            self._logged_in = False
        raise AssertionError("unreachable")

    async def _read_group(
        self, group: VarGroup, state: _GroupState, *, rebuild: bool, limit: float
    ) -> dict[str, Any]:
        what = f"/vars {group.name}"
        if state.built and not rebuild:
            doc: Any = None
            try:
                doc = await self._vars(
                    [("fmt", "obj"), ("cache", state.cache_id)],
                    f"cached {what}",
                    limit,
                    kind="vars_cached",
                )
            except PvsHttpStatusError as exc:
                if exc.status != 400:
                    raise
            if isinstance(doc, dict) and doc and (not group.required or _has_serial(doc)):
                return without_secrets(answer_variables(doc))
            # Forgotten (the PVS restarted its handler or rebooted): an empty
            # answer on older builds, 400 on newer ones. Build it again, and
            # the other sets too: they went the same way.
            self.log.info(
                "varserver cache for %s gone; re-creating the sets",
                group.name,
            )
            self._sets_lost = True
        try:
            doc = await self._vars(
                [group.selector(), ("fmt", "obj"), ("clearcache", state.cache_id)],
                what,
                limit,
                kind="vars_match",
                needs_serial=group.required,
            )
        except PvsHttpStatusError as exc:
            if exc.status != 400:
                raise
            if group.names:
                doc = await self._names_found(group, state, exc, limit)
            elif group.required:
                raise
            else:
                doc = self._nothing_matched(what, exc)
        if not isinstance(doc, dict):
            raise PvsPayloadError(f"{what}: expected a JSON object, got {type(doc).__name__}")
        found = answer_variables(doc)
        state.built = bool(found)
        state.absent = not found
        if state.built:
            # Read with vars_cached from the next poll on: its series from now.
            self.transport.requests.expect("vars_cached")
        return without_secrets(found)

    def _nothing_matched(self, what: str, refused: PvsHttpStatusError) -> dict[str, Any]:
        """``{}`` for a 400 that says the query matched nothing (fcgi_vars'
        errorcode 0x0040, or no errorcode); a query error (any other errorcode)
        is raised: the group failed, it is not absent from the site."""
        code = fcgi_error_code(refused.body)
        if code not in (None, NOTHING_MATCHED):
            raise PvsHttpStatusError(
                f"{what}: HTTP 400, fcgi_vars errorcode {code} (a query error, not "
                f'"nothing matched" {NOTHING_MATCHED})',
                refused.status,
                refused.body,
            ) from None
        self.log.debug(
            "%s: HTTP 400, errorcode %s: nothing matched",
            what,
            code or "(none)",
        )
        return {}  # nothing matches (newer builds answer 400 for that)

    async def _names_found(
        self, group: VarGroup, state: _GroupState, refused: PvsHttpStatusError, limit: float
    ) -> Any:
        """The variables of a ``name=`` read that this PVS has.

        fcgi_vars answers 400 when one of the names does not exist on the
        unit, but still puts every name it found into the ``cache=`` set: one
        more request reads those.
        """
        doc = await self._vars(
            [("fmt", "obj"), ("cache", state.cache_id)],
            f"/vars {group.name} (found)",
            limit,
            kind="vars_cached",
        )
        if not isinstance(doc, dict) or not doc or (group.required and not _has_serial(doc)):
            raise refused
        lacking = tuple(name for name in group.names if name not in doc)
        if lacking != state.lacking:  # said once, not at every rebuild of the set
            state.lacking = lacking
            self.log.info(
                "varserver: this PVS lacks %s; reading the rest of %s",
                ", ".join(lacking),
                group.name,
            )
        return doc

    def _skip(self, state: _GroupState, *, refresh: bool) -> bool:
        """Leave a group out of this poll: failing lately, or a family the site lacks."""
        if state.skip_polls > 0:
            state.skip_polls -= 1
            return True
        return state.absent and not state.rebuild and not refresh

    def _poll_order(self) -> list[VarGroup]:
        """The required group first, groups failing lately last (else as ``GROUPS``).

        A group that timed out keeps the PVS busy until it answers; read last,
        a second timeout delays no other group's data.
        """
        return sorted(
            GROUPS,
            key=lambda g: (not g.required, self._groups[g.name].consecutive_failures > 0),
        )

    async def _read_variables(self) -> dict[str, Any]:
        started = self.clock()
        refresh = self._refreshed_at is None or (
            started - self._refreshed_at >= self.cache_refresh_seconds
        )
        # Leave the poll's own timeout a margin: a late group is dropped, not the poll.
        deadline = started + 0.9 * self.transport.timeout
        merged: dict[str, Any] = {}
        self._sets_lost = False
        deferred: list[str] = []
        for group in self._poll_order():
            state = self._groups[group.name]
            if not group.required and self._skip(state, refresh=refresh):
                continue
            rebuild = refresh or state.rebuild or self._sets_lost
            # One request on the PVS at a time: a group given up on is still
            # being answered, so wait for it (within this poll) before the next.
            if deferred or not await self._pvs_free(deadline):
                if group.required:
                    raise PvsTimeoutError(
                        "the PVS is still answering an earlier request; no time left in this poll"
                    )
                self._defer(state, rebuild=rebuild)
                deferred.append(group.name)
                continue
            try:
                left = deadline - self.clock()
                doc = await self._read_group(
                    group, state, rebuild=rebuild, limit=min(self.request_timeout, left)
                )
            except PvsAuthError:
                raise
            except PvsError as exc:
                if group.required:
                    raise
                self._group_failed(group, state, exc)
                continue
            state.ok = True
            state.consecutive_failures = 0
            state.rebuild = False
            merged.update(doc)
        if deferred:
            self.log.info(
                "varserver groups %s left to the next poll: no time left in this "
                "one after the PVS answered the last request",
                ", ".join(deferred),
            )
        if refresh:
            self._refreshed_at = started
        return merged

    async def _pvs_free(self, deadline: float) -> bool:
        """Whether the PVS is free for the next request with time left before ``deadline``."""
        line = self.transport.line
        if line.busy and not await line.wait_idle(deadline - self.clock()):
            return False
        return deadline - self.clock() > 0

    @staticmethod
    def _defer(state: _GroupState, *, rebuild: bool) -> None:
        """Not read this poll, through no fault of its own: no failure, no backoff;
        a set due to be built is built when it is read."""
        state.ok = False
        state.rebuild = rebuild

    def _group_failed(self, group: VarGroup, state: _GroupState, exc: PvsError) -> None:
        state.ok = False
        state.failures += 1
        state.consecutive_failures += 1
        state.skip_polls = min(MAX_SKIPPED_POLLS, 2 ** (state.consecutive_failures - 1)) - 1
        state.rebuild = True
        self.log.warning(
            "varserver group %s failed (%s): %s; its metrics are missing this poll%s",
            group.name,
            exc.reason,
            exc.message,
            f", skipping it for {state.skip_polls} poll{'' if state.skip_polls == 1 else 's'}"
            if state.skip_polls
            else "",
        )

    def _watch_population(self, snapshot: Snapshot) -> None:
        """Rebuild a family's set while its devices come and go.

        A set built while inverters were offline (after the nightly reboot)
        lacks them; the next cached reads would never show them. So a family
        whose population changed, or that misses a device it had, is read
        with a fresh ``match`` on the next poll, until it is complete again
        (or for ``FOLLOW_MISSING_SECONDS``, after which the missing are let go).
        """
        now = self.clock()
        if self._reboots.saw(snapshot):
            self.log.info(
                "PVS rebooted; rebuilding its variable sets as devices return",
            )
            if not self._sets_lost:  # else this poll already built them afresh
                for state in self._groups.values():
                    state.rebuild = True
        by_family: dict[str, set[str]] = {}
        for items, family in (
            (snapshot.meters, "meter"),
            (snapshot.inverters, "inverter"),
            (snapshot.storage, "ess"),
            (snapshot.transfer_switches, "transfer_switch"),
        ):
            by_family[family] = {item.device.serial for item in items}
        for group in GROUPS:
            state = self._groups[group.name]
            if not group.family or not state.ok:
                continue
            seen = frozenset(by_family.get(group.family, ()))
            if state.missing_since is not None and now - state.missing_since > (
                FOLLOW_MISSING_SECONDS
            ):
                self.log.info(
                    "%d %s device(s) missing for a day; no longer looked for",
                    len(state.known - seen),
                    group.family,
                )
                state.known = seen
            missing = state.known - seen
            if state.observed and (seen != state.serials or missing):
                state.rebuild = True
            state.observed = True
            state.missing_since = (state.missing_since or now) if missing else None
            state.serials = seen
            state.known = state.known | seen

    def _group_statuses(self) -> tuple[ReadGroupStatus, ...]:
        return tuple(
            ReadGroupStatus(group.name, state.ok, state.failures)
            for group in GROUPS
            for state in (self._groups[group.name],)
        )

    async def read(self) -> Snapshot:
        # A group the last poll gave up on may still be on the PVS; this poll's
        # budget starts once it is answered (or its connection closed).
        await self.transport.line.wait_idle(self.transport.timeout * (1 + ABANDONED_GRACE))
        raw = await self._read_variables()
        snapshot = await asyncio.to_thread(parse_variables, raw, time.time())
        for warning in snapshot.warnings:
            self.log.warning("varserver: %s", warning)
        self._watch_population(snapshot)
        return dataclasses.replace(snapshot, read_groups=self._group_statuses())

    async def enable_telemetry(self) -> None:
        """Ask the PVS to serve its telemetry WebSocket (``pvs/telemetry.py``)."""
        # After a poll that gave up on a group, the PVS may still be answering
        # it: wait for that (bounded by its hard limit) before this one's timer.
        await self.transport.line.wait_idle(self.transport.timeout * (1 + ABANDONED_GRACE))
        await self._vars(
            [("set", TELEMETRY_ENABLE)],
            "telemetry enable",
            self.request_timeout,
            kind="telemetry_enable",
        )

    async def close(self) -> None:
        """Close the connection. No ``/auth?logout``: the PVS keys sessions by
        client IP, so it would also log out every other program on this host;
        the session expires by itself."""
        self._logged_in = False
        await self.transport.close()


def _has_serial(doc: object) -> bool:
    return isinstance(doc, dict) and bool(to_text(doc.get(SERIAL_VARIABLE)))
