"""Devices that vanish stay visible as missing (continuity/absent.py)."""

from __future__ import annotations

import aiohttp

from sunpower_pvs_exporter.continuity.absent import AbsentDevices
from sunpower_pvs_exporter.pvs.model import Device, Snapshot
from support import NOON_UTC, parse_samples, series, tls_target_for

# The first scrape polls and waits at most the target's timeout: support's 2 s
# was too short for the PVS's answers on a loaded machine (TLS and several
# requests), the scrape then answered up 0 with no devices and the test
# failed. No timing is under test here.
LOADED = 30.0


def snapshot(*serials: str) -> Snapshot:
    inverters = [
        Device("Inverter", s, state="working", data_time=1000.0 + i) for i, s in enumerate(serials)
    ]
    devices = (Device("PVS", "ZT1", state="working"), *inverters)
    return Snapshot("varserver", 0.0, devices=devices)


def states(snap: Snapshot) -> dict[str, tuple[str, float | None]]:
    return {d.serial: (d.state, d.data_time) for d in snap.devices}


def test_a_vanished_device_is_listed_as_missing_with_its_last_sample_time() -> None:
    absent = AbsentDevices()
    absent.apply(snapshot("E1", "E2"), 0.0)
    out = absent.apply(snapshot("E2"), 60.0)
    assert states(out) == {
        "ZT1": ("working", None),
        "E2": ("working", 1000.0),
        "E1": ("missing", 1000.0),
    }
    # Back again: listed as the PVS reports it, once.
    back = absent.apply(snapshot("E1", "E2"), 120.0)
    assert states(back) == states(snapshot("E1", "E2"))


def test_a_vanished_device_is_forgotten_after_a_week() -> None:
    absent = AbsentDevices(forget_after=7 * 86400.0)
    absent.apply(snapshot("E1"), 0.0)
    assert "E1" in states(absent.apply(snapshot(), 7 * 86400.0))
    assert "E1" not in states(absent.apply(snapshot(), 7 * 86400.0 + 1))
    assert absent.remembered == 0


def test_nothing_absent_returns_the_same_snapshot() -> None:
    absent = AbsentDevices()
    first = snapshot("E1")
    assert absent.apply(first, 0.0) is first


async def scrape(http: aiohttp.ClientSession, url: str) -> dict:
    async with http.get(url + "/metrics") as response:
        assert response.status == 200
        return parse_samples(await response.text())


async def test_inverter_that_vanishes_from_varserver_stays_visible(
    make_simulator, make_exporter, http
):
    sim = await make_simulator(
        api="varserver", start=NOON_UTC, scale=0.0, inverters=3, error_inverters=0
    )
    target = tls_target_for(
        sim, api="varserver", poll_interval=3600.0, max_age=7200.0, timeout=LOADED
    )
    exporter = await make_exporter([target], poll_mode="scrape")
    poller = next(iter(exporter.state.pollers.values()))
    before = await scrape(http, exporter.url)
    dead = sim.pvs.vanish_inverter(0)
    reports = {
        labels["device_id"]: value
        for labels, value in series(before, "sunpower_pvs_device_last_report_timestamp_seconds")
    }

    await poller.poll()
    after = await scrape(http, exporter.url)
    dead_states = [
        (labels["state"], value)
        for labels, value in series(after, "sunpower_pvs_device_state")
        if labels["device_id"] == dead
    ]
    assert dead_states == [("missing", 0.0)]
    last_report = [
        value
        for labels, value in series(after, "sunpower_pvs_device_last_report_timestamp_seconds")
        if labels["device_id"] == dead
    ]
    assert last_report == [reports[dead]]
    # Its readings are not invented: no power series for the dead inverter.
    powers = {
        labels["device_id"] for labels, _ in series(after, "sunpower_pvs_inverter_ac_power_watts")
    }
    assert dead not in powers
    assert len(powers) == 2
