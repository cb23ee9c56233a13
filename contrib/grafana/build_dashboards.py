#!/usr/bin/env python3
"""Writes the Grafana dashboards in this directory with Grafana's own SDK.

    python3 contrib/grafana/build_dashboards.py          # rewrite the *.json files
    python3 contrib/grafana/build_dashboards.py --check  # exit 1 if they are out of date

The JSON files are what users import; this script is what to edit. It builds
the four dashboards with ``grafana-foundation-sdk`` (the types and builders
Grafana generates from its own schemas, here the ones for Grafana 10.4), so a
misspelt option or a wrong enum value fails here instead of being silently
dropped by Grafana. The SDK is a development dependency only (the ``test``
extra in pyproject.toml, pinned: the checked-in JSON is compared with this
script's output byte for byte). The JSON imports into Grafana 10.4 and later
(schemaVersion 39).

Every query selects ``instance=~"$instance"``: with the single-target
``/metrics`` scrape the instance is the exporter's address, with the
multi-target ``/probe`` scrape it is the target name (docs/monitoring.md).
Queries that aggregate device values drop NaN first (``> -Inf``): the exporter
reports NaN for devices in error state, as the original exporter did.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeAlias

try:
    from grafana_foundation_sdk.builders import (
        barchart,
        bargauge,
        prometheus,
        stat,
        statetimeline,
        statushistory,
        table,
        timeseries,
    )
    from grafana_foundation_sdk.builders import common as common_builders
    from grafana_foundation_sdk.builders import dashboard as dash
    from grafana_foundation_sdk.cog.builder import Builder
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models import common
    from grafana_foundation_sdk.models import dashboard as model
    from grafana_foundation_sdk.models.prometheus import PromQueryFormat, QueryEditorMode
except ImportError:  # pragma: no cover - a clear message instead of a traceback
    sys.exit(
        "build_dashboards.py needs grafana-foundation-sdk: pip install -e '.[test]' "
        "(it is a development dependency only)"
    )

HERE = Path(__file__).resolve().parent
DS = model.DataSourceRef(type_val="prometheus", uid="${DS_PROMETHEUS}")
GRAFANA_VERSION = "10.4.0"
# The SDK's model defaults to an older schemaVersion; the panels below use the
# 10.4 shapes (legend.showLegend, table cellOptions), so say so, or Grafana
# would run its migrations over them on import.
SCHEMA_VERSION = 39
TAGS = ["sunpower-pvs", "solar"]
I = 'instance=~"$instance"'  # noqa: E741 - short on purpose: it is in every query
INV = f'{I}, device_id=~"$inverter"'

Query: TypeAlias = prometheus.Dataquery
PanelBuilder: TypeAlias = Any  # the SDK's panel builders share methods but no base class
Step: TypeAlias = tuple[float | None, str]

# --- building blocks ---------------------------------------------------------------


def target(expr: str, legend: str = "", ref: str = "A") -> Query:
    """A range query, as the dashboards' graphs and stats use."""
    return (
        prometheus.Dataquery()
        .datasource(DS)
        .editor_mode(QueryEditorMode.CODE)
        .expr(expr)
        .legend_format(legend or "__auto")
        .range()
        .ref_id(ref)
    )


def instant(expr: str, legend: str = "", ref: str = "A") -> Query:
    """A table-format query at the end of the time range (for tables)."""
    return target(expr, legend, ref).instant().format(PromQueryFormat.TABLE)


def at_end(expr: str, legend: str = "", ref: str = "A") -> Query:
    """One value at the end of the time range (for ``[$__range]`` sums in stats)."""
    return target(expr, legend, ref).instant()


def targets(*specs: tuple[str, str]) -> list[Query]:
    return [target(expr, legend, chr(ord("A") + n)) for n, (expr, legend) in enumerate(specs)]


def thresholds(*steps: Step) -> dash.ThresholdsConfig:
    return (
        dash.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(value=value, color=color) for value, color in steps])
    )


def value_map(texts: dict[int, tuple[str, str]]) -> list[model.ValueMapping]:
    """Numbers shown as words: {value: (text, color)}."""
    return [
        model.ValueMap(
            options={
                str(value): model.ValueMappingResult(text=text, color=color, index=index)
                for index, (value, (text, color)) in enumerate(sorted(texts.items()))
            }
        )
    ]


UP_MAPPING = value_map({0: ("DOWN", "red"), 1: ("UP", "green")})
STATE_MAPPING = value_map({0: ("error", "red"), 1: ("working", "green")})
GROUP_MAPPING = value_map({0: ("failed / skipped", "red"), 1: ("read", "green")})
ACTIVE_MAPPING = value_map({0: ("idle", "blue"), 1: ("polling", "green")})
RELOAD_MAPPING = value_map({0: ("REFUSED", "red"), 1: ("OK", "green")})
# sunpower_pvs_live_up + 2 * sunpower_pvs_live_unsupported (up is 0 when unsupported).
LIVE_MAPPING = value_map(
    {0: ("disconnected", "red"), 1: ("connected", "green"), 2: ("no stream (PVS5)", "blue")}
)
RED_GREEN: tuple[Step, ...] = ((None, "red"), (1, "green"))


def range_map(ranges: Sequence[tuple[float, float, str, str]]) -> list[model.ValueMapping]:
    """Ranges of numbers shown as words: (from, to, text, color)."""
    return [
        model.RangeMap(
            options=model.DashboardRangeMapOptions(
                from_val=low,
                to=high,
                result=model.ValueMappingResult(text=text, color=color, index=index),
            )
        )
        for index, (low, high, text, color) in enumerate(ranges)
    ]


# An inverter's power or daily energy relative to its array's median
# (panel_health.yml; docs/panel-health.md): the alerts' thresholds, as colours.
# -1: no ratio (the array's median is in the dark).
RELATIVE_MAPPING = range_map(
    [
        (-1, -0.5, "no sun", "text"),
        (0, 0.05, "dead", "red"),
        (0.05, 0.8, "low", "orange"),
        (0.8, 1000, "normal", "green"),
    ]
)
RELATIVE_STEPS: tuple[Step, ...] = (
    (None, "text"),
    (0, "red"),
    (0.05, "orange"),
    (0.8, "green"),
)


def color(mode: model.FieldColorModeId, fixed: str = "") -> dash.FieldColor:
    builder = dash.FieldColor().mode(mode)
    return builder.fixed_color(fixed) if fixed else builder


def panel(
    builder: PanelBuilder,
    title: str,
    description: str,
    queries: Sequence[Query],
    unit: str = "short",
    *,
    w: int = 12,
    h: int = 8,
    steps: Sequence[Step] = ((None, "green"),),
    by_thresholds: bool = False,
    fixed_color: str = "",
    scheme: model.FieldColorModeId | None = None,
    mappings: Sequence[model.ValueMapping] = (),
    low: float | None = None,
    high: float | None = None,
    decimals: float | None = None,
    interval: str = "",
    time_from: str = "",
) -> PanelBuilder:
    """What every panel has: data source, queries, unit, size, colours."""
    builder = (
        builder.title(title)
        .description(description)
        .datasource(DS)
        .targets(list(queries))
        .unit(unit)
        .span(w)
        .height(h)
        .thresholds(thresholds(*steps))
        .mappings(list(mappings))
    )
    if scheme is not None:
        builder = builder.color_scheme(color(scheme))
    elif fixed_color:
        builder = builder.color_scheme(color(model.FieldColorModeId.FIXED, fixed_color))
    elif by_thresholds:
        builder = builder.color_scheme(color(model.FieldColorModeId.THRESHOLDS))
    else:
        builder = builder.color_scheme(color(model.FieldColorModeId.PALETTE_CLASSIC))
    if low is not None:
        builder = builder.min(low)
    if high is not None:
        builder = builder.max(high)
    if decimals is not None:
        builder = builder.decimals(decimals)
    if interval:
        builder = builder.interval(interval)
    if time_from:
        builder = builder.time_from(time_from).hide_time_override(False)
    return builder


def legend(show: bool = True) -> common_builders.VizLegendOptions:
    return (
        common_builders.VizLegendOptions()
        .display_mode(common.LegendDisplayMode.LIST)
        .placement(common.LegendPlacement.BOTTOM)
        .show_legend(show)
    )


