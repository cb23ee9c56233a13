"""Our fast encoder must produce exactly what prometheus_client would."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics.oracle import reference_exposition as reference
from sunpower_pvs_exporter.metrics.catalog import DEVICE_METRICS, HEALTH_METRICS
from sunpower_pvs_exporter.metrics.encoder import count_text, encode_metrics, go_float, value_text
from sunpower_pvs_exporter.pvs.legacy_parse import parse_device_list
from sunpower_pvs_exporter.pvs.request_counts import END_CLASSES, REQUEST_KINDS, RequestCounts
from sunpower_pvs_exporter.simulator import legacy_api
from sunpower_pvs_exporter.simulator.site import Site, SiteConfig
from support import NOON_UTC

FIXTURES = Path(__file__).parent.parent / "fixtures"


FORMATS = [(ts, om) for ts in (False, True) for om in (False, True)]


@pytest.mark.parametrize(("use_timestamps", "openmetrics"), FORMATS)
@pytest.mark.parametrize("fixture", ["device_list_2019.json", "device_list_2024.json"])
def test_fixtures_encode_identically(fixture: str, use_timestamps: bool, openmetrics: bool):
    snapshot = parse_device_list(json.loads((FIXTURES / fixture).read_text()), 0.0, UTC)
    assert encode_metrics(
        DEVICE_METRICS, snapshot, use_timestamps=use_timestamps, openmetrics=openmetrics
    ) == reference(DEVICE_METRICS, snapshot, use_timestamps, openmetrics)


@pytest.mark.parametrize(("use_timestamps", "openmetrics"), FORMATS)
def test_simulated_site_encodes_identically(use_timestamps: bool, openmetrics: bool):
    site = Site(SiteConfig(inverters=40, error_inverters=3, tz=UTC), NOON_UTC)
    doc = legacy_api.device_list(site.state(NOON_UTC), UTC, "strip")
    snapshot = parse_device_list(doc, 0.0, UTC)
    assert encode_metrics(
        DEVICE_METRICS, snapshot, use_timestamps=use_timestamps, openmetrics=openmetrics
    ) == reference(DEVICE_METRICS, snapshot, use_timestamps, openmetrics)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(
    texts=st.lists(st.text(max_size=30), min_size=4, max_size=4),
    number=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**20), 10**20)
    ),
)
def test_arbitrary_labels_and_values_encode_identically(texts: list[str], number: float):
    device = {
        "DEVICE_TYPE": "Inverter",
        "SERIAL": texts[0],
        "DESCR": texts[1],
        "MODEL": texts[2],
        "SWVER": texts[3],
        "p_3phsum_kw": number,
        "DATATIME": "2024,01,01,00,00,00",
    }
    snapshot = parse_device_list({"devices": [device], "result": "succeed"}, 0.0, UTC)
    for use_timestamps, openmetrics in FORMATS:
        assert encode_metrics(
            DEVICE_METRICS, snapshot, use_timestamps=use_timestamps, openmetrics=openmetrics
        ) == reference(DEVICE_METRICS, snapshot, use_timestamps, openmetrics)


def test_health_metrics_encode_identically():
    from sunpower_pvs_exporter.health import TargetStatus

    status = TargetStatus(target='we"ird\\name', host="h", api="auto", now=1.0, polls=3)
    for _, openmetrics in FORMATS:
        assert encode_metrics(
            HEALTH_METRICS, status, use_timestamps=False, openmetrics=openmetrics
        ) == reference(HEALTH_METRICS, status, False, openmetrics)


EDGES = [0, 1, 9, 10, 99_999, 100_000, 999_999, 1_000_000, 1_000_001, 10**7, 10**15, 10**17]


@settings(max_examples=200, derandomize=True, deadline=None)
@given(count=st.one_of(st.sampled_from(EDGES), st.integers(0, 10**18)))
def test_a_count_is_written_as_go_writes_its_float(count: int):
    """``count_text``'s short cut for whole numbers below a million, and the rest."""
    assert count_text(count) == go_float(float(count))


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    value=st.one_of(
        st.sampled_from([float(e) for e in EDGES] + [-0.0, -1.0, 0.5, 1e6 - 0.5, 999_999.9]),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(-(10**7), 10**7).map(float),
        st.integers(-(10**7), 10**7),
    )
)
def test_a_value_is_written_as_go_writes_it(value: float):
    """``value_text``'s short cut for whole floats, and every other value (an int
    from a catalog lambda included)."""
    assert value_text(value) == go_float(value)


@settings(max_examples=50, derandomize=True, deadline=None)
@given(
    target=st.text(max_size=20),
    answers=st.integers(0, 3 * 10**6),
    seconds=st.floats(0, 1e4),
)
def test_a_histogram_with_large_counts_encodes_identically(
    target: str, answers: int, seconds: float
):
    """Bucket counts past a million are written in Go's exponent form."""
    from sunpower_pvs_exporter.health import TargetStatus

    counts = RequestCounts()
    counts.sent("device_list")
    counts.ended("device_list", "2xx", body_bytes=answers, seconds=seconds)
    kinds = counts.view()
    many = tuple(
        dataclasses.replace(view, cumulative=tuple(c * answers for c in view.cumulative))
        for view in kinds
    )
    status = TargetStatus(target=target, host="h", api="auto", now=1.0, requests=many)
    for _, openmetrics in FORMATS:
        assert encode_metrics(
            HEALTH_METRICS, status, use_timestamps=False, openmetrics=openmetrics
        ) == reference(HEALTH_METRICS, status, False, openmetrics)


@settings(max_examples=50, derandomize=True, deadline=None)
@given(
    target=st.text(max_size=20),
    requests=st.lists(
        st.tuples(
            st.sampled_from(REQUEST_KINDS),
            st.sampled_from(END_CLASSES),
            st.integers(0, 10**9),
            st.one_of(st.none(), st.floats(0, 1e4)),
        ),
        max_size=12,
    ),
)
def test_request_metrics_and_their_histogram_encode_identically(target: str, requests):
    """What a target asked of its PVS, with prometheus_client's HistogramMetricFamily
    as the reference for the ``_bucket``/``_count``/``_sum`` lines."""
    from sunpower_pvs_exporter.health import TargetStatus

    counts = RequestCounts()
    for kind, end, body_bytes, seconds in requests:
        counts.sent(kind)
        counts.ended(kind, end, body_bytes=body_bytes, seconds=seconds)
    status = TargetStatus(target=target, host="h", api="auto", now=1.0, requests=counts.view())
    for _, openmetrics in FORMATS:
        assert encode_metrics(
            HEALTH_METRICS, status, use_timestamps=False, openmetrics=openmetrics
        ) == reference(HEALTH_METRICS, status, False, openmetrics)
