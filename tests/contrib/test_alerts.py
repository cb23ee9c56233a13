"""contrib/prometheus: rules pass promtool, every alert is unit-tested both ways.

(tests/e2e/test_prometheus.py also loads both files into a real Prometheus
and checks every rule evaluates without error on the simulator's data.)
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from contrib.promql_names import PROMETHEUS_DIR, REPO, RULE_FILES, known_names, metric_names
from e2e.monitoring_stack import require_binaries

# promtool unit-test files: alerts_test.yml, the panel-health ones
# (docs/panel-health.md; days of samples, evaluated more coarsely) and the
# battery/grid-outage rules'.
ALERT_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*_test.yml"))


def rules() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            found.extend(group["rules"])
    return found


def alert_names() -> list[str]:
    return [rule["alert"] for rule in rules() if "alert" in rule]


def promtool(*args: str, cwd: Path = PROMETHEUS_DIR) -> subprocess.CompletedProcess[str]:
    binary = require_binaries("promtool")["promtool"]
    return subprocess.run(
        [binary, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_every_yml_in_contrib_prometheus_is_a_rule_file():
    """Prometheus loads contrib/prometheus/*.yml by glob (contrib/stack/prometheus.yml):
    a promtool unit-test file there would be loaded as rules and stop it. Unit tests
    go in contrib/prometheus/tests/."""
    for path in RULE_FILES:
        doc = yaml.safe_load(path.read_text())
        assert set(doc) == {"groups"}, (
            f"{path.name} is not a rule file (keys {sorted(doc)}): move unit tests to "
            "contrib/prometheus/tests/"
        )


@pytest.mark.e2e
def test_promtool_check_rules():
    run = promtool("check", "rules", *(path.name for path in RULE_FILES))
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.e2e
@pytest.mark.parametrize("path", ALERT_TESTS, ids=lambda path: path.name)
def test_promtool_test_rules(path: Path):
    run = promtool("test", "rules", path.name, cwd=path.parent)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout + run.stderr


def test_every_alert_is_tested_firing_and_not_firing():
    assert {path.name for path in ALERT_TESTS} >= {
        "alerts_test.yml",
        "panel_health_test.yml",
        "panel_health_daily_test.yml",
        "battery_test.yml",
    }
    firing: set[str] = set()
    silent: set[str] = set()
    for path in ALERT_TESTS:
        doc = yaml.safe_load(path.read_text())
        tested = {(path.parent / name).resolve() for name in doc["rule_files"]}
        assert tested <= {rule_file.resolve() for rule_file in RULE_FILES}
        for case in doc["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    names = set(alert_names())
    assert len(names) >= 9
    assert names - firing == set(), "alerts never tested firing"
    assert names - silent == set(), "alerts never tested not firing"
    assert (firing | silent) - names == set(), "tests for alerts that do not exist"


def test_every_unit_test_file_fixes_the_order_groups_are_evaluated_in():
    """Without ``group_eval_order`` promtool evaluates the groups in a random order
    (a Go map's): an alert read a recorded series from this step or the previous
    one, and panel_health_test.yml's annotation said 30.43 % or 30.74 % from run
    to run. Every group loaded is listed, each after the groups it reads."""
    for path in ALERT_TESTS:
        doc = yaml.safe_load(path.read_text())
        groups: dict[str, list[dict[str, Any]]] = {}
        for name in doc["rule_files"]:
            for group in yaml.safe_load((path.parent / name).read_text())["groups"]:
                groups[group["name"]] = group["rules"]
        order = doc.get("group_eval_order", [])
        assert sorted(order) == sorted(groups), path.name
        recorded_by = {
            rule["record"]: name
            for name, rules in groups.items()
            for rule in rules
            if "record" in rule
        }
        for position, name in enumerate(order):
            for rule in groups[name]:
                for record, source in recorded_by.items():
                    if source != name and record in rule["expr"]:
                        assert order.index(source) < position, f"{path.name}: {name} reads {record}"


def test_every_metric_used_exists_in_the_catalog():
    known = known_names()
    for rule in rules():
        name = rule.get("alert") or rule["record"]
        names = metric_names(rule["expr"])
        assert names, name
        unknown = names - known
        assert not unknown, f"{name}: unknown metrics {sorted(unknown)}"


def test_rules_follow_the_conventions():
    for rule in rules():
        if "record" in rule:
            # level:metric:operations, https://prometheus.io/docs/practices/rules/
            assert re.fullmatch(r"sunpower_pvs:[a-z_]+(:[a-z0-9]+)?", rule["record"]), rule[
                "record"
            ]
            continue
        assert re.fullmatch(r"SunpowerPvs[A-Za-z]+", rule["alert"]), rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        assert "for" in rule, f"{rule['alert']}: alerts wait before firing (no flapping)"


def test_docs_table_lists_every_alert():
    """docs/monitoring.md has one row per shipped alert, no more, no less."""
    text = (REPO / "docs" / "monitoring.md").read_text()
    rows = re.findall(r"^\| `(SunpowerPvs[A-Za-z]+)` \|", text, flags=re.MULTILINE)
    assert sorted(rows) == sorted(alert_names())


def test_alerts_named_in_docs_and_dashboards_exist():
    """A panel description or a doc that points at an alert names a real one."""
    names = set(alert_names())
    sources = [
        *sorted((REPO / "docs").glob("*.md")),
        REPO / "README.md",
        REPO / "contrib" / "grafana" / "build_dashboards.py",
        *sorted((REPO / "src").rglob("*.py")),
    ]
    mentioned: dict[str, str] = {}
    for path in sources:
        for name in re.findall(r"\bSunpowerPvs[A-Z][A-Za-z]+\b", path.read_text()):
            mentioned.setdefault(name, path.name)
    assert len(mentioned) >= 5
    unknown = {name: where for name, where in mentioned.items() if name not in names}
    assert not unknown, f"alerts that do not exist: {unknown}"
