"""``api: auto``: find out which API a PVS speaks, remember it, notice when it changes.

Detection costs one request in the usual case: the unauthenticated
``/cgi-bin/dl_cgi/supervisor/info`` names the firmware build, and the build
decides (PVS6 >= 61840 or PVS5 >= 5408: varserver; older: legacy). Only when
that endpoint is missing (old firmware) does detection fall back to reading
``DeviceList``, whose answer is the first poll's data when it works, so
nothing is wasted; a 403 there means new firmware.

The decision is kept until the backend in use fails in a way that means
"wrong API" (legacy ``DeviceList`` answering 401/403/404 after an OTA update;
varserver answering 404), or the PVS reboots (its uptime goes down):
firmware is pushed without notice. Then detection runs again inside the same
poll, and the poll is retried once with the new choice, so a firmware update
costs no data. One 403 does not flip the mode by itself: an old PVS that
answers 403 while wedged still reports its old build, stays on legacy and
the poll fails as it should.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Literal

from sunpower_pvs_exporter.pvs.errors import PvsAuthError, PvsError, PvsHttpStatusError
from sunpower_pvs_exporter.pvs.legacy import LegacyClient
from sunpower_pvs_exporter.pvs.model import Snapshot
from sunpower_pvs_exporter.pvs.uptime import RebootWatch
from sunpower_pvs_exporter.pvs.values import to_text
from sunpower_pvs_exporter.pvs.varserver import SUPERVISOR_INFO_PATH, VarserverClient

BackendName = Literal["legacy", "varserver"]
# First builds with the varserver LocalAPI (docs/protocol.md §D).
VARSERVER_MIN_BUILD = {"PVS6": 61840, "PVS5": 5408}
# Legacy polls refused in a row (build says legacy) before a varserver login is tried.
LEGACY_REFUSALS_BEFORE_VARSERVER = 3

log = logging.getLogger(__name__)

_BUILD_IN_SWVER = re.compile(r"build\s*(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class SupervisorInfo:
    serial: str
    model: str
    software_version: str
    build: int | None


def parse_build(build: object, software_version: str) -> int | None:
    """``BUILD``, else the number after "Build" in SWVER, else SWVER's last dotted part."""
    text = to_text(build).strip()
    if text.isdigit():
        return int(text)
    match = _BUILD_IN_SWVER.search(software_version)
    if match:
        return int(match.group(1))
    last = software_version.strip().rsplit(".", 1)[-1]
    return int(last) if last.isdigit() and "." in software_version else None


def parse_supervisor_info(doc: object) -> SupervisorInfo | None:
    sup = doc.get("supervisor") if isinstance(doc, dict) else None
    if not isinstance(sup, dict):
        return None
    software_version = to_text(sup.get("SWVER"))
    return SupervisorInfo(
        serial=to_text(sup.get("SERIAL")),
        model=to_text(sup.get("MODEL")),
        software_version=software_version,
        build=parse_build(sup.get("BUILD"), software_version),
    )


def backend_for(info: SupervisorInfo) -> tuple[BackendName, str]:
    """Which API a build speaks, and why (for the log)."""
    model = "PVS5" if "PVS5" in info.model.upper() else "PVS6"
    minimum = VARSERVER_MIN_BUILD[model]
    assert info.build is not None
    if info.build >= minimum:
        return "varserver", f"{model} build {info.build} >= {minimum}"
    return "legacy", f"{model} build {info.build} < {minimum}"


def means_wrong_api(backend: str, exc: PvsError) -> bool:
    """Does this failure say the PVS no longer speaks ``backend``?

    404: the endpoint does not exist. For legacy also 401/403: new firmware
    guards DeviceList (varserver's own 401/403 are handled by re-login).
    """
    if isinstance(exc, PvsHttpStatusError) and exc.status == 404:
        return True
    return backend == "legacy" and isinstance(exc, PvsAuthError)


