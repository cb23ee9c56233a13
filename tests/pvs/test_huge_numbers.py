"""A number that fits no double (10**400) costs one field, never the device or the poll.

The simulator's ``huge_number_field`` fault puts the JSON integer 10**400 into
one field of a real answer; the exporter is scraped over HTTP. Python parses
that integer exactly and ``float()`` refuses it with ``OverflowError``, which
used to fail the whole poll.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from support import parse_samples, series, target_for, tls_target_for


async def scrape_until(http: Any, url: str, done: Any, tries: int = 200) -> dict[Any, float]:
    samples: dict[Any, float] = {}
    for _ in range(tries):
        async with http.get(url + "/metrics") as response:
            assert response.status == 200
            samples = parse_samples(await response.text())
        if done(samples):
            return samples
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition never met; up={series(samples, 'sunpower_pvs_up')}")


def dropped(samples: dict[Any, float]) -> float:
    return sum(v for _, v in series(samples, "sunpower_pvs_dropped_values_total"))


def polls_ok(samples: dict[Any, float]) -> bool:
    return [v for _, v in series(samples, "sunpower_pvs_up")] == [1.0]


async def test_legacy_huge_integer_costs_only_that_field(make_simulator, make_exporter, http):
    sim = await make_simulator(inverters=3, error_inverters=0)
    sim.pvs.faults.huge_number_field = "p_3phsum_kw"
    sim.pvs.faults.only = frozenset({"DeviceList"})
    exporter = await make_exporter([target_for(sim)])
    samples = await scrape_until(http, exporter.url, lambda s: polls_ok(s) and dropped(s) >= 1.0)
    failures = sum(v for _, v in series(samples, "sunpower_pvs_poll_failures_total"))
    assert failures == 0.0
    # Every inverter is still there; the poisoned field is missing on exactly one device
    # (the first DeviceList entry with p_3phsum_kw), everything else on it is exported.
    energies = series(samples, "sunpower_pvs_inverter_produced_energy_watt_hours_total")
    assert len(energies) == 3
    powers = series(samples, "sunpower_pvs_inverter_ac_power_watts")
    powers += series(samples, "sunpower_pvs_power_meter_average_real_power_watts")
    # Missing gauges are exported as NaN (as the original exporter did).
    known = [value for _, value in powers if not math.isnan(value)]
    assert len(powers) == 3 + 2
    assert len(known) == 3 + 2 - 1, powers
    for value in known:
        assert abs(value) < 1e7


async def test_varserver_huge_integer_costs_only_that_field(make_simulator, make_exporter, http):
    sim = await make_simulator(api="varserver", inverters=3, error_inverters=0)
    sim.pvs.faults.huge_number_field = "ltea3phsumKwh"
    exporter = await make_exporter([tls_target_for(sim, api="varserver")])
    samples = await scrape_until(http, exporter.url, lambda s: polls_ok(s) and dropped(s) >= 1.0)
    assert sum(v for _, v in series(samples, "sunpower_pvs_poll_failures_total")) == 0.0
    assert len(series(samples, "sunpower_pvs_inverter_ac_power_watts")) == 3
    energies = series(samples, "sunpower_pvs_inverter_produced_energy_watt_hours_total")
    assert len(energies) == 2
    for _, value in energies:
        assert 0 <= value < 1e12


async def test_a_healthy_pvs_drops_nothing(make_simulator, make_exporter, http):
    sim = await make_simulator(inverters=3, error_inverters=0)
    exporter = await make_exporter([target_for(sim)])
    samples = await scrape_until(http, exporter.url, polls_ok)
    assert series(samples, "sunpower_pvs_dropped_values_total") != []
    assert dropped(samples) == 0.0
