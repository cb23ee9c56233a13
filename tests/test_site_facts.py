"""What a snapshot means for a person: the site's power, the devices not working.

``check`` and the status page both read these; here they are tested once, on
snapshots built by hand (the two users have their own tests of how they show them).
"""

from __future__ import annotations

from sunpower_pvs_exporter.health import TargetStatus
from sunpower_pvs_exporter.pvs.ease_off import Easing
from sunpower_pvs_exporter.pvs.model import (
    Device,
    EnergyStorage,
    Inverter,
    LiveData,
    Meter,
    Snapshot,
)
from sunpower_pvs_exporter.site_facts import (
    SitePower,
    inverter_arrays,
    site_power,
    site_problems,
    target_problems,
)

NOW = 1_750_000_000.0
METERS = (
    Meter(device=Device("Power Meter", "Mp"), mode="production", real_power_watts=3000.0),
    Meter(device=Device("Power Meter", "Mc"), mode="consumption", real_power_watts=-1000.0),
)


def test_site_power_comes_from_the_meters_without_live_data():
    snapshot = Snapshot(backend="legacy", fetched_at=NOW, meters=METERS)
    assert site_power(snapshot) == SitePower(
        production=3000.0, consumption=2000.0, grid=-1000.0, battery=None, soc=None
    )


def test_site_power_prefers_the_pvs_live_totals_to_the_meters():
    live = LiveData(
        pv_power_watts=4000.0,
        grid_power_watts=500.0,
        load_power_watts=5500.0,
        battery_power_watts=1000.0,
        state_of_charge_ratio=0.5,
    )
    snapshot = Snapshot(backend="varserver", fetched_at=NOW, meters=METERS, live=live)
    assert site_power(snapshot) == SitePower(
        production=4000.0, consumption=5500.0, grid=500.0, battery=1000.0, soc=0.5
    )


def test_site_power_falls_back_to_the_inverters_and_the_batteries():
    """No production meter: the inverters' sum; no live data: the ESS stacks."""
    inverters = (
        Inverter(device=Device("Inverter", "E1"), ac_power_watts=200.0),
        Inverter(device=Device("Inverter", "E2"), ac_power_watts=None),
        Inverter(device=Device("Inverter", "E3"), ac_power_watts=250.0),
    )
    storage = (
        EnergyStorage(
            device=Device("Energy Storage System", "S1"),
            power_watts=-300.0,
            state_of_charge_ratio=0.4,
        ),
        EnergyStorage(
            device=Device("Energy Storage System", "S2"),
            power_watts=None,
            state_of_charge_ratio=0.6,
        ),
        # A battery module is not a stack: its SoC is not averaged in.
        EnergyStorage(device=Device("ESS BMS", "B1"), state_of_charge_ratio=0.1),
    )
    snapshot = Snapshot(
        backend="legacy",
        fetched_at=NOW,
        meters=METERS[1:],
        inverters=inverters,
        storage=storage,
    )
    assert site_power(snapshot) == SitePower(
        production=450.0, consumption=-850.0, grid=-1000.0, battery=-300.0, soc=0.5
    )


def test_site_power_is_unknown_not_zero_without_readings():
    snapshot = Snapshot(
        backend="legacy",
        fetched_at=NOW,
        inverters=(Inverter(device=Device("Inverter", "E1")),),
    )
    assert site_power(snapshot) == SitePower(None, None, None, None, None)


# --- the inverter grid and the problem list (status page) ---------------------------


def inverter(serial: str, watts: float | None, state: str = "working") -> Inverter:
    return Inverter(device=Device("Inverter", serial, state=state), ac_power_watts=watts)


def site(*inverters: Inverter, arrays: tuple[tuple[str, str], ...] = (), **fields) -> Snapshot:
    devices = tuple(i.device for i in inverters) + fields.pop("devices", ())
    return Snapshot(
        backend="legacy",
        fetched_at=NOW,
        inverters=inverters,
        devices=devices,
        inverter_arrays=arrays,
        **fields,
    )