def tooltip(
    mode: common.TooltipDisplayMode, sort: common.SortOrder
) -> common_builders.VizTooltipOptions:
    return common_builders.VizTooltipOptions().mode(mode).sort(sort)


def last_value() -> common_builders.ReduceDataOptions:
    return common_builders.ReduceDataOptions().calcs(["lastNotNull"]).fields("").values(False)


def graph(
    title: str,
    description: str,
    queries: Sequence[Query],
    unit: str = "short",
    *,
    bars: bool = False,
    right_axis: tuple[str, str] | None = None,
    **extra: Any,
) -> timeseries.Panel:
    """A time series; ``right_axis`` = (series regex, unit) puts those series on the right."""
    builder = (
        panel(timeseries.Panel(), title, description, queries, unit, **extra)
        .draw_style(common.GraphDrawStyle.BARS if bars else common.GraphDrawStyle.LINE)
        .line_width(1)
        .fill_opacity(80 if bars else 10)
        .show_points(common.VisibilityMode.NEVER)
        .span_nulls(False)
        .legend(legend())
        .tooltip(tooltip(common.TooltipDisplayMode.MULTI, common.SortOrder.DESCENDING))
    )
    if right_axis is not None:
        regex, axis_unit = right_axis
        builder = builder.override_by_regexp(
            regex,
            [
                model.DynamicConfigValue(id_val="unit", value=axis_unit),
                model.DynamicConfigValue(id_val="custom.axisPlacement", value="right"),
            ],
        )
    return builder


def timeline(
    title: str,
    description: str,
    queries: Sequence[Query],
    mappings: Sequence[model.ValueMapping],
    steps: Sequence[Step],
    **extra: Any,
) -> statetimeline.Panel:
    """A state over time, one band per series; ``mappings`` name the states."""
    return panel(
        statetimeline.Panel()
        .show_value(common.VisibilityMode.NEVER)
        .merge_values(True)
        .row_height(0.9)
        .legend(legend(show=False))
        .tooltip(tooltip(common.TooltipDisplayMode.SINGLE, common.SortOrder.NONE)),
        title,
        description,
        queries,
        mappings=mappings,
        steps=steps,
        by_thresholds=True,
        **extra,
    )


def big_value(
    title: str,
    description: str,
    queries: Sequence[Query],
    unit: str = "short",
    *,
    names: bool = False,
    **extra: Any,
) -> stat.Panel:
    """A stat: the last value, large; ``names`` shows the series name instead (a mode)."""
    builder = panel(stat.Panel(), title, description, queries, unit, **extra)
    builder = builder.reduce_options(last_value()).orientation(common.VizOrientation.AUTO)
    if names:
        return (
            builder.text_mode(common.BigValueTextMode.NAME)
            .color_mode(common.BigValueColorMode.NONE)
            .graph_mode(common.BigValueGraphMode.NONE)
            .justify_mode(common.BigValueJustifyMode.CENTER)
        )
    return (
        builder.text_mode(common.BigValueTextMode.AUTO)
        .color_mode(common.BigValueColorMode.VALUE)
        .graph_mode(common.BigValueGraphMode.AREA)
        .justify_mode(common.BigValueJustifyMode.AUTO)
    )


def bars_per_series() -> bargauge.Panel:
    """Horizontal bars, one per series, last value: the short ones stand out."""
    return (
        bargauge.Panel()
        .orientation(common.VizOrientation.HORIZONTAL)
        .display_mode(common.BarGaugeDisplayMode.BASIC)
        .reduce_options(last_value())
        .show_unfilled(True)
        .value_mode(common.BarGaugeValueMode.COLOR)
    )


def cells_per_series() -> statushistory.Panel:
    """A heatmap: one row per series, one coloured cell per interval."""
    return (
        statushistory.Panel()
        .show_value(common.VisibilityMode.NEVER)
        .row_height(0.9)
        .col_width(0.95)
        .legend(legend(show=False))
        .tooltip(tooltip(common.TooltipDisplayMode.SINGLE, common.SortOrder.NONE))
    )


def merge() -> model.DataTransformerConfig:
    """One row per series: the table queries' columns side by side."""
    return model.DataTransformerConfig(id_val="merge", options={})


def organize(exclude: list[str], rename: dict[str, str]) -> model.DataTransformerConfig:
    return model.DataTransformerConfig(
        id_val="organize",
        options={
            "excludeByName": dict.fromkeys(exclude, True),
            "renameByName": rename,
            "indexByName": {},
        },
    )


def keep_rows_where(field: str, value: float) -> model.DataTransformerConfig:
    """Only the table rows whose ``field`` equals ``value``."""
    return model.DataTransformerConfig(
        id_val="filterByValue",
        options={
            "type": "include",
            "match": "any",
            "filters": [
                {"fieldName": field, "config": {"id": "equal", "options": {"value": value}}}
            ],
        },
    )


def grid(
    title: str,
    description: str,
    queries: Sequence[Query],
    transformations: Sequence[model.DataTransformerConfig],
    **extra: Any,
) -> table.Panel:
    """A table of instant queries."""
    return (
        panel(table.Panel(), title, description, queries, **extra)
        .transformations(list(transformations))
        .show_header(True)
        .cell_height(common.TableCellHeight.SM)
        .footer(common_builders.TableFooterOptions().show(False))
    )


def row(title: str) -> dash.Row:
    return dash.Row(title).collapsed(False)


def label_variable(name: str, label: str, description: str, query: str) -> dash.QueryVariable:
    """A multi-select list of one label's values (``label_values(...)``), "All" = any."""
    return (
        dash.QueryVariable(name)
        .label(label)
        .description(description)
        .datasource(DS)
        .query(query)
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".+")
        .hide(model.VariableHide.DONT_HIDE)
        .regex("")
    )


def instance_variable(metric: str) -> dash.QueryVariable:
    return label_variable(
        "instance",
        "Site / instance",
        "The PVS: the exporter's address (/metrics scrape) or the target name (/probe scrape).",
        f"label_values({metric}, instance)",
    )


def datasource_variable() -> dash.DatasourceVariable:
    # Named like the import input, so the dashboards also work when provisioned
    # from files (where Grafana does not substitute ${DS_PROMETHEUS}).
    return (
        dash.DatasourceVariable("DS_PROMETHEUS")
        .label("Data source")
        .type("prometheus")
        .hide(model.VariableHide.DONT_HIDE)
        .regex("")
    )


PANEL_NAMES = {
    "barchart": "Bar chart",
    "bargauge": "Bar gauge",
    "stat": "Stat",
    "state-timeline": "State timeline",
    "status-history": "Status history",
    "table": "Table",
    "timeseries": "Time series",
}


def dashboard(
    uid: str,
    title: str,
    description: str,
    variables: Sequence[Builder[model.VariableModel]],
    panels: Sequence[PanelBuilder],
) -> dict[str, Any]:
    """The dashboard as Grafana exports it for sharing.

    The SDK builds the dashboard model and lays the panels out (left to right,
    24 columns; a row starts a new line). Around it go the export's
    ``__inputs``/``__requires``, which are not part of the dashboard model:
    they make Grafana's import ask for the Prometheus data source.
    """
    builder = (
        dash.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .editable()
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .time("now-24h", "now")
        .timezone("browser")
        .refresh("1m")
        .fiscal_year_start_month(0)
        .week_start("")
        .version(1)
        .annotation(
            dash.AnnotationQuery()
            .name("Annotations & Alerts")
            .datasource(model.DataSourceRef(type_val="grafana", uid="-- Grafana --"))
            .built_in(1)
            .enable(True)
            .hide(True)
            .icon_color("rgba(0, 211, 255, 1)")
            .type("dashboard")
        )
        .link(
            dash.DashboardLink("SunPower dashboards")
            .type(model.DashboardLinkType.DASHBOARDS)
            .tags(["sunpower-pvs"])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
            .icon("external link")
            .target_blank(False)
            .tooltip("")
            .url("")
        )
        .with_variable(datasource_variable())
    )
    for variable in variables:
        builder = builder.with_variable(variable)
    for number, item in enumerate(panels, start=1):
        item = item.id(number)
        builder = builder.with_row(item) if isinstance(item, dash.Row) else builder.with_panel(item)
    model_doc = builder.build()
    model_doc.schema_version = SCHEMA_VERSION
    doc: dict[str, Any] = model_doc.to_json()
    used = sorted({p.type_val for p in model_doc.panels or [] if p.type_val != "row"})
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
            *(
                {"type": "panel", "id": kind, "name": PANEL_NAMES[kind], "version": ""}
                for kind in used
            ),
        ],
        # Imported dashboards get their id from the Grafana that stores them.
        "id": None,
        **doc,
    }


