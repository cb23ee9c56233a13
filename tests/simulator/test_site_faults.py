"""Named site faults, read back over HTTP the way the exporter reads them.

Each fault is what a panel-health alert or the energy rules must recognise
(docs/panel-health.md): a dead, a degraded and an intermittent inverter, a
cloudy day, a grid outage on a battery site, a site on two roof faces.
"""

from __future__ import annotations

import statistics
from typing import Any

import aiohttp
import pytest

from sunpower_pvs_exporter.simulator.server import SimulatorServer
from sunpower_pvs_exporter.simulator.site import (
    INTERMITTENT_CYCLE,
    INTERMITTENT_OFF,
    SOUTH_ARRAY,
    WEST_ARRAY,
    InverterFault,
)
from support import NOON_UTC

# 10:00 UTC: morning in the UTC site zone the fixture uses.
MORNING_UTC = NOON_UTC - 2 * 3600


async def fetch(sim: SimulatorServer, path: str) -> Any:
    async with (
        aiohttp.ClientSession() as http,
        http.get(sim.url + path) as response,
    ):
        assert response.status == 200
        return await response.json(content_type=None)


async def inverters(sim: SimulatorServer) -> dict[str, dict[str, str]]:
    """Inverters of the DeviceList by serial."""
    doc = await fetch(sim, "/cgi-bin/dl_cgi?Command=DeviceList")
    return {d["SERIAL"]: d for d in doc["devices"] if d["DEVICE_TYPE"] == "Inverter"}


def watts(device: dict[str, str]) -> float:
    return float(device.get("p_3phsum_kw", "0")) * 1000


def jump(sim: SimulatorServer, seconds: float) -> None:
    """Move the simulated clock forward (lifetime energy is integrated over the gap)."""
    sim.pvs.clock.start += seconds


async def test_dead_inverter_is_in_error_and_its_energy_stops(make_simulator):
    sim = await make_simulator(inverters=5, error_inverters=0)
    dead = sim.pvs.inverter_fault(2, "dead")
    before = await inverters(sim)
    assert before[dead]["STATE"] == "error"
    assert "p_3phsum_kw" not in before[dead]  # old firmware strips an errored device
    assert all(d["STATE"] == "working" for s, d in before.items() if s != dead)
    energy = [inv.energy_kwh for inv in sim.pvs.site.inverters]
    jump(sim, 3600)
    devices = await inverters(sim)
    assert devices[dead]["STATE"] == "error"
    after = {s: float(d["ltea_3phsum_kwh"]) for s, d in devices.items() if s != dead}
    assert sim.pvs.site.inverters[2].energy_kwh == energy[2]
    assert after[sim.pvs.site.inverters[1].serial] > energy[1] + 0.1  # an hour of noon sun
    sim.pvs.heal_inverter(2)
    assert (await inverters(sim))[dead]["STATE"] == "working"


async def test_degraded_inverter_makes_its_factor_of_a_healthy_twin(make_simulator):
    sim = await make_simulator(inverters=4, error_inverters=0)
    healthy = watts((await inverters(sim))[sim.pvs.site.inverters[1].serial])
    serial = sim.pvs.inverter_fault(1, "degraded", factor=0.7)
    shaded = watts((await inverters(sim))[serial])
    assert shaded == pytest.approx(0.7 * healthy, rel=0.01)
    assert shaded > 0


async def test_intermittent_inverter_drops_out_for_part_of_every_cycle(make_simulator):
    sim = await make_simulator(inverters=4, error_inverters=0)
    serial = sim.pvs.inverter_fault(0, "intermittent")
    states = []
    for _ in range(6):
        devices = await inverters(sim)
        states.append(devices[serial]["STATE"])
        # Its peers keep working whatever it does.
        assert all(d["STATE"] == "working" for s, d in devices.items() if s != serial)
        jump(sim, INTERMITTENT_CYCLE / 6)
    assert states.count("error") == round(6 * INTERMITTENT_OFF / INTERMITTENT_CYCLE)
    assert "working" in states


