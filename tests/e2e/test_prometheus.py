"""The exporter in a real Prometheus: scrapes, labels, values, up/down, lint.

The stack (two simulated PVSes, two exporters, one ``prometheus`` process) is
described in monitoring_stack.py and shared with tests/contrib.
"""

from __future__ import annotations

import math
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from e2e.monitoring_stack import (
    JOB_EXPORTER,
    JOB_PROBE,
    JOB_SINGLE,
    SHORT_FOR,
    SITES,
    MonitoringStack,
    http_get,
    require_binaries,
)
from sunpower_pvs_exporter.metrics.catalog import ALL_METRICS
from sunpower_pvs_exporter.simulator.site import SiteState
from support import parse_samples, series

pytestmark = pytest.mark.e2e

KIB = 1024.0


def value_of(sample: dict[str, Any]) -> float:
    return float(sample["value"][1])  # "NaN" parses too


def by_device(result: list[dict[str, Any]]) -> dict[str, float]:
    return {s["metric"]["device_id"]: value_of(s) for s in result}


# What the simulator served, in the exporter's units: (value, tolerance).
Expected = dict[tuple[str, str], tuple[float, float]]


def expected_values(state: SiteState) -> Expected:
    exp: Expected = {}
    sup = state.supervisor
    for name, value in {
        "sunpower_pvs_supervisor_uptime_seconds_total": sup.uptime,
        "sunpower_pvs_supervisor_mem_used_bytes": sup.mem_used_kib * KIB,
        "sunpower_pvs_supervisor_flash_storage_available_bytes": sup.flash_avail_kib * KIB,
        "sunpower_pvs_supervisor_communication_errors_total": sup.comm_errors,
        "sunpower_pvs_supervisor_untransmitted_events_total": sup.untransmitted,
        "sunpower_pvs_supervisor_cpu_loadavg": sup.cpu_load,
        "sunpower_pvs_supervisor_errors_total": sup.error_count,
        "sunpower_pvs_supervisor_skipped_scans_total": sup.skipped_scans,
        "sunpower_pvs_supervisor_scan_time_seconds": sup.scan_time,
    }.items():
        exp[(name, sup.serial)] = (float(value), 1e-9)
    for meter in state.meters:
        for name, value in {
            "sunpower_pvs_power_meter_average_real_power_watts": meter.p_kw * 1000,
            "sunpower_pvs_power_meter_average_reactive_power_volt_amperes_reactive": meter.q_kvar
            * 1000,
            "sunpower_pvs_power_meter_average_apparent_power_volt_amperes": meter.s_kva * 1000,
            "sunpower_pvs_power_meter_power_factor_real_power_per_apparent_power": meter.pf,
            "sunpower_pvs_power_meter_ac_frequency_hertz": meter.freq_hz,
            "sunpower_pvs_power_meter_ct_rated_current_amperes": meter.ct_amps,
        }.items():
            exp[(name, meter.serial)] = (float(value), 1e-6)
        # Lifetime energy is integrated as time passes: allow a few seconds of it.
        exp[("sunpower_pvs_power_meter_net_energy_watt_hours", meter.serial)] = (
            meter.net_kwh * 1000,
            50.0,
        )
    nan = math.nan
    for inv in state.inverters:
        working = inv.working
        for name, value, tolerance in (
            ("sunpower_pvs_inverter_ac_power_watts", inv.p_kw * 1000, 1e-6),
            ("sunpower_pvs_inverter_dc_power_watts", inv.dc_kw * 1000, 1e-6),
            ("sunpower_pvs_inverter_ac_voltage_volts", inv.vln_v, 1e-9),
            ("sunpower_pvs_inverter_ac_current_amperes", inv.i_a, 1e-9),
            ("sunpower_pvs_inverter_dc_voltage_volts", inv.dc_v, 1e-9),
            ("sunpower_pvs_inverter_dc_current_amperes", inv.dc_a, 1e-9),
            ("sunpower_pvs_inverter_operating_frequency_hertz", inv.freq_hz, 1e-9),
            ("sunpower_pvs_inverter_heatsink_temperature_celsius", inv.heatsink_c, 1e-9),
            ("sunpower_pvs_inverter_energy_total_watt_hours", inv.energy_kwh * 1000, 50.0),
        ):
            # An inverter in error state reports identity only: NaN, as the original did.
            exp[(name, inv.serial)] = (value if working else nan, tolerance)
        exp[("sunpower_pvs_device_state", inv.serial)] = (1.0 if working else 0.0, 0.0)
    return exp