TODAY = "now/d"  # time_from: since local midnight


# --- site overview -------------------------------------------------------------------


def site_overview() -> dict[str, Any]:
    prod = f"sunpower_pvs:site_production_watts{{{I}}}"
    cons = f"sunpower_pvs:site_consumption_watts{{{I}}}"
    grid_power = f"sunpower_pvs:site_grid_watts{{{I}}}"
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
        big_value(
            "Production",
            "Solar power now: the production meter, or the inverters' AC sum without one.",
            [target(f"sum({prod})", "production")],
            "watt",
            w=3,
            h=5,
            fixed_color="yellow",
        ),
        big_value(
            "Consumption",
            "What the home uses now: the PVS's own site load, a gross consumption CT's "
            "reading, or production + net import + battery discharge.",
            [target(f"sum({cons})", "consumption")],
            "watt",
            w=3,
            h=5,
            fixed_color="blue",
        ),
        big_value(
            "Grid (import + / export −)",
            "Net power at the grid connection: positive = buying, negative = selling. "
            "From the PVS's site totals, a net consumption CT, or a gross one minus "
            "production and battery.",
            [target(f"sum({grid_power})", "grid")],
            "watt",
            w=3,
            h=5,
            steps=((None, "green"), (0, "orange")),
            by_thresholds=True,
        ),
        big_value(
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
            low=0,
            high=1,
            decimals=0,
            time_from=TODAY,
        ),
        big_value(
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
            time_from=TODAY,
        ),
        big_value(
            "PVS",
            "Whether the exporter's last poll of the PVS worked and its data is fresh.",
            [target(f"min(sunpower_pvs_up{{{I}}})", "PVS")],
            w=3,
            h=5,
            mappings=UP_MAPPING,
            steps=RED_GREEN,
            by_thresholds=True,
        ),
        big_value(
            "Battery",
            "SunVault state of charge (reserve included). Empty without a battery.",
            [target(f"avg({soc})", "charge")],
            "percentunit",
            w=3,
            h=5,
            steps=((None, "red"), (0.15, "orange"), (0.4, "green")),
            by_thresholds=True,
            low=0,
            high=1,
        ),
        big_value(
            "Battery power",
            "SunVault power: positive = discharging into the home, negative = charging. "
            "Empty without a battery.",
            [target(f"sum({battery})", "battery")],
            "watt",
            w=3,
            h=5,
        ),
        row("Power"),
        graph(
            "Power flows",
            "Production, consumption, net grid power, the solar power used on site and "
            "the battery's power.",
            targets(
                (prod, "{{instance}} production"),
                (cons, "{{instance}} consumption"),
                (grid_power, "{{instance}} grid (+import / −export)"),
                (selfc, "{{instance}} self-consumed"),
                (battery, "{{instance}} battery (+discharge / −charge)"),
            ),
            "watt",
            w=24,
            h=10,
        ),
        graph(
            "Self-consumption",
            "Share of the solar power used on site at each moment (while producing).",
            [target(f"{selfc} / ({prod} > 0)", "{{instance}}")],
            "percentunit",
            low=0,
            high=1,
        ),
        graph(
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
            time_from="7d",
            bars=True,
        ),
        graph(
            "Live power (telemetry stream)",
            "The site's power flows as the PVS pushes them second by second over its "
            "telemetry stream: only with --live (varserver firmware; a PVS5 has no stream). "
            "Gaps: the stream was down or silent for 90 s (see 'Telemetry stream' on the "
            "PVS health dashboard). The graphs above use the polled values.",
            targets(
                (f"sunpower_pvs_live_pv_power_watts{{{I}}}", "{{instance}} production"),
                (f"sunpower_pvs_live_load_power_watts{{{I}}}", "{{instance}} consumption"),
                (
                    f"sunpower_pvs_live_grid_power_watts{{{I}}}",
                    "{{instance}} grid (+import / −export)",
                ),
                (
                    f"sunpower_pvs_live_battery_power_watts{{{I}}}",
                    "{{instance}} battery (+discharge / −charge)",
                ),
                (
                    f"sunpower_pvs_live_battery_state_of_charge_ratio{{{I}}}",
                    "{{instance}} battery charge",
                ),
            ),
            "watt",
            w=24,
            right_axis=(".* battery charge", "percentunit"),
        ),
        row("Battery (SunVault)"),
        graph(
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
            low=0,
            high=1,
        ),
        graph(
            "Battery power",
            "Positive = discharging into the home, negative = charging.",
            [target(battery, "{{instance}}")],
            "watt",
            w=8,
        ),
        big_value(
            "Backup time",
            "How long the battery could power the home in an outage, as the PVS estimates "
            "it (new firmware).",
            [target(f"sunpower_pvs_site_backup_time_remaining_seconds{{{I}}}", "{{instance}}")],
            "s",
            w=3,
        ),
        big_value(
            "Battery mode",
            "The ESS's operating mode (new firmware).",
            [target(f"sunpower_pvs_ess_operating_mode_info{{{I}}}", "{{mode}}")],
            w=3,
            names=True,
        ),
        graph(
            "Battery voltage and current",
            "DC voltage and current of the ESS and, on legacy firmware, of each battery "
            "module (current: + discharging, − charging; legacy firmware only). Modules of "
            "one battery far apart in voltage are worth a call to the installer.",
            targets(
                (
                    f"sunpower_pvs_ess_battery_voltage_volts{{{I}}}",
                    "{{instance}} {{device_type}} {{device_id}} V",
                ),
                (
                    f"sunpower_pvs_ess_battery_current_amperes{{{I}}}",
                    "{{instance}} {{device_type}} {{device_id}} A",
                ),
            ),
            "volt",
            w=8,
            right_axis=(".* A", "amp"),
        ),
        graph(
            "Battery cells",
            "Lowest and highest cell voltage (new firmware). The gap between them is the "
            "battery's imbalance: a gap that keeps growing over weeks means a weak cell.",
            targets(
                (
                    f"sunpower_pvs_ess_cell_min_voltage_volts{{{I}}}",
                    "{{instance}} {{device_id}} lowest cell",
                ),
                (
                    f"sunpower_pvs_ess_cell_max_voltage_volts{{{I}}}",
                    "{{instance}} {{device_id}} highest cell",
                ),
            ),
            "volt",
            w=8,
        ),
        graph(
            "Battery temperatures",
            "Coolest and warmest cell and the ESS inverter (new firmware), module and "
            "enclosure temperatures and enclosure humidity (legacy firmware). Batteries "
            "limit their power when too hot or too cold.",
            targets(
                (
                    f"sunpower_pvs_ess_cell_min_temperature_celsius{{{I}}}",
                    "{{instance}} {{device_id}} coolest cell",
                ),
                (
                    f"sunpower_pvs_ess_cell_max_temperature_celsius{{{I}}}",
                    "{{instance}} {{device_id}} warmest cell",
                ),
                (
                    f"sunpower_pvs_ess_inverter_temperature_celsius{{{I}}}",
                    "{{instance}} {{device_id}} inverter",
                ),
                (
                    f"sunpower_pvs_ess_temperature_celsius{{{I}}}",
                    "{{instance}} {{device_type}} {{device_id}}",
                ),
                (
                    f"sunpower_pvs_ess_humidity_ratio{{{I}}}",
                    "{{instance}} {{device_id}} humidity",
                ),
            ),
            "celsius",
            w=8,
            right_axis=(".* humidity", "percentunit"),
        ),
        graph(
            "Battery power and its limits",
            "The ESS's power and the highest charge and discharge power it allows now "
            "(new firmware). A limit near 0 while the battery is neither full nor empty: "
            "it is protecting itself (temperature, a fault).",
            targets(
                (f"sunpower_pvs_ess_power_watts{{{I}}}", "{{instance}} {{device_id}} power"),
                (
                    f"sunpower_pvs_ess_charge_limit_watts{{{I}}}",
                    "{{instance}} {{device_id}} charge limit",
                ),
                (
                    f"sunpower_pvs_ess_discharge_limit_watts{{{I}}}",
                    "{{instance}} {{device_id}} discharge limit",
                ),
            ),
            "watt",
            w=12,
        ),
        graph(
            "Battery energy per day",
            "Energy put into and taken out of the battery each day (new firmware). "
            "Discharged over charged, over several days, is the round-trip efficiency.",
            targets(
                (
                    "sum by (instance) (increase("
                    f"sunpower_pvs_ess_charged_energy_watt_hours_total{{{I}}}[1d]))",
                    "{{instance}} charged",
                ),
                (
                    "sum by (instance) (increase("
                    f"sunpower_pvs_ess_discharged_energy_watt_hours_total{{{I}}}[1d]))",
                    "{{instance}} discharged",
                ),
            ),
            "watth",
            w=12,
            interval="1d",
            time_from="7d",
            bars=True,
        ),
        graph(
            "PV Disconnect voltages",
            "Leg voltages on the grid side and the PV side of the SunVault's PV Disconnect "
            "(legacy firmware). PV side near 0 V while the grid side is up: the PV is "
            "disconnected.",
            targets(
                (
                    f"sunpower_pvs_pv_disconnect_phase_voltage_volts{{{I}}}",
                    "{{instance}} {{side}} {{phase}}",
                ),
            ),
            "volt",
            w=12,
        ),
        graph(
            "PV Disconnect relays",
            "State and error codes of each PV Disconnect relay, as the PVS reports them "
            "(codes undocumented; 1 and 0 seen). A change is worth a look.",
            targets(
                (
                    f"sunpower_pvs_pv_disconnect_relay_state{{{I}}}",
                    "{{instance}} relay {{relay}} state",
                ),
                (
                    f"sunpower_pvs_pv_disconnect_relay_error{{{I}}}",
                    "{{instance}} relay {{relay}} error",
                ),
            ),
            "short",
            w=12,
        ),
        graph(
            "Lifetime net energy (PVS totals)",
            "The PVS's own lifetime totals of net grid energy (imported minus exported) and "
            "net battery energy (new firmware). Both are gauges: negative on a site that "
            "exports more than it imports, and the battery's moves both ways. Read their "
            "change with delta(), never increase() or rate().",
            targets(
                (f"sunpower_pvs_site_grid_energy_watt_hours{{{I}}}", "{{instance}} grid (net)"),
                (
                    f"sunpower_pvs_site_battery_energy_watt_hours{{{I}}}",
                    "{{instance}} battery (net)",
                ),
            ),
            "watth",
            w=24,
        ),
        row("Grid and PVS health"),
        graph(
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
            right_axis=(".* Hz", "hertz"),
        ),
        graph(
            "Inverters producing",
            "Inverters making more than 50 W, out of all inverters the PVS lists.",
            targets(
                (f"sunpower_pvs:site_inverters_producing{{{I}}}", "{{instance}} producing"),
                (f"sunpower_pvs:site_inverters{{{I}}}", "{{instance}} total"),
            ),
            w=8,
            low=0,
            decimals=0,
        ),
        graph(
            "PVS up and data age",
            "sunpower_pvs_up (1 = polls work) and the age of the newest data read from the PVS.",
            targets(
                (f"sunpower_pvs_up{{{I}}}", "{{instance}} {{target}} up"),
                (f"sunpower_pvs_snapshot_age_seconds{{{I}}}", "{{instance}} {{target}} age"),
            ),
            w=8,
            right_axis=(".* age", "s"),
        ),
        row("Meters"),
        graph(
            "Meter power per leg",
            "Real power of each meter, in total and on each leg (L1, L2). On a net "
            "consumption meter negative means export. A production meter on new firmware "
            "reports 0 for its legs: it does not measure them.",
            targets(
                (
                    f"sunpower_pvs_power_meter_average_real_power_watts{{{I}}}",
                    "{{instance}} {{mode}}",
                ),
                (
                    f"sunpower_pvs_power_meter_phase_real_power_watts{{{I}}}",
                    "{{instance}} {{mode}} {{phase}}",
                ),
            ),
            "watt",
            w=8,
        ),
        graph(
            "Meter current",
            "Current through each meter (total, production meters) and on each leg.",
            targets(
                (f"sunpower_pvs_power_meter_current_amperes{{{I}}}", "{{instance}} {{mode}}"),
                (
                    f"sunpower_pvs_power_meter_phase_current_amperes{{{I}}}",
                    "{{instance}} {{mode}} {{phase}}",
                ),
            ),
            "amp",
            w=8,
        ),
        graph(
            "Leg voltages",
            "Leg-to-neutral voltage of each leg as each meter measures it. Two legs that "
            "drift apart under load can mean a loose neutral: have an electrician look.",
            [
                target(
                    f"sunpower_pvs_power_meter_phase_voltage_volts{{{I}}}",
                    "{{instance}} {{mode}} {{phase}}",
                )
            ],
            "volt",
            w=8,
        ),
        graph(
            "Reactive and apparent power",
            "Reactive (VAr) and apparent (VA) power of each meter.",
            targets(
                (
                    f"sunpower_pvs_power_meter_average_reactive_power_volt_amperes_reactive{{{I}}}",
                    "{{instance}} {{mode}} reactive",
                ),
                (
                    f"sunpower_pvs_power_meter_average_apparent_power_volt_amperes{{{I}}}",
                    "{{instance}} {{mode}} apparent",
                ),
            ),
            "voltamp",
            w=8,
            right_axis=(".* reactive", "voltampreact"),
        ),
        graph(
            "Power factor",
            "Real over apparent power of each meter, −1 to 1.",
            [
                target(
                    f"sunpower_pvs_power_meter_power_factor_real_power_per_apparent_power{{{I}}}",
                    "{{instance}} {{mode}}",
                )
            ],
            w=8,
            low=-1,
            high=1,
        ),
        graph(
            "Meter net energy",
            "Each meter's lifetime net energy (import − export on a consumption meter): it "
            "goes down, and below 0, while the site exports. For energy per day use the "
            "'Daily energy' panel.",
            [
                target(
                    f"sunpower_pvs_power_meter_net_energy_watt_hours{{{I}}}",
                    "{{instance}} {{mode}} {{device_id}}",
                )
            ],
            "watth",
            w=8,
        ),
        grid(
            "Meters",
            "Each meter and the rated current of its current transformers (CTs).",
            [instant(f"sunpower_pvs_power_meter_ct_rated_current_amperes{{{I}}}")],
            [
                organize(
                    ["Time", "__name__", "job", "ct_rated_current"],
                    {"Value": "CT rating (A)"},
                )
            ],
            w=24,
            h=6,
        ),
        row("Transfer switch (Hub+ / MIDC)"),
        grid(
            "Transfer switch state",
            "States of the SunVault Hub+ / MIDC: state is the grid contactor (microgrid "
            "interconnect), pv_disconnect_state the PV disconnect relay, in the PVS's own "
            "words. Empty without a SunVault.",
            [instant(f"sunpower_pvs_transfer_switch_state_info{{{I}}}")],
            [organize(["Time", "Value", "__name__", "job"], {})],
            w=8,
        ),
        graph(
            "Transfer switch voltages",
            "Leg voltages on the grid side and the home side of the switch, and the Hub+'s "
            "main voltage reading (legacy firmware). Home side live while the grid side is "
            "dead: the SunVault is powering the home (an outage).",
            targets(
                (
                    f"sunpower_pvs_transfer_switch_phase_voltage_volts{{{I}}}",
                    "{{instance}} {{side}} {{phase}}",
                ),
                (
                    f"sunpower_pvs_transfer_switch_main_voltage_volts{{{I}}}",
                    "{{instance}} {{device_id}} main",
                ),
            ),
            "volt",
            w=8,
        ),
        graph(
            "Transfer switch temperature and control supply",
            "Temperature inside the switch, and its own low-voltage control supply (about "
            "11-12 V when healthy, new firmware; not a grid voltage).",
            targets(
                (
                    f"sunpower_pvs_transfer_switch_temperature_celsius{{{I}}}",
                    "{{instance}} {{device_id}} temperature",
                ),
                (
                    f"sunpower_pvs_transfer_switch_control_supply_voltage_volts{{{I}}}",
                    "{{instance}} {{device_id}} control supply",
                ),
            ),
            "celsius",
            w=8,
            right_axis=(".* control supply", "volt"),
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


def panel_health_panels() -> list[PanelBuilder]:
    """Every inverter against its array's median (docs/panel-health.md)."""
    selector = f'{INV}, array=~"$array"'
    ratio = f"sunpower_pvs:inverter_power_relative_ratio{{{selector}}}"
    power = f"sunpower_pvs:inverter_power_watts{{{selector}}}"
    daily = f"sunpower_pvs:inverter_day_energy_relative_ratio{{{selector}}}"
    return [
        row("Panel health: each inverter against its array"),
        big_value(
            "Inverters by output relative to their array",
            "One tile per inverter (array / serial), coloured by its power relative to its "
            "array's median right now: dead (under 5 %), low (under 80 %), normal. 'no "
            "sun': the array's median inverter makes 50 W or less, nothing is judged. "
            "Arrays come from the exporter's arrays configuration (sunpower_pvs_inverter_"
            "array_info; docs/panel-health.md).",
            [
                at_end(
                    f"{ratio} or ({power} * 0 - 1)",
                    "{{array}} {{device_id}}",
                )
            ],
            "percentunit",
            w=24,
            h=10,
            steps=RELATIVE_STEPS,
            by_thresholds=True,
            mappings=RELATIVE_MAPPING,
        )
        .text_mode(common.BigValueTextMode.VALUE_AND_NAME)
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.NONE),
        panel(
            cells_per_series(),
            "Daily yield relative to the array, per inverter",
            "A heatmap: one row per inverter, one column per day, each cell its energy over "
            "the 24 hours up to that column relative to its array's median. A row that "
            "stays orange is SunpowerPvsInverterUnderperforming; red is a dead inverter. "
            "Days are 24-hour windows ending at the column's time.",
            [target(daily, "{{array}} {{device_id}}")],
            "percentunit",
            w=24,
            h=12,
            interval="1d",
            time_from="30d",
            steps=RELATIVE_STEPS,
            by_thresholds=True,
            low=0,
        ),
        panel(
            bars_per_series(),
            "Degradation: last 30 days against its own 90 days",
            "Each inverter's average daily yield relative to its array over the last 30 "
            "days, divided by the same over the last 90 days. 1: unchanged. A panel "
            "slowly losing output (soiling, a growing tree, an ageing module) drifts below "
            "1 long before any alert; with less than 90 days of data both windows are "
            "the same and the ratio is 1.",
            [
                at_end(
                    f"avg_over_time({daily}[30d]) / avg_over_time({daily}[90d])",
                    "{{array}} {{device_id}}",
                )
            ],
            "percentunit",
            w=24,
            h=10,
            steps=((None, "orange"), (0.95, "green")),
            by_thresholds=True,
            low=0.5,
            high=1.1,
        ),
    ]