def verdicts(snapshot: Snapshot) -> dict[str, dict[str, str]]:
    return {
        view.name: {tile.serial: tile.verdict for tile in view.tiles}
        for view in inverter_arrays(snapshot)
    }


def test_each_inverter_is_judged_against_its_arrays_median():
    """Dead under 5 % of the median, low under 80 %, normal from 80 %: the alerts'
    thresholds and the Grafana array view's colours."""
    snapshot = site(
        inverter("E1", 300.0),
        inverter("E2", 300.0),
        inverter("E3", 300.0),
        inverter("E4", 10.0),  # 4 % of the 250 W median
        inverter("E5", 150.0),  # 60 %
        inverter("E6", 200.0),  # 80 %: normal
    )
    views = inverter_arrays(snapshot)
    assert [v.name for v in views] == ["site"]
    assert views[0].median_watts == 250.0
    assert verdicts(snapshot) == {
        "site": {
            "E1": "normal",
            "E2": "normal",
            "E3": "normal",
            "E4": "dead",
            "E5": "low",
            "E6": "normal",
        }
    }
    ratios = {t.serial: t.ratio for t in views[0].tiles}
    assert ratios["E4"] == 10.0 / 250.0


def test_no_reading_error_and_missing_count_as_zero_in_daylight():
    """As the recording rule: a listed inverter without a reading, in error or
    missing makes 0 W, so in daylight it is dead."""
    missing = Device("Inverter", "E5", state="missing")
    snapshot = site(
        inverter("E1", 300.0),
        inverter("E2", 300.0),
        inverter("E3", 300.0),
        inverter("E4", None),
        inverter("E6", 250.0, state="error"),
        devices=(missing,),
    )
    assert verdicts(snapshot)["site"] == {
        "E1": "normal",
        "E2": "normal",
        "E3": "normal",
        "E4": "dead",
        "E5": "dead",
        "E6": "dead",
    }


def test_night_and_no_data_when_the_arrays_median_is_dark():
    """Median 50 W or less: nothing is judged; an inverter without a reading is no-data."""
    snapshot = site(
        inverter("E1", 40.0), inverter("E2", 0.0), inverter("E3", None), inverter("E4", 60.0)
    )
    assert verdicts(snapshot)["site"] == {
        "E1": "night",
        "E2": "night",
        "E3": "no-data",
        "E4": "night",
    }


def test_arrays_from_the_config_are_judged_apart():
    arrays = (("W1", "west"), ("W2", "west"), ("W3", "west"))
    snapshot = site(
        inverter("S1", 300.0),
        inverter("S2", 300.0),
        inverter("S3", 300.0),
        inverter("W1", 100.0),
        inverter("W2", 100.0),
        inverter("W3", 4.0),
        arrays=arrays,
    )
    assert verdicts(snapshot) == {
        "site": {"S1": "normal", "S2": "normal", "S3": "normal"},
        "west": {"W1": "normal", "W2": "normal", "W3": "dead"},
    }


def problem_lines(snapshot: Snapshot) -> list[tuple[str, str]]:
    return [(p.kind, p.subject) for p in site_problems(snapshot, NOW)]


def test_dead_and_low_inverters_are_problems_in_daylight_only():
    day = site(
        inverter("E1", 300.0),
        inverter("E2", 300.0),
        inverter("E3", 0.0),
        inverter("E4", 150.0),
    )
    assert problem_lines(day) == [("dead", "inverter E3"), ("low", "inverter E4")]
    dead = site_problems(day, NOW)[0]
    assert "array site" in dead.text and "225 W" in dead.text  # the array's median
    night = site(inverter("E1", 30.0), inverter("E2", 30.0), inverter("E3", 0.0))
    assert problem_lines(night) == []