async def test_cloudy_day_makes_every_panel_low_alike(make_simulator):
    sim = await make_simulator(inverters=6, error_inverters=0)
    sunny = [watts(d) for d in (await inverters(sim)).values()]
    sim.pvs.cloudy_day()
    cloudy = [watts(d) for d in (await inverters(sim)).values()]
    assert max(cloudy) < 0.3 * min(sunny)
    assert min(cloudy) > 0
    # Each panel falls by the same share: relative to the median, nothing changes.
    ratios = [c / s for c, s in zip(cloudy, sunny, strict=True)]
    assert max(ratios) == pytest.approx(min(ratios), rel=5e-3)
    sim.pvs.cloudy_day(cloudy=False)
    assert min(watts(d) for d in (await inverters(sim)).values()) > max(cloudy)


async def test_grid_outage_opens_the_transfer_switch_and_the_battery_carries_the_home(
    make_simulator,
):
    sim = await make_simulator(inverters=10, error_inverters=0, battery_modules=2)
    ess = "/cgi-bin/dl_cgi/energy-storage-system/status"
    hub = (await fetch(sim, ess))["ess_report"]["hub_plus_status"]
    assert hub["contactor_position"] == "CLOSED"
    imported = sim.pvs.site.import_kwh, sim.pvs.site.export_kwh
    sim.pvs.grid_outage()
    hub = (await fetch(sim, ess))["ess_report"]["hub_plus_status"]
    assert hub["contactor_position"] == "OPEN"
    assert float(hub["grid_phase1_voltage"]["value"]) == 0.0
    doc = await fetch(sim, "/cgi-bin/dl_cgi?Command=DeviceList")
    consumption = next(d for d in doc["devices"] if d.get("TYPE") == "PVS5-METER-C")
    assert float(consumption["p_3phsum_kw"]) == 0.0  # no import, no export
    jump(sim, 3 * 3600)
    await fetch(sim, ess)
    # Three islanded hours: nothing crossed the grid connection.
    assert (sim.pvs.site.import_kwh, sim.pvs.site.export_kwh) == imported
    state = sim.pvs.state()
    assert state.live is not None and state.live.ess_kw is not None
    assert state.live.load_kw == pytest.approx(state.live.pv_kw + state.live.ess_kw, abs=1e-3)
    sim.pvs.grid_outage(down=False)
    hub = (await fetch(sim, ess))["ess_report"]["hub_plus_status"]
    assert hub["contactor_position"] == "CLOSED"
    assert float(hub["grid_phase1_voltage"]["value"]) > 100


async def test_grid_outage_without_a_battery_stops_the_inverters(make_simulator):
    sim = await make_simulator(inverters=3, error_inverters=0)
    sim.pvs.grid_outage()
    assert all(d["STATE"] == "error" for d in (await inverters(sim)).values())


@pytest.mark.parametrize(
    ("start", "west_share"), [(MORNING_UTC, (0.4, 0.7)), (NOON_UTC, (0.7, 1.0))]
)
async def test_two_arrays_west_face_lags_in_the_morning(make_simulator, start, west_share):
    sim = await make_simulator(start=start, inverters=8, error_inverters=0, west_inverters=3)
    devices = await inverters(sim)
    arrays = {serial: sim.pvs.array_of(serial) for serial in devices}
    assert sorted(arrays.values()) == [SOUTH_ARRAY] * 5 + [WEST_ARRAY] * 3
    per_kw = {
        serial: watts(d)
        / next(i.rated_w * i.efficiency for i in sim.pvs.site.inverters if i.serial == serial)
        for serial, d in devices.items()
    }
    south = statistics.median(v for s, v in per_kw.items() if arrays[s] == SOUTH_ARRAY)
    west = statistics.median(v for s, v in per_kw.items() if arrays[s] == WEST_ARRAY)
    low, high = west_share
    assert low < west / south <= high


def test_faults_are_checked():
    with pytest.raises(ValueError, match="inverter fault must be one of dead, degraded"):
        InverterFault("melted")
    with pytest.raises(ValueError, match=r"degraded factor must be within 0\.\.1"):
        InverterFault("degraded", factor=1.5)
