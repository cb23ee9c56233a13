"""The running exporter: reloads all or nothing, one request per PVS across reloads,
shutdown within its deadline. Signals and exit codes through the real process."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import signal
import time
from pathlib import Path

import aiohttp
import bcrypt
import pytest

from metrics.oracle import health_text
from sunpower_pvs_exporter.config import ExporterConfig
from sunpower_pvs_exporter.runtime import ConfigReloader, make_poller
from sunpower_pvs_exporter.simulator.faults import FaultPlan
from support import (
    NOON_UTC,
    FakeClock,
    parse_samples,
    probe_up,
    series,
    start_exporter_async,
    target_for,
    target_line,
)

OPENMETRICS = "application/openmetrics-text;version=1.0.0"

BASIC_PASSWORD = "reload-test-secret"


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def test_ten_reloads_of_a_changed_target_keep_one_request_in_flight(
    make_simulator, make_exporter, http
):
    """Each reload replaces the poller of a PVS whose DeviceList takes 0.3 s; the
    simulator counts how many requests it was answering at once."""
    sim = await make_simulator(inverters=3)
    target = target_for(sim, poll_interval=0.2, timeout=3.0)
    exporter = await make_exporter([target])
    await probe_up(http, exporter.url, "site")
    sim.pvs.faults.latency = 0.3
    sim.pvs.faults.only = frozenset({"DeviceList"})
    sim.pvs.log.clear()
    configs = [
        dataclasses.replace(exporter.state.config, targets=(replace_timeout,))
        for replace_timeout in (
            dataclasses.replace(target, timeout=3.0 + n / 10) for n in range(1, 11)
        )
    ]
    loads = iter(configs)
    reloader = ConfigReloader(
        exporter.state,
        lambda: next(loads),
        lambda t, mode: make_poller(t, mode, backoff_cap=1.0, jitter=0.0),
    )
    started = time.monotonic()
    for _ in range(10):
        outcome = await reloader.reload()
        assert outcome.ok and "changed: site (timeout)" in outcome.message, outcome
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.5)
    elapsed = time.monotonic() - started
    assert sim.pvs.log.max_in_flight == 1
    # The schedule went on: never more polls than back-to-back 0.3 s requests allow.
    assert 1 <= sim.pvs.log.count("DeviceList") <= elapsed / 0.3 + 1
    await probe_up(http, exporter.url, "site")


async def test_identical_reload_is_a_no_op(make_simulator, make_exporter, http):
    sim = await make_simulator(inverters=1)
    exporter = await make_exporter([target_for(sim)])
    await probe_up(http, exporter.url, "site")
    poller = exporter.state.pollers["site"]
    loaded_at = exporter.state.reload_status.last_success_at
    config: ExporterConfig = exporter.state.config
    reloader = ConfigReloader(exporter.state, lambda: config)
    outcome = await reloader.reload()
    assert outcome.ok and outcome.message == "configuration unchanged, nothing to do"
    assert exporter.state.pollers["site"] is poller
    assert exporter.state.reload_status.last_success_at == loaded_at


def reload_metrics(text: str) -> tuple[float, float]:
    samples = parse_samples(text)
    ((_, ok),) = series(samples, "sunpower_pvs_exporter_config_last_reload_successful")
    ((_, at),) = series(
        samples, "sunpower_pvs_exporter_config_last_reload_success_timestamp_seconds"
    )
    return ok, at


async def test_reload_is_all_or_nothing_over_sighup_and_post(tmp_path: Path, make_simulator):
    """A real process: a new config naming a missing password file is refused whole
    (SIGHUP and POST /-/reload), the running config stays, the metrics say so;
    once the file exists the same config applies and the log says what changed."""
    sim_a = await make_simulator(inverters=1, seed=1)
    sim_b = await make_simulator(inverters=2, seed=2, host="::1")  # another PVS
    hashed = bcrypt.hashpw(BASIC_PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    web = tmp_path / "web.yml"
    web.write_text(f"basic_auth_users:\n  prometheus: '{hashed}'\n")
    password = tmp_path / "b.password"

    head = f"web_config_file: {web}\ntargets:\n"
    config = tmp_path / "config.yml"
    config.write_text(head + target_line("a", sim_a.port))
    log_file = tmp_path / "exporter.log"
    proc, port = await start_exporter_async(
        "--config", str(config), output=tmp_path / "output", log_file=log_file
    )
    base = f"http://127.0.0.1:{port}"
    auth = basic("prometheus", BASIC_PASSWORD)

    async def metrics(http: aiohttp.ClientSession) -> tuple[float, float]:
        async with http.get(base + "/metrics", headers=auth) as response:
            return reload_metrics(await response.text())

    async def wait_log(text: str) -> None:
        for _ in range(100):
            if text in log_file.read_text():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{text!r} not in log:\n{log_file.read_text()}")

    try:
        async with aiohttp.ClientSession() as http:
            await probe_up(http, base, "a", headers=auth)
            ok, started_at = await metrics(http)
            assert ok == 1 and started_at > 0

            async with http.post(base + "/-/reload") as response:
                assert response.status == 401  # the same auth as /metrics
            async with http.post(base + "/-/reload", headers=auth) as response:
                assert (response.status, await response.text()) == (
                    200,
                    "configuration unchanged, nothing to do\n",
                )
            assert await metrics(http) == (1, started_at)

            config.write_text(
                head + target_line("a", sim_a.port, ", timeout: 30s")
                + target_line("b", sim_b.port, f", password_file: {password}", host="::1")
            )  # fmt: skip
            error = f"targets[1].password_file: cannot read {password}: No such file or directory"
            proc.send_signal(signal.SIGHUP)
            await wait_log(error)
            assert await metrics(http) == (0, started_at)
            async with http.get(base + "/probe?target=b", headers=auth) as response:
                assert response.status == 400  # b was not half-added
            async with http.post(base + "/-/reload", headers=auth) as response:
                assert response.status == 500
                assert await response.text() == f"reload failed: {error}\n"
            await probe_up(http, base, "a", headers=auth)

            password.write_text("B1234\n")
            async with http.post(base + "/-/reload", headers=auth) as response:
                assert response.status == 200
                assert await response.text() == (
                    "2 targets; added: b; changed: a (timeout); removed: none\n"
                )
            ok, loaded_at = await metrics(http)
            assert ok == 1 and loaded_at >= started_at
            await probe_up(http, base, "b", headers=auth)
            await wait_log("reload: 2 targets; added: b; changed: a (timeout); removed: none")
            assert proc.returncode is None
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=10) == 0
    log = log_file.read_text()
    assert "Task exception was never retrieved" not in log
    assert "Traceback" not in log


@pytest.mark.parametrize(
    ("api", "stop"),
    [("legacy", signal.SIGTERM), ("varserver", signal.SIGTERM), ("varserver", signal.SIGINT)],
)
async def test_sigterm_or_sigint_with_three_hung_pvses_exits_within_two_seconds(
    api: str, stop: signal.Signals, tmp_path: Path, make_simulator
):
    """Three PVSes that stop answering (every request hangs for a minute), each with
    a request of ours on it: the process must still exit 0 within the documented
    2 s of SIGTERM, or of SIGINT (Ctrl-C). Three hosts (each host is one PVS to the
    exporter, with one queue): 127.0.0.1, "localhost" and ::1."""
    hosts = ("127.0.0.1", "localhost", "::1")
    sims = [
        await make_simulator(
            inverters=1, seed=n, api=api, host="::1" if host == "::1" else "127.0.0.1"
        )
        for n, host in enumerate(hosts)
    ]
    for sim in sims:
        sim.pvs.faults.latency = 60.0
    lines = ["targets:"]
    for n, (sim, host) in enumerate(zip(sims, hosts, strict=True)):
        where = (
            f"port: {sim.tls_port}, use_tls: true" if api == "varserver" else f"port: {sim.port}"
        )
        lines.append(f"  - {{name: t{n}, host: '{host}', {where}, api: {api}}}")
    config = tmp_path / "config.yml"
    config.write_text("\n".join(lines) + "\n")
    log_file = tmp_path / "exporter.log"
    proc, _ = await start_exporter_async(
        "--config", str(config), output=tmp_path / "output", log_file=log_file
    )
    try:
        for _ in range(200):
            if all(sim.pvs.log.in_flight for sim in sims):
                break
            await asyncio.sleep(0.05)
        assert all(sim.pvs.log.in_flight for sim in sims), "polls never reached the PVSes"
        started = time.monotonic()
        proc.send_signal(stop)
        code = await asyncio.wait_for(proc.wait(), timeout=15)
        took = time.monotonic() - started
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    print(f"{stop.name} with 3 hung {api} PVSes: exited {code} after {took:.2f}s")
    assert code == 0
    assert took < 2.0, took


async def test_a_ca_file_that_vanishes_after_the_check_is_a_named_connection_failure(
    tmp_path: Path, make_simulator, make_exporter, http
):
    """Checked at start; if it disappears later, polls fail naming the key, no traceback."""
    sim = await make_simulator(inverters=1, tls=True)
    gone = tmp_path / "pvs-ca.pem"
    target = target_for(sim, port=sim.tls_port, use_tls=True, tls_ca_file=str(gone))
    exporter = await make_exporter([target])
    for _ in range(100):
        status = exporter.state.pollers["site"].status()
        if status.last_error:  # ``polls`` counts a poll when it starts, not when it ends
            break
        await asyncio.sleep(0.05)
    assert status.last_error_reason == "connection"
    assert status.last_error == (f"tls_ca_file {gone}: cannot use it: No such file or directory"), (
        status.last_error
    )


async def test_password_file_is_read_at_each_login_and_a_vanished_one_is_an_auth_failure(
    tmp_path: Path, make_simulator, make_exporter, http
):
    """Over real HTTPS: the file goes away and the PVS ends the session -> the next
    login fails as reason=auth naming password_file; a new file with a new password
    works from the next login on, without a reload."""
    from support import tls_target_for

    sim = await make_simulator(api="varserver", inverters=1)
    secret = tmp_path / "pvs-password"
    secret.write_text(sim.pvs.password + "\n")
    target = tls_target_for(
        sim, api="varserver", password_file=str(secret), poll_interval=0.2, max_age=0.5
    )
    exporter = await make_exporter([target], backoff_cap=0.2)
    await probe_up(http, exporter.url, "site")
    poller = exporter.state.pollers["site"]

    secret.unlink()
    sim.pvs.expire_sessions()
    for _ in range(100):
        status = poller.status()
        if status.last_error_reason == "auth":
            break
        await asyncio.sleep(0.05)
    assert status.last_error_reason == "auth"
    assert status.last_error == f"password_file {secret}: cannot read: No such file or directory"

    sim.pvs.password_override = "NEW42"
    sim.pvs.expire_sessions()
    secret.write_text("NEW42\n")
    await probe_up(http, exporter.url, "site")
    assert sim.pvs.failed_logins == 0  # the vanished file never sent a wrong password


async def test_new_snapshots_are_pre_rendered_only_in_the_formats_scrapes_ask_for(
    make_simulator, make_exporter, http
):
    """Prometheus asks for OpenMetrics: a fleet should not keep every target's
    device metrics rendered twice. The classic format joins the pre-rendering
    once someone asks for it."""
    sim = await make_simulator(inverters=2)
    clock = FakeClock(NOON_UTC)
    exporter = await make_exporter([target_for(sim, poll_interval=60.0)], clock=clock)
    state = exporter.state
    poller = next(iter(state.pollers.values()))
    for _ in range(200):
        if poller.status().up:
            break
        await asyncio.sleep(0.05)
    assert poller.status().up

    def rendered() -> set[bool]:
        snapshot, texts = state.cache._texts["site"]
        assert snapshot is poller.status().snapshot
        return set(texts)

    assert rendered() == {True}
    async with http.get(exporter.url + "/metrics", headers={"Accept": OPENMETRICS}) as response:
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
        assert "sunpower_pvs_inverter_" in await response.text()
    assert rendered() == {True}
    async with http.get(exporter.url + "/metrics", headers={"Accept": "text/plain"}) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        assert "sunpower_pvs_inverter_" in await response.text()
    assert rendered() == {False, True}  # rendered on demand for that scrape
    clock.advance(61.0)
    await poller.poll()
    assert rendered() == {False, True}  # and pre-rendered from then on


async def test_a_poll_that_ends_leaves_its_health_lines_encoded_for_the_next_scrape(
    make_simulator, make_exporter
):
    """A large fleet's scrape should only join lines: each target's are encoded
    as its poll ends (good or bad), not by whichever scrape comes next."""
    sim = await make_simulator(inverters=2)
    clock = FakeClock(NOON_UTC)
    exporter = await make_exporter([target_for(sim, poll_interval=60.0)], clock=clock)
    state = exporter.state
    poller = next(iter(state.pollers.values()))
    built: list[float] = []
    status = poller.status

    def counting_status(now: float | None = None):
        built.append(clock())
        return status(now)

    poller.status = counting_status  # type: ignore[method-assign]
    for failing in (False, True):
        sim.pvs.faults = FaultPlan(status=500 if failing else None)
        clock.advance(61.0)
        await poller.poll()
        assert poller.status().last_poll_ok is not failing
        built.clear()
        body = state.metrics_text([poller], [], exporter_info=True, openmetrics=True)
        assert built == [], "the scrape re-encoded what the poll's end should have"
        expected = health_text([status(clock())], openmetrics=True, include_exporter_info=False)
        assert expected in body


async def test_a_removed_target_leaves_no_health_lines_behind(make_simulator, make_exporter):
    """A reload that removes a target while its poll is on the PVS: the poll
    still ends later, and must not put the target back into the health cache
    that every scrape walks (a fleet reloaded often would grow it)."""
    kept_sim = await make_simulator(inverters=1)
    gone_sim = await make_simulator(inverters=1)
    # A clock that moves only past the first polls' spread: each poller polls
    # once and then waits, so the poll below is the only one on the PVS (not
    # one the schedule started, which the poll below would join).
    clock = FakeClock(NOON_UTC)
    exporter = await make_exporter(
        [target_for(kept_sim, name="kept"), target_for(gone_sim, name="gone")], clock=clock
    )
    clock.advance(1.0)
    state = exporter.state
    gone = state.pollers["gone"]
    for _ in range(200):
        if all(p.status().up for p in state.pollers.values()):
            break
        await asyncio.sleep(0.05)
    assert "gone" in state.health._entries
    gone_sim.pvs.faults = FaultPlan(latency=1.0)
    slow_poll = asyncio.create_task(gone.poll())
    # On the PVS (not a fixed sleep: a loaded machine may not have sent it yet).
    for _ in range(200):
        if gone_sim.pvs.log.in_flight:
            break
        await asyncio.sleep(0.01)
    assert gone_sim.pvs.log.in_flight == 1
    assert not slow_poll.done()
    config: ExporterConfig = dataclasses.replace(state.config, targets=(state.config.targets[0],))
    outcome = await ConfigReloader(state, lambda: config).reload()
    assert outcome.ok, outcome.message
    await asyncio.gather(slow_poll, *state.retiring, return_exceptions=True)
    assert set(state.health._entries) <= {"kept"}
    assert b'target="gone"' not in state.metrics_text(
        list(state.pollers.values()), [], exporter_info=True, openmetrics=True
    )


async def test_a_reload_to_the_same_pvs_https_port_waits_for_the_request_given_up_on(
    make_simulator, make_exporter
):
    """A DeviceList of 2.5 s, a poll timeout of 2 s: the PVS still works on the
    request when a reload moves the target to the same PVS's HTTPS port. The new
    poller's first request waits for it: one PVS, one queue, whichever port."""
    sim = await make_simulator(inverters=2, tls=True)
    clock = FakeClock(NOON_UTC)
    target = target_for(sim, poll_interval=60.0, timeout=2.0)
    exporter = await make_exporter([target], clock=clock)
    state = exporter.state
    old = state.pollers["site"]
    for _ in range(200):
        if old.status().up:
            break
        await asyncio.sleep(0.05)
    assert old.status().up
    sim.pvs.faults = FaultPlan(latency=2.5, only=frozenset({"DeviceList"}), remaining=1)
    clock.advance(61.0)
    await old.poll()
    assert old.status().last_error_reason == "timeout"
    assert sim.pvs.log.in_flight == 1

    def build(new_target):
        poller = make_poller(new_target, "background", backoff_cap=1.0, jitter=0.0)
        poller.clock = poller.monotonic = clock
        return poller

    moved = dataclasses.replace(target, port=sim.tls_port, use_tls=True)
    _, changed, _ = await state.replace_targets([moved], build)
    assert changed == ["site"]
    new = state.pollers["site"]
    clock.advance(120.0)  # past the old poller's backoff: the new one is due
    await new.poll()
    status = new.status()
    assert status.last_poll_ok, status.last_error
    assert sim.pvs.log.count("DeviceList") == 3
    assert sim.pvs.log.max_in_flight == 1