def mismatches(stack: MonitoringStack, job: str, instance: str | None = None) -> list[str]:
    """Differences between Prometheus's latest samples and the simulator's state."""
    state = stack.sites["home"].pvs.state()
    selector = f'job="{job}"' + (f', instance="{instance}"' if instance else "")
    problems: list[str] = []
    got_by_name: dict[str, dict[str, float]] = {}
    for (name, device), (want, tolerance) in sorted(expected_values(state).items()):
        if name not in got_by_name:
            got_by_name[name] = by_device(stack.query(f"{name}{{{selector}}}"))
        got = got_by_name[name].get(device)
        if got is None:
            problems.append(f"{name}{{device_id={device}}}: missing")
        elif math.isnan(want) or math.isnan(got):
            if not (math.isnan(want) and math.isnan(got)):
                problems.append(f"{name}{{device_id={device}}}: got {got}, want {want}")
        elif abs(got - want) > tolerance:
            problems.append(f"{name}{{device_id={device}}}: got {got}, want {want}")
    return problems


def assert_matches_simulator(stack: MonitoringStack, job: str, instance: str | None = None):
    # The simulator resamples meters every 15 s: a comparison that straddles a
    # boundary is retried once Prometheus has scraped the new values (bounded).
    problems: list[str] = []
    for _ in range(6):
        problems = mismatches(stack, job, instance)
        if not problems:
            return
        time.sleep(1.5)
    raise AssertionError("Prometheus disagrees with the simulator:\n" + "\n".join(problems))


# The original exporter's metrics (the "compatible" ones of docs/metrics.md),
# with the two name fixes of docs/migration.md (_celsius, _volt_amperes).
ORIGINAL_METRICS = {
    "sunpower_pvs_communication_interface_info",
    "sunpower_pvs_grid_profile_info",
    "sunpower_pvs_supervisor_communication_errors_total",
    "sunpower_pvs_supervisor_cpu_loadavg",
    "sunpower_pvs_supervisor_errors_total",
    "sunpower_pvs_supervisor_flash_storage_available_bytes",
    "sunpower_pvs_supervisor_mem_used_bytes",
    "sunpower_pvs_supervisor_scan_time_seconds",
    "sunpower_pvs_supervisor_skipped_scans_total",
    "sunpower_pvs_supervisor_untransmitted_events_total",
    "sunpower_pvs_supervisor_uptime_seconds_total",
    "sunpower_pvs_power_meter_ct_rated_current_amperes",
    "sunpower_pvs_power_meter_ac_frequency_hertz",
    "sunpower_pvs_power_meter_net_energy_watt_hours",
    "sunpower_pvs_power_meter_average_real_power_watts",
    "sunpower_pvs_power_meter_average_reactive_power_volt_amperes_reactive",
    "sunpower_pvs_power_meter_average_apparent_power_volt_amperes",
    "sunpower_pvs_power_meter_power_factor_real_power_per_apparent_power",
    "sunpower_pvs_inverter_ac_current_amperes",
    "sunpower_pvs_inverter_ac_power_watts",
    "sunpower_pvs_inverter_ac_voltage_volts",
    "sunpower_pvs_inverter_dc_current_amperes",
    "sunpower_pvs_inverter_dc_power_watts",
    "sunpower_pvs_inverter_dc_voltage_volts",
    "sunpower_pvs_inverter_operating_frequency_hertz",
    "sunpower_pvs_inverter_energy_total_watt_hours",
    "sunpower_pvs_inverter_heatsink_temperature_celsius",
    "sunpower_pvs_device_state",
}


