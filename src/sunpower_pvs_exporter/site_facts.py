"""What a snapshot means for a person, one rule each for ``check`` and the status page.

``site_power``: the site's production, consumption, grid and battery power,
from the PVS's own totals when it has them (varserver live data), else from
the meters, else from the inverters.

``device_problems``: a device is not working when the PVS says so (``STATE`` other than
``working``) or when its data is older than its usual cadence allows:
meters refresh about every 15 s, the supervisor every 5 min, inverters on a
5-minute grid that lags the meters by up to 10 min (docs/protocol.md §L2, §V4).
Ages are measured against a reference time the caller chooses, ideally the
PVS's own clock, so a wrong clock on either side does not make every
device look stale.

A production meter can also be dead while listed as working: real units
(PVS5 2017, 2020) report every reading as 0 with power factor 1 and a
lifetime of 0 kWh. Exported, that is a flat 0 W of production all day, so it
is called out here too.

``inverter_arrays``: each inverter judged against the median of its array
(roof face) right now, with the thresholds of the panel-health rules and the
Grafana array view (docs/panel-health.md): dead under 5 %, low under 80 %,
only while the array's median inverter makes over 50 W.

``target_problems``: one line per thing wrong with a target, for the top of
the status page: the target down and why, each failed device, each dead or
low inverter of an array of at least 3.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from sunpower_pvs_exporter.health import TargetStatus
from sunpower_pvs_exporter.pvs.model import DEFAULT_ARRAY, Device, Inverter, Meter, Snapshot

STALE_AFTER = {"Power Meter": 300.0, "PVS": 900.0, "Inverter": 1200.0}
STALE_AFTER_OTHER = 1800.0
DEAD_METER_STATE = "dead: all 0, PF 1"
# Listed without DATATIME and in STATE "error" for good on working SunVaults.
STORAGE_SIDE_TYPES = frozenset(
    {"Gateway", "Storage Inverter", "ESS BMS", "Battery", "Energy Storage System"}
)


@dataclass(frozen=True)
class SitePower:
    """The whole site's power in W; ``None`` where the PVS gives no way to know.

    ``grid``: + importing / − exporting. ``battery``: + discharging / −
    charging. ``soc``: state of charge, 0..1.
    """

    production: float | None
    consumption: float | None
    grid: float | None
    battery: float | None
    soc: float | None


def _sum(values: Iterable[float | None]) -> float | None:
    """The sum of the known values; ``None`` when none is known (not 0: unknown)."""
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def site_power(snapshot: Snapshot) -> SitePower:
    """The PVS's own totals (varserver live data) first; else the meters (or the
    inverters' sum for production); consumption as grid + production + battery."""
    live = snapshot.live
    production = live.pv_power_watts if live is not None else None
    grid = live.grid_power_watts if live is not None else None
    consumption = live.load_power_watts if live is not None else None
    battery = live.battery_power_watts if live is not None else None
    soc = live.state_of_charge_ratio if live is not None else None
    if production is None:
        # A dead production meter's 0 W is no reading: the inverters tell instead.
        production = _sum(
            m.real_power_watts
            for m in snapshot.meters
            if m.mode == "production" and not dead_meter(m)
        )
    if production is None:
        production = _sum(i.ac_power_watts for i in snapshot.inverters)
    if grid is None:
        grid = _sum(m.real_power_watts for m in snapshot.meters if m.mode == "consumption")
    stacks = [s for s in snapshot.storage if s.device.device_type == "Energy Storage System"]
    if battery is None:
        battery = _sum(s.power_watts for s in stacks)
    if soc is None:
        socs = [s.state_of_charge_ratio for s in stacks if s.state_of_charge_ratio is not None]
        soc = sum(socs) / len(socs) if socs else None
    if consumption is None and grid is not None and production is not None:
        consumption = grid + production + (battery or 0.0)
    return SitePower(production, consumption, grid, battery, soc)


@dataclass(frozen=True)
class DeviceProblem:
    device_type: str
    serial: str
    state: str
    age_seconds: float | None
    why: str


def mask_serial(serial: str) -> str:
    """The first four characters; the rest (whose tail is the default password) hidden."""
    serial = serial.strip()
    if len(serial) <= 4:
        return "*" * len(serial)
    return serial[:4] + "*" * (len(serial) - 4)


def shown_serial(device: Device) -> str:
    """A device's serial for display: the PVS's own is masked, since its last five
    characters are the factory varserver password."""
    return mask_serial(device.serial) if device.device_type == "PVS" else device.serial


def duration_text(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} d"


def data_age(device: Device, reference: float) -> float | None:
    if device.data_time is None:
        return None
    return reference - device.data_time


