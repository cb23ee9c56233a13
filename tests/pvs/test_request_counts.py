"""What the exporter asks of a PVS, counted, against what the simulated PVS received.

The simulator logs every request it gets and every answer it delivers (status,
body size); the exporter's ``sunpower_pvs_requests_total``,
``..._request_results_total``, ``..._response_body_bytes_total`` and
``..._request_duration_seconds`` must agree with that log kind by kind,
including requests that never got an answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter

import pytest

from sunpower_pvs_exporter.pvs.request_counts import (
    ANSWER_SECONDS_BUCKETS,
    END_CLASSES,
    RequestCounts,
    status_class,
)
from sunpower_pvs_exporter.runtime import ConfigReloader, make_poller
from sunpower_pvs_exporter.simulator.faults import FLASHWEAR_VARIABLE, FaultPlan, RequestLog
from support import NOON_UTC, FakeClock, parse_samples, series, target_for, tls_target_for

# The simulator's request names, as this test (not the exporter) sorts them.
LEGACY_KINDS = {
    "DeviceList": "device_list",
    "Get_Comm": "get_comm",
    "GridProfileGet": "grid_profile",
    "/cgi-bin/dl_cgi/supervisor/info": "supervisor_info",
    "/cgi-bin/dl_cgi/energy-storage-system/status": "ess_status",
}


def kind_of(name: str, raw_target: str) -> str:
    if name in LEGACY_KINDS:
        return LEGACY_KINDS[name]
    if name == "/auth":
        return "login"
    assert name == "/vars", name
    query = raw_target.partition("?")[2]
    keys = {pair.partition("=")[0] for pair in query.split("&")}
    if "set" in keys:
        return "telemetry_enable"
    if keys & {"match", "name"}:
        return "vars_match"
    assert "cache" in keys, raw_target
    return "vars_cached"


@dataclasses.dataclass
class Served:
    """The simulator's side, per kind."""

    received: Counter[str]
    answers: Counter[tuple[str, str]]
    body_bytes: Counter[str]


def served(log: RequestLog) -> Served:
    received: Counter[str] = Counter()
    for entry in log.entries:
        if entry.path != "/":  # the telemetry WebSocket is a stream, not a request
            received[kind_of(entry.name, entry.raw_target)] += 1
    answers: Counter[tuple[str, str]] = Counter()
    body_bytes: Counter[str] = Counter()
    for answer in log.answers:
        kind = kind_of(answer.name, answer.raw_target)
        answers[kind, f"{answer.status // 100}xx"] += 1
        body_bytes[kind] += answer.body_bytes
    return Served(received, answers, body_bytes)


@dataclasses.dataclass
class Counted:
    """The exporter's side, per kind, from its /metrics."""

    sent: dict[str, float]
    ended: dict[tuple[str, str], float]
    body_bytes: dict[str, float]
    answered: dict[str, float]
    buckets: dict[str, list[tuple[float, float]]]
    seconds: dict[str, float]


def counted(text: str, target: str = "site") -> Counted:
    samples = parse_samples(text)

    def by_kind(name: str) -> dict[str, float]:
        return {
            labels["kind"]: value
            for labels, value in series(samples, name)
            if labels["target"] == target
        }

    ended = {
        (labels["kind"], labels["class"]): value
        for labels, value in series(samples, "sunpower_pvs_request_results_total")
        if labels["target"] == target
    }
    buckets: dict[str, list[tuple[float, float]]] = {}
    for labels, value in series(samples, "sunpower_pvs_request_duration_seconds_bucket"):
        if labels["target"] == target:
            buckets.setdefault(labels["kind"], []).append((float(labels["le"]), value))
    return Counted(
        sent=by_kind("sunpower_pvs_requests_total"),
        ended=ended,
        body_bytes=by_kind("sunpower_pvs_response_body_bytes_total"),
        answered=by_kind("sunpower_pvs_request_duration_seconds_count"),
        buckets={kind: sorted(pairs) for kind, pairs in buckets.items()},
        seconds=by_kind("sunpower_pvs_request_duration_seconds_sum"),
    )