def inverters() -> dict[str, Any]:
    state = f'sunpower_pvs_device_state{{{I}, device_type="Inverter", device_id=~"$inverter"}}'
    ac = f"sunpower_pvs_inverter_ac_power_watts{{{INV}}}"
    dc = f"sunpower_pvs_inverter_dc_power_watts{{{INV}}}"
    columns = [
        ("sunpower_pvs_inverter_ac_power_watts", "AC W"),
        ("sunpower_pvs_inverter_dc_power_watts", "DC W"),
        ("sunpower_pvs_inverter_dc_voltage_volts", "DC V"),
        ("sunpower_pvs_inverter_dc_current_amperes", "DC A"),
        ("sunpower_pvs_inverter_ac_voltage_volts", "AC V"),
        ("sunpower_pvs_inverter_ac_current_amperes", "AC A"),
        ("sunpower_pvs_inverter_operating_frequency_hertz", "Hz"),
        ("sunpower_pvs_inverter_heatsink_temperature_celsius", "Heatsink °C"),
        ("sunpower_pvs_inverter_energy_total_watt_hours", "Lifetime Wh"),
    ]
    table_queries = [
        instant(f"{metric}{{{INV}}}", ref=chr(ord("A") + n))
        for n, (metric, _) in enumerate(columns)
    ]
    panels = [
        big_value(
            "Inverters",
            "Inverters the PVS lists.",
            [target(f"count({state})")],
            w=4,
            h=5,
        ),
        big_value(
            "Producing",
            "Inverters making more than 50 W now.",
            [target(f"count({ac} > 50) or vector(0)")],
            w=4,
            h=5,
        ),
        big_value(
            "Offline",
            "Inverters the PVS reports in error state (normal at night; in daylight, look "
            "at the table below).",
            [target(f"count({state} == 0) or vector(0)")],
            w=4,
            h=5,
            steps=((None, "green"), (1, "orange")),
            by_thresholds=True,
        ),
        big_value(
            "AC power",
            "Sum of the inverters' AC output.",
            [target(f"sum({ac} > -Inf)")],
            "watt",
            w=4,
            h=5,
        ),
        big_value(
            "DC → AC",
            "AC output over DC input, all inverters together.",
            [target(f"sum({ac} > -Inf) / sum({dc} > 0)")],
            "percentunit",
            w=4,
            h=5,
            decimals=1,
        ),
        big_value(
            "Hottest heatsink",
            "Highest inverter heatsink temperature.",
            [target(f"max(sunpower_pvs_inverter_heatsink_temperature_celsius{{{INV}}} > -Inf)")],
            "celsius",
            w=4,
            h=5,
            steps=((None, "green"), (60, "orange"), (75, "red")),
            by_thresholds=True,
        ),
        grid(
            "All inverters",
            "The latest reading of every inverter. Empty cells: the inverter is in error "
            "state and reported no values. One inverter far below its neighbours in DC "
            "power in full sun: shading, soiling or a failing module or inverter.",
            table_queries,
            [
                merge(),
                organize(
                    ["Time", "__name__", "job", "type", "port", "description"],
                    {f"Value #{chr(ord('A') + n)}": label for n, (_, label) in enumerate(columns)},
                ),
            ],
            w=24,
            h=10,
        ),
        panel(
            cells_per_series(),
            "AC power per inverter",
            "Each row is an inverter, each cell its AC output: weak or dark cells next to "
            "bright ones show shading, soiling or a failing module.",
            [target(ac, "{{device_id}}")],
            "watt",
            w=24,
            h=12,
            interval="5m",
            scheme=model.FieldColorModeId.CONTINUOUS_YL_RD,
            low=0,
        ),
        graph(
            "DC vs AC power",
            "Total DC input and AC output of the inverters.",
            targets(
                (f"sum by (instance) ({dc} > -Inf)", "{{instance}} DC"),
                (f"sum by (instance) ({ac} > -Inf)", "{{instance}} AC"),
            ),
            "watt",
        ),
        graph(
            "Conversion efficiency",
            "AC output over DC input per inverter, while producing.",
            [target(f"{ac} / ({dc} > 10)", "{{device_id}}")],
            "percentunit",
            low=0.8,
            high=1,
        ),
        graph(
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
        graph(
            "DC voltage",
            "MPPT input voltage per inverter.",
            [target(f"sunpower_pvs_inverter_dc_voltage_volts{{{INV}}}", "{{device_id}}")],
            "volt",
        ),
        timeline(
            "Inverter state",
            "working / error as the PVS reports it. Inverters go to error at night and in "
            "heavy shade.",
            [target(f"max by (instance, device_id) ({state})", "{{device_id}}")],
            STATE_MAPPING,
            RED_GREEN,
            w=12,
            h=10,
        ),
        grid(
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
                merge(),
                keep_rows_where("Value #A", 0),
                organize(
                    ["Time", "__name__", "job", "type", "Value #A"],
                    {"Value #B": "Last report (s ago)"},
                ),
            ],
            w=12,
            h=10,
        ),
        *panel_health_panels(),
        panel(
            bars_per_series(),
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
            time_from=TODAY,
        ),
    ]
    inverter_variable = label_variable(
        "inverter",
        "Inverter",
        "Inverter serial numbers (device_id).",
        f"label_values(sunpower_pvs_inverter_ac_power_watts{{{I}}}, device_id)",
    )
    array_variable = label_variable(
        "array",
        "Array",
        "Arrays (roof faces) of the exporter's arrays configuration; 'site' without one.",
        f"label_values(sunpower_pvs_inverter_array_info{{{I}}}, array)",
    )
    return dashboard(
        "sunpower-pvs-inverters",
        "SunPower inverters",
        "Every micro-inverter of a SunPower PVS site: table, AC power map, panel health "
        "against each array, DC vs AC, temperatures, offline inverters "
        "(sunpower-pvs-exporter).",
        [instance_variable("sunpower_pvs_device_state"), inverter_variable, array_variable],
        panels,
    )