def newest_data_time(devices: Iterable[Device]) -> float | None:
    """The freshest device sample: the PVS's clock as far as its data tells."""
    times = [d.data_time for d in devices if d.data_time is not None]
    return max(times) if times else None


def always_in_error(device: Device) -> bool:
    """A SunVault's Schneider-side device as real DeviceLists show it: no
    DATATIME and STATE "error" while the system works (FACTS L14)."""
    return device.device_type in STORAGE_SIDE_TYPES and device.data_time is None


def device_problems(devices: Iterable[Device], reference: float) -> list[DeviceProblem]:
    problems: list[DeviceProblem] = []
    for device in devices:
        if always_in_error(device):
            continue  # its "error" says nothing (the alerts ignore it too)
        device_type = device.device_type or "(no type)"
        age = data_age(device, reference)
        limit = STALE_AFTER.get(device_type, STALE_AFTER_OTHER)
        if device.state and device.state.lower() != "working":
            why = f"state {device.state}"
        elif age is not None and age > limit:
            why = f"data {duration_text(age)} old (usually under {duration_text(limit)})"
        else:
            continue
        problems.append(DeviceProblem(device_type, shown_serial(device), device.state, age, why))
    return problems


def dead_meter(meter: Meter) -> bool:
    """A production meter that measures nothing: no power, no lifetime energy, PF 1.

    A working one at night also reads 0 W, but its lifetime energy is not 0.
    """
    return (
        meter.mode == "production"
        and meter.real_power_watts == 0
        and meter.power_factor == 1
        and meter.net_energy_watt_hours in (0, None)
        and meter.frequency_hertz in (0, None)
    )


def snapshot_problems(snapshot: Snapshot, reference: float) -> list[DeviceProblem]:
    """``device_problems`` of every device, and each production meter that is dead."""
    problems = device_problems(snapshot.devices, reference)
    for meter in snapshot.meters:
        if dead_meter(meter):
            device = meter.device
            why = (
                "reports every reading as 0 with power factor 1 (a dead or absent "
                "production meter): its 0 W of production is not a measurement"
            )
            age = data_age(device, reference)
            # The PVS says "working"; the state shown says what is wrong instead.
            state = DEAD_METER_STATE
            problems.append(DeviceProblem(device.device_type, device.serial, state, age, why))
    return problems


# --- panel health now (the thresholds of contrib/prometheus/panel_health.yml) ----------

DAYLIGHT_MEDIAN_WATTS = 50.0
DEAD_RATIO = 0.05
LOW_RATIO = 0.8
MIN_JUDGED_INVERTERS = 3

Verdict = Literal["dead", "low", "normal", "night", "no-data"]


@dataclass(frozen=True)
class InverterTile:
    """One inverter as the array view shows it.

    ``watts``: its reading (``None``: none, in error, or missing); ``ratio``:
    its power (0 without a reading) over its array's median, only in daylight.
    """

    serial: str
    watts: float | None
    ratio: float | None
    verdict: Verdict
    state: str


@dataclass(frozen=True)
class ArrayView:
    """The inverters of one array (roof face) and the yardstick they are judged by."""

    name: str
    median_watts: float
    tiles: tuple[InverterTile, ...]

    @property
    def daylight(self) -> bool:
        return self.median_watts > DAYLIGHT_MEDIAN_WATTS

    @property
    def judged(self) -> bool:
        """Big enough for its median to mean something (the alerts' own guard)."""
        return len(self.tiles) >= MIN_JUDGED_INVERTERS


def _reading(inverter: Inverter | None, device: Device) -> float | None:
    """The power the panel-health rules count: none unless working with a number."""
    if inverter is None or device.state != "working":
        return None
    watts = inverter.ac_power_watts
    if watts is None or math.isnan(watts):
        return None
    return watts


def median(values: Iterable[float]) -> float:
    """PromQL's ``quantile(0.5, …)``: the middle value, or the mean of the two
    middle ones. (Not ``statistics``: the poller imports this module, and
    that one costs every start a few modules for one line.)"""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _verdict(ratio: float | None, watts: float | None) -> Verdict:
    if ratio is None:
        return "night" if watts is not None else "no-data"
    if ratio < DEAD_RATIO:
        return "dead"
    return "low" if ratio < LOW_RATIO else "normal"


