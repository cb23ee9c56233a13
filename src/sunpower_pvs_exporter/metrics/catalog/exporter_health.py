"""The exporter's own health: per-target polling, its version, its configuration."""

from __future__ import annotations

from typing import Any

from sunpower_pvs_exporter.continuity import HELD_REASONS, HeldReason
from sunpower_pvs_exporter.health import ReloadStatus, TargetStatus
from sunpower_pvs_exporter.metrics.catalog.spec import MetricSpec, Subject, one
from sunpower_pvs_exporter.pvs.errors import FAILURE_REASONS, FailureReason

TargetReason = tuple[TargetStatus, FailureReason]

TARGET = Subject[TargetStatus, TargetStatus](
    name="target",
    doc="each configured PVS (the exporter's view of its polling)",
    label_names=("target",),
    items=lambda status: (status,),
    labels=lambda status: (status.target,),
    data_time=lambda _: None,
)
TARGET_REASON = Subject[TargetStatus, TargetReason](
    name="target_failure_reason",
    doc="each configured PVS and failure reason",
    label_names=("target", "reason"),
    items=lambda status: ((status, reason) for reason in FAILURE_REASONS),
    labels=lambda item: (item[0].target, item[1]),
    data_time=lambda _: None,
)
TargetHeldReason = tuple[TargetStatus, HeldReason]
TARGET_HELD_REASON = Subject[TargetStatus, TargetHeldReason](
    name="target_held_reading_reason",
    doc="each configured PVS and reason a lifetime-energy reading was held or dropped",
    label_names=("target", "reason"),
    items=lambda status: ((status, reason) for reason in HELD_REASONS),
    labels=lambda item: (item[0].target, item[1]),
    data_time=lambda _: None,
)
TARGET_BACKEND = Subject[TargetStatus, TargetStatus](
    name="target_backend",
    doc="each configured PVS and the API it is read through",
    label_names=("target", "api", "backend"),
    items=lambda status: (status,),
    labels=lambda status: (status.target, status.api, status.backend),
    data_time=lambda _: None,
)
EXPORTER = Subject[str, str](
    name="exporter",
    doc="this exporter process",
    label_names=("version",),
    items=lambda version: (version,),
    labels=lambda version: (version,),
    data_time=lambda _: None,
)


