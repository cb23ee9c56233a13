"""Fast text exposition of catalog metrics, byte-identical to prometheus_client's.

``prometheus_client.generate_latest`` escapes and sorts every sample's labels
anew, in pure Python, on every render. Here each device's label string is built
once and shared by all of its metrics, which makes the same bytes several times
faster (benchmarks/RESULTS.md, render). Tests compare the output with
prometheus_client's for both formats, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client.utils import floatToGoString

from sunpower_pvs_exporter.metrics.catalog import MetricSpec, Subject

# Go's float formatting, as prometheus_client writes it (untyped upstream).
go_float: Callable[[float], str] = floatToGoString


def _escape_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _help(text: str, *, openmetrics: bool) -> str:
    escaped = text.replace("\\", r"\\").replace("\n", r"\n")
    return escaped.replace('"', r"\"") if openmetrics else escaped


def _label_string(names: Sequence[str], values: Sequence[str]) -> str:
    pairs = sorted(zip(names, values, strict=True))
    return "{" + ",".join([f'{name}="{_escape_value(value)}"' for name, value in pairs]) + "}"


def _around_le(names: Sequence[str], values: Sequence[str]) -> tuple[str, str]:
    """The label string of ``names``/``values`` plus ``le``, split where ``le``'s
    pair goes: a histogram's bucket lines differ only there, so each item's
    labels are sorted and escaped once instead of once per bucket."""
    pairs = sorted(zip(names, values, strict=True))
    texts = [f'{name}="{_escape_value(value)}"' for name, value in pairs]
    at = sum(1 for name, _ in pairs if name < "le")
    before = "{" + "".join(text + "," for text in texts[:at])
    after = "".join("," + text for text in texts[at:]) + "}"
    return before, after


# Go's formatting of a whole number below a million is Python's repr, "42.0":
# counts are most of the health samples, and this is four times faster.
_REPR_UP_TO = 1_000_000


def count_text(count: int) -> str:
    """``go_float(float(count))`` of a count (``count >= 0``)."""
    if count < _REPR_UP_TO:
        return f"{count}.0"
    return go_float(float(count))


def value_text(value: float) -> str:
    """``go_float(value)``, faster for the whole numbers most samples are."""
    if type(value) is float and 0.0 < value < _REPR_UP_TO and value.is_integer():
        return f"{int(value)}.0"
    return go_float(value)


def _timestamp(value: float | None, *, openmetrics: bool) -> str:
    if value is None:
        return ""
    return f" {value}" if openmetrics else f" {int(float(value) * 1000):d}"


def encode_metrics(
    specs: Sequence[MetricSpec[Any, Any]],
    root: object,
    *,
    use_timestamps: bool,
    openmetrics: bool,
) -> bytes:
    """The exposition of ``specs`` over ``root``, without the OpenMetrics ``# EOF``.

    Families with no samples are left out.
    """
    return encode_metrics_over(
        specs, (root,), use_timestamps=use_timestamps, openmetrics=openmetrics
    )


def encode_parts(
    specs: Sequence[MetricSpec[Any, Any]],
    root: object,
    *,
    use_timestamps: bool,
    openmetrics: bool,
) -> list[bytes]:
    """``encode_metrics`` in pieces whose concatenation is its bytes.

    Each family's HELP and TYPE lines are one bytes object shared by every
    target (``family_header``); only the sample lines belong to ``root``.
    A fleet keeps every target's device metrics rendered, and the headers
    were a third of a small site's (benchmarks/RESULTS.md, fleet).
    """
    lines = sample_lines(specs, (root,), use_timestamps=use_timestamps, openmetrics=openmetrics)
    parts: list[bytes] = []
    for spec, samples in zip(specs, lines, strict=True):
        if samples:
            parts.append(family_header(spec, openmetrics=openmetrics))
            parts.append(samples.encode("utf-8"))
    return parts


_HEADERS: dict[tuple[int, bool], tuple[MetricSpec[Any, Any], bytes]] = {}


def family_header(spec: MetricSpec[Any, Any], *, openmetrics: bool) -> bytes:
    """The ``# HELP`` and ``# TYPE`` lines of ``spec``'s family, built once per format."""
    key = (id(spec), openmetrics)
    cached = _HEADERS.get(key)
    if cached is not None and cached[0] is spec:
        return cached[1]
    header = _header(spec, openmetrics=openmetrics).encode("utf-8")
    _HEADERS[key] = (spec, header)
    return header


