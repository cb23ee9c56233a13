"""Every compatible metric over a real HTTP round trip: simulator -> exporter -> scrape.

The simulator's clock is frozen (scale 0) so the values it served can be
recomputed here and compared exactly, unit conversions included.
"""

from __future__ import annotations

import asyncio
import math

import pytest

from sunpower_pvs_exporter.metrics.catalog import ALL_METRICS
from support import NOON_UTC, parse_samples, scrape_when_up, series, target_for

INV_LABELS = ("description", "device_id", "model", "module_id", "port", "software_version", "type")


def one(samples, name: str, **labels: str) -> float:
    found = [
        value
        for got, value in series(samples, name)
        if all(got.get(k) == v for k, v in labels.items())
    ]
    assert len(found) == 1, (name, labels, found)
    return found[0]


async def test_every_compatible_metric_matches_what_the_simulator_served(
    make_simulator, make_exporter, http
):
    sim = await make_simulator(inverters=4, error_inverters=1, start=NOON_UTC, scale=0.0)
    exporter = await make_exporter([target_for(sim)])
    samples = await scrape_when_up(http, exporter.url + "/metrics")
    state = sim.pvs.state()

    sup = state.supervisor
    sup_labels = {
        "device_id": sup.serial,
        "model": sup.model,
        "software_version": sup.software_version,
    }
    assert one(samples, "sunpower_pvs_supervisor_uptime_seconds_total", **sup_labels) == (
        sup.uptime
    )
    assert one(samples, "sunpower_pvs_supervisor_mem_used_bytes") == sup.mem_used_kib * 1024
    assert (
        one(samples, "sunpower_pvs_supervisor_flash_storage_available_bytes")
        == sup.flash_avail_kib * 1024
    )
    assert one(samples, "sunpower_pvs_supervisor_cpu_loadavg") == sup.cpu_load
    assert one(samples, "sunpower_pvs_supervisor_communication_errors_total") == sup.comm_errors
    assert one(samples, "sunpower_pvs_supervisor_untransmitted_events_total") == (sup.untransmitted)
    assert one(samples, "sunpower_pvs_supervisor_errors_total") == sup.error_count
    assert one(samples, "sunpower_pvs_supervisor_skipped_scans_total") == sup.skipped_scans
    assert one(samples, "sunpower_pvs_supervisor_scan_time_seconds") == sup.scan_time

    for meter in state.meters:
        labels = {
            "device_id": meter.serial,
            "mode": meter.kind,
            "type": meter.type,
            "model": meter.model,
            "ct_rated_current": str(meter.ct_amps),
            "description": meter.description,
            "port": "",
            "software_version": "3000",
        }
        assert one(samples, "sunpower_pvs_power_meter_average_real_power_watts", **labels) == (
            pytest.approx(meter.p_kw * 1000)
        )
        checks = {
            "sunpower_pvs_power_meter_average_reactive_power_volt_amperes_reactive": meter.q_kvar
            * 1000,
            "sunpower_pvs_power_meter_average_apparent_power_volt_amperes": meter.s_kva * 1000,
            "sunpower_pvs_power_meter_net_energy_watt_hours": meter.net_kwh * 1000,
            "sunpower_pvs_power_meter_power_factor_real_power_per_apparent_power": meter.pf,
            "sunpower_pvs_power_meter_ac_frequency_hertz": meter.freq_hz,
            "sunpower_pvs_power_meter_ct_rated_current_amperes": meter.ct_amps,
        }
        for name, expected in checks.items():
            assert one(samples, name, **labels) == pytest.approx(expected), name

    for inv in state.inverters:
        labels = {
            "device_id": inv.serial,
            "model": inv.model,
            "module_id": inv.module_serial,
            "software_version": inv.software_version,
            "type": "SOLARBRIDGE",
            "description": inv.description,
            "port": "",
        }
        checks = {
            "sunpower_pvs_inverter_ac_power_watts": inv.p_kw * 1000,
            "sunpower_pvs_inverter_ac_current_amperes": inv.i_a,
            "sunpower_pvs_inverter_ac_voltage_volts": inv.vln_v,
            "sunpower_pvs_inverter_dc_power_watts": inv.dc_kw * 1000,
            "sunpower_pvs_inverter_dc_voltage_volts": inv.dc_v,
            "sunpower_pvs_inverter_dc_current_amperes": inv.dc_a,
            "sunpower_pvs_inverter_operating_frequency_hertz": inv.freq_hz,
            "sunpower_pvs_inverter_energy_total_watt_hours": inv.energy_kwh * 1000,
            "sunpower_pvs_inverter_heatsink_temperature_celsius": inv.heatsink_c,
        }
        for name, expected in checks.items():
            value = one(samples, name, **labels)
            if inv.working:
                assert value == pytest.approx(expected), name
            else:
                assert math.isnan(value), f"{name}: error-state inverter must be NaN"
        state_value = one(
            samples,
            "sunpower_pvs_device_state",
            device_id=inv.serial,
            device_type="Inverter",
            state="working" if inv.working else "error",
        )
        assert state_value == (1.0 if inv.working else 0.0)
    assert sorted(set(series(samples, "sunpower_pvs_inverter_ac_power_watts")[0][0])) == sorted(
        INV_LABELS
    )

    interfaces = {
        labels["interface"]: labels
        for labels, _ in series(samples, "sunpower_pvs_communication_interface_info")
    }
    assert interfaces["wan"] == {"interface": "wan", "internet": "up", "sms": "reachable"}
    (grid,) = series(samples, "sunpower_pvs_grid_profile_info")
    assert grid[0]["percent"] == "100" and grid[0]["status"] == "success"

    # Every compatible catalog metric showed up.
    for spec in ALL_METRICS:
        if spec.compatible:
            assert series(samples, spec.name), spec.name


