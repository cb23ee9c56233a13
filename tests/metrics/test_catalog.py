"""The catalog against the original exporter's contract; the golden files pass promtool.

The golden files themselves are tests/test_golden_http.py's: one per input,
what ``/metrics`` serves for it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from sunpower_pvs_exporter.metrics.catalog import ALL_METRICS
from sunpower_pvs_exporter.metrics.docs import render_metrics_doc
from support import require_program

ROOT = Path(__file__).parent.parent.parent
SUP = {"device_id", "model", "software_version"}
MET = {
    "ct_rated_current",
    "description",
    "device_id",
    "mode",
    "model",
    "port",
    "software_version",
    "type",
}
INV = {"description", "device_id", "model", "module_id", "port", "software_version", "type"}

# The original exporter's metrics (the "compatible" ones of docs/metrics.md),
# with the two name fixes of docs/migration.md.
ORIGINAL = {
    "sunpower_pvs_communication_interface_info": ("info", {"interface", "internet", "sms"}),
    "sunpower_pvs_grid_profile_info": ("info", {"id", "name", "percent", "status"}),
    "sunpower_pvs_supervisor_communication_errors_total": ("counter", SUP),
    "sunpower_pvs_supervisor_cpu_loadavg": ("gauge", SUP),
    "sunpower_pvs_supervisor_errors_total": ("counter", SUP),
    "sunpower_pvs_supervisor_flash_storage_available_bytes": ("gauge", SUP),
    "sunpower_pvs_supervisor_mem_used_bytes": ("gauge", SUP),
    "sunpower_pvs_supervisor_scan_time_seconds": ("gauge", SUP),
    "sunpower_pvs_supervisor_skipped_scans_total": ("counter", SUP),
    "sunpower_pvs_supervisor_untransmitted_events_total": ("counter", SUP),
    "sunpower_pvs_supervisor_uptime_seconds_total": ("counter", SUP),
    "sunpower_pvs_power_meter_ct_rated_current_amperes": ("gauge", MET),
    "sunpower_pvs_power_meter_ac_frequency_hertz": ("gauge", MET),
    "sunpower_pvs_power_meter_net_energy_watt_hours": ("gauge", MET),
    "sunpower_pvs_power_meter_average_real_power_watts": ("gauge", MET),
    "sunpower_pvs_power_meter_average_reactive_power_volt_amperes_reactive": ("gauge", MET),
    "sunpower_pvs_power_meter_average_apparent_power_volt_amperes": ("gauge", MET),
    "sunpower_pvs_power_meter_power_factor_real_power_per_apparent_power": ("gauge", MET),
    "sunpower_pvs_inverter_ac_current_amperes": ("gauge", INV),
    "sunpower_pvs_inverter_ac_power_watts": ("gauge", INV),
    "sunpower_pvs_inverter_ac_voltage_volts": ("gauge", INV),
    "sunpower_pvs_inverter_dc_current_amperes": ("gauge", INV),
    "sunpower_pvs_inverter_dc_power_watts": ("gauge", INV),
    "sunpower_pvs_inverter_dc_voltage_volts": ("gauge", INV),
    "sunpower_pvs_inverter_operating_frequency_hertz": ("gauge", INV),
    "sunpower_pvs_inverter_energy_total_watt_hours": ("gauge", INV),
    "sunpower_pvs_inverter_heatsink_temperature_celsius": ("gauge", INV),
    "sunpower_pvs_device_state": (
        "gauge",
        {"device_id", "device_type", "model", "software_version", "state", "type"},
    ),
}


def test_every_original_metric_is_in_the_catalog_with_its_type_and_labels():
    catalog = {spec.name: spec for spec in ALL_METRICS}
    for name, (kind, labels) in ORIGINAL.items():
        spec = catalog.get(name)
        assert spec is not None, f"{name} missing from the catalog"
        assert spec.kind == kind, name
        assert set(spec.label_names) == labels, name
        assert spec.compatible, name
        if kind != "info":
            assert spec.missing == "nan", f"{name}: the original exported NaN when missing"
    compatible = {spec.name for spec in ALL_METRICS if spec.compatible}
    assert compatible == set(ORIGINAL)


def test_catalog_names_follow_prometheus_conventions():
    names = [spec.name for spec in ALL_METRICS]
    assert len(names) == len(set(names)), "a metric is defined twice"
    for spec in ALL_METRICS:
        assert spec.name.startswith("sunpower_pvs_"), spec.name
        assert spec.help.strip(), spec.name
        if spec.kind == "counter":
            assert spec.name.endswith("_total"), spec.name
        if spec.kind == "info":
            assert spec.name.endswith("_info"), spec.name
        # A histogram is named for its unit, has increasing bounds and a sample per item.
        assert (spec.kind == "histogram") == (spec.histogram is not None), spec.name
        if spec.kind == "histogram":
            assert spec.name.endswith("_" + spec.unit), spec.name
            assert list(spec.buckets) == sorted(set(spec.buckets)) and spec.buckets, spec.name
        assert "kilo" not in spec.name and "_kw" not in spec.name, spec.name


def test_docs_metrics_md_is_generated_from_the_catalog():
    committed = (ROOT / "docs" / "metrics.md").read_text()
    assert committed == render_metrics_doc(), (
        "docs/metrics.md is stale: run "
        "`python -m sunpower_pvs_exporter.metrics.docs > docs/metrics.md`"
    )
    for spec in ALL_METRICS:
        assert f"`{spec.name}`" in committed


def test_golden_files_pass_promtool_lint():
    promtool = require_program(
        "promtool",
        not_tested="the golden expositions were not linted by promtool",
        fix="apt-get install prometheus",
    )
    files = sorted((ROOT / "tests" / "golden" / "http").glob("*.prom"))
    assert len(files) >= 10, "the golden files (tests/golden/http) are missing"
    for path in files:
        text = path.read_text()
        result = subprocess.run(
            [promtool, "check", "metrics"], input=text, capture_output=True, text=True
        )
        problems = [
            line
            for line in (result.stdout + result.stderr).splitlines()
            # Energy in watt hours is the original exporter's unit (the contract)
            # and what every solar user reads; promtool would want joules.
            if line.strip()
            and not ("_watt_hours" in line and 'base unit "seconds" instead of "hours"' in line)
        ]
        assert not problems, (path.name, problems)