TARGET_METRICS: tuple[MetricSpec[TargetStatus, Any], ...] = (
    MetricSpec(
        name="sunpower_pvs_up",
        kind="gauge",
        help="1 when the last poll of the PVS succeeded and its data is fresh, else 0.",
        unit="1",
        subject=TARGET,
        value=lambda s: 1.0 if s.up else 0.0,
        source="exporter",
    ),
    MetricSpec(
        name="sunpower_pvs_last_poll_duration_seconds",
        kind="gauge",
        help="How long the last poll of the PVS took, successful or not.",
        unit="seconds",
        subject=TARGET,
        value=lambda s: s.last_poll_duration,
        source="exporter",
    ),
    MetricSpec(
        name="sunpower_pvs_last_success_timestamp_seconds",
        kind="gauge",
        help="When the last successful poll of the PVS finished (Unix time).",
        unit="seconds",
        subject=TARGET,
        value=lambda s: s.last_success_at,
        source="exporter",
    ),
    MetricSpec(
        name="sunpower_pvs_snapshot_age_seconds",
        kind="gauge",
        help="Age of the newest good data read from the PVS, served or not.",
        unit="seconds",
        subject=TARGET,
        value=lambda s: s.snapshot_age,
        source="exporter",
    ),
    MetricSpec(
        name="sunpower_pvs_polls_total",
        kind="counter",
        help="Polls of the PVS attempted.",
        unit="1",
        subject=TARGET,
        value=lambda s: float(s.polls),
        source="exporter",
    ),
    MetricSpec(
        name="sunpower_pvs_dropped_values_total",
        kind="counter",
        help="Values in PVS answers that were present but unusable (not a number, NaN, "
        "infinite, or beyond a double such as 10**400); each is exported as missing "
        "instead of failing the device or the poll.",
        unit="1",
        subject=TARGET,
        value=lambda s: float(s.dropped_values),
        source="exporter",
    ),
    MetricSpec(
        name="sunpower_pvs_poll_failures_total",
        kind="counter",
        help="Failed polls of the PVS by reason (timeout, connection, http_status, "
        "invalid_payload, auth; internal: a bug in the exporter, not the PVS).",
        unit="1",
        subject=TARGET_REASON,
        value=lambda item: float(item[0].failures.get(item[1], 0)),
        source="exporter",
    ),
    MetricSpec(
        name="sunpower_pvs_consecutive_poll_failures",
        kind="gauge",
        help="Failed polls since the last success (drives the backoff).",
        unit="1",
        subject=TARGET,
        value=lambda s: float(s.consecutive_failures),
        source="exporter",
    ),
    MetricSpec(
        name="sunpower_pvs_poll_interval_seconds",
        kind="gauge",
        help="Interval between polls of the PVS in effect: the configured one, or longer "
        "while the exporter eases off a PVS that rebooted twice within a day (doubling per "
        "further reboot, up to 600 s, until 72 h pass without a reboot).",
        unit="seconds",
        subject=TARGET,
        value=lambda s: s.poll_interval,
        source="exporter",
    ),
    MetricSpec(
        name="sunpower_pvs_configured_poll_interval_seconds",
        kind="gauge",
        help="Interval between polls of the PVS as configured (poll_interval). Above it, "
        "sunpower_pvs_poll_interval_seconds shows the PVS is being eased off after reboots.",
        unit="seconds",
        subject=TARGET,
        value=lambda s: s.configured_poll_interval,
        source="exporter",
    ),
    MetricSpec(
        name="sunpower_pvs_target_active",
        kind="gauge",
        help="1 while the exporter polls the PVS, 0 while it is idle: with poll_mode on_demand a "
        "target is polled from its first /probe until idle_after passes without one; "
        "always 1 in the other modes.",
        unit="1",
        subject=TARGET,
        value=lambda s: 1.0 if s.active else 0.0,
        source="exporter",
    ),
    MetricSpec(
        name="sunpower_pvs_energy_readings_held_total",
        kind="counter",
        help="Lifetime-energy readings (every _total energy counter, and the inverter energy "
        "gauge) not exported as read: held at the last exported value, or dropped when "
        "there was none. reason: zero (a 0 reading), small_decrease (a rounding-size "
        "drop), large_decrease (a drop not yet lasting long enough to be a reset).",
        unit="1",
        subject=TARGET_HELD_REASON,
        value=lambda item: float(item[0].held_energy_readings.get(item[1], 0)),
        source="exporter",
    ),
    MetricSpec(
        name="sunpower_pvs_supervisor_reboots_total",
        kind="counter",
        help="PVS reboots the exporter saw: its uptime was lower than at the previous poll. "
        "Reboots while the exporter was not running are not counted.",
        unit="1",
        subject=TARGET,
        value=lambda s: float(s.reboots),
        source="exporter (legacy `dl_uptime`; varserver `/sys/info/uptime`)",
    ),
    MetricSpec(
        name="sunpower_pvs_target_info",
        kind="info",
        help="The API the PVS is read through: api is the setting (auto, legacy, "
        "varserver), backend what is in use ('' until known).",
        unit="",
        subject=TARGET_BACKEND,
        value=one,
        source="exporter",
    ),
)

EXPORTER_METRICS: tuple[MetricSpec[str, str], ...] = (
    MetricSpec(
        name="sunpower_pvs_exporter_build_info",
        kind="info",
        help="Version of this exporter.",
        unit="",
        subject=EXPORTER,
        value=one,
        source="exporter",
    ),
)

CONFIG = Subject[ReloadStatus, ReloadStatus](
    name="config",
    doc="the configuration this process runs (reloaded by SIGHUP or `POST /-/reload`)",
    label_names=(),
    items=lambda status: (status,),
    labels=lambda _: (),
    data_time=lambda _: None,
)

CONFIG_METRICS: tuple[MetricSpec[ReloadStatus, ReloadStatus], ...] = (
    MetricSpec(
        name="sunpower_pvs_exporter_config_last_reload_successful",
        kind="gauge",
        help="1 if the last configuration reload succeeded (or none was tried yet), 0 if it "
        "was refused and the previous configuration still runs.",
        unit="1",
        subject=CONFIG,
        value=lambda status: 1.0 if status.successful else 0.0,
        source="exporter",
    ),
    MetricSpec(
        name="sunpower_pvs_exporter_config_last_reload_success_timestamp_seconds",
        kind="gauge",
        help="When the running configuration was loaded (startup or the last good reload), "
        "Unix time.",
        unit="seconds",
        subject=CONFIG,
        value=lambda status: status.last_success_at,
        source="exporter",
    ),
)