def assert_agree(exporter: Counted, simulator: Served) -> None:
    """Kind by kind: sent = received, answers by class, bytes, histogram count."""
    # Every kind the PVS received is shown; a kind shown before its first
    # request (``RequestCounts.expect``) at 0.
    assert set(simulator.received) <= set(exporter.sent)
    assert exporter.sent == {kind: simulator.received[kind] for kind in exporter.sent}
    for kind in exporter.sent:
        for end in ("2xx", "3xx", "4xx", "5xx"):
            assert exporter.ended.get((kind, end), 0) == simulator.answers[kind, end], (kind, end)
        assert exporter.body_bytes[kind] == simulator.body_bytes[kind], kind
        answers = sum(simulator.answers[kind, end] for end in ("2xx", "3xx", "4xx", "5xx"))
        assert exporter.answered[kind] == answers, kind
        bounds = [bound for bound, _ in exporter.buckets[kind]]
        assert bounds == [*ANSWER_SECONDS_BUCKETS, float("inf")]
        counts = [count for _, count in exporter.buckets[kind]]
        assert counts == sorted(counts) and counts[-1] == answers, kind
        # Every request ended one way: sent = the sum over the classes.
        assert sum(exporter.ended.get((kind, end), 0) for end in END_CLASSES) == exporter.sent[kind]


async def metrics(http, url: str) -> str:
    async with http.get(url + "/metrics") as response:
        assert response.status == 200
        return await response.text()


async def wait_for(http, url: str, check, what: str) -> str:
    for _ in range(100):  # bounded: 5 s
        text = await metrics(http, url)
        if check(counted(text)):
            return text
        await asyncio.sleep(0.05)
    raise AssertionError(f"never: {what}\n{text}")


async def test_legacy_requests_agree_with_what_the_pvs_received_and_answered(
    make_simulator, make_exporter, http
):
    """Good answers, a 500, a 403, and a DeviceList the PVS never answers in time:
    sent when it went out, ended as ``timeout`` at its hard limit (0.5 s + 0.5 s)."""
    sim = await make_simulator(inverters=2)
    clock = FakeClock(NOON_UTC)
    # Scrape mode and a clock that stands still: it polls only when the test says.
    exporter = await make_exporter([target_for(sim, timeout=0.5)], clock=clock, poll_mode="scrape")
    (poller,) = exporter.state.pollers.values()
    await poller.poll()
    await poller.poll()
    for fault in (FaultPlan(status=500), FaultPlan(status=403)):
        sim.pvs.faults = dataclasses.replace(fault, only=frozenset({"DeviceList"}), remaining=1)
        await poller.poll()
    sim.pvs.faults = FaultPlan(latency=3.0, only=frozenset({"DeviceList"}), remaining=1)
    await poller.poll()
    assert not poller.status().last_poll_ok
    text = await wait_for(
        http, exporter.url, lambda c: c.ended.get(("device_list", "timeout")) == 1, "a timeout"
    )
    exporter_side, simulator_side = counted(text), served(sim.pvs.log)
    assert exporter_side.sent["device_list"] == 5
    assert {kind for kind in exporter_side.sent} == {"device_list", "get_comm", "grid_profile"}
    assert exporter_side.ended["device_list", "5xx"] == 1
    assert exporter_side.ended["device_list", "4xx"] == 1
    assert exporter_side.ended["device_list", "2xx"] == 2
    # A way of ending no request took has no series (yet).
    assert ("device_list", "connection_error") not in exporter_side.ended
    assert ("get_comm", "timeout") not in exporter_side.ended
    assert_agree(exporter_side, simulator_side)
    # The PVS's answer time: the good ones on loopback well inside a second.
    assert 0 < exporter_side.seconds["device_list"] < 4 * 1.0
    assert dict(exporter_side.buckets["device_list"])[1.0] == 4