class AutoReader:
    """A ``PvsReader`` that picks the legacy or varserver client per PVS."""

    def __init__(
        self, legacy: LegacyClient, varserver: VarserverClient, target_name: str = ""
    ) -> None:
        self.legacy = legacy
        self.varserver = varserver
        self.target_name = target_name
        # Every line it logs names the target (a field of its own in logfmt and JSON).
        self.log = logging.LoggerAdapter(log, {"target": target_name})
        self._current: LegacyClient | VarserverClient | None = None
        self._reboots = RebootWatch()
        self._redetect = False
        self.detections = 0
        # Why the current backend was chosen, for ``check``'s report.
        self.choice_reason = ""
        # Polls in a row whose DeviceList answered 401/403 while the build said legacy.
        self._legacy_refusals = 0
        # A build that says legacy but was seen speaking varserver on this PVS.
        self._varserver_build: int | None = None
        self._build: int | None = None

    @property
    def backend(self) -> str:
        return "" if self._current is None else self._current.backend

    def _choose(self, name: BackendName, why: str) -> None:
        previous = self.backend
        self._current = self.legacy if name == "legacy" else self.varserver
        self.choice_reason = why
        if previous and previous != name:
            self.log.warning(
                "PVS API changed from %s to %s (%s)",
                previous,
                name,
                why,
            )
        else:
            self.log.info("using the %s API (%s)", name, why)

    async def detect(self) -> Snapshot | None:
        """Decide the backend. Returns a snapshot when deciding already read one."""
        self.detections += 1
        self._redetect = False
        info: SupervisorInfo | None = None
        try:
            doc = await self.legacy.transport.get_json(
                SUPERVISOR_INFO_PATH, "supervisor/info", kind="supervisor_info"
            )
            info = parse_supervisor_info(doc)
        except PvsError as exc:
            self.log.debug("supervisor/info unavailable: %s", exc.message)
        if info is not None and info.serial:
            self.varserver.learn_serial(info.serial)
        if info is not None and info.build is not None:
            self._build = info.build
            name, why = backend_for(info)
            if name == "legacy" and info.build == self._varserver_build:
                name, why = "varserver", f"build {info.build} was seen speaking varserver here"
            self._choose(name, f"supervisor/info: {why}")
            return None
        # Old firmware without supervisor/info: DeviceList itself tells.
        try:
            snapshot = await self.legacy.read()
        except PvsError as exc:
            if means_wrong_api("legacy", exc):
                self._choose("varserver", f"no supervisor/info and DeviceList said: {exc.message}")
                return None
            raise
        self._choose("legacy", "no supervisor/info; DeviceList answers")
        return snapshot

    async def read(self) -> Snapshot:
        if self._current is None or self._redetect:
            snapshot = await self.detect()
            if snapshot is not None:
                return self._note(snapshot)
        assert self._current is not None
        current = self._current
        try:
            snapshot = await current.read()
        except PvsError as exc:
            if not means_wrong_api(current.backend, exc):
                raise
            self.log.info(
                "%s API failed (%s); checking which API the PVS speaks now",
                current.backend,
                exc.message,
            )
            snapshot = await self.detect()
            if snapshot is not None:
                return self._note(snapshot)
            if self._current is not current:
                return self._note(await self._current.read())
            if current is self.legacy and isinstance(exc, PvsAuthError):
                return self._note(await self._after_legacy_refusal(exc))
            raise
        if current is self.legacy:
            self._legacy_refusals = 0
        return self._note(snapshot)

    async def _after_legacy_refusal(self, refusal: PvsAuthError) -> Snapshot:
        """DeviceList refused (401/403) although the build says legacy.

        Build 61839 is on both sides in the field, and old units have been
        seen refusing DeviceList while wedged. After
        ``LEGACY_REFUSALS_BEFORE_VARSERVER`` such polls in a row, a varserver
        login decides: it works (switch, and remember that this build speaks
        varserver here) or it does not (stay on legacy, fail this poll).
        """
        self._legacy_refusals += 1
        if self._legacy_refusals < LEGACY_REFUSALS_BEFORE_VARSERVER:
            raise refusal
        self._legacy_refusals = 0
        try:
            snapshot = await self.varserver.read()
        except PvsError as exc:
            self.log.warning(
                "DeviceList refused %d polls in a row although build %s says legacy; "
                "a varserver login did not work either (%s); staying on legacy",
                LEGACY_REFUSALS_BEFORE_VARSERVER,
                self._build,
                exc.message,
            )
            raise refusal from None
        self._varserver_build = self._build
        self._choose(
            "varserver",
            f"DeviceList refused {LEGACY_REFUSALS_BEFORE_VARSERVER} polls in a row although "
            f"build {self._build} says legacy, and a varserver login works",
        )
        return snapshot

    def _note(self, snapshot: Snapshot) -> Snapshot:
        """Re-detect on the next poll after a reboot: OTA updates end in one."""
        if self._reboots.saw(snapshot):
            self.log.info("PVS rebooted; will re-detect its API")
            self._redetect = True
        return snapshot

    async def close(self) -> None:
        await self.legacy.close()
        await self.varserver.close()