async def test_a_target_toggled_out_and_in_by_reloads_is_polled_at_most_once_per_interval(
    make_simulator, make_exporter
):
    """Reloads every 5 s that remove the target and add it back, for two
    minutes (on a fake clock): each added-back poller is new, without a
    schedule of its own, but the PVS's queue remembers its last poll. So the
    PVS is polled at 0, 60 and 120 s, not at every reload."""
    sim = await make_simulator(inverters=1)
    clock = FakeClock(NOON_UTC)
    target = target_for(sim, poll_interval=60.0)
    exporter = await make_exporter([target], clock=clock)
    state = exporter.state
    await until(lambda: sim.pvs.log.count("DeviceList") == 1)
    present: ExporterConfig = state.config
    absent = dataclasses.replace(present, targets=())
    loads = iter([absent, present] * 12)

    def build(new_target, mode):
        poller = make_poller(new_target, mode, backoff_cap=1.0, jitter=0.0)
        poller.clock = poller.monotonic = clock
        return poller

    reloader = ConfigReloader(state, lambda: next(loads), build)
    started = clock()
    for step in range(24):
        clock.advance(5.0)
        outcome = await reloader.reload()
        assert outcome.ok, outcome.message
        elapsed = clock() - started
        allowed = 1 + elapsed // 60
        if "site" in state.pollers and elapsed % 60 == 0:
            # Due again: the new poller polls at once.
            await until(lambda n=allowed: sim.pvs.log.count("DeviceList") == n)
        else:
            await asyncio.sleep(0.05)  # time for a poll that should not happen
        assert sim.pvs.log.count("DeviceList") == allowed, (step, elapsed)
    assert sim.pvs.log.count("DeviceList") == 3