def test_seed_compatible_series_have_the_original_labels(stack):
    """Every metric of the original exporter is in Prometheus with its exact label names."""
    compatible = [spec for spec in ALL_METRICS if spec.name in ORIGINAL_METRICS]
    assert {spec.name for spec in compatible} == ORIGINAL_METRICS
    python_info = stack.query(f'python_info{{job="{JOB_SINGLE}"}}')
    assert len(python_info) == 1
    assert {"implementation", "major", "minor", "patchlevel", "version"} <= set(
        python_info[0]["metric"]
    )
    home = SITES["home"]
    # Series per subject on the "home" site: 1 supervisor, 2 meters, 4 inverters,
    # 7 devices, 3 network interfaces, 1 grid profile.
    counts = {
        "supervisor": 1,
        "power_meter": 2,
        "inverter": home["inverters"],
        "device": 1 + 2 + home["inverters"],
        "communication_interface": 3,
        "grid_profile": 1,
    }
    status, text = http_get(stack.exporters["single"].url + "/metrics")
    assert status == 200
    scraped = parse_samples(text)
    instance = f"127.0.0.1:{stack.exporters['single'].port}"
    for spec in compatible:
        exposed = series(scraped, spec.name)
        assert len(exposed) == counts[spec.subject.name], (spec.name, exposed)
        for labels, _ in exposed:
            assert set(labels) == set(spec.label_names), spec.name
        # Prometheus drops labels whose value is empty (e.g. port="", as with
        # the original exporter); every other label arrives unchanged.
        extra = {"job": JOB_SINGLE, "instance": instance}
        want = sorted(
            sorted({**{k: v for k, v in labels.items() if v}, **extra}.items())
            for labels, _ in exposed
        )
        got = sorted(
            sorted((k, v) for k, v in sample["metric"].items() if k != "__name__")
            for sample in stack.query(f'{spec.name}{{job="{JOB_SINGLE}"}}')
        )
        assert got == want, spec.name


def test_values_match_what_the_simulator_served(stack):
    assert_matches_simulator(stack, JOB_SINGLE)
    # The same PVS through /probe and the documented relabel_configs.
    assert_matches_simulator(stack, JOB_PROBE, instance="home")


def test_label_values_are_the_raw_pvs_strings(stack):
    state = stack.sites["home"].pvs.state()
    (sup,) = stack.query(f'sunpower_pvs_supervisor_uptime_seconds_total{{job="{JOB_SINGLE}"}}')
    assert sup["metric"]["device_id"] == state.supervisor.serial
    assert sup["metric"]["software_version"] == state.supervisor.software_version
    modes = {
        s["metric"]["device_id"]: (s["metric"]["mode"], s["metric"]["ct_rated_current"])
        for s in stack.query(
            f'sunpower_pvs_power_meter_average_real_power_watts{{job="{JOB_SINGLE}"}}'
        )
    }
    assert modes == {m.serial: (m.kind, str(m.ct_amps)) for m in state.meters}
    states = {
        s["metric"]["device_id"]: s["metric"]["state"]
        for s in stack.query(
            f'sunpower_pvs_device_state{{job="{JOB_SINGLE}", device_type="Inverter"}}'
        )
    }
    assert states == {i.serial: "working" if i.working else "error" for i in state.inverters}
    assert "error" in states.values() and "working" in states.values()
    interfaces = stack.query(f'sunpower_pvs_communication_interface_info{{job="{JOB_SINGLE}"}}')
    assert {s["metric"]["interface"] for s in interfaces} == {"wan", "plc", "sta0"}


def test_probe_job_labels_each_site_by_target_name(stack):
    ups = stack.query(f'sunpower_pvs_up{{job="{JOB_PROBE}"}}')
    assert {(s["metric"]["instance"], s["metric"]["target"], value_of(s)) for s in ups} == {
        (name, name, 1.0) for name in SITES
    }
    inverters = stack.query(
        f'count by (instance) (sunpower_pvs_inverter_ac_power_watts{{job="{JOB_PROBE}"}})'
    )
    assert {s["metric"]["instance"]: value_of(s) for s in inverters} == {
        name: float(site["inverters"]) for name, site in SITES.items()
    }
    # The multi-target exporter's own /metrics: health of every target, no device data.
    health = stack.query(f'sunpower_pvs_up{{job="{JOB_EXPORTER}"}}')
    assert sorted(s["metric"]["target"] for s in health) == sorted(SITES)
    assert stack.query(f'sunpower_pvs_inverter_ac_power_watts{{job="{JOB_EXPORTER}"}}') == []


