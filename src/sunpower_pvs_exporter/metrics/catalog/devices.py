"""Every device the PVS lists, its network interfaces and its grid profile."""

from __future__ import annotations

from typing import Any

from sunpower_pvs_exporter.metrics.catalog.spec import LEGACY_ONLY, MetricSpec, Subject, one
from sunpower_pvs_exporter.pvs.model import CommInterface, Device, GridProfile, Snapshot


def _device_labels(dev: Device) -> tuple[str, ...]:
    return (dev.serial, dev.device_type, dev.model, dev.software_version, dev.state, dev.type)


DEVICE = Subject[Snapshot, Device](
    name="device",
    doc="every device the PVS lists, known type or not",
    label_names=("device_id", "device_type", "model", "software_version", "state", "type"),
    items=lambda snap: snap.devices,
    labels=_device_labels,
    data_time=lambda dev: dev.data_time,
)
INTERFACE = Subject[Snapshot, CommInterface](
    name="communication_interface",
    doc="each network interface of the PVS (legacy `Get_Comm`, varserver `/net/<iface>/state`)",
    label_names=("interface", "internet", "sms"),
    items=lambda snap: snap.interfaces,
    labels=lambda iface: (iface.name, iface.internet, iface.sms),
    data_time=lambda _: None,
)
INTERFACE_STATE = Subject[Snapshot, CommInterface](
    name="communication_interface_state",
    doc="each network interface of the PVS that reports a state",
    label_names=("interface", "state"),
    items=lambda snap: (iface for iface in snap.interfaces if iface.state),
    labels=lambda iface: (iface.name, iface.state),
    data_time=lambda _: None,
)

GRID_PROFILE = Subject[Snapshot, GridProfile](
    name="grid_profile",
    doc="the active grid profile (legacy `GridProfileGet`)",
    label_names=("id", "name", "percent", "status"),
    items=lambda snap: () if snap.grid_profile is None else (snap.grid_profile,),
    labels=lambda gp: (gp.id, gp.name, gp.percent, gp.status),
    data_time=lambda _: None,
)


DEVICE_STATE_METRICS: tuple[MetricSpec[Snapshot, Any], ...] = (
    # Every device.
    MetricSpec(
        name="sunpower_pvs_device_state",
        kind="gauge",
        help="1 when the PVS reports the device as working, else 0. varserver has no "
        "state: there a device is working while its last sample (msmtEps) is at most "
        "15 minutes older than the newest sample on the PVS; an inverter while its "
        "sample is at most 15 minutes older than the newest inverter sample and 30 "
        "minutes older than the newest sample on the PVS (docs/varserver.md). A device "
        "seen before and now absent from the PVS's data is listed with state missing (0) "
        "for up to 7 days.",
        unit="1",
        subject=DEVICE,
        value=lambda d: 1.0 if d.state == "working" else 0.0,
        source="legacy `STATE`; varserver derived from `msmtEps` staleness; `missing`: exporter "
        "(seen before, absent now)",
        missing="nan",
        compatible=True,
    ),
    MetricSpec(
        name="sunpower_pvs_device_last_report_timestamp_seconds",
        kind="gauge",
        help="When the device last sampled its data (Unix time). Absent for devices "
        "that report no sample time (legacy devices in error state).",
        unit="seconds",
        subject=DEVICE,
        value=lambda d: d.data_time,
        source="legacy `DATATIME` (UTC, unless the `timezone` override says otherwise); "
        "varserver `msmtEps` (UTC)",
    ),
    # Network and grid profile.
    MetricSpec(
        name="sunpower_pvs_communication_interface_info",
        kind="info",
        help="Network interfaces of the PVS and whether they reach the internet and SunPower's "
        "servers. varserver names its interfaces (sta0, wan0, wan1, wwan0) but not their "
        "reachability: there internet and sms are empty; see "
        "sunpower_pvs_communication_interface_state_info.",
        unit="",
        subject=INTERFACE,
        value=one,
        source="legacy `Get_Comm` `networkstatus.interfaces[]`; varserver `/net/<iface>/state` "
        "(interface name only)",
        missing="nan",
        compatible=True,
    ),
    MetricSpec(
        name="sunpower_pvs_communication_interface_state_info",
        kind="info",
        help="State of each network interface of the PVS as it reports it "
        "(raw text, e.g. up/down).",
        unit="",
        subject=INTERFACE_STATE,
        value=one,
        source="legacy `Get_Comm` `networkstatus.interfaces[].state`; "
        "varserver `/net/<iface>/state`",
    ),
    MetricSpec(
        name="sunpower_pvs_grid_profile_info",
        kind="info",
        help="The grid profile active on the PVS.",
        unit="",
        subject=GRID_PROFILE,
        value=one,
        source="legacy `GridProfileGet`",
        missing="nan",
        compatible=True,
        backends=LEGACY_ONLY,
    ),
)
