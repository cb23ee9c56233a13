"""``--demo --demo-api``: the demo site and the target the exporter gets for it."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sunpower_pvs_exporter.cli.serve import build_parser, config_from_args
from sunpower_pvs_exporter.simulator.demo import DemoSite
from support import parse_samples, series


def config_for(*argv: str):
    return config_from_args(build_parser().parse_args(list(argv)))


def test_demo_api_choices_map_to_targets(tmp_path):
    assert config_for("--demo").targets[0].api == "legacy"
    assert config_for("--demo", "--demo-api", "varserver").targets[0].api == "auto"
    secret = tmp_path / "pw"
    secret.write_text("ABCDE\n")
    target = config_for("--hostname", "127.0.0.1", "--pvs-password-file", str(secret)).targets[0]
    assert target.password_file == str(secret)
    assert target.password() == "ABCDE"


async def test_varserver_demo_serves_https_and_battery_metrics(make_exporter):
    demo = DemoSite(inverters=3, api="varserver")
    await demo.start()
    try:
        config = demo.point_at(config_for("--demo", "--demo-api", "varserver"))
        (target,) = config.targets
        assert target.use_tls and target.port == demo.server.tls_port
        fast = dataclasses.replace(target, poll_interval=0.2, timeout=5.0)
        exporter = await make_exporter([fast])
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                async with http.get(exporter.url + "/metrics") as response:
                    samples = parse_samples(await response.text())
                if series(samples, "sunpower_pvs_up") == [({"target": "demo"}, 1.0)]:
                    break
                await asyncio.sleep(0.05)
        info = series(samples, "sunpower_pvs_target_info")
        assert info == [({"target": "demo", "api": "auto", "backend": "varserver"}, 1.0)]
        assert series(samples, "sunpower_pvs_ess_state_of_charge_ratio")
        assert series(samples, "sunpower_pvs_site_pv_power_watts")
    finally:
        await demo.stop()


# Hours (UTC) the demo might be started at, late evening and dead of night included.
START_TIMES = [
    datetime(2026, 1, 15, 3, 17, 41, tzinfo=UTC).timestamp(),
    datetime(2026, 6, 21, 15, 42, 5, tzinfo=UTC).timestamp(),
    datetime(2026, 11, 30, 23, 59, 30, tzinfo=UTC).timestamp(),
]
# The shipped alert thresholds: SunpowerPvsDataStale and the "silent" half of
# SunpowerPvsInverterNotReporting (contrib/prometheus/alerts.yml).
STALE_AFTER = 1800


@pytest.mark.parametrize("api", ["legacy", "varserver"])
@pytest.mark.parametrize("now", START_TIMES)
async def test_demo_device_clocks_are_the_real_clock_and_the_site_produces(
    api, now, make_exporter, http
):
    demo = DemoSite(inverters=4, api=api, now=now)
    await demo.start()
    try:
        config = demo.point_at(config_for("--demo", "--demo-api", api))
        (target,) = config.targets
        exporter = await make_exporter(
            [dataclasses.replace(target, poll_interval=60.0, timeout=10.0)],
            poll_mode="scrape",
            use_device_data_timestamp=True,
        )
        async with http.get(exporter.url + "/metrics") as response:
            text = await response.text()
    finally:
        await demo.stop()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    reports = families["sunpower_pvs_device_last_report_timestamp_seconds"].samples
    assert len(reports) >= 4 + 1  # the inverters and the supervisor at least
    for sample in reports:
        # Sampled on the device's grid (5 min at most), never in the future.
        assert now - 300 <= sample.value <= now + 5, sample
        assert now - sample.value < STALE_AFTER
        # --use-device-data-timestamp stamps samples with that same real time.
        assert sample.timestamp is not None
        assert now - 300 <= float(sample.timestamp) <= now + 5, sample
    # Every device works, except the SunVault's Schneider-side devices a legacy
    # list shows in "error" for good, as real ones do (FACTS L14).
    always_in_error = {"Gateway", "Storage Inverter", "ESS BMS", "Battery", "Energy Storage System"}
    states = [
        s
        for s in families["sunpower_pvs_device_state"].samples
        if not (s.labels["device_type"] in always_in_error and s.labels["state"] == "error")
    ]
    assert len(states) >= 4 + 1
    assert {s.labels["state"] for s in states} == {"working"}
    assert all(s.value == 1.0 for s in states)
    power = families["sunpower_pvs_inverter_ac_power_watts"].samples
    assert len(power) == 4
    assert all(s.value > 50 for s in power), power


async def test_varserver_demo_with_live_shows_the_live_values(make_exporter):
    demo = DemoSite(inverters=2, api="varserver")
    await demo.start()
    try:
        config = demo.point_at(config_for("--demo", "--demo-api", "varserver", "--live"))
        (target,) = config.targets
        assert target.telemetry_port == demo.server.telemetry_port
        fast = dataclasses.replace(target, poll_interval=0.2, timeout=5.0)
        exporter = await make_exporter([fast], live=True)
        wanted = [
            "sunpower_pvs_live_pv_power_watts",
            "sunpower_pvs_live_grid_power_watts",
            "sunpower_pvs_live_load_power_watts",
            "sunpower_pvs_live_battery_power_watts",
            "sunpower_pvs_live_battery_state_of_charge_ratio",
        ]
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                async with http.get(exporter.url + "/metrics") as response:
                    samples = parse_samples(await response.text())
                if all(series(samples, name) for name in wanted):
                    break
                await asyncio.sleep(0.05)
        assert series(samples, "sunpower_pvs_live_up") == [({"target": "demo"}, 1.0)]
        assert all(series(samples, name) for name in wanted), sorted({n for n, _ in samples})
    finally:
        await demo.stop()
