"""The Grafana dashboards: well-formed, importable, and every query works.

Every PromQL expression (panel targets and template variables) must name only
metrics from the catalog, our recording rules or ``up``, must parse in a real
Prometheus, and must return series there when the simulated site has the data
it asks for (the e2e stack of tests/e2e/monitoring_stack.py).
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from contrib.promql_names import (
    REPO,
    RULE_FILES,
    SERIES_OF_METRIC,
    grafana_variable_query,
    known_names,
    metric_names,
)
from e2e.monitoring_stack import PrometheusError
from sunpower_pvs_exporter.metrics.catalog import ALL_METRICS

GRAFANA_DIR = REPO / "contrib" / "grafana"
BUILDER = GRAFANA_DIR / "build_dashboards.py"
DASHBOARDS = sorted(GRAFANA_DIR.glob("*.json"))
DS_UID = "${DS_PROMETHEUS}"
# What Grafana puts in for its variables when the test runs a query.
SUBSTITUTIONS = {
    "instance": ".+",
    "inverter": ".+",
    "array": ".+",
    "__range": "1h",
    "__rate_interval": "1m",
    "__interval": "15s",
}
_VARIABLE = re.compile(r"\$\{?(\w+)\}?")
_SUBQUERY_STEP = re.compile(r":\d+[smhd]\]")


def load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


def all_panels(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in doc["panels"]:
        yield panel
        yield from panel.get("panels", [])  # collapsed rows hold their panels


def expressions(doc: dict[str, Any]) -> Iterator[tuple[str, str, str | None]]:
    """(where, PromQL, label a variable query lists) for every query in a dashboard."""
    for panel in all_panels(doc):
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r} {target['refId']}", target["expr"], None
    for variable in doc["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            text = query["query"] if isinstance(query, dict) else query
            # The SDK writes the query as a string, without the editor's copy of it.
            assert variable.get("definition", text) == text, variable["name"]
            expr, label = grafana_variable_query(text)
            yield f"variable {variable['name']}", expr, label


def substitute(expr: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in SUBSTITUTIONS, f"unknown Grafana variable ${name} in {expr}"
        return SUBSTITUTIONS[name]

    return _VARIABLE.sub(value, expr)


def test_the_four_dashboards_are_there():
    assert [p.name for p in DASHBOARDS] == [
        "sunpower-pvs-energy.json",
        "sunpower-pvs-inverters.json",
        "sunpower-pvs-site-overview.json",
        "sunpower-pvs-supervisor.json",
    ]
    uids = [load(p)["uid"] for p in DASHBOARDS]
    assert len(set(uids)) == len(uids)


def builder_module() -> Any:
    """contrib/grafana/build_dashboards.py, imported (it is a script, not a package)."""
    # grafana-foundation-sdk is in the test extra: missing, this fails (no skip).
    spec = importlib.util.spec_from_file_location("build_dashboards", BUILDER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_checked_in_json_is_what_the_builder_produces():
    """Byte for byte: a hand edit of the JSON, or a builder change not rerun, fails."""
    module = builder_module()
    produced = dict(module.rendered())
    assert sorted(path.name for path in produced) == [p.name for p in DASHBOARDS]
    for path, text in produced.items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name}: run {BUILDER.name}"


def test_builder_check_mode_notices_a_stale_file(tmp_path, monkeypatch):
    module = builder_module()
    for path, text in module.rendered():
        (tmp_path / path.name).write_text(text, encoding="utf-8")
    monkeypatch.setattr(module, "HERE", tmp_path)
    assert module.main(["--check"]) == 0
    stale = tmp_path / "sunpower-pvs-inverters.json"
    stale.write_text(stale.read_text(encoding="utf-8").replace("AC W", "AC kW"), "utf-8")
    assert module.main(["--check"]) == 1
    assert module.main([]) == 0  # rewrites it
    assert module.main(["--check"]) == 0


def leaves(value: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """(path, JSON of the value) for every scalar and empty container in a document."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from leaves(item, f"{where}.{key}")
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from leaves(item, f"{where}[{index}]")
    else:
        yield where, json.dumps(value, sort_keys=True)