async def test_varserver_requests_agree_by_kind_and_a_hanging_group_ends_as_timeout(
    make_simulator, make_exporter, http
):
    """Login, set builds (``match=``/``name=``), cached reads, the default password's
    serial read: each kind as the PVS saw it. A group that never answers
    (flashwear on some builds) is sent, and ends as ``timeout``."""
    sim = await make_simulator(api="varserver", inverters=2)
    clock = FakeClock(NOON_UTC)
    target = tls_target_for(sim, api="varserver", timeout=0.8)
    exporter = await make_exporter([target], clock=clock, poll_mode="scrape")
    (poller,) = exporter.state.pollers.values()
    await poller.poll()
    await poller.poll()  # cached reads now
    text = await metrics(http, exporter.url)
    exporter_side = counted(text)
    assert {"login", "vars_match", "vars_cached"} <= set(exporter_side.sent)
    assert_agree(exporter_side, served(sim.pvs.log))

    sim.pvs.faults = FaultPlan(hanging_variables=frozenset({FLASHWEAR_VARIABLE}))
    await poller.poll()
    text = await wait_for(
        http,
        exporter.url,
        lambda c: sum(c.ended.get((k, "timeout"), 0) for k in c.sent) == 1,
        "the hanging group's request ends",
    )
    exporter_side = counted(text)
    assert_agree(exporter_side, served(sim.pvs.log))
    assert sum(exporter_side.sent.values()) == sum(served(sim.pvs.log).received.values())


async def test_request_histograms_off_keeps_the_counters_and_drops_the_answer_times(
    make_simulator, make_exporter, http
):
    """``request_histograms: false`` (large fleets): per kind still counted, no
    ``_bucket``/``_sum``/``_count``, for that target only."""
    plain, timed = await make_simulator(inverters=1), await make_simulator(inverters=1)
    clock = FakeClock(NOON_UTC)
    targets = [
        target_for(plain, name="plain", request_histograms=False),
        target_for(timed, name="timed"),
    ]
    exporter = await make_exporter(targets, clock=clock, poll_mode="scrape")
    for poller in exporter.state.pollers.values():
        await poller.poll()
    text = await metrics(http, exporter.url)
    plain_side, timed_side = counted(text, "plain"), counted(text, "timed")
    plain_served = served(plain.pvs.log)
    assert plain_side.sent == dict(plain_served.received)
    assert plain_side.body_bytes == dict(plain_served.body_bytes)
    assert (plain_side.answered, plain_side.buckets, plain_side.seconds) == ({}, {}, {})
    assert_agree(timed_side, served(timed.pvs.log))
    assert plain_side.sent["device_list"] == timed_side.sent["device_list"] == 1
    assert plain_side.ended["device_list", "2xx"] == 1
    assert 'sunpower_pvs_request_duration_seconds_count{kind="device_list",target="timed"}' in text
    assert 'target="plain"' in text
    assert not [
        line
        for line in text.splitlines()
        if line.startswith("sunpower_pvs_request_duration_seconds") and 'target="plain"' in line
    ]


async def test_a_target_never_polled_has_no_request_series(make_simulator, make_exporter, http):
    """on_demand: nothing polls an unprobed target, so nothing was asked of its PVS."""
    sim = await make_simulator(inverters=1)
    exporter = await make_exporter([target_for(sim)], poll_mode="on_demand")
    text = await metrics(http, exporter.url)
    # Listed, as idle, and nothing else (another shard's, in a sharded fleet).
    assert 'sunpower_pvs_target_active{target="site"} 0.0' in text
    assert "sunpower_pvs_polls_total" not in text
    assert "sunpower_pvs_request" not in text
    assert "sunpower_pvs_response_body_bytes" not in text
    assert sim.pvs.log.entries == []


async def test_counts_survive_a_reload_of_the_same_target(make_simulator, make_exporter, http):
    """A reload that changes the target (its timeout) replaces its poller; the counts
    go on from where they were, as the poll counters do."""
    sim = await make_simulator(inverters=1)
    clock = FakeClock(NOON_UTC)
    target = target_for(sim, timeout=2.0)
    exporter = await make_exporter([target], clock=clock, poll_mode="scrape")
    old = exporter.state.pollers["site"]
    await old.poll()
    await old.poll()
    before = counted(await metrics(http, exporter.url))
    assert before.sent["device_list"] == 2
    retimed = dataclasses.replace(target, timeout=2.5)
    changed = dataclasses.replace(exporter.state.config, targets=(retimed,))
    reloader = ConfigReloader(
        exporter.state,
        lambda: changed,
        lambda t, mode: make_poller(t, mode, backoff_cap=1.0, jitter=0.0),
    )
    outcome = await reloader.reload()
    assert outcome.ok and "changed: site" in outcome.message, outcome
    new = exporter.state.pollers["site"]
    assert new is not old
    new.clock = new.monotonic = clock
    clock.advance(60)
    await new.poll()
    after = counted(await metrics(http, exporter.url))
    assert after.sent["device_list"] == 3
    assert after.ended["device_list", "2xx"] == 3
    # The new poller's client reads Get_Comm afresh: counted on top of the old one's.
    assert before.sent["get_comm"] == 1 and after.sent["get_comm"] == 2
    assert_agree(after, served(sim.pvs.log))


