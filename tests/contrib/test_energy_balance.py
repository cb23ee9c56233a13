"""Energy that adds up: the energy rules over a simulated day, run by promtool.

A simulated site is stepped through one day, 5 minutes at a time (the
simulator itself integrates energy each minute); each step its DeviceList
answer goes through the exporter's own parser and metric catalog (the values
/metrics would show), which become promtool input series. promtool then
evaluates contrib/prometheus/rules.yml over them and checks, at the end
of the day, that

* produced + discharged = consumed + exported - imported + charged, within
  the PVS's rounding (meters report kWh to 2 decimals: 10 Wh);
* each flow matches what the simulator itself integrated (its ground truth),

for a net (load-side) and a gross (line-side) consumption CT, for a net-CT
site with a SunVault battery (its charged and discharged counters), and that a
site without a consumption meter has production but no consumption, import
or export (they cannot be known).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from contrib.promql_names import PROMETHEUS_DIR
from e2e.monitoring_stack import require_binaries
from sunpower_pvs_exporter.metrics.catalog import DEVICE_METRICS
from sunpower_pvs_exporter.pvs.legacy_ess import parse_ess_status
from sunpower_pvs_exporter.pvs.legacy_parse import parse_device_list
from sunpower_pvs_exporter.simulator.legacy_api import device_list, ess_status
from sunpower_pvs_exporter.simulator.site import Site, SiteConfig

DAY_START = datetime(2026, 6, 21, tzinfo=UTC).timestamp()
MINUTES = 24 * 60
STEP_MINUTES = 5
# What the energy rules read (the rest of the exposition is left out).
INPUTS = {
    "sunpower_pvs_inverter_produced_energy_watt_hours_total",
    "sunpower_pvs_power_meter_imported_energy_watt_hours_total",
    "sunpower_pvs_power_meter_exported_energy_watt_hours_total",
    "sunpower_pvs_power_meter_subtype_info",
    "sunpower_pvs_device_state",
    # The battery: lifetime counters (varserver), else sampled power (legacy).
    "sunpower_pvs_ess_charged_energy_watt_hours_total",
    "sunpower_pvs_ess_discharged_energy_watt_hours_total",
    "sunpower_pvs_ess_power_watts",
    "sunpower_pvs_site_battery_power_watts",
}
FLOWS = ("produced", "consumed", "imported", "exported")
BATTERY_FLOWS = ("battery_charged", "battery_discharged")
SPECS = tuple(spec for spec in DEVICE_METRICS if spec.name in INPUTS)


@dataclass
class SimulatedDay:
    """One site's day: promtool input series and the simulator's own totals (Wh)."""

    instance: str
    series: dict[str, list[str]]
    truth: dict[str, float]


def simulate_day(instance: str, **config: Any) -> SimulatedDay:
    config = {"tz": UTC, "seed": 21, "inverters": 8, "error_inverters": 0, **config}
    site = Site(SiteConfig(**config), DAY_START)

    def totals() -> dict[str, float]:
        return {
            "produced": sum(inv.energy_kwh for inv in site.inverters) * 1000,
            "consumed": site.load_kwh * 1000,
            "imported": site.import_kwh * 1000,
            "exported": site.export_kwh * 1000,
            "battery_charged": site.charged_kwh * 1000,
            "battery_discharged": site.discharged_kwh * 1000,
        }

    series: dict[str, list[str]] = {}
    start: dict[str, float] = {}
    for step in range(MINUTES // STEP_MINUTES + 1):
        now = DAY_START + step * STEP_MINUTES * 60
        state = site.state(now)
        if step == 0:
            start = totals()
        snapshot = parse_device_list(device_list(state, None, "strip"), now)
        if site.has_storage:
            # The SunVault's own report, as the legacy reader adds it to a poll.
            report = parse_ess_status(ess_status(state), snapshot.devices)
            snapshot = replace(snapshot, storage=report.storage)
        for spec in SPECS:
            for item in spec.subject.items(snapshot):
                value = spec.sample_value(item, openmetrics=False)
                if value is None:
                    continue
                labels = dict(zip(spec.label_names, spec.subject.labels(item), strict=True))
                labels.update(job="sim", instance=instance)
                selector = ", ".join(f'{key}="{val}"' for key, val in sorted(labels.items()))
                values = series.setdefault(f"{spec.name}{{{selector}}}", ["_"] * step)
                values.append(repr(value))
        for values in series.values():
            if len(values) < step + 1:
                values.append("_")
    end = totals()
    return SimulatedDay(instance, series, {k: end[k] - start[k] for k in (*FLOWS, *BATTERY_FLOWS)})


def day_sum(flow: str, instance: str) -> str:
    """The day's 288 five-minute steps after the first sample (the truth's start).

    ``[1d:5m]`` would also take the step at the first sample, where the
    counters have no earlier value but sampled battery power already counts.
    """
    return (
        f"sum_over_time(sunpower_pvs:site_{flow}_watt_hours:increase5m"
        f'{{instance="{instance}"}}[{MINUTES - 1}m:{STEP_MINUTES}m])'
    )


def check(expr: str, instance: str) -> dict[str, Any]:
    """A promql_expr_test: ``expr`` (a ``< bool`` comparison) is 1 for this site."""
    return {
        "expr": expr,
        "eval_time": f"{MINUTES}m",
        "exp_samples": [{"labels": f'{{instance="{instance}", job="sim"}}', "value": 1}],
    }


def balance_test(days: list[SimulatedDay], no_meter: SimulatedDay) -> dict[str, Any]:
    checks = []
    for day in days:
        p, c, i, e = (day_sum(flow, day.instance) for flow in FLOWS)
        battery = day.truth["battery_charged"] + day.truth["battery_discharged"] > 0
        flows = (*FLOWS, *BATTERY_FLOWS) if battery else FLOWS
        if battery:
            charged, discharged = (day_sum(flow, day.instance) for flow in BATTERY_FLOWS)
            p = f"({p} + {discharged})"
            e = f"({e} + {charged})"
        # Rounding: 8 inverters' kWh to 4 decimals, meters' to 2 (10 Wh each).
        checks.append(check(f"abs({p} - ({c} + {e} - {i})) < bool 25", day.instance))
        for flow in flows:
            truth = day.truth[flow]
            # Counters are exact up to their rounding; a gross CT's import and
            # export are split per 5 minutes (a direction change within one is
            # netted); a legacy SunVault has no energy counters, only power
            # sampled each 5 minutes.
            if flow in BATTERY_FLOWS:
                tolerance = 0.01 * truth + 25
            elif flow in ("produced", "consumed") or day.instance != "gross":
                tolerance = 25
            else:
                tolerance = 0.02 * truth + 25
            checks.append(
                check(
                    f"abs({day_sum(flow, day.instance)} - {truth!r}) < bool {tolerance!r}",
                    day.instance,
                )
            )
    checks.append(check(f"{day_sum('produced', no_meter.instance)} > bool 1000", no_meter.instance))
    for flow in ("consumed", "imported", "exported"):
        rule = f'sunpower_pvs:site_{flow}_watt_hours:increase5m{{instance="{no_meter.instance}"}}'
        checks.append(
            {
                "expr": f"absent({rule})",
                "eval_time": f"{MINUTES}m",
                "exp_samples": [{"labels": f'{{instance="{no_meter.instance}"}}', "value": 1}],
            }
        )
    input_series = [
        {"series": selector, "values": " ".join(values)}
        for day in [*days, no_meter]
        for selector, values in day.series.items()
    ]
    return {
        "rule_files": [str(PROMETHEUS_DIR / "rules.yml")],
        "evaluation_interval": f"{STEP_MINUTES}m",
        "tests": [
            {
                "name": "a simulated day adds up",
                "interval": f"{STEP_MINUTES}m",
                "input_series": input_series,
                "promql_expr_test": checks,
            }
        ],
    }


@pytest.mark.e2e
def test_a_simulated_day_adds_up_for_both_ct_types_and_a_battery(tmp_path: Path):
    promtool = require_binaries("promtool")["promtool"]
    days = [
        simulate_day("net", consumption_ct="net"),
        simulate_day("gross", consumption_ct="gross"),
        simulate_day("battery", consumption_ct="net", battery_modules=2),
    ]
    no_meter = simulate_day("none", consumption_meter=False)
    for day in days[:2]:
        # A day with real flows both ways: the checks below can fail.
        assert min(day.truth[flow] for flow in FLOWS) > 5000, day.truth
    # The battery really cycled (and covered the night: no import), so its
    # counters are checked against something.
    battery = days[2].truth
    assert min(battery[flow] for flow in ("produced", "consumed")) > 5000, battery
    assert min(battery[flow] for flow in ("exported", *BATTERY_FLOWS)) > 1000, battery
    path = tmp_path / "energy_balance_test.yml"
    path.write_text(yaml.safe_dump(balance_test(days, no_meter), sort_keys=False, width=10**9))
    run = subprocess.run(
        [promtool, "test", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "SUCCESS" in run.stdout + run.stderr
