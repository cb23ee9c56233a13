"""The simulator's "energy_glitch" fault, read over HTTP: counters hold, the glitch is counted."""

from __future__ import annotations

import aiohttp
import pytest

from support import NOON_UTC, api_target_for, parse_samples, series

COUNTERS = (
    "sunpower_pvs_inverter_produced_energy_watt_hours_total",
    "sunpower_pvs_power_meter_imported_energy_watt_hours_total",
    "sunpower_pvs_power_meter_exported_energy_watt_hours_total",
)


async def scrape(http: aiohttp.ClientSession, url: str) -> dict:
    async with http.get(url + "/metrics") as response:
        assert response.status == 200
        return parse_samples(await response.text())


def energy(samples: dict) -> dict[tuple[str, str], float]:
    return {
        (name, labels["device_id"]): value
        for name in COUNTERS
        for labels, value in series(samples, name)
    }


def held(samples: dict) -> dict[str, float]:
    return {
        labels["reason"]: value
        for labels, value in series(samples, "sunpower_pvs_energy_readings_held_total")
    }


@pytest.mark.parametrize("api", ["legacy", "varserver"])
async def test_energy_glitch_is_held_and_counted(api, make_simulator, make_exporter, http):
    # A frozen clock: the true lifetime values do not move between reads.
    sim = await make_simulator(api=api, start=NOON_UTC, scale=0.0, inverters=2, error_inverters=0)
    target = api_target_for(sim, api, poll_interval=3600.0, max_age=7200.0)
    exporter = await make_exporter([target], poll_mode="scrape")
    poller = next(iter(exporter.state.pollers.values()))

    first = await scrape(http, exporter.url)  # the scrape polls once
    truth = energy(first)
    # Two inverters, plus the consumption meter's imported and exported energy.
    assert len(truth) == 4, truth
    assert all(value > 1_000_000 for value in truth.values()), truth
    assert held(first) == {"zero": 0, "small_decrease": 0, "large_decrease": 0}

    sim.pvs.energy_glitch("float_step", "zero")
    for _ in range(2):
        await poller.poll()
        assert energy(await scrape(http, exporter.url)) == truth
    await poller.poll()  # the glitch is over
    last = await scrape(http, exporter.url)
    assert energy(last) == truth
    # Every guarded series was held twice: once for the step, once for the zero.
    assert held(last) == {"zero": 4, "small_decrease": 4, "large_decrease": 0}
    # The seed-compatible gauge holds with the counter.
    gauges = {
        labels["device_id"]: value
        for labels, value in series(last, "sunpower_pvs_inverter_energy_total_watt_hours")
    }
    produced = {dev: v for (name, dev), v in truth.items() if "produced" in name}
    assert gauges == produced


async def test_without_the_guard_the_simulator_glitch_is_visible(make_simulator, http):
    """The fault really misreports: the raw DeviceList goes one step down, then to 0."""
    sim = await make_simulator(start=NOON_UTC, scale=0.0, inverters=1, error_inverters=0)
    url = sim.url + "/cgi-bin/dl_cgi?Command=DeviceList"

    async def inverter_kwh() -> float:
        async with http.get(url) as response:
            doc = await response.json()
        inverter = next(d for d in doc["devices"] if d["DEVICE_TYPE"] == "Inverter")
        return float(inverter["ltea_3phsum_kwh"])

    sim.pvs.energy_glitch()
    true_kwh = float(sim.pvs.state().inverters[0].energy_kwh)
    step, zero, after = [await inverter_kwh() for _ in range(3)]
    assert 0 < true_kwh - step < 0.001
    assert zero == 0.0
    assert after == pytest.approx(true_kwh, abs=1e-9)
