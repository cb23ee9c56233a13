"""SunVault, per-phase and site metrics as exported: units (SI) and signs."""

from __future__ import annotations

import pytest

from support import scrape_when_up, series, tls_target_for


def one(samples: dict, name: str, **labels: str) -> float:
    found = [v for lab, v in series(samples, name) if labels.items() <= lab.items()]
    assert len(found) == 1, (name, labels, found)
    return found[0]


async def test_varserver_storage_and_site_metrics(make_simulator, make_exporter, http):
    sim = await make_simulator(api="varserver", scale=0.0, inverters=20, battery_modules=2)
    exporter = await make_exporter([tls_target_for(sim, api="varserver")])
    samples = await scrape_when_up(http, exporter.url + "/metrics")
    state = sim.pvs.state()
    ess = state.storage
    assert ess is not None and state.live is not None
    soc = one(samples, "sunpower_pvs_ess_state_of_charge_ratio")
    assert 0.0 <= soc <= 1.0 and soc == pytest.approx(ess.soc)
    assert one(samples, "sunpower_pvs_ess_state_of_health_ratio") == pytest.approx(0.97)
    power = one(samples, "sunpower_pvs_ess_power_watts")
    assert power == pytest.approx(ess.power_kw * 1000)  # W, not kW
    assert power < 0  # noon surplus: charging is negative
    assert one(samples, "sunpower_pvs_site_battery_power_watts") == pytest.approx(power)
    assert one(samples, "sunpower_pvs_ess_charge_limit_watts") == pytest.approx(3840.0)
    assert one(samples, "sunpower_pvs_ess_discharge_limit_watts") == pytest.approx(6800.0)
    low = one(samples, "sunpower_pvs_ess_cell_min_voltage_volts")
    high = one(samples, "sunpower_pvs_ess_cell_max_voltage_volts")
    assert 2.5 < low < high < 4.2
    assert one(samples, "sunpower_pvs_ess_cell_min_temperature_celsius") < one(
        samples, "sunpower_pvs_ess_cell_max_temperature_celsius"
    )
    charged = one(samples, "sunpower_pvs_ess_charged_energy_watt_hours_total")
    assert charged == pytest.approx(ess.charged_kwh * 1000)
    assert one(samples, "sunpower_pvs_ess_operating_mode_info", mode=ess.op_mode) == 1.0
    assert one(samples, "sunpower_pvs_transfer_switch_state_info", state="CLOSED") == 1.0
    grid_l1 = one(
        samples, "sunpower_pvs_transfer_switch_phase_voltage_volts", side="grid", phase="L1"
    )
    assert 110 < grid_l1 < 130
    pv = one(samples, "sunpower_pvs_site_pv_power_watts")
    load = one(samples, "sunpower_pvs_site_load_power_watts")
    grid = one(samples, "sunpower_pvs_site_grid_power_watts")
    assert grid == pytest.approx(load - pv - power, abs=1.0)
    assert pv > 1000  # watts at noon, not kW
    backup = one(samples, "sunpower_pvs_site_backup_time_remaining_seconds")
    assert backup == pytest.approx(state.live.backup_minutes * 60)


async def test_per_phase_meter_metrics_add_up_in_watts(make_simulator, make_exporter, http):
    sim = await make_simulator(api="varserver", scale=0.0, inverters=10)
    exporter = await make_exporter([tls_target_for(sim, api="varserver")])
    samples = await scrape_when_up(http, exporter.url + "/metrics")
    total = one(samples, "sunpower_pvs_power_meter_average_real_power_watts", mode="consumption")
    legs = [
        one(
            samples,
            "sunpower_pvs_power_meter_phase_real_power_watts",
            mode="consumption",
            phase=phase,
        )
        for phase in ("L1", "L2")
    ]
    assert sum(legs) == pytest.approx(total, abs=0.5)
    assert total < 0  # noon, no battery: exporting, negative on the consumption meter
    for phase in ("L1", "L2"):
        volts = one(
            samples,
            "sunpower_pvs_power_meter_phase_voltage_volts",
            mode="consumption",
            phase=phase,
        )
        assert 110 < volts < 130
    imported = one(
        samples, "sunpower_pvs_power_meter_imported_energy_watt_hours_total", mode="consumption"
    )
    exported = one(
        samples, "sunpower_pvs_power_meter_exported_energy_watt_hours_total", mode="consumption"
    )
    net = one(samples, "sunpower_pvs_power_meter_net_energy_watt_hours", mode="consumption")
    assert imported - exported == pytest.approx(net, abs=20.0)  # Wh; kWh rounded to 0.01
    assert imported > 1e6  # Wh, not kWh