# --- energy ----------------------------------------------------------------------------

# The energy recording rules (contrib/prometheus/rules.yml): each flow's energy
# in the last 5 minutes, whose sums over consecutive 5-minute steps tile time.
FLOWS = (
    ("produced", "Produced", "yellow"),
    ("consumed", "Consumed", "blue"),
    ("imported", "Imported", "red"),
    ("exported", "Exported", "green"),
    ("battery_charged", "Battery charged", "purple"),
    ("battery_discharged", "Battery discharged", "orange"),
)


def flow_rule(flow: str) -> str:
    return f"sunpower_pvs:site_{flow}_watt_hours:increase5m{{{I}}}"


def flow_sum(flow: str, window: str, offset: str = "") -> str:
    """A flow's energy over ``window``: its 5-minute pieces added up."""
    return f"sum(sum_over_time({flow_rule(flow)}[{window}:5m]{offset}))"


def local_periods(date_format: str) -> list[model.DataTransformerConfig]:
    """Hourly values added up per local day or month (Grafana knows the time zone).

    PromQL has no time zones: its daily steps start at UTC midnight. The
    queries therefore return each hour's energy, stamped with the hour's start
    (``offset -1h``); Grafana formats the stamps as dates in the dashboard's time
    zone and adds up the hours of each date.
    """
    return [
        model.DataTransformerConfig(
            id_val="formatTime",
            options={"timeField": "Time", "outputFormat": date_format, "useTimezone": True},
        ),
        model.DataTransformerConfig(
            id_val="joinByField", options={"byField": "Time", "mode": "outer"}
        ),
        model.DataTransformerConfig(
            id_val="groupBy",
            options={
                "fields": {
                    "Time": {"aggregations": [], "operation": "groupby"},
                    **{
                        label: {"aggregations": ["sum"], "operation": "aggregate"}
                        for _, label, _ in FLOWS
                    },
                }
            },
        ),
        organize([], {f"{label} (sum)": label for _, label, _ in FLOWS}),
    ]


