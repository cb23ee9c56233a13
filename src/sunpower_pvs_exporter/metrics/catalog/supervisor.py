"""The PVS itself: load, memory, flash, uptime, firmware."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sunpower_pvs_exporter.metrics.catalog.spec import (
    LEGACY_ONLY,
    VARSERVER_ONLY,
    MetricSpec,
    Subject,
    one,
)
from sunpower_pvs_exporter.pvs.detect import parse_build
from sunpower_pvs_exporter.pvs.model import Snapshot, Supervisor


def _supervisor_items(snapshot: Snapshot) -> Iterable[Supervisor]:
    return () if snapshot.supervisor is None else (snapshot.supervisor,)


def _supervisor_labels(sup: Supervisor) -> tuple[str, ...]:
    dev = sup.device
    return (dev.serial, dev.model, dev.software_version)


SUPERVISOR = Subject[Snapshot, Supervisor](
    name="supervisor",
    doc="the PVS itself (DEVICE_TYPE `PVS`)",
    label_names=("device_id", "model", "software_version"),
    items=_supervisor_items,
    labels=_supervisor_labels,
    data_time=lambda sup: sup.device.data_time,
)


def _firmware_labels(sup: Supervisor) -> tuple[str, ...]:
    dev = sup.device
    build = parse_build(None, dev.software_version)
    return (dev.serial, dev.model, dev.software_version, "" if build is None else str(build))


SUPERVISOR_FIRMWARE = Subject[Snapshot, Supervisor](
    name="supervisor_firmware",
    doc="the PVS's firmware",
    label_names=("device_id", "model", "software_version", "build"),
    items=_supervisor_items,
    labels=_firmware_labels,
    data_time=lambda sup: sup.device.data_time,
)

SUPERVISOR_METRICS: tuple[MetricSpec[Snapshot, Any], ...] = (
    # Supervisor (original exporter's names).
    MetricSpec(
        name="sunpower_pvs_supervisor_communication_errors_total",
        kind="counter",
        help="Communication errors between the PVS and its devices (dl_comm_err). "
        "The PVS lets this go down as well as up.",
        unit="1",
        subject=SUPERVISOR,
        value=lambda s: s.communication_errors,
        source="legacy `dl_comm_err`",
        missing="nan",
        compatible=True,
        backends=LEGACY_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_supervisor_cpu_loadavg",
        kind="gauge",
        help="CPU load average of the PVS (dl_cpu_load).",
        unit="1",
        subject=SUPERVISOR,
        value=lambda s: s.cpu_loadavg,
        source="legacy `dl_cpu_load`",
        missing="nan",
        compatible=True,
        backends=LEGACY_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_supervisor_errors_total",
        kind="counter",
        help="Error count reported by the PVS (dl_err_count).",
        unit="1",
        subject=SUPERVISOR,
        value=lambda s: s.error_count,
        source="legacy `dl_err_count`",
        missing="nan",
        compatible=True,
        backends=LEGACY_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_supervisor_flash_storage_available_bytes",
        kind="gauge",
        help="Free flash storage on the PVS.",
        unit="bytes",
        subject=SUPERVISOR,
        value=lambda s: s.flash_available_bytes,
        source="legacy `dl_flash_avail` (KiB ×1024)",
        missing="nan",
        compatible=True,
        backends=LEGACY_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_supervisor_mem_used_bytes",
        kind="gauge",
        help="Memory used on the PVS.",
        unit="bytes",
        subject=SUPERVISOR,
        value=lambda s: s.memory_used_bytes,
        source="legacy `dl_mem_used` (KiB ×1024)",
        missing="nan",
        compatible=True,
        backends=LEGACY_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_supervisor_scan_time_seconds",
        kind="gauge",
        help="Duration of the PVS's last device scan (dl_scan_time).",
        unit="seconds",
        subject=SUPERVISOR,
        value=lambda s: s.scan_time_seconds,
        source="legacy `dl_scan_time`",
        missing="nan",
        compatible=True,
        backends=LEGACY_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_supervisor_skipped_scans_total",
        kind="counter",
        help="Device scans the PVS skipped (dl_skipped_scans).",
        unit="1",
        subject=SUPERVISOR,
        value=lambda s: s.skipped_scans,
        source="legacy `dl_skipped_scans`",
        missing="nan",
        compatible=True,
        backends=LEGACY_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_supervisor_untransmitted_events_total",
        kind="counter",
        help="Records the PVS has not yet uploaded to the cloud (dl_untransmitted).",
        unit="1",
        subject=SUPERVISOR,
        value=lambda s: s.untransmitted_events,
        source="legacy `dl_untransmitted`",
        missing="nan",
        compatible=True,
        backends=LEGACY_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_supervisor_uptime_seconds_total",
        kind="counter",
        help="Time since the PVS booted.",
        unit="seconds",
        subject=SUPERVISOR,
        value=lambda s: s.uptime_seconds,
        source="legacy `dl_uptime`; varserver `/sys/info/uptime`",
        missing="nan",
        compatible=True,
    ),
    # Supervisor (new).
    MetricSpec(
        name="sunpower_pvs_supervisor_firmware_info",
        kind="info",
        help="The PVS's firmware: its version text and build number "
        "(the SunpowerPvsFirmwareChanged alert watches it).",
        unit="",
        subject=SUPERVISOR_FIRMWARE,
        value=one,
        source='legacy `SWVER` (build: the number after "Build"); varserver `/sys/info/sw_rev` '
        "(build: the last dotted part)",
    ),
    MetricSpec(
        name="sunpower_pvs_supervisor_cpu_usage_ratio",
        kind="gauge",
        help="CPU usage of the PVS as a ratio 0-1.",
        unit="ratio",
        subject=SUPERVISOR,
        value=lambda s: s.cpu_usage_ratio,
        source="varserver `/sys/info/cpu_usage` (% ÷100)",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_supervisor_memory_usage_ratio",
        kind="gauge",
        help="Memory usage of the PVS as a ratio 0-1.",
        unit="ratio",
        subject=SUPERVISOR,
        value=lambda s: s.memory_usage_ratio,
        source="varserver `/sys/info/ram_usage` (% ÷100)",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_supervisor_flash_usage_ratio",
        kind="gauge",
        help="Flash storage usage of the PVS as a ratio 0-1.",
        unit="ratio",
        subject=SUPERVISOR,
        value=lambda s: s.flash_usage_ratio,
        source="varserver `/sys/info/flash_usage` (% ÷100)",
        backends=VARSERVER_ONLY,
    ),
    MetricSpec(
        name="sunpower_pvs_supervisor_flash_wear_ratio",
        kind="gauge",
        help="Estimated eMMC wear of the PVS6 as a ratio 0-1 (steps of 0.1).",
        unit="ratio",
        subject=SUPERVISOR,
        value=lambda s: s.flash_wear_ratio,
        source="varserver `/sys/pvs/flashwear_type_b` (0x01 = 10%)",
        backends=VARSERVER_ONLY,
    ),
)
