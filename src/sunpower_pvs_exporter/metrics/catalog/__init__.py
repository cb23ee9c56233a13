"""The one table of every metric this exporter can emit.

Each ``MetricSpec`` row names a metric, its type, help, unit, where its value
comes from and what happens when the value is missing. The encoder, the
generated reference (docs/metrics.md) and the dashboard/alert checks all read
this table; a metric that is not here does not exist.

The rows live in one module per subject (supervisor, meters, inverters,
devices, storage, site, read groups, exporter health, requests to the PVS,
live stream); this
module assembles them into the ordered tuples the rest of the package reads.
The order here is the order of the exposition.
"""

from __future__ import annotations

from typing import Any

from sunpower_pvs_exporter.health import TargetStatus
from sunpower_pvs_exporter.metrics.catalog.devices import DEVICE_STATE_METRICS
from sunpower_pvs_exporter.metrics.catalog.exporter_health import (
    CONFIG_METRICS,
    EXPORTER_METRICS,
    TARGET_METRICS,
)
from sunpower_pvs_exporter.metrics.catalog.inverters import INVERTER_METRICS
from sunpower_pvs_exporter.metrics.catalog.live import LIVE_METRICS
from sunpower_pvs_exporter.metrics.catalog.meters import METER_METRICS
from sunpower_pvs_exporter.metrics.catalog.read_groups import READ_GROUP_METRICS
from sunpower_pvs_exporter.metrics.catalog.requests import REQUEST_METRICS
from sunpower_pvs_exporter.metrics.catalog.site import SITE_METRICS
from sunpower_pvs_exporter.metrics.catalog.spec import MetricSpec, Subject
from sunpower_pvs_exporter.metrics.catalog.storage import STORAGE_METRICS
from sunpower_pvs_exporter.metrics.catalog.supervisor import SUPERVISOR_METRICS
from sunpower_pvs_exporter.pvs.model import Snapshot

__all__ = [
    "ALL_METRICS",
    "CONFIG_METRICS",
    "DEVICE_METRICS",
    "EXPORTER_METRICS",
    "HEALTH_METRICS",
    "LIVE_METRICS",
    "MetricSpec",
    "Subject",
    "device_metrics_for",
]

# Everything read from the PVS, in exposition order.
DEVICE_METRICS: tuple[MetricSpec[Snapshot, Any], ...] = (
    SUPERVISOR_METRICS
    + METER_METRICS
    + INVERTER_METRICS
    + DEVICE_STATE_METRICS
    + STORAGE_METRICS
    + SITE_METRICS
    + READ_GROUP_METRICS
)

# A metric whose field an API does not have is left out for that API's
# snapshots, rather than exported as NaN (see MetricSpec.backends).
DEVICE_METRICS_BY_BACKEND = {
    backend: tuple(spec for spec in DEVICE_METRICS if backend in spec.backends)
    for backend in ("legacy", "varserver")
}


def device_metrics_for(snapshot: Snapshot) -> tuple[MetricSpec[Snapshot, Any], ...]:
    """The rows of ``DEVICE_METRICS`` that ``snapshot``'s API can fill."""
    return DEVICE_METRICS_BY_BACKEND.get(snapshot.backend, DEVICE_METRICS)


# Each target's health: its polls, then what they asked of the PVS.
HEALTH_METRICS: tuple[MetricSpec[TargetStatus, Any], ...] = TARGET_METRICS + REQUEST_METRICS

ALL_METRICS: tuple[MetricSpec[Any, Any], ...] = (
    DEVICE_METRICS + HEALTH_METRICS + EXPORTER_METRICS + CONFIG_METRICS + LIVE_METRICS
)