def inverter_arrays(snapshot: Snapshot) -> list[ArrayView]:
    """Every inverter the PVS lists (missing ones too), by array, judged as the
    recording rules judge it: no reading counts as 0 W, so in daylight a
    silent inverter is dead; in the dark (median 50 W or less) nothing is judged."""
    by_serial = {i.device.serial: i for i in snapshot.inverters}
    devices = {d.serial: d for d in snapshot.devices if d.device_type == "Inverter" and d.serial}
    members: dict[str, list[tuple[str, float | None, str]]] = {}
    for serial, array in snapshot.inverter_array_pairs():
        device = devices[serial]
        watts = _reading(by_serial.get(serial), device)
        members.setdefault(array or DEFAULT_ARRAY, []).append((serial, watts, device.state))
    views = []
    for name in sorted(members):
        rows = sorted(members[name])
        median_watts = median(w or 0.0 for _, w, _ in rows)
        daylight = median_watts > DAYLIGHT_MEDIAN_WATTS
        tiles = []
        for serial, watts, state in rows:
            ratio = (watts or 0.0) / median_watts if daylight else None
            tiles.append(InverterTile(serial, watts, ratio, _verdict(ratio, watts), state))
        views.append(ArrayView(name, median_watts, tuple(tiles)))
    return views


# --- what is wrong, one line each (the top of the status page) ------------------------

ProblemKind = Literal["down", "dead", "low", "device", "notice"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a target: ``subject`` names the part ("inverter E001"),
    ``text`` says what is wrong with it in words, for a person."""

    kind: ProblemKind
    target: str
    subject: str
    text: str


def _percent(ratio: float) -> str:
    return f"{ratio * 100:.0f} %"


def _inverter_problem(target: str, view: ArrayView, tile: InverterTile, why: str) -> Problem:
    median = f"{view.median_watts:.0f} W"
    state = f"state {tile.state}, " if why.startswith("state") else ""
    kind: ProblemKind = "dead" if tile.verdict == "dead" else "low"
    if kind == "dead":
        made = "nothing" if tile.watts is None else f"{tile.watts:.0f} W"
        text = f"dead: {state}makes {made} while its array's median is {median}"
    else:
        text = (
            f"low: {tile.watts or 0:.0f} W, {_percent(tile.ratio or 0.0)} of its "
            f"array's median {median}"
        )
    return Problem(kind, target, f"inverter {tile.serial}", f"{text} (array {view.name})")


def site_problems(snapshot: Snapshot, reference: float, target: str = "") -> list[Problem]:
    """The failed devices (``snapshot_problems``) and the dead or low inverters of
    arrays of 3 or more in daylight, one line each.

    An inverter in error or silent while its array is dark is not one: real
    inverters sleep in state error at night. In daylight its state and its
    0 W are one line, not two.
    """
    problems: list[Problem] = []
    views = inverter_arrays(snapshot)
    array_of = {t.serial: v for v in views for t in v.tiles}
    failed = snapshot_problems(snapshot, reference)
    device_why = {p.serial: p.why for p in failed if p.device_type == "Inverter"}
    for view in views:
        if not (view.daylight and view.judged):
            continue
        for tile in view.tiles:
            if tile.verdict in ("dead", "low"):
                why = device_why.get(tile.serial, "")
                problems.append(_inverter_problem(target, view, tile, why))
    judged = {p.subject for p in problems}
    for device_problem in failed:
        serial = device_problem.serial
        if device_problem.device_type == "Inverter":
            home = array_of.get(serial)
            if f"inverter {serial}" in judged or (home is not None and not home.daylight):
                continue
        subject = f"{device_problem.device_type} {serial}"
        problems.append(Problem("device", target, subject, device_problem.why))
    return problems


def target_problems(status: TargetStatus) -> list[Problem]:
    """What is wrong with one target as of ``status.now``: down and why, or its
    site's problems; and a notice while its polling is eased off after
    reboots. A target waiting for its first poll has none yet."""
    problems = _down_or_site_problems(status)
    easing = status.easing
    if easing is not None and easing.eased:
        problems.append(Problem("notice", status.target, "PVS", easing.describe()))
    return problems


def _down_or_site_problems(status: TargetStatus) -> list[Problem]:
    if status.up:
        assert status.snapshot is not None
        snapshot = status.snapshot
        reference = newest_data_time(snapshot.devices) or status.now
        return site_problems(snapshot, reference, status.target)
    if status.polls == 0 and not status.last_poll_ok:
        return []
    if not status.active:
        return [
            Problem(
                "notice",
                status.target,
                "polling",
                "not polled: no probe asked for it lately (on_demand mode)",
            )
        ]
    if status.last_poll_ok:
        why = "its data is older than max_age and is no longer served"
    else:
        why = f"{status.last_error_reason}: {status.last_error}".strip(": ")
    if status.last_success_at is None:
        since = "it never answered"
    else:
        since = f"last good poll {duration_text(status.now - status.last_success_at)} ago"
    failed = status.consecutive_failures
    if failed:
        since += f", {failed} failed poll{'s' if failed != 1 else ''} in a row"
    return [Problem("down", status.target, "PVS", f"down: {why} ({since})")]