async def test_device_data_timestamp_flag_attaches_datatime(make_simulator, make_exporter, http):
    sim = await make_simulator(inverters=2, error_inverters=1, start=NOON_UTC, scale=0.0)
    exporter = await make_exporter([target_for(sim)], use_device_data_timestamp=True)
    await scrape_when_up(http, exporter.url + "/metrics")
    async with http.get(exporter.url + "/metrics") as response:
        text = await response.text()
    state = sim.pvs.state()
    working = state.inverters[0]
    broken = state.inverters[1]
    assert working.working and not broken.working
    lines = [
        line for line in text.splitlines() if line.startswith("sunpower_pvs_inverter_ac_power")
    ]
    stamped = [line for line in lines if working.serial in line]
    unstamped = [line for line in lines if broken.serial in line]
    assert stamped[0].endswith(f" {int(working.data_time * 1000)}")
    # No DATATIME for an error-state inverter: no timestamp, scrape time applies.
    assert unstamped[0].endswith(" NaN")
    health = [line for line in text.splitlines() if line.startswith("sunpower_pvs_up{")]
    assert len(health[0].split()) == 2  # the exporter's own metrics are never stamped


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"status": 500}, "http_status"),
        ({"invalid_json": True}, "invalid_payload"),
        ({"truncate": True}, "invalid_payload"),
        ({"reset": True}, "connection"),
        ({"latency": 5.0}, "timeout"),
    ],
)
async def test_bad_pvs_gives_200_with_up_0_and_no_device_values(
    make_simulator, make_exporter, http, fault, reason
):
    sim = await make_simulator(inverters=2)
    for key, value in fault.items():
        setattr(sim.pvs.faults, key, value)
    exporter = await make_exporter([target_for(sim, timeout=0.5)])
    deadline = asyncio.get_running_loop().time() + 5
    while True:
        async with http.get(exporter.url + "/metrics", timeout=3) as response:
            assert response.status == 200
            text = await response.text()
        samples = parse_samples(text)
        failures = one(samples, "sunpower_pvs_poll_failures_total", reason=reason)
        if failures >= 1:
            break
        assert asyncio.get_running_loop().time() < deadline, text[-2000:]
        await asyncio.sleep(0.05)
    assert one(samples, "sunpower_pvs_up") == 0.0
    assert not series(samples, "sunpower_pvs_inverter_ac_power_watts")
    assert "Traceback" not in text


async def test_unreachable_pvs_answers_quickly(make_exporter, http):
    from sunpower_pvs_exporter.simulator.server import free_port

    port = free_port()  # nothing listens here
    from sunpower_pvs_exporter.config import TargetConfig

    target = TargetConfig(
        name="gone", host="127.0.0.1", port=port, api="legacy", poll_interval=0.2, timeout=1.0
    )
    exporter = await make_exporter([target])
    await asyncio.sleep(0.3)
    started = asyncio.get_running_loop().time()
    async with http.get(exporter.url + "/metrics") as response:
        assert response.status == 200
        samples = parse_samples(await response.text())
    assert asyncio.get_running_loop().time() - started < 1.0
    assert one(samples, "sunpower_pvs_up") == 0.0
    assert one(samples, "sunpower_pvs_poll_failures_total", reason="connection") >= 1