async def until(condition, tries: int = 200) -> None:
    """Wait (bounded: ``tries`` x 25 ms) until ``condition()``."""
    for _ in range(tries):
        if condition():
            return
        await asyncio.sleep(0.025)
    raise AssertionError("condition never met")


async def test_the_first_targets_keep_todays_curve_and_a_good_poll_feeds_it(
    make_simulator, make_exporter, monkeypatch
):
    """Poller -> day record -> (status page): the first ``DAY_RECORD_TARGETS``
    targets in config order keep one, the rest none; a reload that reorders
    the targets moves the records with the cap, and a changed target of the
    same PVS keeps its day."""
    from sunpower_pvs_exporter import runtime
    from sunpower_pvs_exporter.site_facts import site_power

    monkeypatch.setattr(runtime, "DAY_RECORD_TARGETS", 2)  # 50 in the product
    sims = [await make_simulator(inverters=2) for _ in range(3)]
    clock = FakeClock(NOON_UTC)
    exporter = await make_exporter(
        [target_for(sim, name=f"pvs{n}") for n, sim in enumerate(sims)], clock=clock
    )
    state = exporter.state
    assert [p.day_record is not None for p in state.pollers.values()] == [True, True, False]
    clock.advance(1.0)  # past the first polls' spread; then each polls once and waits
    for _ in range(200):
        if all(p.status().up for p in state.pollers.values()):
            break
        await asyncio.sleep(0.05)
    first = state.pollers["pvs0"]
    record = first.day_record
    assert record is not None
    curve = record.curve(clock())
    index = int((clock() - curve.start) // curve.bucket_seconds)
    snapshot = first.status().snapshot
    assert snapshot is not None
    produced = site_power(snapshot).production
    assert produced is not None and produced > 0
    assert curve.production[index] == pytest.approx(produced, rel=1e-6)
    assert [v for v in curve.production if v is not None] == [curve.production[index]]

    targets = state.config.targets
    changed = dataclasses.replace(targets[0], poll_interval=targets[0].poll_interval + 60)
    config = dataclasses.replace(state.config, targets=(targets[2], changed, targets[1]))
    outcome = await ConfigReloader(state, lambda: config).reload()
    assert outcome.ok, outcome.message
    records = {name: p.day_record for name, p in state.pollers.items()}
    assert list(records) == ["pvs2", "pvs0", "pvs1"]
    assert records["pvs2"] is not None and records["pvs1"] is None
    assert records["pvs0"] is record  # a new poller, the same day


def test_startup_objects_are_frozen_out_of_later_collections():
    import gc

    from sunpower_pvs_exporter.runtime import freeze_startup_heap

    try:
        before = gc.get_freeze_count()
        kept = object.__new__(type("Kept", (), {}))  # a tracked object made before
        frozen = freeze_startup_heap()
        # (Frozen objects freed since leave the count, so it may drop a little.)
        assert frozen > before and gc.get_freeze_count() > before
        # Frozen objects are in no generation a collection walks.
        assert all(kept is not o for o in gc.get_objects())
    finally:
        gc.unfreeze()
