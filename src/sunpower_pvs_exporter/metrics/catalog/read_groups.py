"""The varserver client's own health: one row per group of variables it reads."""

from __future__ import annotations

from typing import Any

from sunpower_pvs_exporter.metrics.catalog.spec import VARSERVER_ONLY, MetricSpec, Subject
from sunpower_pvs_exporter.pvs.model import ReadGroupStatus, Snapshot

READ_GROUP = Subject[Snapshot, ReadGroupStatus](
    name="read_group",
    doc="each group of varserver variables the exporter reads with its own request "
    "(`info`, `flashwear`, `meter`, `inverter`, `ess`, `transfer_switch`, `livedata`, `net`)",
    label_names=("group",),
    items=lambda snap: snap.read_groups,
    labels=lambda group: (group.name,),
    data_time=lambda _: None,
)

READ_GROUP_METRICS: tuple[MetricSpec[Snapshot, Any], ...] = (
    MetricSpec(
        name="sunpower_pvs_varserver_group_up",
        kind="gauge",
        help="1 if the last poll read this group of variables, 0 if it failed, hung, was "
        "skipped after failing, or was left to the next poll because the PVS was still "
        "answering a group given up on (its metrics are missing; the others are still "
        "exported).",
        unit="1",
        subject=READ_GROUP,
        value=lambda group: 1.0 if group.ok else 0.0,
        source="exporter (varserver client)",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_varserver_group_failures_total",
        kind="counter",
        help="Failed or timed-out reads of this group of variables since the exporter started.",
        unit="1",
        subject=READ_GROUP,
        value=lambda group: float(group.failures),
        source="exporter (varserver client)",
        backends=VARSERVER_ONLY,
    ),
)