def test_arrays_of_fewer_than_three_inverters_raise_no_dead_or_low_line():
    """As the alerts: the median of two says nothing about either."""
    snapshot = site(inverter("E1", 300.0), inverter("E2", 3.0))
    assert verdicts(snapshot)["site"]["E2"] == "dead"  # the tile still says so
    assert problem_lines(snapshot) == []


def test_an_inverter_in_error_in_daylight_is_one_line_not_two():
    snapshot = site(
        inverter("E1", 300.0), inverter("E2", 300.0), inverter("E3", 300.0, state="error")
    )
    problems = site_problems(snapshot, NOW)
    assert [(p.kind, p.subject) for p in problems] == [("dead", "inverter E3")]
    assert "state error" in problems[0].text


def test_inverters_in_error_at_night_are_not_problems_but_other_devices_are():
    """Inverters sleep in state error at night (pvs-protocol.md); a meter never does."""
    meter = Device("Power Meter", "M1", state="error", data_time=NOW)
    snapshot = site(
        inverter("E1", None, state="error"),
        inverter("E2", None, state="error"),
        inverter("E3", None, state="error"),
        devices=(meter,),
    )
    assert problem_lines(snapshot) == [("device", "Power Meter M1")]


def test_a_dead_production_meter_is_a_problem():
    dead = Meter(
        device=Device("Power Meter", "PM0p", state="working", data_time=NOW),
        mode="production",
        real_power_watts=0.0,
        power_factor=1.0,
        net_energy_watt_hours=0.0,
    )
    snapshot = site(meters=(dead,), devices=(dead.device,))
    problems = site_problems(snapshot, NOW)
    assert [(p.kind, p.subject) for p in problems] == [("device", "Power Meter PM0p")]
    assert "power factor 1" in problems[0].text


def status_of(**fields) -> TargetStatus:
    values = {"target": "roof", "host": "127.0.0.1", "api": "legacy", "now": NOW, "polls": 3}
    values.update(fields)
    return TargetStatus(**values)


def test_a_target_that_is_down_says_why_and_since_when():
    down = status_of(
        last_error="DeviceList: HTTP 500",
        last_error_reason="http_status",
        last_success_at=NOW - 720,
        consecutive_failures=4,
    )
    problems = target_problems(down)
    assert [(p.kind, p.target) for p in problems] == [("down", "roof")]
    assert "http_status: DeviceList: HTTP 500" in problems[0].text
    assert "12 min" in problems[0].text and "4 failed polls" in problems[0].text
    never = status_of(last_error="connection refused", last_error_reason="connect")
    assert "never answered" in target_problems(never)[0].text
    assert target_problems(status_of(polls=0)) == []  # waiting for its first poll


def test_an_up_target_lists_its_site_problems():
    snapshot = site(inverter("E1", 300.0), inverter("E2", 300.0), inverter("E3", 0.0))
    up = status_of(snapshot=snapshot, last_poll_ok=True, last_snapshot_at=NOW)
    assert [(p.kind, p.target, p.subject) for p in target_problems(up)] == [
        ("dead", "roof", "inverter E3")
    ]


def test_polling_eased_off_after_reboots_is_a_notice():
    eased = Easing(configured=120.0, interval=480.0, reboots=3, until=NOW + 3600)
    snapshot = site(inverter("E1", 300.0), inverter("E2", 300.0), inverter("E3", 300.0))
    up = status_of(snapshot=snapshot, last_poll_ok=True, last_snapshot_at=NOW, easing=eased)
    problems = target_problems(up)
    assert [(p.kind, p.subject) for p in problems] == [("notice", "PVS")]
    assert problems[0].text == eased.describe()
    assert "eased to 8 min after 3 reboots" in problems[0].text
    calm = Easing(configured=120.0, interval=120.0)
    assert target_problems(status_of(snapshot=snapshot, last_poll_ok=True, easing=calm)) == []