def test_builder_output_loads_as_the_sdk_dashboard_model():
    """Grafana's own types read the JSON back: panels, queries and variables keep their kinds.

    Re-encoded, the model holds every value the file has (it may add plugin defaults):
    a key that Grafana's schema does not know would be dropped here and fail.
    """
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.cog.plugins import register_default_plugins
    from grafana_foundation_sdk.models import dashboard, prometheus

    register_default_plugins()
    for path in DASHBOARDS:
        doc = load(path)
        parsed = dashboard.Dashboard.from_json(doc)
        assert parsed.schema_version == doc["schemaVersion"] >= 39
        assert parsed.uid == doc["uid"] and parsed.title == doc["title"]
        panels = [p for p in parsed.panels or [] if isinstance(p, dashboard.Panel)]
        assert len(panels) == len([p for p in all_panels(doc) if p["type"] != "row"])
        for panel in panels:
            assert panel.targets, panel.title
            for query in panel.targets:
                assert isinstance(query, prometheus.Dataquery), (path.name, panel.title)
                assert query.expr and query.ref_id, (path.name, panel.title)
        export_only = {"__inputs", "__elements", "__requires", "id"}
        body = {key: value for key, value in doc.items() if key not in export_only}
        again = json.loads(JSONEncoder().encode(dashboard.Dashboard.from_json(body)))
        lost = set(leaves(body)) - set(leaves(again))
        assert not lost, f"{path.name}: the dashboard model drops {sorted(lost)[:5]}"
        kinds = [v.type_val for v in parsed.templating.list_val or []]
        assert kinds[0] == dashboard.VariableType.DATASOURCE, path.name
        assert set(kinds[1:]) == {dashboard.VariableType.QUERY}, path.name