def period_bars(title: str, description: str, date_format: str, span: str) -> barchart.Panel:
    builder = (
        barchart.Panel()
        .x_field("Time")
        .show_value(common.VisibilityMode.NEVER)
        .stacking(common.StackingMode.NONE)
        .group_width(0.8)
        .bar_width(0.9)
        .fill_opacity(80)
        .orientation(common.VizOrientation.AUTO)
        .x_tick_label_rotation(0)
        .legend(legend())
        .tooltip(tooltip(common.TooltipDisplayMode.MULTI, common.SortOrder.NONE))
        .max_data_points(10000)
    )
    builder = panel(
        builder,
        title,
        description,
        [
            target(flow_sum(flow, "1h", " offset -1h"), label, chr(ord("A") + n))
            for n, (flow, label, _) in enumerate(FLOWS)
        ],
        "watth",
        w=24,
        h=10,
        interval="1h",
        time_from=span,
    ).transformations(local_periods(date_format))
    for _, label, hue in FLOWS:
        builder = builder.override_by_name(
            label,
            [model.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": hue})],
        )
    return builder


def energy() -> dict[str, Any]:
    today = [
        big_value(
            label,
            f"{label} energy since local midnight (the dashboard's time zone), from the "
            "energy recording rules; up to 5 minutes behind. Empty when it cannot be known "
            "(no consumption meter: consumed, imported, exported; no battery).",
            [at_end(flow_sum(flow, "$__range"), label)],
            "watth",
            w=3,
            h=5,
            fixed_color=hue,
            time_from=TODAY,
        )
        for flow, label, hue in FLOWS
    ]
    ratios = [
        big_value(
            "Self-consumption today",
            "Share of today's production used on site (battery charging included), not "
            "exported: 1 - exported / produced.",
            [
                at_end(
                    f"1 - {flow_sum('exported', '$__range')} / {flow_sum('produced', '$__range')}"
                )
            ],
            "percentunit",
            w=6,
            h=5,
            low=0,
            high=1,
            decimals=0,
            time_from=TODAY,
        ),
        big_value(
            "Self-sufficiency today",
            "Share of today's consumption the site covered itself (solar and battery): "
            "1 - imported / consumed.",
            [
                at_end(
                    f"1 - {flow_sum('imported', '$__range')} / {flow_sum('consumed', '$__range')}"
                )
            ],
            "percentunit",
            w=6,
            h=5,
            low=0,
            high=1,
            decimals=0,
            time_from=TODAY,
        ),
    ]
    soh = f"sunpower_pvs_ess_state_of_health_ratio{{{I}}}"
    battery = [
        row("Battery (SunVault)"),
        big_value(
            "State of health",
            "The battery's own estimate of its remaining capacity (new firmware). Some "
            "units report 0: shown as unknown, not as a dead battery.",
            [at_end(f"max by (instance, device_id) ({soh} > -Inf)", "{{device_id}}")],
            "percentunit",
            w=6,
            h=6,
            mappings=value_map({0: ("unknown", "text")}),
            steps=((None, "red"), (0.6, "orange"), (0.8, "green")),
            by_thresholds=True,
            decimals=0,
        ),
        big_value(
            "Usable energy per cycle (7 days)",
            "Energy the battery delivered per full 100 % swing of its charge over the last "
            "7 days (sunpower_pvs:site_battery_usable_watt_hours_per_cycle:week): its real "
            "usable capacity. Empty until the charge fell by half a cycle in the week.",
            [
                at_end(
                    f"sunpower_pvs:site_battery_usable_watt_hours_per_cycle:week{{{I}}}",
                    "{{instance}}",
                )
            ],
            "watth",
            w=6,
            h=6,
        ),
        big_value(
            "Round-trip efficiency (7 days)",
            "Energy out of the battery over energy into it, last 7 days "
            "(sunpower_pvs:site_battery_round_trip_efficiency_ratio:week). SunVault's "
            "rated round trip is about 85-90 %; the week's net change of charge is ignored.",
            [
                at_end(
                    f"sunpower_pvs:site_battery_round_trip_efficiency_ratio:week{{{I}}}",
                    "{{instance}}",
                )
            ],
            "percentunit",
            w=6,
            h=6,
            steps=((None, "orange"), (0.8, "green")),
            by_thresholds=True,
            decimals=0,
        ),
        big_value(
            "Grid outages (7 days)",
            "Time the home ran islanded from the grid in the last 7 days.",
            [at_end(f"sum(sum_over_time(sunpower_pvs:site_grid_outage{{{I}}}[7d:1m])) * 60")],
            "s",
            w=6,
            h=6,
        ),
        timeline(
            "Grid outages",
            "When the grid was down, as the SunVault Hub+ / MIDC saw it "
            "(sunpower_pvs:site_grid_outage: its grid side under 50 V), and the switch's own "
            "state strings as it reports them (undocumented values, shown raw).",
            [
                target(f"sunpower_pvs:site_grid_outage{{{I}}}", "{{instance}} grid", "A"),
                target(
                    f"max by (instance, state) (sunpower_pvs_transfer_switch_state_info{{{I}}})",
                    "{{instance}} switch {{state}}",
                    "B",
                ),
            ],
            value_map({0: ("grid up", "green"), 1: ("OUTAGE", "red")}),
            ((None, "green"), (1, "red")),
            w=24,
            h=6,
        ),
    ]
    panels = [
        row("Today so far"),
        *today,
        *ratios,
        row("By day and month (your local time zone)"),
        period_bars(
            "Daily energy",
            "Each local day of the last 30 days: energy produced, consumed, imported, "
            "exported, and into and out of the battery. Days follow the dashboard's time "
            "zone (set it to the site's): the hours are added up by Grafana.",
            "YYYY-MM-DD",
            "30d",
        ),
        period_bars(
            "Monthly energy",
            "Each local month of the last year, the same flows.",
            "YYYY-MM",
            "365d",
        ),
        *battery,
    ]
    return dashboard(
        "sunpower-pvs-energy",
        "SunPower energy",
        "What a SunPower site produced, consumed, imported, exported and stored: today so "
        "far, per local day and month; battery health and grid outages "
        "(sunpower-pvs-exporter).",
        [instance_variable("sunpower_pvs_device_state")],
        panels,
    )


# --- supervisor health -----------------------------------------------------------------


def pvs_load_panels(sup: str) -> list[PanelBuilder]:
    """What the exporter asks of the PVS, beside what the PVS does (docs/monitoring.md,
    "Is polling hurting my PVS?")."""
    per_hour = f"sum by (instance, target) (increase(sunpower_pvs_requests_total{{{sup}}}[1h]))"
    load = graph(
        "Requests per hour, reboots and uptime",
        "Requests the exporter sent to the PVS in the hour before each point, beside the "
        "PVS's uptime (each drop is a reboot) and the reboots it saw in 24 hours. Polling "
        "that hurts a PVS shows as reboots or short uptimes that follow the request rate. "
        "Peers saw a reboot a day with two pollers reading DeviceList every 5 minutes (24 "
        "an hour), 72 hours of uptime at 18 an hour, a crash every ~4 hours at 120 an "
        "hour. The exporter's defaults: 30 DeviceList and 12 small requests an hour "
        "(legacy firmware); about 200 small reads an hour on varserver firmware "
        "(docs/monitoring.md, Is polling hurting my PVS?).",
        targets(
            (per_hour, "{{target}} requests/h"),
            (
                f"sunpower_pvs_supervisor_uptime_seconds_total{{{sup}}}",
                "{{instance}} {{device_id}} uptime",
            ),
            (
                f"round(increase(sunpower_pvs_supervisor_reboots_total{{{sup}}}[24h]))",
                "{{target}} reboots in 24 h",
            ),
        ),
        w=8,
        low=0,
        right_axis=(".* uptime", "s"),
    ).override_by_regexp(
        ".* reboots in 24 h",
        [
            model.DynamicConfigValue(id_val="custom.axisPlacement", value="right"),
            model.DynamicConfigValue(id_val="custom.drawStyle", value="bars"),
        ],
    )
    return [
        row("PVS load"),
        big_value(
            "Requests per hour",
            "HTTP requests the exporter sent to the PVS in the last hour (every kind, "
            "answered or not). With the default settings: 42 on legacy firmware (30 of "
            "them DeviceList), about 200 on varserver firmware (small reads of variable "
            "sets the PVS keeps; 380 with api: varserver, polled every 60 s).",
            [at_end(per_hour, "{{target}}")],
            w=4,
            decimals=0,
        ),
        load,
        graph(
            "Requests per hour by kind, and data received",
            "Requests sent in the hour before each point, by kind: device_list, get_comm, "
            "grid_profile, ess_status, supervisor_info (legacy dl_cgi); login, vars_match "
            "(a read that builds a set of variables), vars_cached (a read of that set), "
            "telemetry_enable (varserver). And the answer bodies' bytes received.",
            targets(
                (
                    "sum by (instance, target, kind) "
                    f"(increase(sunpower_pvs_requests_total{{{sup}}}[1h]))",
                    "{{target}} {{kind}}",
                ),
                (
                    "sum by (instance, target) "
                    f"(increase(sunpower_pvs_response_body_bytes_total{{{sup}}}[1h]))",
                    "{{target}} bytes/h",
                ),
            ),
            w=12,
            low=0,
            right_axis=(".* bytes/h", "decbytes"),
        ),
        graph(
            "PVS answer time",
            "How long the PVS took to answer, by kind of request: the median and the "
            "90th percentile over each interval. Reads of a cached set of variables "
            "(vars_cached) are the quickest, DeviceList takes seconds; times that grow day "
            "after day, or come near the timeout, are a PVS that struggles. Empty where "
            "nothing was answered.",
            targets(
                (
                    "histogram_quantile(0.5, sum by (instance, target, kind, le) "
                    f"(rate(sunpower_pvs_request_duration_seconds_bucket{{{sup}}}"
                    "[$__rate_interval])))",
                    "{{target}} {{kind}} median",
                ),
                (
                    "histogram_quantile(0.9, sum by (instance, target, kind, le) "
                    f"(rate(sunpower_pvs_request_duration_seconds_bucket{{{sup}}}"
                    "[$__rate_interval])))",
                    "{{target}} {{kind}} p90",
                ),
            ),
            "s",
            w=12,
            low=0,
        ),
        graph(
            "Requests without a good answer",
            "Requests that ended other than with a 2xx answer, by kind and how: 4xx/5xx "
            "(the PVS refused or failed; a 401/403 now and then is a session that ended "
            "and is renewed), timeout (no answer within at most twice the timeout), "
            "connection_error (no connection, reset, cut short), cancelled (closed by a "
            "reload or shutdown). A steady stream of timeouts is a PVS that cannot keep up. "
            "A kind whose requests all got a good answer shows as one line at 0.",
            [
                target(
                    "sum by (instance, target, kind, class) (increase("
                    f'sunpower_pvs_request_results_total{{{sup}, class!="2xx"}}'
                    "[$__rate_interval])) or on (instance, target, kind) (0 * sum by "
                    "(instance, target, kind) (increase("
                    f"sunpower_pvs_requests_total{{{sup}}}[$__rate_interval])))",
                    "{{target}} {{kind}} {{class}}",
                )
            ],
            w=12,
            low=0,
        ),
    ]


def supervisor() -> dict[str, Any]:
    sup = I
    panels = [
        row("PVS"),
        big_value(
            "PVS",
            "Whether the exporter's last poll of the PVS worked and its data is fresh.",
            [target(f"sunpower_pvs_up{{{sup}}}", "{{target}}")],
            w=4,
            h=5,
            mappings=UP_MAPPING,
            steps=RED_GREEN,
            by_thresholds=True,
        ),
        big_value(
            "Uptime",
            "Time since the PVS booted. A PVS that reboots often shows up here first.",
            [target(f"sunpower_pvs_supervisor_uptime_seconds_total{{{sup}}}", "{{device_id}}")],
            "s",
            w=4,
            h=5,
        ),
        big_value(
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
            steps=((None, "green"), (1000, "orange"), (5000, "red")),
            by_thresholds=True,
        ),
        big_value(
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
            steps=((None, "red"), (20 * 1024 * 1024, "orange"), (50 * 1024 * 1024, "green")),
            by_thresholds=True,
        ),
        grid(
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
                merge(),
                organize(["Time", "Value #A", "Value #B", "__name__", "job"], {}),
            ],
            w=8,
            h=5,
        ),
        row("Resources"),
        graph(
            "Memory used",
            "Memory used on the PVS (legacy firmware reports bytes).",
            [target(f"sunpower_pvs_supervisor_mem_used_bytes{{{sup}}}", "{{device_id}}")],
            "bytes",
            w=8,
        ),
        graph(
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
        graph(
            "CPU load",
            "CPU load average of the PVS.",
            [target(f"sunpower_pvs_supervisor_cpu_loadavg{{{sup}}}", "{{device_id}}")],
            w=8,
        ),
        graph(
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
            w=16,
            low=0,
            high=1,
        ),
        graph(
            "Device scan time",
            "How long the PVS's last scan of its devices took (legacy firmware). Scans "
            "that keep getting longer, with skipped scans, point at a failing PLC link or "
            "an overloaded PVS.",
            [target(f"sunpower_pvs_supervisor_scan_time_seconds{{{sup}}}", "{{device_id}}")],
            "s",
            w=8,
        ),
        row("Devices and upload"),
        graph(
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
        graph(
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
        graph(
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
        grid(
            "Network interfaces",
            "The PVS's network interfaces, their state, and whether they reach the internet "
            "and SunPower's servers (sms; legacy firmware only).",
            [
                instant(f"sunpower_pvs_communication_interface_info{{{sup}}}", ref="A"),
                instant(f"sunpower_pvs_communication_interface_state_info{{{sup}}}", ref="B"),
            ],
            [
                merge(),
                organize(["Time", "Value #A", "Value #B", "__name__", "job"], {}),
            ],
            w=12,
            h=6,
        ),
        grid(
            "Grid profile",
            "The grid profile active on the PVS.",
            [instant(f"sunpower_pvs_grid_profile_info{{{sup}}}")],
            [organize(["Time", "Value", "__name__", "job"], {})],
            w=12,
            h=6,
        ),
        row("Reboots and data quality"),
        big_value(
            "Reboots (24 h)",
            "PVS reboots the exporter saw in the last 24 hours (its uptime went back). "
            "Units reboot about once a night: 0-1 is normal, 2 can be a firmware update, "
            "3 or more (the SunpowerPvsRebooting alert) point at a failing PVS or power "
            "supply, or at polling too hard: keep the default poll intervals.",
            [
                at_end(
                    f"round(increase(sunpower_pvs_supervisor_reboots_total{{{sup}}}[24h]))",
                    "{{target}}",
                )
            ],
            w=4,
            decimals=0,
            steps=((None, "green"), (2, "orange"), (3, "red")),
            by_thresholds=True,
        ),
        graph(
            "Uptime and reboots",
            "The PVS's uptime (each drop to 0 is a reboot) and the reboots the exporter saw "
            "in the 24 hours before each point. Reboots while the exporter was not running "
            "are not counted.",
            targets(
                (
                    f"sunpower_pvs_supervisor_uptime_seconds_total{{{sup}}}",
                    "{{instance}} {{device_id}} uptime",
                ),
                (
                    f"round(increase(sunpower_pvs_supervisor_reboots_total{{{sup}}}[24h]))",
                    "{{target}} reboots in 24 h",
                ),
            ),
            "s",
            w=8,
            right_axis=(".* reboots in 24 h", "short"),
        ),
        graph(
            "Energy readings held",
            "Lifetime-energy readings the exporter did not pass on, so that energy counters "
            "never go backwards. zero and small_decrease are normal PVS glitches: nothing "
            "to do. large_decrease: a device reported far less lifetime energy than before, "
            "as when a meter or inverter is replaced, reset or reprogrammed; the exporter "
            "logs the device and accepts the lower value as a counter reset once it has "
            "lasted an hour. If nobody worked on the site, check that device.",
            [
                target(
                    "sum by (instance, target, reason) (increase("
                    f"sunpower_pvs_energy_readings_held_total{{{sup}}}[$__rate_interval]))",
                    "{{target}} {{reason}}",
                )
            ],
            w=12,
            low=0,
        ),
        graph(
            "Dropped values",
            "Values the PVS sent that were unusable (text instead of a number, NaN, "
            "infinite, out of range); each is exported as missing instead of failing the "
            "poll. A few now and then: nothing to do. A steady stream, above all after a "
            "firmware update, means the PVS changed a field's format: run "
            "`sunpower-pvs-exporter capture` and report it with the capture "
            "(docs/troubleshooting.md).",
            [
                target(
                    "sum by (instance, target) (increase("
                    f"sunpower_pvs_dropped_values_total{{{sup}}}[$__rate_interval]))",
                    "{{target}}",
                )
            ],
            w=12,
            low=0,
        ),
        graph(
            "Poll interval",
            "How often the exporter polls the PVS: in effect, and as configured. Above the "
            "configured line, the exporter is easing off a PVS that rebooted twice within a "
            "day (the interval doubles per further reboot, up to 10 minutes, and returns "
            "after 72 hours without a reboot; the SunpowerPvsPollingEased alert). "
            "ease_off_after_reboots: false in the config keeps the configured interval.",
            targets(
                (f"sunpower_pvs_poll_interval_seconds{{{sup}}}", "{{target}} in effect"),
                (
                    f"sunpower_pvs_configured_poll_interval_seconds{{{sup}}}",
                    "{{target}} configured",
                ),
            ),
            "s",
            w=12,
            low=0,
        ),
        *pvs_load_panels(sup),
        row("Varserver reads (new firmware)"),
        timeline(
            "Variable groups",
            "The exporter reads new (varserver) firmware in groups of variables, each with "
            "its own request. A failing group costs only its own metrics and is skipped "
            "for 1, 2, 4 … 16 polls before the next try. info failing fails the whole poll "
            "(PVS down). Some builds never answer flashwear: harmless. Another group failed "
            "for hours: see the exporter's log and status page for its error. Empty on "
            "legacy firmware.",
            [target(f"sunpower_pvs_varserver_group_up{{{sup}}}", "{{instance}} {{group}}")],
            GROUP_MAPPING,
            RED_GREEN,
            w=12,
        ),
        graph(
            "Variable group failures",
            "Failed or timed-out reads of each group of variables (skipped reads are not "
            "counted). Empty on legacy firmware.",
            [
                target(
                    "sum by (instance, group) (increase("
                    f"sunpower_pvs_varserver_group_failures_total{{{sup}}}[$__rate_interval]))",
                    "{{instance}} {{group}}",
                )
            ],
            w=12,
            low=0,
        ),
        row("Exporter polls"),
        graph(
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
        graph(
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
            low=0,
        ),
        graph(
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
            right_axis=(".* failures in a row", "short"),
        ),
        graph(
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
            low=0,
            high=1,
        ),
        grid(
            "Exporter",
            "Exporter versions seen.",
            [instant(f"sunpower_pvs_exporter_build_info{{{sup}}}")],
            [organize(["Time", "Value", "__name__"], {})],
            w=12,
        ),
        timeline(
            "Polling",
            "Whether the exporter polls each PVS. With poll_mode on_demand it polls a PVS "
            "only from its first /probe until idle_after passes without one: idle is normal "
            "for a site another shard scrapes (docs/scaling.md), otherwise check that "
            "Prometheus still probes it. Always polling in the other modes.",
            [target(f"sunpower_pvs_target_active{{{sup}}}", "{{instance}} {{target}}")],
            ACTIVE_MAPPING,
            ((None, "blue"), (1, "green")),
            w=12,
        ),
        big_value(
            "Last good poll",
            "When the last successful poll of each PVS finished.",
            [
                target(
                    f"sunpower_pvs_last_success_timestamp_seconds{{{sup}}} * 1000",
                    "{{target}}",
                )
            ],
            "dateTimeFromNow",
            w=4,
        ),
        big_value(
            "Config reload",
            "Whether the last reload of the configuration file (SIGHUP, POST /-/reload) "
            "worked. REFUSED: the file has an error and the previous configuration still "
            "runs; the exporter's log says what is wrong (SunpowerPvsConfigReloadFailed).",
            [
                target(
                    f"sunpower_pvs_exporter_config_last_reload_successful{{{sup}}}",
                    "{{instance}}",
                )
            ],
            w=4,
            mappings=RELOAD_MAPPING,
            steps=RED_GREEN,
            by_thresholds=True,
        ),
        big_value(
            "Config loaded",
            "When the running configuration was loaded: at startup or by the last good reload.",
            [
                target(
                    "sunpower_pvs_exporter_config_last_reload_success_timestamp_seconds"
                    f"{{{sup}}} * 1000",
                    "{{instance}}",
                )
            ],
            "dateTimeFromNow",
            w=4,
        ),
        row("Telemetry stream (--live)"),
        timeline(
            "Telemetry stream",
            "The PVS's second-by-second telemetry WebSocket, read only with --live. "
            "disconnected: down or silent for 90 s; the exporter reconnects by itself "
            "(the PVS closes it about every 10 minutes). no stream: the PVS has none "
            "(a PVS5) and the exporter stopped trying. Empty without --live.",
            [
                target(
                    f"sunpower_pvs_live_up{{{sup}}} + 2 * sunpower_pvs_live_unsupported{{{sup}}}",
                    "{{instance}} {{target}}",
                )
            ],
            LIVE_MAPPING,
            ((None, "red"), (1, "green"), (2, "blue")),
            w=12,
        ),
        graph(
            "Telemetry messages and reconnects",
            "Messages per second from the telemetry stream, and connections made (a "
            "reconnect about every 10 minutes is the PVS's normal rhythm; many more: the "
            "link to the PVS is flaky).",
            targets(
                (
                    f"rate(sunpower_pvs_live_messages_total{{{sup}}}[$__rate_interval])",
                    "{{instance}} {{target}} messages/s",
                ),
                (
                    f"increase(sunpower_pvs_live_connects_total{{{sup}}}[$__rate_interval])",
                    "{{instance}} {{target}} connects",
                ),
            ),
            w=12,
            low=0,
            right_axis=(".* connects", "short"),
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
    "sunpower-pvs-energy.json": energy,
    "sunpower-pvs-site-overview.json": site_overview,
    "sunpower-pvs-inverters.json": inverters,
    "sunpower-pvs-supervisor.json": supervisor,
}


ENCODER = JSONEncoder(indent=2, ensure_ascii=False, sort_keys=True)


def rendered() -> Iterator[tuple[Path, str]]:
    for name, build in DASHBOARDS.items():
        yield HERE / name, ENCODER.encode(build()) + "\n"


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