def test_status_classes():
    assert [status_class(s) for s in (200, 204, 302, 400, 403, 404, 500, 503, 600, 99)] == [
        "2xx",
        "2xx",
        "3xx",
        "4xx",
        "4xx",
        "4xx",
        "5xx",
        "5xx",
        "5xx",
        "5xx",
    ]


def test_answer_times_fall_in_the_first_bucket_whose_bound_they_do_not_exceed():
    counts = RequestCounts()
    for seconds in (0.1, 0.1000001, 30.0, 61.0):
        counts.sent("device_list")
        counts.ended("device_list", "2xx", body_bytes=10, seconds=seconds)
    counts.sent("device_list")
    counts.ended("device_list", "timeout", body_bytes=0, seconds=None)
    (view,) = counts.view()
    assert view.sent == 5 and view.body_bytes == 40
    assert view.cumulative == (1, 2, 2, 2, 2, 2, 3, 4)
    assert view.answered == 4
    assert view.answer_seconds == 91.2  # summed in whole microseconds
    assert view.ended == (("2xx", 4), ("timeout", 1))


def test_a_request_ending_after_a_take_over_counts_in_the_new_record():
    """A reload's new poller takes the counts over; the old transport's request
    still on the PVS ends later, and is counted where the metrics now look."""
    old, new = RequestCounts(), RequestCounts()
    old.sent("vars_cached")
    version = new.version
    new.take_over(old)
    assert new.version != version
    old.ended("vars_cached", "5xx", body_bytes=7, seconds=0.2)
    old.sent("login")
    newer = RequestCounts()
    newer.take_over(new)
    newer.take_over(old)  # already taken: nothing counted twice
    old.ended("login", "2xx", body_bytes=1, seconds=0.05)
    assert old.view() == new.view() == ()
    by_kind = {view.kind: view for view in newer.view()}
    assert by_kind["vars_cached"].sent == 1
    assert by_kind["vars_cached"].ended == (("2xx", 0), ("5xx", 1))
    assert by_kind["vars_cached"].body_bytes == 7
    assert by_kind["login"].answered == 1
    assert [view.kind for view in newer.view()] == ["login", "vars_cached"]


def test_an_expected_kind_is_shown_at_zero_until_its_first_request():
    """The reader says it will send a kind from its next poll on: its counters
    show at 0 now, 2xx included, so a target's first poll shows the series its
    later polls do (docs/scaling.md: a reshard's staleness markers)."""
    counts = RequestCounts()
    counts.sent("vars_match")
    counts.ended("vars_match", "2xx", body_bytes=5, seconds=0.1)
    version = counts.version
    counts.expect("vars_cached")
    assert counts.version != version
    by_kind = {view.kind: view for view in counts.view()}
    cached = by_kind["vars_cached"]
    assert (cached.sent, cached.ended, cached.body_bytes) == (0, (("2xx", 0),), 0)
    assert cached.cumulative == (0,) * (len(ANSWER_SECONDS_BUCKETS) + 1)
    # Expecting a kind already counted changes nothing.
    counts.sent("vars_cached")
    counts.ended("vars_cached", "timeout", body_bytes=0, seconds=None)
    version = counts.version
    before = counts.view()
    counts.expect("vars_cached")
    assert counts.view() == before and counts.version == version
    (cached,) = [view for view in counts.view() if view.kind == "vars_cached"]
    assert cached.ended == (("2xx", 0), ("timeout", 1))


def test_an_expected_kind_lands_in_the_record_that_took_over():
    old, new = RequestCounts(), RequestCounts()
    new.take_over(old)
    old.expect("vars_cached")
    assert old.view() == ()
    assert [view.kind for view in new.view()] == ["vars_cached"]