def test_rules_load_and_record_site_power(stack):
    groups = stack.api("rules")["groups"]
    assert {g["file"] for g in groups} == {str(path) for path in stack.rule_files()}
    for group in groups:
        for rule in group["rules"]:
            assert rule["health"] == "ok", (rule["name"], rule.get("lastError"))
    state = stack.sites["home"].pvs.state()
    production = next(m for m in state.meters if m.kind == "production")
    grid = next(m for m in state.meters if m.kind == "consumption")
    for _ in range(6):
        values = {
            name: value_of(sample)
            for name in ("sunpower_pvs:site_production_watts", "sunpower_pvs:site_grid_watts")
            for sample in stack.query(f'{name}{{job="{JOB_SINGLE}"}}')
        }
        want = {
            "sunpower_pvs:site_production_watts": production.p_kw * 1000,
            "sunpower_pvs:site_grid_watts": grid.p_kw * 1000,
        }
        if all(abs(values.get(k, math.inf) - v) < 1e-6 for k, v in want.items()):
            break
        time.sleep(1.5)
        state = stack.sites["home"].pvs.state()
        production = next(m for m in state.meters if m.kind == "production")
        grid = next(m for m in state.meters if m.kind == "consumption")
    else:
        raise AssertionError(f"recorded {values}, simulator served {want}")
    assert production.p_kw > 0.1, "the simulated site should be producing (local noon)"


def gross_ct_mismatches(stack: MonitoringStack) -> list[str]:
    state = stack.sites["barn"].pvs.state()
    production = next(m for m in state.meters if m.kind == "production")
    load = next(m for m in state.meters if m.kind == "consumption")
    want = {
        # The gross CT reads what the home uses: that is the consumption...
        "sunpower_pvs:site_consumption_watts": load.p_kw * 1000,
        # ...and the grid is what production does not cover (no battery here).
        "sunpower_pvs:site_grid_watts": (load.p_kw - production.p_kw) * 1000,
    }
    problems = []
    for name, value in want.items():
        got = [value_of(s) for s in stack.query(f'{name}{{job="{JOB_PROBE}", instance="barn"}}')]
        if len(got) != 1 or abs(got[0] - value) > 1e-6:
            problems.append(f"{name}: got {got}, want {value}")
    return problems


def test_gross_consumption_ct_site_power_is_computed_right(stack):
    """A legacy site whose consumption CT is gross: the rules use the meter's
    subtype (exported as sunpower_pvs_power_meter_subtype_info) instead of
    taking its reading as net grid power."""
    (info,) = stack.query(
        f'sunpower_pvs_power_meter_subtype_info{{job="{JOB_PROBE}", instance="barn", '
        'mode="consumption"}'
    )
    assert info["metric"]["measures"] == "gross"
    problems: list[str] = []
    for _ in range(6):
        problems = gross_ct_mismatches(stack)
        if not problems:
            break
        time.sleep(1.5)
    else:
        raise AssertionError("\n".join(problems))
    state = stack.sites["barn"].pvs.state()
    production = next(m for m in state.meters if m.kind == "production")
    assert production.p_kw > 0.1, "the simulated site should be producing (local noon)"


def battery_mismatches(stack: MonitoringStack) -> list[str]:
    state = stack.sites["cabin"].pvs.state()
    ess, live = state.storage, state.live
    assert ess is not None and live is not None
    want = {
        "sunpower_pvs_ess_state_of_charge_ratio": ess.soc,
        "sunpower_pvs_ess_customer_state_of_charge_ratio": ess.customer_soc,
        "sunpower_pvs_ess_power_watts": ess.power_kw * 1000,
        "sunpower_pvs_site_battery_power_watts": ess.power_kw * 1000,
        "sunpower_pvs_site_pv_power_watts": live.pv_kw * 1000,
        "sunpower_pvs_site_load_power_watts": live.load_kw * 1000,
        "sunpower_pvs:site_battery_watts": ess.power_kw * 1000,
        "sunpower_pvs:site_consumption_watts": live.load_kw * 1000,
        "sunpower_pvs:site_battery_state_of_charge_ratio": ess.soc,
    }
    problems = []
    for name, value in want.items():
        got = [value_of(s) for s in stack.query(f'{name}{{job="{JOB_PROBE}", instance="cabin"}}')]
        if len(got) != 1 or abs(got[0] - value) > 1e-6:
            problems.append(f"{name}: got {got}, want {value}")
    return problems