def _header(spec: MetricSpec[Any, Any], *, openmetrics: bool) -> str:
    if openmetrics:
        family, kind = spec.family_name, spec.kind
    else:
        family, kind = spec.name, ("gauge" if spec.kind == "info" else spec.kind)
    return f"# HELP {family} {_help(spec.help, openmetrics=openmetrics)}\n# TYPE {family} {kind}\n"


def encode_metrics_over(
    specs: Sequence[MetricSpec[Any, Any]],
    roots: Sequence[object],
    *,
    use_timestamps: bool,
    openmetrics: bool,
) -> bytes:
    """One family per spec holding the samples of every root, in order.

    The exporter's health for all targets on ``/metrics``: the same bytes as
    merging each target's families, without building a family per target.
    """
    lines = sample_lines(specs, roots, use_timestamps=use_timestamps, openmetrics=openmetrics)
    return assemble(specs, lines, openmetrics=openmetrics)


def sample_lines(
    specs: Sequence[MetricSpec[Any, Any]],
    roots: Sequence[object],
    *,
    use_timestamps: bool,
    openmetrics: bool,
) -> list[str]:
    """Per spec, the sample lines of every root ('' when it has none)."""
    rows_by_subject: dict[int, list[tuple[Any, str, str]]] = {}
    out: list[str] = []
    for spec in specs:
        subject: Subject[Any, Any] = spec.subject
        rows = rows_by_subject.get(id(subject))
        if rows is None:
            names = spec.label_names
            rows = [
                (
                    item,
                    _label_string(names, subject.labels(item)) if names else "",
                    _timestamp(
                        subject.data_time(item) if use_timestamps else None,
                        openmetrics=openmetrics,
                    ),
                )
                for root in roots
                for item in subject.items(root)
            ]
            rows_by_subject[id(subject)] = rows
        if spec.histogram is not None:
            out.append(_histogram_lines(spec, rows))
            continue
        lines: list[str] = []
        sample_name = spec.name
        is_info = spec.kind == "info"
        for item, labels, stamp in rows:
            if is_info:
                text = "1.0"
            else:
                value = spec.sample_value(item, openmetrics=openmetrics)
                if value is None:
                    continue
                text = value_text(value)
            lines.append(f"{sample_name}{labels} {text}{stamp}\n")
        out.append("".join(lines))
    return out


def _histogram_lines(spec: MetricSpec[Any, Any], rows: list[tuple[Any, str, str]]) -> str:
    """Per item: a ``_bucket`` line per bound (``le`` sorted in with the other
    labels, as prometheus_client does), then ``_count`` and ``_sum``."""
    assert spec.histogram is not None
    bounds = [go_float(bound) for bound in spec.buckets] + ["+Inf"]
    bucket = spec.name + "_bucket"
    lines: list[str] = []
    for item, labels, stamp in rows:
        cumulative, total = spec.histogram(item)
        before, after = _around_le(spec.label_names, spec.subject.labels(item))
        for bound, count in zip(bounds, cumulative, strict=True):
            lines.append(f'{bucket}{before}le="{bound}"{after} {count_text(count)}{stamp}\n')
        lines.append(f"{spec.name}_count{labels} {count_text(cumulative[-1])}{stamp}\n")
        lines.append(f"{spec.name}_sum{labels} {go_float(total)}{stamp}\n")
    return "".join(lines)


def assemble(
    specs: Sequence[MetricSpec[Any, Any]], lines: Sequence[str], *, openmetrics: bool
) -> bytes:
    """Families from per-spec sample lines (``sample_lines``), with HELP and TYPE."""
    out: list[str] = []
    for spec, samples in zip(specs, lines, strict=True):
        if not samples:
            continue
        out.append(_header(spec, openmetrics=openmetrics))
        out.append(samples)
    return "".join(out).encode("utf-8")
