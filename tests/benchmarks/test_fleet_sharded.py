"""benchmarks/fleet_sharded.py's verdicts: a failing fleet run must say which
resource ran out, and the reshard figures must read the counters right.

Only the pure parts; the harness itself runs real processes for minutes.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def fs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fleet_sharded", BENCHMARKS / "fleet_sharded.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fleet_sharded", module)
    spec.loader.exec_module(module)
    return module


def healthy(fs: ModuleType) -> object:
    return fs.Resources(
        cores=2,
        machine_busy=0.5,
        ours=0.4,
        busiest=("exporter-0", 0.2),
        lowest_free_gib=10.0,
        floor_gib=3.0,
        scrape_p99=0.05,
        scrape_max=0.2,
        scrapes=3000,
        agent_interval_p99=60.0,
        remote_write_lag=1.0,
        poll_duration_max=0.1,
        poll_worst_gap=1.0,
    )


def test_a_fleet_within_every_limit_has_nothing_run_out(fs: ModuleType):
    assert fs.diagnose(healthy(fs), 60.0) == []


@pytest.mark.parametrize(
    ("change", "first_word"),
    [
        ({"memory_tripped": True, "lowest_free_gib": 2.9}, "memory"),
        ({"machine_busy": 0.97, "ours": 0.9}, "CPU:"),
        ({"busiest": ("sims-0", 0.95)}, "CPU of one process"),
        ({"scrapes_failed": 3}, "scrapes"),
        ({"scrape_max": 9.0}, "scrapes"),
        ({"agent_interval_p99": 75.0}, "agents late"),
        ({"poll_worst_gap": 1.3}, "polls late"),
        ({"remote_write_failed": 500.0}, "remote write"),
        ({"remote_write_lag": 120.0}, "remote write"),
    ],
)
def test_each_exhausted_resource_is_named(fs: ModuleType, change: dict, first_word: str):
    res = healthy(fs)
    for key, value in change.items():
        setattr(res, key, value)
    found = fs.diagnose(res, 60.0)
    assert len(found) == 1 and found[0].startswith(first_word), found


def test_the_cause_comes_before_its_symptoms(fs: ModuleType):
    res = healthy(fs)
    res.machine_busy, res.ours, res.scrapes_failed, res.poll_worst_gap = 0.99, 0.95, 40, 1.6
    found = fs.diagnose(res, 60.0)
    assert [f.split(":")[0] for f in found] == ["CPU", "scrapes", "polls late"]
    assert "other processes 4 %" in found[0]


def test_a_figure_nobody_answered_for_is_not_a_limit(fs: ModuleType):
    res = healthy(fs)
    res.scrape_max = res.agent_interval_p99 = res.remote_write_lag = math.nan
    assert fs.diagnose(res, 60.0) == []
    assert "nan" in res.line(60.0)


def test_agent_interval_label_is_a_go_duration(fs: ModuleType):
    assert [fs.go_duration(s) for s in (15, 60, 90, 300)] == ["15s", "1m0s", "1m30s", "5m0s"]


def test_metric_values_filters_by_label(fs: ModuleType):
    page = (
        "# HELP x y\n"
        'prometheus_target_interval_length_seconds{interval="1m0s",quantile="0.99"} 60.2\n'
        'prometheus_target_interval_length_seconds{interval="1m0s",quantile="0.5"} 60\n'
        'prometheus_target_interval_length_seconds{interval="15s",quantile="0.99"} 15.1\n'
        "prometheus_remote_storage_samples_pending 7\n"
    )
    name = "prometheus_target_interval_length_seconds"
    assert fs.metric_values(page, name, 'interval="1m0s",quantile="0.99"') == [60.2]
    assert sorted(fs.metric_values(page, name)) == [15.1, 60.0, 60.2]
    assert fs.metric_values(page, "prometheus_remote_storage_samples_pending") == [7.0]


def test_polled_between_reads_the_first_and_last_growth(fs: ModuleType):
    # Exporter 0 polls site-a at +10 and +130 and then stops; exporter 1 never.
    history = [
        (0.0, [{"site-a": 4.0}, {}]),
        (5.0, [{"site-a": 4.0}, {}]),
        (15.0, [{"site-a": 5.0}, {}]),
        (135.0, [{"site-a": 6.0}, {}]),
        (400.0, [{"site-a": 6.0}, {}]),
    ]
    assert fs.polled_between(history, 0, "site-a") == (15.0, 135.0)
    assert fs.polled_between(history, 1, "site-a") is None


def test_poll_spacing_finds_a_double_and_a_missed_poll(fs: ModuleType):
    sites = [fs.Site(0, "legacy", 2), fs.Site(1, "legacy", 2), fs.Site(2, "legacy", 2)]
    polls = {
        "site-00000": [0.0, 120.0, 240.0, 360.0],
        "site-00001": [0.0, 30.0, 150.0, 270.0],  # twice within half an interval
        "site-00002": [0.0, 200.0, 320.0],  # one gap of 1.67 intervals
    }
    found = fs.check_poll_spacing(sites, polls, 0.0, 360.0)
    assert found["twice"] == ["site-00001"]
    assert found["missed"] == ["site-00002"]
    assert found["worst_gap"] == pytest.approx(200 / 120)


def test_poll_spacing_judges_the_window_ends_by_gap_not_by_count(fs: ModuleType):
    sites = [fs.Site(i, "legacy", 2) for i in range(4)]
    polls = {
        # Late by 2 s a poll: two polls in a 360 s window, no gap over 1.02 intervals.
        "site-00000": [-1.0, 121.5, 244.0, 366.5],
        "site-00001": [10.0, 130.0],  # then nothing for the window's last 230 s
        "site-00002": [190.0, 310.0],  # nothing for the window's first 190 s
        "site-00003": [],  # never polled
    }
    found = fs.check_poll_spacing(sites, polls, 0.0, 360.0)
    assert found["missed"] == ["site-00001", "site-00002", "site-00003"]
    assert found["twice"] == []


# Two lines as Prometheus 2.42 logs a refused remote-write request (one of a
# 1000-site reshard, 2026-12-06), and one unrelated line.
CENTRAL_LOG = (
    "ts=2026-12-06T20:57:50.919Z caller=write_handler.go:109 level=error component=web "
    'msg="Out of order sample from remote write" err="duplicate sample for timestamp" '
    'series="{__name__=\\"sunpower_pvs_requests_total\\", fleet=\\"bench\\", '
    'instance=\\"site-00454\\", job=\\"sunpower_probe\\", kind=\\"vars_cached\\", '
    'target=\\"site-00454\\"}" timestamp=1796590604912\n'
    'ts=2026-12-06T20:58:00.000Z caller=main.go:1 level=info msg="Completed loading"\n'
    "ts=2026-12-06T20:59:00.000Z caller=write_handler.go:109 level=error component=web "
    'msg="Out of order sample from remote write" err="out of order sample" '
    'series="{__name__=\\"up\\", instance=\\"site-00001\\", '
    'note=\\"a \\\\\\"quoted\\\\\\" value\\"}" '
    "timestamp=1796590700000\n"
)


def test_refused_samples_are_read_from_the_central_servers_log(fs: ModuleType):
    first, second = fs.refused_samples(CENTRAL_LOG)
    assert first.name == "sunpower_pvs_requests_total"
    assert first.site == "site-00454"
    assert dict(first.labels)["kind"] == "vars_cached"
    assert first.error == "duplicate sample for timestamp"
    assert first.timestamp_ms == 1796590604912
    assert first.late == pytest.approx(66.007, abs=1e-3)
    assert dict(second.labels)["note"] == 'a "quoted" value'
    assert second.error == "out of order sample"


def test_refused_samples_are_sorted_by_the_steps_of_their_explanation(fs: ModuleType):
    first, second = fs.refused_samples(CENTRAL_LOG)
    reloaded = 1796590604912 / 1000 - 2.0  # the first taken 2 s after the reload
    counts = fs.classify_refused([first, second], reloaded, {"site-00454"}, 60.0)
    assert counts == {"refused": 2, "moved": 1, "in_tick": 1, "stale_time": 1, "duplicate": 1}


@pytest.mark.parametrize("by", ["relabel", "new-job"])
def test_a_reshard_by_new_job_renames_the_probe_job_and_keeps_its_label(
    fs: ModuleType, tmp_path: Path, by: str
):
    args = argparse.Namespace(
        pvs=4, varserver_every=3, big_every=10, scrape_interval=60.0, reshard_by=by
    )
    harness = fs.Harness(args, tmp_path)
    harness.exporters = [SimpleNamespace(port=9001), SimpleNamespace(port=9002)]
    harness.central = SimpleNamespace(port=9090)
    before, after = harness.agent_config(0, 2), harness.agent_config(0, 3)
    probes = [config["scrape_configs"][0] for config in (before, after)]
    assert [p["relabel_configs"][0]["modulus"] for p in probes] == [2, 3]
    job_rules = [
        [r for r in p["relabel_configs"] if r.get("target_label") == "job"] for p in probes
    ]
    if by == "relabel":
        assert [p["job_name"] for p in probes] == ["sunpower_probe", "sunpower_probe"]
        assert job_rules == [[], []]
    else:
        assert [p["job_name"] for p in probes] == ["sunpower_probe_of_2", "sunpower_probe_of_3"]
        assert job_rules == [[{"target_label": "job", "replacement": "sunpower_probe"}]] * 2
