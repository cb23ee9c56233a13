"""Generates docs/metrics.md from the catalog, so the reference cannot drift.

Run ``python -m sunpower_pvs_exporter.metrics.docs > docs/metrics.md``; a test
fails when the committed file differs from this output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sunpower_pvs_exporter.metrics.catalog import ALL_METRICS, MetricSpec, Subject

HEADER = """\
# Metric reference

Generated from `src/sunpower_pvs_exporter/metrics/catalog.py` by
`python -m sunpower_pvs_exporter.metrics.docs > docs/metrics.md`. Do not edit by hand.

- **compatible**: the name, type and labels of the original
  ginoledesma/sunpower-pvs-exporter (two names fixed, see docs/migration.md).
- **missing**: what is exported when the PVS does not report a value: `NaN`
  (as the original did, so the series keeps existing) or `omitted`.
- Units are SI base units whatever the PVS sends (kW → W, kWh → Wh, KiB → bytes).
"""


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def _subject_section(subject: Subject[Any, Any], specs: Sequence[MetricSpec[Any, Any]]) -> str:
    labels = ", ".join(f"`{name}`" for name in subject.label_names) or "none"
    lines = [
        f"## {subject.name.replace('_', ' ').capitalize()}",
        "",
        f"Each series describes {subject.doc}. Labels: {labels}.",
        "",
        "| metric | type | unit | missing | compatible | help | source |",
        "|---|---|---|---|---|---|---|",
    ]
    for spec in specs:
        lines.append(
            f"| `{spec.name}` | {spec.kind} | {spec.unit or '—'} | "
            f"{'NaN' if spec.missing == 'nan' else 'omitted'} | "
            f"{'yes' if spec.compatible else 'new'} | {_escape(spec.help)} | "
            f"{_escape(spec.source)} |"
        )
    return "\n".join(lines) + "\n"


def render_metrics_doc(specs: Sequence[MetricSpec[Any, Any]] = ALL_METRICS) -> str:
    groups: dict[str, tuple[Subject[Any, Any], list[MetricSpec[Any, Any]]]] = {}
    for spec in specs:
        groups.setdefault(spec.subject.name, (spec.subject, []))[1].append(spec)
    sections = [_subject_section(subject, members) for subject, members in groups.values()]
    return HEADER + "\n" + "\n".join(sections)


if __name__ == "__main__":
    print(render_metrics_doc(), end="")