# What docs/monitoring.md ("Is polling hurting my PVS?") says the defaults ask of a
# PVS in an hour of polls that work: (API setting, firmware, poll interval) -> requests.
REQUESTS_PER_HOUR = {
    ("legacy", "legacy", 120.0): {"device_list": 30, "get_comm": 6, "grid_profile": 6},
    ("auto", "varserver", 120.0): {
        "supervisor_info": 1,
        "login": 15,
        "vars_match": 16,
        "vars_cached": 168,
    },
    # The default password: one more read, of the serial number.
    ("varserver", "varserver", 60.0): {"login": 15, "vars_match": 17, "vars_cached": 348},
}


@pytest.mark.parametrize(("api", "firmware", "interval"), list(REQUESTS_PER_HOUR))
async def test_requests_per_hour_of_the_default_intervals(
    make_simulator, api: str, firmware: str, interval: float
):
    """One hour of polls at the default interval (no failures, a site without a
    SunVault), on a clock that moves only between polls: the requests the PVS
    receives, counted by the simulator and by the exporter alike."""
    from sunpower_pvs_exporter.pvs.detect import AutoReader
    from sunpower_pvs_exporter.pvs.legacy import LegacyClient
    from sunpower_pvs_exporter.pvs.transport import Endpoint, HttpTransport
    from sunpower_pvs_exporter.pvs.varserver import VarserverClient

    sim = await make_simulator(api=firmware, inverters=4)
    clock = FakeClock(0.0)
    counts = RequestCounts()
    legacy = LegacyClient(
        HttpTransport(Endpoint(sim.host, sim.port), 10.0, requests=counts), clock=clock
    )
    varserver = VarserverClient(
        HttpTransport(Endpoint(sim.host, sim.tls_port, use_tls=True), 10.0, requests=counts),
        clock=clock,
    )
    readers = {"legacy": legacy, "varserver": varserver}
    reader = readers.get(api) or AutoReader(legacy, varserver)
    try:
        for _ in range(int(3600 / interval)):
            await reader.read()
            clock.advance(interval)
    finally:
        await legacy.close()
        await varserver.close()
    by_kind = {view.kind: view.sent for view in counts.view()}
    assert by_kind == dict(served(sim.pvs.log).received)
    assert by_kind == REQUESTS_PER_HOUR[api, firmware, interval]


async def test_a_request_closed_by_the_exporter_ends_as_cancelled(make_simulator):
    """Given up on, then closed before the PVS answered (``check`` ending, a shutdown
    past its deadline): sent, never answered, ``cancelled``."""
    from sunpower_pvs_exporter.pvs.errors import PvsTimeoutError
    from sunpower_pvs_exporter.pvs.transport import Endpoint, HttpTransport

    sim = await make_simulator(inverters=1)
    sim.pvs.faults = FaultPlan(latency=5.0, only=frozenset({"DeviceList"}))
    counts = RequestCounts()
    transport = HttpTransport(Endpoint(sim.host, sim.port), 1.0, requests=counts)
    with pytest.raises(PvsTimeoutError):
        await transport.request_bytes(
            "GET", "/cgi-bin/dl_cgi?Command=DeviceList", "DeviceList", kind="device_list", limit=0.1
        )
    (view,) = counts.view()
    assert view.sent == 1 and view.ended == (("2xx", 0),)  # still on the PVS
    await transport.close(drain_within=0)
    (view,) = counts.view()
    assert view.ended == (("2xx", 0), ("cancelled", 1))
    assert view.answered == 0 and view.body_bytes == 0


async def test_a_refused_connection_is_counted_as_a_connection_error():
    from sunpower_pvs_exporter.pvs.errors import PvsConnectionError
    from sunpower_pvs_exporter.pvs.transport import Endpoint, HttpTransport
    from sunpower_pvs_exporter.simulator.server import free_port

    counts = RequestCounts()
    transport = HttpTransport(Endpoint("127.0.0.1", free_port()), 1.0, requests=counts)
    try:
        with pytest.raises(PvsConnectionError):
            await transport.get_json("/cgi-bin/dl_cgi/supervisor/info", "x", kind="supervisor_info")
    finally:
        await transport.close()
    (view,) = counts.view()
    assert view.kind == "supervisor_info" and view.sent == 1
    assert view.ended == (("2xx", 0), ("connection_error", 1)) and view.answered == 0
