"""``metrics/cache.py``: many targets' health, encoded and kept, equals prometheus_client's.

``HealthText`` replaced rendering ``ExporterCollector`` families
(tests/metrics/oracle.py) with ``generate_latest`` (100+ ms at 1000 targets);
every family's bytes must stay the same. Only the order of families changed:
catalog order now, where the merged families used to come in the order the
first target to have a sample in each happened to give.
"""

from __future__ import annotations

import dataclasses

import pytest
from prometheus_client.exposition import generate_latest as text_latest
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.registry import CollectorRegistry

from metrics.oracle import ExporterCollector, FixedStatus, health_text
from sunpower_pvs_exporter.health import TargetStatus, zero_failures
from sunpower_pvs_exporter.metrics.cache import FORMAT_NEUTRAL, NOW_DEPENDENT, HealthText
from sunpower_pvs_exporter.metrics.catalog import EXPORTER_METRICS, HEALTH_METRICS
from sunpower_pvs_exporter.metrics.encoder import sample_lines


def families(text: bytes) -> list[bytes]:
    """The exposition split into family blocks, each from its ``# HELP`` line."""
    blocks = text.split(b"# HELP ")
    assert blocks[0] == b""
    return blocks[1:]


def statuses() -> list[TargetStatus]:
    failing = zero_failures()
    failing["timeout"] = 3
    failing["auth"] = 1
    return [
        TargetStatus(target="never-polled", host="10.0.0.1", api="auto", now=1000.0),
        TargetStatus(
            target="ok",
            host="pvs.lan",
            api="legacy",
            now=1000.0,
            backend="legacy",
            last_snapshot_at=990.5,
            last_attempt_at=990.0,
            last_success_at=990.5,
            last_poll_duration=0.123456789,
            last_poll_ok=True,
            polls=12345678901,
            poll_interval=120.0,
            next_poll_at=1110.0,
        ),
        TargetStatus(
            target="failing:1",
            host="x",
            api="varserver",
            now=1000.0,
            backend="varserver",
            last_snapshot_at=10.0,
            last_poll_duration=120.0,
            polls=4,
            failures=failing,
            consecutive_failures=4,
            poll_interval=60.0,
            active=False,
        ),
    ]


@pytest.mark.parametrize("openmetrics", [False, True])
@pytest.mark.parametrize("info", [False, True])
@pytest.mark.parametrize("count", [0, 1, 3])
def test_health_text_is_what_prometheus_client_renders(openmetrics: bool, info: bool, count: int):
    chosen = statuses()[:count]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        ExporterCollector(lambda: chosen, include_devices=False, include_exporter_info=info)
    )
    if openmetrics:
        expected = openmetrics_latest(registry).removesuffix(b"# EOF\n")
    else:
        expected = text_latest(registry)
    ours = health_text(chosen, openmetrics, info)
    assert sorted(families(ours)) == sorted(families(expected))
    names = [block.split(b" ", 1)[0] for block in families(ours)]
    catalog = [spec.family_name if openmetrics else spec.name for spec in HEALTH_METRICS]
    info_name = EXPORTER_METRICS[0].family_name if openmetrics else EXPORTER_METRICS[0].name
    assert names[:1] == ([info_name.encode()] if info else names[:1])
    assert [n for n in names if n != info_name.encode()] == [
        n.encode() for n in catalog if n.encode() in names
    ]
    if count == 3:
        assert b'sunpower_pvs_target_active{target="failing:1"} 0.0' in expected


def fixed(statuses: list[TargetStatus]) -> list[tuple[FixedStatus, float]]:
    return [(FixedStatus(status), status.now) for status in statuses]


def test_cached_health_lines_follow_every_change_and_only_age_follows_the_clock():
    renderer = HealthText()
    first = statuses()
    for openmetrics in (False, True):
        ours = renderer.text(fixed(first), openmetrics, True)
        assert ours == health_text(first, openmetrics, True)
    # Time passes: only the snapshot age (and freshness, via the snapshot) moves.
    later = [dataclasses.replace(s, now=s.now + 50.0) for s in first]
    assert renderer.text(fixed(later), False, True) == health_text(later, False, True)
    assert b'snapshot_age_seconds{target="ok"} 59.5' in renderer.text(fixed(later), False, True)
    # A poll changes the state: the cached lines are not reused.
    polled = [dataclasses.replace(later[1], polls=later[1].polls + 1, active=False)]
    text = renderer.text(fixed(polled), True, False)
    assert text == health_text(polled, True, False)
    assert b'sunpower_pvs_polls_total{target="ok"} 1.2345678902e+10' in text
    assert b'sunpower_pvs_target_active{target="ok"} 0.0' in text


class CountingSource(FixedStatus):
    """Counts how often the renderer had to build the full status."""

    def __init__(self, status: TargetStatus) -> None:
        super().__init__(status)
        self.built = 0

    def status(self, now: float | None = None) -> TargetStatus:
        self.built += 1
        return super().status(now)


def test_a_probe_of_one_target_does_not_evict_the_others():
    """/metrics and /probe share one renderer: entries are per target, so
    rendering one target (a probe) keeps every other target's lines cached."""
    renderer = HealthText()
    sources = [CountingSource(status) for status in statuses()]
    everyone = [(source, 1000.0) for source in sources]
    renderer.text(everyone, False, True)
    assert [s.built for s in sources] == [1, 1, 1]
    renderer.text([everyone[1]], True, False)  # a probe of "ok"
    renderer.text(everyone, True, True)
    renderer.text([(source, 2000.0) for source in sources], False, True)
    assert [s.built for s in sources] == [1, 1, 1]
    renderer.forget("ok")
    renderer.text(everyone, False, True)
    assert [s.built for s in sources] == [1, 2, 1]


def test_only_the_listed_health_metrics_depend_on_the_clock():
    """A health metric that reads ``now`` must be in NOW_DEPENDENT, or scrapes go stale."""
    for status in statuses():
        later = dataclasses.replace(status, now=status.now + 1234.5)
        for spec in HEALTH_METRICS:
            items = list(zip(spec.subject.items(status), spec.subject.items(later), strict=True))
            changed = any(spec.value(a) != spec.value(b) for a, b in items)
            assert changed == (
                spec.name in NOW_DEPENDENT and status.last_snapshot_at is not None
            ), spec.name


def test_health_lines_are_the_same_in_both_formats_when_the_catalog_says_so():
    """``FORMAT_NEUTRAL`` lets HealthText encode a target once for both formats."""
    assert FORMAT_NEUTRAL, "a health counter exported as NaN: both formats are encoded"
    for status in statuses():
        text = sample_lines(HEALTH_METRICS, (status,), False, False)
        assert text == sample_lines(HEALTH_METRICS, (status,), False, True), status.target
