"""Client for the legacy ``dl_cgi`` API (PVS firmware before the varserver API).

Per poll it sends one ``DeviceList``. ``Get_Comm`` and ``GridProfileGet``
describe things that change rarely (network links, grid profile), so they are
refreshed only every ``aux_refresh_seconds`` and their last answer is reused in
between: the PVS sees one request per poll most of the time, where the
original exporter sent five per scrape.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from datetime import tzinfo

from sunpower_pvs_exporter.pvs.errors import PvsAuthError, PvsError
from sunpower_pvs_exporter.pvs.legacy_ess import ESS_DEVICE_TYPES, parse_ess_status
from sunpower_pvs_exporter.pvs.legacy_parse import (
    parse_comm,
    parse_device_list,
    parse_grid_profile,
)
from sunpower_pvs_exporter.pvs.model import (
    CommInterface,
    EnergyStorage,
    GridProfile,
    Snapshot,
    TransferSwitch,
)
from sunpower_pvs_exporter.pvs.off_loop import LARGE_BODY_BYTES, run_by_size
from sunpower_pvs_exporter.pvs.request_counts import RequestKind
from sunpower_pvs_exporter.pvs.transport import HttpTransport, decode_json

DL_CGI = "/cgi-bin/dl_cgi"
ESS_STATUS_PATH = "/cgi-bin/dl_cgi/energy-storage-system/status"
AUX_REFRESH_SECONDS = 600.0
# The SunVault report is read on its own, slower schedule, and only on sites
# whose DeviceList has SunVault devices (hass-sunpower: ESS every 60 s min).
ESS_REFRESH_SECONDS = 300.0

# How each dl_cgi command is counted (``sunpower_pvs_requests_total{kind}``).
COMMAND_KINDS: dict[str, RequestKind] = {
    "DeviceList": "device_list",
    "Get_Comm": "get_comm",
    "GridProfileGet": "grid_profile",
}

log = logging.getLogger(__name__)


def _parse_body(body: bytes, now: float, tz: tzinfo | None) -> Snapshot:
    return parse_device_list(decode_json(body, "DeviceList"), now, tz)


class LegacyClient:
    backend = "legacy"

    def __init__(
        self,
        transport: HttpTransport,
        tz: tzinfo | None = None,
        aux_refresh_seconds: float = AUX_REFRESH_SECONDS,
        target_name: str = "",
        ess_refresh_seconds: float = ESS_REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.transport = transport
        # Times the refreshes of Get_Comm, GridProfileGet and the SunVault report.
        self.clock = clock
        self.tz = tz
        self.aux_refresh_seconds = aux_refresh_seconds
        self.target_name = target_name
        # Every line it logs names the target (a field of its own in logfmt and JSON).
        self.log = logging.LoggerAdapter(log, {"target": target_name})
        self._interfaces: tuple[CommInterface, ...] = ()
        self._grid_profile: GridProfile | None = None
        self._aux_fetched_at: float | None = None
        self.ess_refresh_seconds = ess_refresh_seconds
        self._storage: tuple[EnergyStorage, ...] = ()
        self._switches: tuple[TransferSwitch, ...] = ()
        self._ess_fetched_at: float | None = None
        self._ess_warned: set[str] = set()

    async def command(self, name: str) -> object:
        return await self.transport.get_json(
            DL_CGI, name, params={"Command": name}, kind=COMMAND_KINDS[name]
        )

    async def read(self) -> Snapshot:
        try:
            return await self._read()
        finally:
            await self.transport.release_idle()

    async def _read(self) -> Snapshot:
        try:
            body = await self.transport.request_bytes(
                "GET", DL_CGI, "DeviceList", kind="device_list", params={"Command": "DeviceList"}
            )
        except PvsAuthError as exc:
            # New (2025+) firmware refuses DeviceList without a session; say
            # what to do, since "403" alone sends people hunting.
            raise PvsAuthError(
                f"{exc.message}; PVS firmware from 2025 on needs the varserver API "
                "(api: auto or varserver)"
            ) from exc
        # Decoded and parsed in one step: on the loop for a small site, else
        # in one thread hop (pvs/off_loop.py).
        snapshot = await run_by_size(
            len(body), LARGE_BODY_BYTES, _parse_body, body, time.time(), self.tz
        )
        for warning in snapshot.warnings:
            self.log.warning("DeviceList: %s", warning)
        await self._refresh_aux()
        await self._refresh_ess(snapshot)
        return dataclasses.replace(
            snapshot,
            interfaces=self._interfaces,
            grid_profile=self._grid_profile,
            storage=self._storage,
            transfer_switches=self._switches,
        )

    async def _refresh_ess(self, snapshot: Snapshot) -> None:
        """SunVault readings, best effort; nothing at all on sites without one."""
        if not any(d.device_type in ESS_DEVICE_TYPES for d in snapshot.devices):
            self._storage, self._switches = (), ()
            return
        now = self.clock()
        if self._ess_fetched_at is not None and now - self._ess_fetched_at < (
            self.ess_refresh_seconds
        ):
            return
        self._ess_fetched_at = now
        try:
            doc = await self.transport.get_json(
                ESS_STATUS_PATH, "energy-storage-system/status", kind="ess_status"
            )
            report = parse_ess_status(doc, snapshot.devices)
            self._storage, self._switches = report.storage, report.switches
            for warning in report.warnings:
                if warning not in self._ess_warned:
                    # Once per distinct problem: the report is read every few minutes.
                    self._ess_warned.add(warning)
                    self.log.warning("SunVault status: %s", warning)
        except PvsError as exc:
            # Old values would be served as current for another period: drop them.
            self._storage, self._switches = (), ()
            self.log.info("SunVault status unavailable: %s", exc.message)

    async def _refresh_aux(self) -> None:
        """Best effort: a failing Get_Comm/GridProfileGet does not fail the poll."""
        now = self.clock()
        if self._aux_fetched_at is not None and now - self._aux_fetched_at < (
            self.aux_refresh_seconds
        ):
            return
        self._aux_fetched_at = now
        try:
            self._interfaces = parse_comm(await self.command("Get_Comm"))
        except PvsError as exc:
            self.log.info("Get_Comm unavailable: %s", exc.message)
        try:
            self._grid_profile = parse_grid_profile(await self.command("GridProfileGet"))
        except PvsError as exc:
            self.log.info("GridProfileGet unavailable: %s", exc.message)

    async def close(self) -> None:
        await self.transport.close()
