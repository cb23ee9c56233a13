"""What the exporter asks of each PVS: requests by kind, how they ended, answer times.

The answer to "is polling hurting my PVS?" (docs/monitoring.md) starts here:
requests per hour beside ``sunpower_pvs_supervisor_reboots_total`` and the
uptime. A kind's series appear with its first request, or as soon as the next
poll will send it (``pvs/request_counts.py``)::

    sunpower_pvs_requests_total{kind="device_list",target="home"} 42.0
    sunpower_pvs_request_results_total{class="2xx",kind="device_list",target="home"} 41.0
    sunpower_pvs_request_results_total{class="timeout",kind="device_list",target="home"} 1.0
    sunpower_pvs_response_body_bytes_total{kind="device_list",target="home"} 1.2e+06
    sunpower_pvs_request_duration_seconds_bucket{kind="device_list",le="5.0",target="home"} 40.0
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sunpower_pvs_exporter.health import TargetStatus
from sunpower_pvs_exporter.metrics.catalog.spec import MetricSpec, Subject
from sunpower_pvs_exporter.pvs.request_counts import (
    ANSWER_SECONDS_BUCKETS,
    REQUEST_KINDS,
    KindView,
)

TargetKind = tuple[TargetStatus, KindView]
TargetKindEnd = tuple[TargetStatus, KindView, str, int]

_KINDS = ", ".join(REQUEST_KINDS)

TARGET_REQUEST_KIND = Subject[TargetStatus, TargetKind](
    name="target_request_kind",
    doc="each configured PVS and kind of request the exporter has sent it "
    f"({_KINDS}); a kind's series appear with its first request (`vars_cached`: "
    "when the set it reads is built, at 0)",
    label_names=("target", "kind"),
    items=lambda status: ((status, view) for view in status.requests),
    labels=lambda item: (item[0].target, item[1].kind),
    data_time=lambda _: None,
)
TARGET_REQUEST_END = Subject[TargetStatus, TargetKindEnd](
    name="target_request_kind_class",
    doc="each configured PVS, kind of request sent and way a request ended: answered "
    "with an HTTP status of class `2xx`, `3xx`, `4xx` or `5xx` (`5xx` also holds any "
    "status outside 200-499), or `timeout` (no answer within the request's hard limit: "
    "its own wait, at most the target's timeout, plus the timeout again), "
    "`connection_error` (no connection, reset, answer cut short or malformed), "
    "`cancelled` (closed by the exporter first: a reload or shutdown); `2xx` is shown "
    "with the kind (at 0 until one succeeds), any other class's series appears with "
    "the first request that ended so (`increase()` misses that first one)",
    label_names=("target", "kind", "class"),
    items=lambda status: (
        (status, view, end, count) for view in status.requests for end, count in view.ended
    ),
    labels=lambda item: (item[0].target, item[1].kind, item[2]),
    data_time=lambda _: None,
)

# The same items, for the targets whose answer-time histogram is exported.
TARGET_REQUEST_TIMING = replace(
    TARGET_REQUEST_KIND,
    name="target_request_kind_timed",
    doc="as target_request_kind, for the targets whose `request_histograms` is on (the default)",
    items=lambda status: TARGET_REQUEST_KIND.items(status) if status.request_histograms else (),
)

_BOUNDS = ", ".join(f"{bound:g}" for bound in ANSWER_SECONDS_BUCKETS)

REQUEST_METRICS: tuple[MetricSpec[TargetStatus, Any], ...] = (
    MetricSpec(
        name="sunpower_pvs_requests_total",
        kind="counter",
        help="HTTP requests the exporter made to the PVS, counted as each starts, whether "
        "or not it is ever answered (one whose connection was refused included: its result "
        "is connection_error).",
        unit="1",
        subject=TARGET_REQUEST_KIND,
        value=lambda item: float(item[1].sent),
        source="exporter",
    ),
    MetricSpec(
        name="sunpower_pvs_request_results_total",
        kind="counter",
        help="Requests to the PVS that ended, by how: the answer's HTTP status class, or "
        "timeout, connection_error, cancelled. A request the poll stopped waiting for "
        "is counted when it really ends (the PVS goes on working on it).",
        unit="1",
        subject=TARGET_REQUEST_END,
        value=lambda item: float(item[3]),
        source="exporter",
    ),
    MetricSpec(
        name="sunpower_pvs_response_body_bytes_total",
        kind="counter",
        help="Bytes of answer bodies received from the PVS (as decoded; of an error "
        "answer only its first 4 KiB are read).",
        unit="bytes",
        subject=TARGET_REQUEST_KIND,
        value=lambda item: float(item[1].body_bytes),
        source="exporter",
    ),
    MetricSpec(
        name="sunpower_pvs_request_duration_seconds",
        kind="histogram",
        help="How long the PVS took to answer a request, from sending it (connecting "
        "included) to the end of its answer; answered requests only (any status), so "
        f"_count is the sum of the 2xx-5xx results. Buckets: {_BOUNDS} s.",
        unit="seconds",
        subject=TARGET_REQUEST_TIMING,
        value=lambda item: float(item[1].answered),
        source="exporter",
        buckets=ANSWER_SECONDS_BUCKETS,
        histogram=lambda item: (item[1].cumulative, item[1].answer_seconds),
    ),
)
