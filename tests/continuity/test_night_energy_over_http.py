"""Legacy firmware at night: inverters report identity only, lifetime energy stays a number.

Older legacy firmware lists every inverter in ``error`` state at night with
no readings at all (the simulator's default ``error_style="strip"``). The
lifetime energy counter must keep its last value through the night (a NaN
breaks ``increase()``/``rate()`` until it leaves the range); power and the
other instantaneous gauges stay NaN, as the original exporter had them.
"""

from __future__ import annotations

import math

import aiohttp

from support import MIDNIGHT_UTC, NOON_UTC, parse_samples, series, target_for

COUNTER = "sunpower_pvs_inverter_produced_energy_watt_hours_total"
GAUGE = "sunpower_pvs_inverter_energy_total_watt_hours"
POWER = "sunpower_pvs_inverter_ac_power_watts"
NEXT_NIGHT = MIDNIGHT_UTC + 86400  # 00:30 UTC, 12.5 h after NOON_UTC

# The first scrape polls and waits at most the target's timeout: support's 2 s
# was too short for the PVS's answers on a loaded machine (TLS and several
# requests), the scrape then answered up 0 with no devices and the test
# failed. No timing is under test here.
LOADED = 30.0


async def scrape(http: aiohttp.ClientSession, url: str) -> tuple[str, dict]:
    async with http.get(url + "/metrics") as response:
        assert response.status == 200
        text = await response.text()
    return text, parse_samples(text)


def by_device(samples: dict, name: str) -> dict[str, float]:
    return {labels["device_id"]: value for labels, value in series(samples, name)}


async def test_lifetime_energy_keeps_its_noon_value_through_the_night(
    make_simulator, make_exporter, http
):
    sim = await make_simulator(start=NOON_UTC, scale=0.0, inverters=3, error_inverters=0)
    target = target_for(sim, poll_interval=3600.0, max_age=7200.0, timeout=LOADED)
    exporter = await make_exporter([target], poll_mode="scrape")
    poller = next(iter(exporter.state.pollers.values()))

    _, noon = await scrape(http, exporter.url)  # the scrape polls once
    produced = by_device(noon, COUNTER)
    assert len(produced) == 3 and all(value > 0 for value in produced.values()), produced
    assert by_device(noon, GAUGE) == produced
    assert all(value > 0 for value in by_device(noon, POWER).values())

    sim.pvs.clock.start = NEXT_NIGHT
    await poller.poll()
    text, night = await scrape(http, exporter.url)
    # The PVS now lists every inverter as an identity-only error device ...
    states = {
        labels["device_id"]: value
        for labels, value in series(night, "sunpower_pvs_device_state")
        if labels["device_id"] in produced
    }
    assert states == dict.fromkeys(produced, 0.0)
    # ... the lifetime energy keeps its noon value, in the counter and its
    # compatibility gauge ...
    assert by_device(night, COUNTER) == produced
    assert by_device(night, GAUGE) == produced
    # ... and power is NaN, as the original exporter had it.
    power = by_device(night, POWER)
    assert set(power) == set(produced) and all(math.isnan(v) for v in power.values())
    # No counter anywhere is NaN.
    for line in text.splitlines():
        if not line.startswith("#") and line.split("{")[0].split(" ")[0].endswith("_total"):
            assert not line.endswith(" NaN"), line


async def test_an_exporter_started_at_night_omits_the_energy_counter_rather_than_nan(
    make_simulator, make_exporter, http
):
    """Nothing to hold yet: the counter is absent (never NaN) until dawn; the
    compatibility gauge is NaN, as every missing value of the original's metrics."""
    sim = await make_simulator(start=NEXT_NIGHT, scale=0.0, inverters=3, error_inverters=0)
    target = target_for(sim, poll_interval=3600.0, max_age=7200.0, timeout=LOADED)
    exporter = await make_exporter([target], poll_mode="scrape")
    _, night = await scrape(http, exporter.url)
    assert series(night, "sunpower_pvs_up")[0][1] == 1.0
    assert by_device(night, COUNTER) == {}
    gauge = by_device(night, GAUGE)
    assert len(gauge) == 3 and all(math.isnan(v) for v in gauge.values())
    power = by_device(night, POWER)
    assert len(power) == 3 and all(math.isnan(v) for v in power.values())
