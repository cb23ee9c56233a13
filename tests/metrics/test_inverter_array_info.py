"""``sunpower_pvs_inverter_array_info``: the owner's arrays, one series per inverter.

Read over HTTP from an exporter polling a simulated site split in two roof
faces (named fault "two_arrays"), as Prometheus would.
"""

from __future__ import annotations

import aiohttp

from sunpower_pvs_exporter.config import parse_config
from sunpower_pvs_exporter.pvs.model import DEFAULT_ARRAY
from support import api_target_for, scrape_when_up, series

INFO = "sunpower_pvs_inverter_array_info"


def arrays_of(samples) -> dict[str, str]:
    found = {labels["device_id"]: labels["array"] for labels, _ in series(samples, INFO)}
    assert all(set(labels) == {"device_id", "array"} for labels, _ in series(samples, INFO))
    return found


async def test_configured_arrays_label_each_inverter_and_the_rest_are_site(
    make_simulator, make_exporter
):
    sim = await make_simulator(inverters=6, error_inverters=1, west_inverters=2)
    serials = [inv.serial for inv in sim.pvs.site.inverters]
    faces = {serial: sim.pvs.array_of(serial) for serial in serials}
    # The owner lists all but the first inverter (forgotten): it stays in "site".
    listed = {serial: face for serial, face in faces.items() if serial != serials[0]}
    target = api_target_for(sim, "legacy", inverter_arrays=tuple(sorted(listed.items())))
    server = await make_exporter([target])
    async with aiohttp.ClientSession() as http:
        samples = await scrape_when_up(http, f"http://127.0.0.1:{server.port}/metrics")
    assert arrays_of(samples) == {**listed, serials[0]: DEFAULT_ARRAY}
    assert sorted(faces.values()).count("west") == 2
    # The inverter in error is listed too: a dead inverter still needs its array.
    assert serials[-1] in arrays_of(samples)
    # The seed-compatible inverter series keep exactly their labels.
    power = series(samples, "sunpower_pvs_inverter_ac_power_watts")
    assert power and all("array" not in labels for labels, _ in power)


async def test_without_arrays_the_whole_site_is_one_array(make_simulator, make_exporter):
    sim = await make_simulator(api="varserver", inverters=3, error_inverters=0)
    server = await make_exporter([api_target_for(sim, "varserver")])
    async with aiohttp.ClientSession() as http:
        samples = await scrape_when_up(http, f"http://127.0.0.1:{server.port}/metrics")
    assert arrays_of(samples) == {inv.serial: "site" for inv in sim.pvs.site.inverters}


def test_config_file_arrays_become_sorted_serial_array_pairs():
    config = parse_config(
        {
            "targets": [
                {
                    "name": "home",
                    "host": "192.0.2.10",
                    "arrays": {"west": ["E002", " E003 "], "south": ["E001"]},
                },
                {"name": "cabin", "host": "192.0.2.11"},
            ]
        }
    )
    home, cabin = config.targets
    assert home.inverter_arrays == (("E001", "south"), ("E002", "west"), ("E003", "west"))
    assert cabin.inverter_arrays == ()
