"""Metric names used by a PromQL expression, and the names we may use.

A small lexer, not a parser: it removes strings, label matchers, ranges and
grouping clauses, then keeps the identifiers that are neither functions nor
keywords. Good enough for the expressions in contrib/ (and tested below on
tricky ones); Prometheus itself checks that each expression parses.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from sunpower_pvs_exporter.metrics.catalog import ALL_METRICS

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "contrib" / "prometheus"
# Every *.yml directly in contrib/prometheus/ is a rule file: the stack's
# Prometheus loads them by glob, so a new file is checked here and loaded there.
RULE_FILES = tuple(sorted(PROMETHEUS_DIR.glob("*.yml")))

KEYWORDS = {
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "bool",
    "inf",
    "nan",
}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_NAME_MATCHER = re.compile(r'__name__\s*=\s*"([^"]+)"')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(.*?)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$")


def metric_names(expr: str) -> set[str]:
    names = set(_NAME_MATCHER.findall(expr))
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    for match in _IDENT.finditer(text):
        token = match.group(0)
        before = text[: match.start()]
        if before and (before[-1].isdigit() or before[-1] == "."):
            continue  # the unit of a duration or exponent: 6h, 1e-9
        if text[match.end() :].lstrip().startswith("("):
            continue  # a function call
        if token.lower() in KEYWORDS:
            continue
        names.add(token)
    return names


def grafana_variable_query(query: str) -> tuple[str, str | None]:
    """A Grafana Prometheus variable query -> (PromQL expression, label it lists)."""
    match = _LABEL_VALUES.match(query)
    if match:
        return match.group(1), match.group(2)
    if query.startswith("query_result("):
        return query[len("query_result(") : -1], None
    raise ValueError(f"unsupported variable query {query!r}")


def recording_rule_names() -> set[str]:
    names: set[str] = set()
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            names.update(rule["record"] for rule in group["rules"] if "record" in rule)
    return names


# Each series name a catalog metric has in Prometheus -> the metric: a histogram
# is queried as its ``_bucket``, ``_count`` and ``_sum`` series, never by its name.
SERIES_OF_METRIC: dict[str, str] = {
    series_name: spec.name
    for spec in ALL_METRICS
    for series_name in (
        [spec.name + suffix for suffix in ("_bucket", "_count", "_sum")]
        if spec.kind == "histogram"
        else [spec.name]
    )
}


def known_names() -> set[str]:
    """What contrib/ may query: the catalog's series, our recording rules and ``up``."""
    return set(SERIES_OF_METRIC) | recording_rule_names() | {"up"}