def test_json_files_match_their_generator():
    run = subprocess.run(
        [sys.executable, str(GRAFANA_DIR / "build_dashboards.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_is_importable(path):
    doc = load(path)
    assert doc["schemaVersion"] >= 39
    assert doc["id"] is None and doc["uid"] and doc["title"]
    (ds_input,) = doc["__inputs"]
    assert ds_input["name"] == "DS_PROMETHEUS" and ds_input["pluginId"] == "prometheus"
    variables = {v["name"]: v for v in doc["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["instance"]["type"] == "query"
    assert variables["instance"]["multi"] and variables["instance"]["includeAll"]
    required = {(r["type"], r["id"]) for r in doc["__requires"]}
    ids: set[int] = set()
    cells: set[tuple[int, int]] = set()
    for panel in all_panels(doc):
        assert panel["id"] not in ids, panel["title"]
        ids.add(panel["id"])
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']!r} overlaps another panel"
                cells.add((x, y))
        if panel["type"] == "row":
            continue
        assert ("panel", panel["type"]) in required, panel["type"]
        assert panel["title"] and panel["description"], panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": DS_UID}, panel["title"]
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(set(refs)) == len(refs), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == DS_UID, panel["title"]
            assert 'instance=~"$instance"' in target["expr"], (panel["title"], target["expr"])


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_metric_name_is_in_the_catalog(path):
    known = known_names()
    for where, expr, _ in expressions(load(path)):
        names = metric_names(expr)
        assert names, f"{path.name} {where}: no metric in {expr}"
        unknown = names - known
        assert not unknown, f"{path.name} {where}: unknown metrics {sorted(unknown)} in {expr}"


# Catalog metrics deliberately shown on no dashboard, each with the reason. Empty:
# every metric the exporter emits has a panel (directly, or through a recording
# rule a panel uses). A new catalog metric needs a panel or an entry here.
WITHOUT_PANEL: dict[str, str] = {}


def rule_inputs() -> dict[str, set[str]]:
    """Each recording rule's name -> the metric names its expression reads."""
    inputs: dict[str, set[str]] = {}
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    inputs.setdefault(rule["record"], set()).update(metric_names(rule["expr"]))
    return inputs


def followed(exprs: list[str], inputs: dict[str, set[str]]) -> set[str]:
    """Metric names the expressions read, followed through the recording rules."""
    pending = [name for expr in exprs for name in metric_names(expr)]
    seen: set[str] = set()
    while pending:  # bounded: each name is expanded once
        name = pending.pop()
        if name not in seen:
            seen.add(name)
            pending.extend(inputs.get(name, ()))
    return seen


def shown_metrics() -> set[str]:
    """Metric names the dashboards' panels read, directly or through recording rules."""
    exprs = [
        expr
        for path in DASHBOARDS
        for where, expr, _ in expressions(load(path))
        if where.startswith("panel ")
    ]
    return followed(exprs, rule_inputs())


def test_followed_sees_through_nested_rules():
    inputs = {"x:sum": {"raw_a", "x:part"}, "x:part": {"raw_b"}, "x:loop": {"x:loop"}}
    assert followed(["x:sum / ignoring (k) raw_c", "x:loop"], inputs) == {
        "x:sum",
        "x:part",
        "x:loop",
        "raw_a",
        "raw_b",
        "raw_c",
    }
    assert followed(["raw_d"], inputs) == {"raw_d"}


def test_every_catalog_metric_has_a_panel_or_a_reason():
    catalog = {spec.name for spec in ALL_METRICS}
    shown = {SERIES_OF_METRIC.get(name, name) for name in shown_metrics()}
    assert set(WITHOUT_PANEL) <= catalog, "WITHOUT_PANEL names metrics the catalog lacks"
    assert all(reason.strip() for reason in WITHOUT_PANEL.values())
    stale = sorted(set(WITHOUT_PANEL) & shown)
    assert not stale, f"on a dashboard now, drop from WITHOUT_PANEL: {stale}"
    missing = sorted(catalog - shown - set(WITHOUT_PANEL))
    assert not missing, f"catalog metrics on no dashboard (add a panel or a reason): {missing}"


# --- against a real Prometheus with the simulator's data ---------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_query_runs_against_prometheus(stack, path):
    # The varserver site's telemetry stream (--live) feeds the live panels.
    stack.wait_for("sunpower_pvs_live_pv_power_watts", bool, "live series from the stream")
    present = {
        s["metric"]["__name__"]
        for s in stack.query('count by (__name__) ({__name__=~"sunpower_pvs.+|up"})')
    }
    # Sanity: the simulated (legacy firmware) site lacks only the varserver-only ratios.
    assert "sunpower_pvs_inverter_ac_power_watts" in present
    assert "sunpower_pvs:site_production_watts" in present
    assert {"sunpower_pvs_varserver_group_up", "sunpower_pvs_live_up"} <= present
    problems: list[str] = []
    checked = 0
    for where, expr, label in expressions(load(path)):
        query = substitute(expr)
        try:
            result = stack.query(query)
        except PrometheusError as exc:
            problems.append(f"{where}: does not run: {exc}")
            continue
        checked += 1
        if not result and _SUBQUERY_STEP.search(query):
            # A subquery's steps are aligned to multiples of its step (5m): in a
            # stack younger than one step none may fall after the first rule
            # sample yet. The same query at a 1 s step must have data.
            result = stack.query(_SUBQUERY_STEP.sub(":1s]", query))
        # A 5-minute energy rule needs 5 minutes of counters: in a younger stack it
        # has no series yet, and an expression dividing by it cannot have any.
        young = {name for name in metric_names(expr) if ":increase5m" in name} - present
        if metric_names(expr) & present and not result and not young:
            problems.append(f"{where}: no series although the site has the data: {query}")
        if label is not None and not all(label in s["metric"] for s in result):
            problems.append(f"{where}: series without the label {label!r}: {query}")
    assert not problems, f"{path.name}:\n" + "\n".join(problems)
    assert checked >= 10
