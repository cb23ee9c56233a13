"""The interface every PVS client offers, and all the poller knows of one.

Legacy (``dl_cgi``), varserver and the auto-detecting reader all satisfy it,
so the poller never learns which API a PVS speaks: ``runtime`` picks the
client from the config and hands it over.
"""

from __future__ import annotations

from typing import Protocol

from sunpower_pvs_exporter.pvs.model import Snapshot


class PvsReader(Protocol):
    """What the poller needs from a PVS client (legacy, varserver or auto)."""

    @property
    def backend(self) -> str: ...

    async def read(self) -> Snapshot: ...

    async def close(self) -> None: ...