def test_battery_site_on_new_firmware_matches_the_simulator(stack):
    """The varserver (https) site with a SunVault: battery values, in W and 0-1 ratios."""
    problems: list[str] = []
    for _ in range(6):
        problems = battery_mismatches(stack)
        if not problems:
            return
        time.sleep(1.5)
    raise AssertionError("\n".join(problems))


def test_dead_inverter_alert_fires_for_the_dead_inverters_only(stack):
    """Panel health on real Prometheus: the simulator's "dead" fault on one of "barn"'s
    3 inverters, and "home"'s inverter in error, fire SunpowerPvsInverterDead (its e2e
    copy with a short ``for``) for exactly those device_ids; "cabin" (2 inverters: too
    few to judge) and every healthy inverter stay quiet, and no other alert is even
    pending."""
    home = {i.serial for i in stack.sites["home"].pvs.state().inverters if not i.working}
    assert len(home) == 1
    barn = stack.sites["barn"].pvs
    dead = barn.inverter_fault(1, "dead")
    try:
        want = {
            (JOB_SINGLE, f"127.0.0.1:{stack.exporters['single'].port}", *home),
            (JOB_PROBE, "home", *home),
            (JOB_PROBE, "barn", dead),
        }

        def fired(result: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
            return {
                (s["metric"]["job"], s["metric"]["instance"], s["metric"]["device_id"])
                for s in result
            }

        alerts = stack.wait_for(
            'ALERTS{alertname="SunpowerPvsInverterDead", alertstate="firing"}',
            lambda r: fired(r) == want,
            "SunpowerPvsInverterDead firing for home's and barn's dead inverters",
            timeout=40.0,
        )
        assert {a["metric"]["e2e_for"] for a in alerts} == {SHORT_FOR}
        assert {a["metric"]["array"] for a in alerts} == {"site"}
        # The shipped rule (30 minutes) sees the same inverters, pending.
        pending = stack.query('ALERTS{alertname="SunpowerPvsInverterDead", e2e_for=""}')
        assert fired(pending) == want
        assert {a["metric"]["alertstate"] for a in pending} == {"pending"}
        others = stack.query('ALERTS{alertname!="SunpowerPvsInverterDead"}')
        assert others == [], others
    finally:
        barn.heal_inverter(1)


def test_sunpower_pvs_up_follows_the_pvs_while_up_stays_1(stack):
    """PVS gone: the exporter still answers (up 1) but says the PVS is down; and back."""
    single = f'job="{JOB_SINGLE}"'
    stack.stop_simulator("home")
    try:
        stack.wait_for(
            f"sunpower_pvs_up{{{single}}} == 0",
            lambda r: len(r) == 1,
            "sunpower_pvs_up 0 after the PVS stopped",
        )
        assert [value_of(s) for s in stack.query(f"up{{{single}}}")] == [1.0]
        stack.wait_for(
            f'sunpower_pvs_up{{job="{JOB_PROBE}", instance="home"}} == 0',
            lambda r: len(r) == 1,
            "the probed 'home' target down",
        )
        cabin = stack.query(f'sunpower_pvs_up{{job="{JOB_PROBE}", instance="cabin"}}')
        assert [value_of(s) for s in cabin] == [1.0], "the other site is unaffected"
        failures = stack.query(
            f'sunpower_pvs_poll_failures_total{{{single}, reason="connection"}} > 0'
        )
        assert len(failures) == 1
        # Once older than max_age (5 s) the cached data is withheld, and
        # Prometheus marks the device series stale instead of repeating them.
        stack.wait_for(
            f"sunpower_pvs_inverter_ac_power_watts{{{single}}}",
            lambda r: r == [],
            "device series to go stale",
        )
    finally:
        stack.start_simulator("home")
    stack.wait_for(
        f"sunpower_pvs_up{{{single}}} == 1",
        lambda r: len(r) == 1,
        "sunpower_pvs_up 1 after the PVS restarted on the same port",
    )
    stack.wait_for(
        f"count(sunpower_pvs_inverter_ac_power_watts{{{single}}})",
        lambda r: bool(r) and value_of(r[0]) == SITES["home"]["inverters"],
        "device series back",
    )
    stack.wait_for(
        f'sunpower_pvs_up{{job="{JOB_PROBE}"}} == 1',
        lambda r: len(r) == len(SITES),
        "every site up",
    )
    assert_matches_simulator(stack, JOB_SINGLE)


def test_up_goes_0_when_the_exporter_stops_and_1_when_it_is_back(stack):
    single = f'job="{JOB_SINGLE}"'
    stack.stop_exporter("single")
    try:
        stack.wait_for(f"up{{{single}}} == 0", lambda r: len(r) == 1, "up 0")
        # Nothing the dead exporter said is kept as current.
        assert stack.query(f"sunpower_pvs_up{{{single}}}") == []
    finally:
        stack.start_exporter("single")
    stack.wait_for(f"up{{{single}}} == 1", lambda r: len(r) == 1, "up 1 again")
    stack.wait_for(f"sunpower_pvs_up{{{single}}} == 1", lambda r: len(r) == 1, "PVS up again")


# `promtool check metrics` findings we keep on purpose, listed by name and
# documented in docs/monitoring.md ("promtool check metrics"): every
# `..._watt_hours` name gets 'use base unit "seconds" instead of "hours"'
# (promtool wants joules). The original exporter's `..._watt_hours` names are the
# compatibility contract (docs/migration.md), and the newer energy
# metrics follow them so one site's energies share the unit people read on their
# bills; renaming would break every dashboard and query written for the original.
ACCEPTED_WATT_HOUR_NAMES = (
    "sunpower_pvs_power_meter_net_energy_watt_hours",
    "sunpower_pvs_power_meter_imported_energy_watt_hours_total",
    "sunpower_pvs_power_meter_exported_energy_watt_hours_total",
    "sunpower_pvs_inverter_energy_total_watt_hours",
    "sunpower_pvs_inverter_produced_energy_watt_hours_total",
    "sunpower_pvs_ess_charged_energy_watt_hours_total",
    "sunpower_pvs_ess_discharged_energy_watt_hours_total",
    "sunpower_pvs_site_grid_energy_watt_hours",
    "sunpower_pvs_site_battery_energy_watt_hours",
)
ACCEPTED_LINT = {
    f'{name} use base unit "seconds" instead of "hours"' for name in ACCEPTED_WATT_HOUR_NAMES
}


def test_accepted_lint_list_is_complete_and_documented():
    """A new watt-hour metric is a decision: add it here and in the docs, or rename it."""
    catalog = {spec.name for spec in ALL_METRICS if "hours" in spec.name}
    assert catalog == set(ACCEPTED_WATT_HOUR_NAMES)
    docs = (Path(__file__).parents[2] / "docs" / "monitoring.md").read_text()
    for name in ACCEPTED_WATT_HOUR_NAMES:
        assert f"- `{name}`" in docs, name


@pytest.mark.parametrize(
    ("exporter", "path"),
    [
        ("single", "/metrics"),
        ("multi", "/metrics"),
        ("multi", "/probe?target=home"),
        ("multi", "/probe?target=cabin"),
    ],
)
def test_promtool_check_metrics(stack, exporter, path):
    promtool = require_binaries("promtool")["promtool"]
    status, text = http_get(stack.exporters[exporter].url + path)
    assert status == 200
    assert "sunpower_pvs_up" in text
    run = subprocess.run(
        [promtool, "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    findings = [line.strip() for line in (run.stdout + run.stderr).splitlines() if line.strip()]
    unexpected = [line for line in findings if line not in ACCEPTED_LINT]
    assert unexpected == [], "\n".join(findings)
    # 3: lint findings (only the accepted ones); 0: none.
    assert run.returncode == (3 if findings else 0), run
