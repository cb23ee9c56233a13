#!/usr/bin/env python3
"""Writes the Grafana dashboards in this directory from one description.

    python3 contrib/grafana/build_dashboards.py          # rewrite the *.json files
    python3 contrib/grafana/build_dashboards.py --check  # exit 1 if they are out of date

The JSON files are what users import; this script keeps the three dashboards
consistent (data source, variables, units, links) and is what to edit. The
JSON imports into Grafana 10.4 and later (schemaVersion 39). Standard library
only.

Every query selects ``instance=~"$instance"``: with the single-target
``/metrics`` scrape the instance is the exporter's address, with the
multi-target ``/probe`` scrape it is the target name (docs/monitoring.md).
Queries that aggregate device values drop NaN first (``> -Inf``): the exporter
reports NaN for devices in error state, as the original exporter did.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DS = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
GRAFANA_VERSION = "10.4.0"
SCHEMA_VERSION = 39
TAGS = ["sunpower-pvs", "solar"]
I = 'instance=~"$instance"'  # noqa: E741 - short on purpose: it is in every query
INV = f'{I}, device_id=~"$inverter"'

Json = dict[str, Any]


# --- building blocks ---------------------------------------------------------------


def target(expr: str, legend: str = "", ref: str = "A", **extra: Any) -> Json:
    doc: Json = {
        "datasource": DS,
        "editorMode": "code",
        "expr": expr,
        "legendFormat": legend or "__auto",
        "range": True,
        "refId": ref,
    }
    doc.update(extra)
    return doc


def instant(expr: str, legend: str = "", ref: str = "A") -> Json:
    """A table-format query at the end of the time range (for tables)."""
    return target(expr, legend, ref, range=False, instant=True, format="table")


def at_end(expr: str, legend: str = "", ref: str = "A") -> Json:
    """One value at the end of the time range (for ``[$__range]`` sums in stats)."""
    return target(expr, legend, ref, range=False, instant=True)


def targets(*specs: tuple[str, str]) -> list[Json]:
    return [target(expr, legend, chr(ord("A") + n)) for n, (expr, legend) in enumerate(specs)]


def panel(
    kind: str,
    title: str,
    description: str,
    queries: list[Json],
    unit: str = "short",
    **extra: Any,
) -> Json:
    doc: Json = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": queries,
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "color": {"mode": "palette-classic"},
                "thresholds": {
                    "mode": "absolute",
                    "steps": [{"color": "green", "value": None}],
                },
                "mappings": [],
            },
            "overrides": [],
        },
        "options": {},
    }
    for key, value in extra.items():
        if key == "defaults":
            doc["fieldConfig"]["defaults"].update(value)
        elif key == "overrides":
            doc["fieldConfig"]["overrides"] = value
        else:
            doc[key] = value
    return doc


def timeseries(
    title: str, description: str, queries: list[Json], unit: str = "short", **extra: Any
) -> Json:
    doc = panel("timeseries", title, description, queries, unit, **extra)
    doc["fieldConfig"]["defaults"].setdefault(
        "custom",
        {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 10,
            "showPoints": "never",
            "spanNulls": False,
            "axisSoftMin": None,
        },
    )
    doc["options"] = {
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return doc


def right_axis(series_regex: str, unit: str) -> Json:
    """Override: series matching ``series_regex`` on a right-hand axis in ``unit``."""
    return {
        "matcher": {"id": "byRegexp", "options": series_regex},
        "properties": [
            {"id": "unit", "value": unit},
            {"id": "custom.axisPlacement", "value": "right"},
        ],
    }


def stat(
    title: str, description: str, queries: list[Json], unit: str = "short", **extra: Any
) -> Json:
    options = extra.pop("options", None)
    doc = panel("stat", title, description, queries, unit, **extra)
    doc["options"] = options or {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "value",
        "graphMode": "area",
        "justifyMode": "auto",
        "orientation": "auto",
        "textMode": "auto",
    }
    return doc


def thresholds(*steps: tuple[float | None, str]) -> Json:
    return {
        "thresholds": {
            "mode": "absolute",
            "steps": [{"color": color, "value": value} for value, color in steps],
        }
    }


UP_MAPPINGS = {
    "mappings": [
        {
            "type": "value",
            "options": {
                "0": {"text": "DOWN", "color": "red", "index": 0},
                "1": {"text": "UP", "color": "green", "index": 1},
            },
        }
    ],
    **thresholds((None, "red"), (1, "green")),
    "color": {"mode": "thresholds"},
}
STATE_MAPPINGS = {
    "mappings": [
        {
            "type": "value",
            "options": {
                "0": {"text": "error", "color": "red", "index": 0},
                "1": {"text": "working", "color": "green", "index": 1},
            },
        }
    ],
    **thresholds((None, "red"), (1, "green")),
    "color": {"mode": "thresholds"},
}


def table(
    title: str, description: str, queries: list[Json], transformations: list[Json], **extra: Any
) -> Json:
    doc = panel("table", title, description, queries, **extra)
    doc["options"] = {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}}
    doc["transformations"] = transformations
    return doc


def organize(exclude: list[str], rename: dict[str, str]) -> Json:
    return {
        "id": "organize",
        "options": {
            "excludeByName": dict.fromkeys(exclude, True),
            "renameByName": rename,
            "indexByName": {},
        },
    }


def row(title: str) -> Json:
    return {"type": "row", "title": title, "collapsed": False, "panels": []}


def instance_variable(metric: str) -> Json:
    definition = f"label_values({metric}, instance)"
    return {
        "name": "instance",
        "label": "Site / instance",
        "description": "The PVS: the exporter's address (/metrics scrape) or the target "
        "name (/probe scrape).",
        "type": "query",
        "datasource": DS,
        "definition": definition,
        "query": {"qryType": 1, "query": definition, "refId": "PrometheusVariableQueryEditor"},
        "refresh": 2,
        "sort": 1,
        "multi": True,
        "includeAll": True,
        "allValue": ".+",
        "current": {},
        "hide": 0,
        "options": [],
        "regex": "",
    }


DATASOURCE_VARIABLE = {
    # Named like the import input, so the dashboards also work when provisioned
    # from files (where Grafana does not substitute ${DS_PROMETHEUS}).
    "name": "DS_PROMETHEUS",
    "label": "Data source",
    "type": "datasource",
    "query": "prometheus",
    "current": {},
    "hide": 0,
    "refresh": 1,
    "regex": "",
    "options": [],
}


def layout(panels: list[Json]) -> list[Json]:
    """Grid positions: rows span the width; panels flow left to right, 24 wide."""
    x = y = 0
    line_height = 0
    out: list[Json] = []
    for number, item in enumerate(panels, start=1):
        item = dict(item)
        width = item.pop("w", 24 if item["type"] == "row" else 12)
        height = item.pop("h", 1 if item["type"] == "row" else 8)
        if item["type"] == "row" or x + width > 24:
            x, y = 0, y + line_height
            line_height = 0
        item["gridPos"] = {"h": height, "w": width, "x": x, "y": y}
        item["id"] = number
        x += width
        line_height = max(line_height, height)
        if item["type"] == "row":
            x, y, line_height = 0, y + height, 0
        out.append(item)
    return out


def dashboard(uid: str, title: str, description: str, variables: list[Json], panels: list[Json]):
    used = sorted({p["type"] for p in panels if p["type"] != "row"})
    names = {
        "bargauge": "Bar gauge",
        "stat": "Stat",
        "state-timeline": "State timeline",
        "status-history": "Status history",
        "table": "Table",
        "timeseries": "Time series",
    }
    return {
        "__inputs": [
            {
                "name": "DS_PROMETHEUS",
                "label": "Prometheus",
                "description": "The Prometheus that scrapes sunpower-pvs-exporter",
                "type": "datasource",
                "pluginId": "prometheus",
                "pluginName": "Prometheus",
            }
        ],
        "__elements": {},
        "__requires": [
            {"type": "grafana", "id": "grafana", "name": "Grafana", "version": GRAFANA_VERSION},
            {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
            *({"type": "panel", "id": kind, "name": names[kind], "version": ""} for kind in used),
        ],
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "description": description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [
            {
                "type": "dashboards",
                "tags": ["sunpower-pvs"],
                "title": "SunPower dashboards",
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
                "icon": "external link",
                "targetBlank": False,
                "tooltip": "",
                "url": "",
            }
        ],
        "panels": layout(panels),
        "refresh": "1m",
        "schemaVersion": SCHEMA_VERSION,
        "tags": TAGS,
        "templating": {"list": [DATASOURCE_VARIABLE, *variables]},
        "time": {"from": "now-24h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "title": title,
        "uid": uid,
        "version": 1,
        "weekStart": "",
    }


TODAY = {"timeFrom": "now/d", "hideTimeOverride": False}


# --- site overview -------------------------------------------------------------------


def site_overview() -> Json:
    prod = f"sunpower_pvs:site_production_watts{{{I}}}"
    cons = f"sunpower_pvs:site_consumption_watts{{{I}}}"
    grid = f"sunpower_pvs:site_grid_watts{{{I}}}"
    selfc = f"sunpower_pvs:site_self_consumption_watts{{{I}}}"
    battery = f"sunpower_pvs:site_battery_watts{{{I}}}"
    soc = f"sunpower_pvs:site_battery_state_of_charge_ratio{{{I}}}"
    consumption_meter = f'{I}, mode="consumption"'
    # A gross consumption CT's counters hold the home's use, not grid import/export.
    not_gross = (
        " unless on (job, instance, device_id) "
        f'sunpower_pvs_power_meter_subtype_info{{{I}, measures="gross"}}'
    )
    panels = [
        row("Now"),
        stat(
            "Production",
            "Solar power now: the production meter, or the inverters' AC sum without one.",
            [target(f"sum({prod})", "production")],
            "watt",
            w=3,
            h=5,
            defaults={"color": {"mode": "fixed", "fixedColor": "yellow"}},
        ),
        stat(
            "Consumption",
            "What the home uses now: the PVS's own site load, a gross consumption CT's "
            "reading, or production + net import + battery discharge.",
            [target(f"sum({cons})", "consumption")],
            "watt",
            w=3,
            h=5,
            defaults={"color": {"mode": "fixed", "fixedColor": "blue"}},
        ),
        stat(
            "Grid (import + / export −)",
            "Net power at the grid connection: positive = buying, negative = selling. "
            "From the PVS's site totals, a net consumption CT, or a gross one minus "
            "production and battery.",
            [target(f"sum({grid})", "grid")],
            "watt",
            w=3,
            h=5,
            defaults={
                **thresholds((None, "green"), (0, "orange")),
                "color": {"mode": "thresholds"},
            },
        ),
        stat(
            "Self-consumption today",
            "Share of today's solar energy used on site instead of exported.",
            [
                at_end(
                    f"sum(sum_over_time({selfc}[$__range])) / sum(sum_over_time({prod}[$__range]))"
                )
            ],
            "percentunit",
            w=3,
            h=5,
            defaults={"min": 0, "max": 1, "decimals": 0},
            **TODAY,
        ),
        stat(
            "Energy today",
            "Since local midnight: produced (inverters), imported from and exported to the grid "
            "(a net consumption meter; empty for import/export with a gross one).",
            [
                at_end(
                    "sum(increase(sunpower_pvs_inverter_produced_energy_watt_hours_total"
                    f"{{{I}}}[$__range]))",
                    "produced",
                    "A",
                ),
                at_end(
                    "sum(increase(sunpower_pvs_power_meter_imported_energy_watt_hours_total"
                    f"{{{consumption_meter}}}[$__range]){not_gross})",
                    "imported",
                    "B",
                ),
                at_end(
                    "sum(increase(sunpower_pvs_power_meter_exported_energy_watt_hours_total"
                    f"{{{consumption_meter}}}[$__range]){not_gross})",
                    "exported",
                    "C",
                ),
            ],
            "watth",
            w=3,
            h=5,
            **TODAY,
        ),
        stat(
            "PVS",
            "Whether the exporter's last poll of the PVS worked and its data is fresh.",
            [target(f"min(sunpower_pvs_up{{{I}}})", "PVS")],
            w=3,
            h=5,
            defaults=UP_MAPPINGS,
        ),
        stat(
            "Battery",
            "SunVault state of charge (reserve included). Empty without a battery.",
            [target(f"avg({soc})", "charge")],
            "percentunit",
            w=3,
            h=5,
            defaults={
                **thresholds((None, "red"), (0.15, "orange"), (0.4, "green")),
                "color": {"mode": "thresholds"},
                "min": 0,
                "max": 1,
            },
        ),
        stat(
            "Battery power",
            "SunVault power: positive = discharging into the home, negative = charging. "
            "Empty without a battery.",
            [target(f"sum({battery})", "battery")],
            "watt",
            w=3,
            h=5,
        ),
        row("Power"),
        timeseries(
            "Power flows",
            "Production, consumption, net grid power, the solar power used on site and "
            "the battery's power.",
            targets(
                (prod, "{{instance}} production"),
                (cons, "{{instance}} consumption"),
                (grid, "{{instance}} grid (+import / −export)"),
                (selfc, "{{instance}} self-consumed"),
                (battery, "{{instance}} battery (+discharge / −charge)"),
            ),
            "watt",
            w=24,
            h=10,
        ),
        timeseries(
            "Self-consumption",
            "Share of the solar power used on site at each moment (while producing).",
            [target(f"{selfc} / ({prod} > 0)", "{{instance}}")],
            "percentunit",
            defaults={"min": 0, "max": 1},
        ),
        timeseries(
            "Daily energy",
            "Energy per day: produced, and imported/exported (net consumption meter only).",
            targets(
                (
                    "sum by (instance) (increase("
                    "sunpower_pvs_inverter_produced_energy_watt_hours_total"
                    f"{{{I}}}[1d]))",
                    "{{instance}} produced",
                ),
                (
                    "sum by (instance) (increase("
                    "sunpower_pvs_power_meter_imported_energy_watt_hours_total"
                    f"{{{consumption_meter}}}[1d]){not_gross})",
                    "{{instance}} imported",
                ),
                (
                    "sum by (instance) (increase("
                    "sunpower_pvs_power_meter_exported_energy_watt_hours_total"
                    f"{{{consumption_meter}}}[1d]){not_gross})",
                    "{{instance}} exported",
                ),
            ),
            "watth",
            interval="1d",
            timeFrom="7d",
            defaults={"custom": {"drawStyle": "bars", "fillOpacity": 80, "lineWidth": 1}},
        ),
        row("Battery (SunVault)"),
        timeseries(
            "Battery charge",
            "State of charge (reserve included), the owner's view of it (reserve excluded) "
            "and state of health. Empty without a battery.",
            targets(
                (soc, "{{instance}} charge"),
                (
                    "avg by (instance) "
                    f"(sunpower_pvs_ess_customer_state_of_charge_ratio{{{I}}} > -Inf)",
                    "{{instance}} charge (owner)",
                ),
                (
                    f"avg by (instance) (sunpower_pvs_ess_state_of_health_ratio{{{I}}} > -Inf)",
                    "{{instance}} health",
                ),
            ),
            "percentunit",
            w=10,
            defaults={"min": 0, "max": 1},
        ),
        timeseries(
            "Battery power",
            "Positive = discharging into the home, negative = charging.",
            [target(battery, "{{instance}}")],
            "watt",
            w=8,
        ),
        stat(
            "Backup time",
            "How long the battery could power the home in an outage, as the PVS estimates "
            "it (new firmware).",
            [target(f"sunpower_pvs_site_backup_time_remaining_seconds{{{I}}}", "{{instance}}")],
            "s",
            w=3,
        ),
        stat(
            "Battery mode",
            "The ESS's operating mode (new firmware).",
            [target(f"sunpower_pvs_ess_operating_mode_info{{{I}}}", "{{mode}}")],
            w=3,
            options={
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "textMode": "name",
                "colorMode": "none",
                "graphMode": "none",
                "justifyMode": "center",
                "orientation": "auto",
            },
        ),
        row("Grid and PVS health"),
        timeseries(
            "Grid voltage and frequency",
            "Leg-to-leg supply voltage and grid frequency measured by the meters.",
            targets(
                (
                    f"sunpower_pvs_power_meter_supply_voltage_volts{{{I}}}",
                    "{{instance}} {{mode}} meter",
                ),
                (
                    f"sunpower_pvs_power_meter_ac_frequency_hertz{{{I}}}",
                    "{{instance}} {{mode}} meter Hz",
                ),
            ),
            "volt",
            w=8,
            overrides=[right_axis(".* Hz", "hertz")],
        ),
        timeseries(
            "Inverters producing",
            "Inverters making more than 50 W, out of all inverters the PVS lists.",
            targets(
                (f"sunpower_pvs:site_inverters_producing{{{I}}}", "{{instance}} producing"),
                (f"sunpower_pvs:site_inverters{{{I}}}", "{{instance}} total"),
            ),
            w=8,
            defaults={"min": 0, "decimals": 0},
        ),
        timeseries(
            "PVS up and data age",
            "sunpower_pvs_up (1 = polls work) and the age of the newest data read from the PVS.",
            targets(
                (f"sunpower_pvs_up{{{I}}}", "{{instance}} {{target}} up"),
                (f"sunpower_pvs_snapshot_age_seconds{{{I}}}", "{{instance}} {{target}} age"),
            ),
            w=8,
            overrides=[right_axis(".* age", "s")],
        ),
    ]
    return dashboard(
        "sunpower-pvs-site",
        "SunPower site overview",
        "Production, consumption, grid import/export, self-consumption, energy today and "
        "SunVault battery for SunPower PVS sites (sunpower-pvs-exporter). Needs the "
        "recording rules in contrib/prometheus/rules.yml.",
        [instance_variable("sunpower_pvs_device_state")],
        panels,
    )


# --- per inverter --------------------------------------------------------------------


def inverters() -> Json:
    state = f'sunpower_pvs_device_state{{{I}, device_type="Inverter", device_id=~"$inverter"}}'
    ac = f"sunpower_pvs_inverter_ac_power_watts{{{INV}}}"
    dc = f"sunpower_pvs_inverter_dc_power_watts{{{INV}}}"
    columns = [
        ("sunpower_pvs_inverter_ac_power_watts", "AC W"),
        ("sunpower_pvs_inverter_dc_power_watts", "DC W"),
        ("sunpower_pvs_inverter_dc_voltage_volts", "DC V"),
        ("sunpower_pvs_inverter_dc_current_amperes", "DC A"),
        ("sunpower_pvs_inverter_ac_voltage_volts", "AC V"),
        ("sunpower_pvs_inverter_heatsink_temperature_celsius", "Heatsink °C"),
        ("sunpower_pvs_inverter_energy_total_watt_hours", "Lifetime Wh"),
    ]
    table_queries = [
        instant(f"{metric}{{{INV}}}", ref=chr(ord("A") + n))
        for n, (metric, _) in enumerate(columns)
    ]
    panels = [
        stat(
            "Inverters",
            "Inverters the PVS lists.",
            [target(f"count({state})")],
            w=4,
            h=5,
        ),
        stat(
            "Producing",
            "Inverters making more than 50 W now.",
            [target(f"count({ac} > 50) or vector(0)")],
            w=4,
            h=5,
        ),
        stat(
            "Offline",
            "Inverters the PVS reports in error state (normal at night; in daylight, look "
            "at the table below).",
            [target(f"count({state} == 0) or vector(0)")],
            w=4,
            h=5,
            defaults={
                **thresholds((None, "green"), (1, "orange")),
                "color": {"mode": "thresholds"},
            },
        ),
        stat(
            "AC power",
            "Sum of the inverters' AC output.",
            [target(f"sum({ac} > -Inf)")],
            "watt",
            w=4,
            h=5,
        ),
        stat(
            "DC → AC",
            "AC output over DC input, all inverters together.",
            [target(f"sum({ac} > -Inf) / sum({dc} > 0)")],
            "percentunit",
            w=4,
            h=5,
            defaults={"decimals": 1},
        ),
        stat(
            "Hottest heatsink",
            "Highest inverter heatsink temperature.",
            [target(f"max(sunpower_pvs_inverter_heatsink_temperature_celsius{{{INV}}} > -Inf)")],
            "celsius",
            w=4,
            h=5,
            defaults={
                **thresholds((None, "green"), (60, "orange"), (75, "red")),
                "color": {"mode": "thresholds"},
            },
        ),
        table(
            "All inverters",
            "The latest reading of every inverter. Empty cells: the inverter is in error "
            "state and reported no values.",
            table_queries,
            [
                {"id": "merge", "options": {}},
                organize(
                    ["Time", "__name__", "job", "type", "port", "description"],
                    {f"Value #{chr(ord('A') + n)}": label for n, (_, label) in enumerate(columns)},
                ),
            ],
            w=24,
            h=10,
        ),
        panel(
            "status-history",
            "AC power per inverter",
            "Each row is an inverter, each cell its AC output: weak or dark cells next to "
            "bright ones show shading, soiling or a failing module.",
            [target(ac, "{{device_id}}")],
            "watt",
            w=24,
            h=12,
            interval="5m",
            defaults={
                "color": {"mode": "continuous-YlRd"},
                "min": 0,
            },
            options={
                "showValue": "never",
                "rowHeight": 0.9,
                "colWidth": 0.95,
                "legend": {"displayMode": "list", "placement": "bottom", "showLegend": False},
                "tooltip": {"mode": "single", "sort": "none"},
            },
        ),
        timeseries(
            "DC vs AC power",
            "Total DC input and AC output of the inverters.",
            targets(
                (f"sum by (instance) ({dc} > -Inf)", "{{instance}} DC"),
                (f"sum by (instance) ({ac} > -Inf)", "{{instance}} AC"),
            ),
            "watt",
        ),
        timeseries(
            "Conversion efficiency",
            "AC output over DC input per inverter, while producing.",
            [target(f"{ac} / ({dc} > 10)", "{{device_id}}")],
            "percentunit",
            defaults={"min": 0.8, "max": 1},
        ),
        timeseries(
            "Heatsink temperature",
            "Heatsink temperature per inverter.",
            [
                target(
                    f"sunpower_pvs_inverter_heatsink_temperature_celsius{{{INV}}}",
                    "{{device_id}}",
                )
            ],
            "celsius",
        ),
        timeseries(
            "DC voltage",
            "MPPT input voltage per inverter.",
            [target(f"sunpower_pvs_inverter_dc_voltage_volts{{{INV}}}", "{{device_id}}")],
            "volt",
        ),
        panel(
            "state-timeline",
            "Inverter state",
            "working / error as the PVS reports it. Inverters go to error at night and in "
            "heavy shade.",
            [target(f"max by (instance, device_id) ({state})", "{{device_id}}")],
            w=12,
            h=10,
            defaults=STATE_MAPPINGS,
            options={
                "showValue": "never",
                "mergeValues": True,
                "rowHeight": 0.9,
                "legend": {"displayMode": "list", "placement": "bottom", "showLegend": False},
                "tooltip": {"mode": "single", "sort": "none"},
            },
        ),
        table(
            "Offline inverters",
            "Inverters in error state now, with when they last reported data.",
            [
                instant(f"{state} == 0", ref="A"),
                instant(
                    "time() - sunpower_pvs_device_last_report_timestamp_seconds"
                    f'{{{I}, device_type="Inverter", device_id=~"$inverter"}}',
                    ref="B",
                ),
            ],
            [
                {"id": "merge", "options": {}},
                {
                    "id": "filterByValue",
                    "options": {
                        "type": "include",
                        "match": "any",
                        "filters": [
                            {
                                "fieldName": "Value #A",
                                "config": {"id": "equal", "options": {"value": 0}},
                            }
                        ],
                    },
                },
                organize(
                    ["Time", "__name__", "job", "type", "Value #A"],
                    {"Value #B": "Last report (s ago)"},
                ),
            ],
            w=12,
            h=10,
        ),
        panel(
            "bargauge",
            "Energy today per inverter",
            "Energy each inverter produced since local midnight: the short bars are the "
            "ones to look at.",
            [
                at_end(
                    "increase(sunpower_pvs_inverter_produced_energy_watt_hours_total"
                    f"{{{INV}}}[$__range])",
                    "{{device_id}}",
                )
            ],
            "watth",
            w=24,
            h=10,
            options={
                "orientation": "horizontal",
                "displayMode": "basic",
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "showUnfilled": True,
                "valueMode": "color",
            },
            **TODAY,
        ),
    ]
    inverter_variable = {
        **instance_variable("sunpower_pvs_inverter_ac_power_watts"),
        "name": "inverter",
        "label": "Inverter",
        "description": "Inverter serial numbers (device_id).",
    }
    definition = f"label_values(sunpower_pvs_inverter_ac_power_watts{{{I}}}, device_id)"
    inverter_variable["definition"] = definition
    inverter_variable["query"] = {
        "qryType": 1,
        "query": definition,
        "refId": "PrometheusVariableQueryEditor",
    }
    return dashboard(
        "sunpower-pvs-inverters",
        "SunPower inverters",
        "Every micro-inverter of a SunPower PVS site: table, AC power map, DC vs AC, "
        "temperatures, offline inverters (sunpower-pvs-exporter).",
        [instance_variable("sunpower_pvs_device_state"), inverter_variable],
        panels,
    )


# --- supervisor health -----------------------------------------------------------------


def supervisor() -> Json:
    sup = I
    panels = [
        row("PVS"),
        stat(
            "PVS",
            "Whether the exporter's last poll of the PVS worked and its data is fresh.",
            [target(f"sunpower_pvs_up{{{sup}}}", "{{target}}")],
            w=4,
            h=5,
            defaults=UP_MAPPINGS,
        ),
        stat(
            "Uptime",
            "Time since the PVS booted. A PVS that reboots often shows up here first.",
            [target(f"sunpower_pvs_supervisor_uptime_seconds_total{{{sup}}}", "{{device_id}}")],
            "s",
            w=4,
            h=5,
        ),
        stat(
            "Untransmitted events",
            "Records waiting for upload to the SunPower cloud; a growing backlog means the "
            "upload is broken.",
            [
                target(
                    f"sunpower_pvs_supervisor_untransmitted_events_total{{{sup}}}",
                    "{{device_id}}",
                )
            ],
            w=4,
            h=5,
            defaults={
                **thresholds((None, "green"), (1000, "orange"), (5000, "red")),
                "color": {"mode": "thresholds"},
            },
        ),
        stat(
            "Flash free",
            "Free flash storage on the PVS.",
            [
                target(
                    f"sunpower_pvs_supervisor_flash_storage_available_bytes{{{sup}}}",
                    "{{device_id}}",
                )
            ],
            "bytes",
            w=4,
            h=5,
            defaults={
                **thresholds(
                    (None, "red"), (20 * 1024 * 1024, "orange"), (50 * 1024 * 1024, "green")
                ),
                "color": {"mode": "thresholds"},
            },
        ),
        table(
            "Supervisor",
            "Serial, model, firmware version and build of the PVS, and the API the exporter "
            "reads it through.",
            [
                instant(
                    "max by (instance, device_id, model, software_version, build) "
                    f"(sunpower_pvs_supervisor_firmware_info{{{sup}}})",
                    ref="A",
                ),
                instant(f"sunpower_pvs_target_info{{{sup}}}", ref="B"),
            ],
            [
                {"id": "merge", "options": {}},
                organize(["Time", "Value #A", "Value #B", "__name__", "job"], {}),
            ],
            w=8,
            h=5,
        ),
        row("Resources"),
        timeseries(
            "Memory used",
            "Memory used on the PVS (legacy firmware reports bytes).",
            [target(f"sunpower_pvs_supervisor_mem_used_bytes{{{sup}}}", "{{device_id}}")],
            "bytes",
            w=8,
        ),
        timeseries(
            "Flash free",
            "Free flash storage on the PVS.",
            [
                target(
                    f"sunpower_pvs_supervisor_flash_storage_available_bytes{{{sup}}}",
                    "{{device_id}}",
                )
            ],
            "bytes",
            w=8,
        ),
        timeseries(
            "CPU load",
            "CPU load average of the PVS.",
            [target(f"sunpower_pvs_supervisor_cpu_loadavg{{{sup}}}", "{{device_id}}")],
            w=8,
        ),
        timeseries(
            "Usage ratios (varserver firmware)",
            "CPU, memory and flash usage and eMMC wear as the new (varserver) firmware "
            "reports them. Empty on legacy firmware.",
            targets(
                (f"sunpower_pvs_supervisor_cpu_usage_ratio{{{sup}}}", "{{device_id}} CPU"),
                (f"sunpower_pvs_supervisor_memory_usage_ratio{{{sup}}}", "{{device_id}} memory"),
                (f"sunpower_pvs_supervisor_flash_usage_ratio{{{sup}}}", "{{device_id}} flash"),
                (f"sunpower_pvs_supervisor_flash_wear_ratio{{{sup}}}", "{{device_id}} flash wear"),
            ),
            "percentunit",
            w=24,
            defaults={"min": 0, "max": 1},
        ),
        row("Devices and upload"),
        timeseries(
            "Communication errors",
            "Errors talking to its devices as the PVS counts them (it lets the count go down "
            "as well as up), plus its error count and skipped scans.",
            targets(
                (
                    f"sunpower_pvs_supervisor_communication_errors_total{{{sup}}}",
                    "{{device_id}} communication errors",
                ),
                (f"sunpower_pvs_supervisor_errors_total{{{sup}}}", "{{device_id}} errors"),
                (
                    f"sunpower_pvs_supervisor_skipped_scans_total{{{sup}}}",
                    "{{device_id}} skipped scans",
                ),
            ),
            w=8,
        ),
        timeseries(
            "Untransmitted events",
            "Records waiting for upload to the SunPower cloud.",
            [
                target(
                    f"sunpower_pvs_supervisor_untransmitted_events_total{{{sup}}}",
                    "{{device_id}}",
                )
            ],
            w=8,
        ),
        timeseries(
            "Device data age",
            "Time since each device last sampled its data. Meters report every ~15 s, "
            "inverters and the supervisor every 5 min.",
            [
                target(
                    f"time() - sunpower_pvs_device_last_report_timestamp_seconds{{{sup}}}",
                    "{{device_type}} {{device_id}}",
                )
            ],
            "s",
            w=8,
        ),
        table(
            "Network interfaces",
            "The PVS's network interfaces, their state, and whether they reach the internet "
            "and SunPower's servers (sms; legacy firmware only).",
            [
                instant(f"sunpower_pvs_communication_interface_info{{{sup}}}", ref="A"),
                instant(f"sunpower_pvs_communication_interface_state_info{{{sup}}}", ref="B"),
            ],
            [
                {"id": "merge", "options": {}},
                organize(["Time", "Value #A", "Value #B", "__name__", "job"], {}),
            ],
            w=12,
            h=6,
        ),
        table(
            "Grid profile",
            "The grid profile active on the PVS.",
            [instant(f"sunpower_pvs_grid_profile_info{{{sup}}}")],
            [organize(["Time", "Value", "__name__", "job"], {})],
            w=12,
            h=6,
        ),
        row("Exporter polls"),
        timeseries(
            "Poll duration",
            "How long each poll of the PVS took (DeviceList can take over a minute), and "
            "the configured interval.",
            targets(
                (f"sunpower_pvs_last_poll_duration_seconds{{{sup}}}", "{{target}} duration"),
                (f"sunpower_pvs_poll_interval_seconds{{{sup}}}", "{{target}} interval"),
            ),
            "s",
            w=8,
        ),
        timeseries(
            "Poll failures",
            "Failed polls by reason (timeout, connection, http_status, invalid_payload, auth, "
            "internal = an exporter bug).",
            [
                target(
                    "sum by (instance, target, reason) "
                    f"(increase(sunpower_pvs_poll_failures_total{{{sup}}}[$__rate_interval]))",
                    "{{target}} {{reason}}",
                )
            ],
            w=8,
            defaults={"min": 0},
        ),
        timeseries(
            "Data age and failures in a row",
            "Age of the newest good data from the PVS and the polls failed since the last "
            "success (drives the backoff).",
            targets(
                (f"sunpower_pvs_snapshot_age_seconds{{{sup}}}", "{{target}} data age"),
                (
                    f"sunpower_pvs_consecutive_poll_failures{{{sup}}}",
                    "{{target}} failures in a row",
                ),
            ),
            "s",
            w=8,
            overrides=[right_axis(".* failures in a row", "short")],
        ),
        timeseries(
            "Poll success ratio",
            "Share of polls that worked over the last hour, and whether Prometheus can "
            "scrape the exporter (up).",
            targets(
                (
                    "1 - sum by (instance, target) "
                    f"(increase(sunpower_pvs_poll_failures_total{{{sup}}}[1h])) "
                    "/ sum by (instance, target) "
                    f"(increase(sunpower_pvs_polls_total{{{sup}}}[1h]))",
                    "{{target}} polls OK",
                ),
                (f'up{{job=~"sunpower.*", {sup}}}', "{{instance}} scrape up"),
            ),
            "percentunit",
            w=12,
            defaults={"min": 0, "max": 1},
        ),
        table(
            "Exporter",
            "Exporter versions seen.",
            [instant(f"sunpower_pvs_exporter_build_info{{{sup}}}")],
            [organize(["Time", "Value", "__name__"], {})],
            w=12,
        ),
    ]
    return dashboard(
        "sunpower-pvs-supervisor",
        "SunPower PVS health",
        "Health of the PVS supervisor (uptime, memory, flash, communication errors, "
        "untransmitted events) and of the exporter's polls (sunpower-pvs-exporter).",
        [instance_variable("sunpower_pvs_up")],
        panels,
    )


DASHBOARDS = {
    "sunpower-pvs-site-overview.json": site_overview,
    "sunpower-pvs-inverters.json": inverters,
    "sunpower-pvs-supervisor.json": supervisor,
}


def rendered() -> Iterator[tuple[Path, str]]:
    for name, build in DASHBOARDS.items():
        yield HERE / name, json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check the files are current")
    args = parser.parse_args(argv)
    stale = []
    for path, text in rendered():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print(f"out of date (run {Path(__file__).name}): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
