"""Our varserver client against the simulator over real HTTPS.

Request counts come from the simulator's RequestLog, so they are what a PVS
would see.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest

from sunpower_pvs_exporter.pvs.errors import PvsAuthError, PvsHttpStatusError
from sunpower_pvs_exporter.pvs.privacy import SUPERVISOR_VARIABLES
from sunpower_pvs_exporter.pvs.varserver import GROUPS, default_password
from sunpower_pvs_exporter.pvs.varserver_query import vars_query, vars_target
from sunpower_pvs_exporter.runtime import password_of
from sunpower_pvs_exporter.simulator.faults import EXPIRED_EMPTY_200, FLASHWEAR_VARIABLE
from support import parse_samples, series, tls_target_for


def names(sim) -> list[str]:
    return [entry.name for entry in sim.pvs.log.entries]


def raw_targets(sim) -> list[str]:
    return [entry.raw_target for entry in sim.pvs.log.entries]


# A site without SunVault: no ESS, no transfer switch.
PRESENT = ("info", "flashwear", "meter", "inverter", "livedata", "net")


async def test_first_poll_builds_one_set_per_group_then_reads_them_by_id(
    make_simulator, client_for
):
    sim = await make_simulator(api="varserver", inverters=5)
    client = client_for(sim)
    snap = await client.read()
    # No password configured: unauthenticated serial read, login, then one
    # match per group, each storing its set, written exactly as sent.
    assert names(sim)[:2] == ["/vars", "/auth"]
    assert raw_targets(sim)[0] == "/vars?name=/sys/info/serialnum&fmt=obj"
    # The supervisor by the names the exporter uses: match=/sys/info/ would
    # bring the hotspot's Wi-Fi key along.
    info = "serialnum,model,sw_rev,hwrev,uptime,cpu_usage,ram_usage,flash_usage"
    assert raw_targets(sim)[2] == (
        "/vars?name=" + ",".join("/sys/info/" + n for n in info.split(","))
        + "&fmt=obj&clearcache=spx_info"
    )  # fmt: skip
    assert raw_targets(sim)[3:] == [
        f"/vars?match={group.match}&fmt=obj&clearcache=spx_{group.name}" for group in GROUPS[1:]
    ]
    assert sim.pvs.hotspot_key_reads == 0
    assert client.password_source == "default"
    assert snap.backend == "varserver"
    assert len(snap.inverters) == 5
    assert all(group.ok for group in snap.read_groups)
    sim.pvs.log.clear()
    for _ in range(3):
        again = await client.read()
    # Steady state: one cached read per group the site has; the absent
    # families (ESS, transfer switch) are looked for every 30 minutes.
    assert raw_targets(sim) == [f"/vars?fmt=obj&cache=spx_{name}" for name in PRESENT] * 3
    assert len(again.inverters) == 5
    assert again.supervisor is not None
    assert again.supervisor.device.serial == sim.pvs.site.pvs_serial
    assert again.supervisor.flash_wear_ratio is not None
    # The net group: one interface state per /net/<iface>/state.
    assert {i.name: i.state for i in again.interfaces}["wan0"] == "online"
    await client.close()
    # No logout on close: it would end the session of every program on this host.
    assert sim.pvs.log.entries[-1].path == "/vars"
    assert sim.pvs.sessions


async def test_telemetry_enable_goes_out_raw_and_works(make_simulator, client_for):
    sim = await make_simulator(api="varserver", inverters=1)
    client = client_for(sim)
    await client.enable_telemetry()
    assert raw_targets(sim)[-1] == "/vars?set=/sys/telemetryws/enable=1"
    assert sim.pvs.telemetry_enabled


def test_vars_query_is_written_raw_and_refuses_what_cannot_be():
    assert vars_query([("set", "/sys/telemetryws/enable=1")]) == "set=/sys/telemetryws/enable=1"
    assert vars_target([("match", "/sys/livedata/"), ("fmt", "obj"), ("cache", "a1")]) == (
        "/vars?match=/sys/livedata/&fmt=obj&cache=a1"
    )
    for bad in ([("name", "a&b")], [("name", "a b")], [("name", "é")], [("bogus", "x")], []):
        with pytest.raises(ValueError):
            vars_query(bad)


async def test_configured_password_saves_the_serial_request(make_simulator, tmp_path, client_for):
    sim = await make_simulator(api="varserver", inverters=1)
    secret = tmp_path / "pvs-password"
    secret.write_text(sim.pvs.password + "\n")
    client = client_for(sim, password_file=str(secret))
    await client.read()
    assert names(sim) == ["/auth"] + ["/vars"] * len(GROUPS)
    assert client.password_source == "configured"


def test_password_sources(monkeypatch, tmp_path):
    from sunpower_pvs_exporter.config import TargetConfig

    target = TargetConfig(name="t", host="127.0.0.1", port=1)
    monkeypatch.delenv("SUNPOWER_PVS_PASSWORD", raising=False)
    assert password_of(target) is None
    monkeypatch.setenv("SUNPOWER_PVS_PASSWORD", " AB123 ")
    assert password_of(target) == "AB123"
    secret = tmp_path / "p"
    secret.write_text("FILE1\n")
    with_file = TargetConfig(name="t", host="127.0.0.1", port=1, password_file=str(secret))
    assert password_of(with_file) == "FILE1"
    assert default_password("zt01234567890a0321") == "A0321"


@pytest.mark.parametrize("status", [401, 403, 500, EXPIRED_EMPTY_200])
async def test_expired_session_relogs_in_within_the_same_poll(make_simulator, status, client_for):
    sim = await make_simulator(api="varserver", inverters=2)
    client = client_for(sim)
    await client.read()
    sim.pvs.expire_sessions()
    sim.pvs.faults.unauthorized_status = status
    sim.pvs.log.clear()
    snap = await client.read()  # no exception: the poll is not lost
    assert names(sim) == ["/vars", "/auth"] + ["/vars"] * len(PRESENT)
    assert len(snap.inverters) == 2
    assert client.logins == 2
    assert client.auth_failures == 0


async def test_session_ends_300_s_after_login_and_is_renewed(make_simulator, client_for):
    sim = await make_simulator(api="varserver", inverters=1)
    now = [1000.0]
    sim.pvs.session_clock = lambda: now[0]
    sim.pvs.faults.unauthorized_status = EXPIRED_EMPTY_200
    client = client_for(sim)
    await client.read()
    now[0] += 299.0  # use does not extend it, but it still lives
    sim.pvs.log.clear()
    await client.read()
    assert "/auth" not in names(sim)
    now[0] += 2.0
    sim.pvs.log.clear()
    snap = await client.read()
    assert names(sim)[:3] == ["/vars", "/auth", "/vars"]
    assert client.relogins_after_empty_answer == 1
    assert snap.supervisor is not None


@pytest.mark.parametrize("empty_status", [200, 400])
async def test_reboot_forgets_the_sets_and_the_client_rebuilds_them(
    make_simulator, empty_status, client_for
):
    sim = await make_simulator(api="varserver", inverters=2)
    sim.pvs.empty_result_status = empty_status
    client = client_for(sim)
    await client.read()
    sim.pvs.reboot()
    sim.pvs.log.clear()
    snap = await client.read()
    # Session gone (401) -> login -> each set gone -> match again.
    assert raw_targets(sim)[:4] == [
        "/vars?fmt=obj&cache=spx_info",
        "/auth?login",
        "/vars?fmt=obj&cache=spx_info",
        "/vars?name=" + ",".join(SUPERVISOR_VARIABLES) + "&fmt=obj&clearcache=spx_info",
    ]
    assert len(snap.inverters) == 2
    sim.pvs.log.clear()
    await client.read()
    assert raw_targets(sim) == [f"/vars?fmt=obj&cache=spx_{name}" for name in PRESENT]


async def test_wrong_password_is_an_auth_error_that_names_no_secret(
    make_simulator, caplog, client_for
):
    sim = await make_simulator(api="varserver", inverters=1)
    sim.pvs.password_override = "SECRET1"
    client = client_for(sim)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(PvsAuthError) as raised:
        await client.read()
    assert "default password" in raised.value.message
    assert client.auth_failures == 1
    # The default-password hint is logged once, loudly.
    assert any(
        "DEFAULT password" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records
    )
    with pytest.raises(PvsAuthError):
        await client.read()
    hints = [r for r in caplog.records if "DEFAULT password" in r.getMessage()]
    assert len(hints) == 1
    default = default_password(sim.pvs.site.pvs_serial)
    for record in caplog.records:
        text = record.getMessage()
        assert default not in text and "SECRET1" not in text
        assert not any(token in text for token in sim.pvs.sessions)


async def test_session_token_never_logged(make_simulator, caplog, client_for):
    sim = await make_simulator(api="varserver", inverters=1)
    client = client_for(sim)
    caplog.set_level(logging.DEBUG)
    await client.read()
    tokens = list(sim.pvs.sessions)
    assert tokens
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert all(token not in logged for token in tokens)
    assert sim.pvs.password not in logged


async def test_varserver_on_a_legacy_pvs_is_a_404(make_simulator, client_for):
    sim = await make_simulator(api="legacy", tls=True, inverters=1)
    client = client_for(sim, password_file=None)
    with pytest.raises(PvsHttpStatusError) as raised:
        await client.read()
    assert raised.value.status == 404


async def wait_for(http: aiohttp.ClientSession, url: str, name: str, want: float) -> str:
    text = ""
    for _ in range(100):
        async with http.get(url) as response:
            text = await response.text()
        values = series(parse_samples(text), name)
        if values and values[0][1] == want:
            return text
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name} never became {want}:\n{text[:3000]}")


async def test_exporter_wrong_password_up_0_reason_auth(make_simulator, make_exporter, http):
    sim = await make_simulator(api="varserver", inverters=1)
    sim.pvs.faults.reject_logins = True
    exporter = await make_exporter([tls_target_for(sim, api="varserver")])
    url = exporter.url + "/metrics"
    text = await wait_for(http, url, "sunpower_pvs_consecutive_poll_failures", 1.0)
    samples = parse_samples(text)
    assert series(samples, "sunpower_pvs_up")[0][1] == 0.0
    failures = {
        labels["reason"]: value
        for labels, value in series(samples, "sunpower_pvs_poll_failures_total")
    }
    assert failures["auth"] >= 1
    assert sum(failures.values()) == failures["auth"]
    assert sim.pvs.password not in text
    # The owner fixes it: the next poll logs in and the target comes up.
    sim.pvs.faults.clear()
    text = await wait_for(http, url, "sunpower_pvs_up", 1.0)
    assert series(parse_samples(text), "sunpower_pvs_ess_state_of_charge_ratio") == []
    async with http.get(exporter.url + "/") as response:
        page = await response.text()
    assert sim.pvs.password not in page
    assert not any(token in page or token in text for token in sim.pvs.sessions)


async def test_a_hanging_variable_costs_its_group_and_delays_the_rest_once(
    make_simulator, make_exporter, http, client_for
):
    """A variable the PVS never answers for: the PVS is busy with it (one request
    at a time), so the groups after it wait for the next poll, which reads them
    first and the hanging group last; then the group is skipped with backoff."""
    sim = await make_simulator(api="varserver", inverters=3)
    sim.pvs.faults.hanging_variables = frozenset({FLASHWEAR_VARIABLE})
    client = client_for(sim)
    client.request_timeout = 1.0
    later = ("meter", "inverter", "livedata", "net")
    snap = await client.read()
    assert snap.supervisor is not None and snap.supervisor.flash_wear_ratio is None
    groups = {group.name: group for group in snap.read_groups}
    assert not groups["flashwear"].ok and groups["flashwear"].failures == 1
    assert groups["info"].ok
    assert all(not groups[name].ok and groups[name].failures == 0 for name in later)
    assert snap.inverters == () and snap.live is None
    sim.pvs.log.clear()
    snap = await client.read()
    assert len(snap.inverters) == 3 and snap.live is not None
    groups = {group.name: group for group in snap.read_groups}
    assert all(groups[name].ok for name in ("info", *later))
    assert groups["flashwear"].failures == 2
    assert raw_targets(sim)[-1] == "/vars?match=/sys/pvs/&fmt=obj&clearcache=spx_flashwear"
    # Failing again: skipped on the next poll, tried again on the one after.
    sim.pvs.log.clear()
    snap = await client.read()
    assert "/vars?fmt=obj&cache=spx_flashwear" not in raw_targets(sim)
    assert "match=/sys/pvs/" not in " ".join(raw_targets(sim))
    assert len(snap.inverters) == 3
    sim.pvs.faults.clear()
    await client.read()
    snap = await client.read()
    assert snap.supervisor is not None and snap.supervisor.flash_wear_ratio is not None
    assert {g.name: g.ok for g in snap.read_groups}["flashwear"]
    # Through the exporter: up 1, the group reported down, everything else there
    # from the second poll on.
    sim.pvs.faults.hanging_variables = frozenset({FLASHWEAR_VARIABLE})
    target = tls_target_for(sim, api="varserver", timeout=4.0)
    exporter = await make_exporter([target])
    samples: dict = {}
    up_by_group: dict[str, float] = {}
    for _ in range(300):
        async with http.get(exporter.url + "/metrics") as response:
            samples = parse_samples(await response.text())
        up_by_group = {
            labels["group"]: value
            for labels, value in series(samples, "sunpower_pvs_varserver_group_up")
        }
        if up_by_group.get("inverter") == 1.0:
            break
        await asyncio.sleep(0.05)
    assert up_by_group["flashwear"] == 0.0 and up_by_group["inverter"] == 1.0
    assert series(samples, "sunpower_pvs_supervisor_flash_wear_ratio") == []
    assert len(series(samples, "sunpower_pvs_inverter_ac_power_watts")) == 3


async def test_inverters_are_back_within_one_poll_after_the_nightly_reboot(
    make_simulator, client_for
):
    sim = await make_simulator(api="varserver", inverters=3, scale=0.0)
    client = client_for(sim)
    assert len((await client.read()).inverters) == 3
    sim.pvs.reboot(inverters_absent_for=3600.0, inverter_return_interval=300.0)
    seen = []
    for step in (60.0, 1800.0, 1800.0, 60.0, 300.0, 300.0, 60.0, 60.0):
        sim.pvs.clock.start += step
        sim.pvs.log.clear()
        snap = await client.read()
        present = len(sim.pvs.state().inverters)
        seen.append((present, len(snap.inverters)))
        # Never more requests than a steady poll (plus the login after the reboot).
        assert len([e for e in sim.pvs.log.entries if e.path == "/vars"]) <= len(PRESENT) + 2
    assert seen == [(0, 0), (0, 0), (1, 1), (1, 1), (2, 2), (3, 3), (3, 3), (3, 3)]
    # Complete again: back to cached reads.
    sim.pvs.log.clear()
    await client.read()
    assert raw_targets(sim) == [f"/vars?fmt=obj&cache=spx_{name}" for name in PRESENT]


async def test_session_is_renewed_before_it_ends(make_simulator, client_for):
    sim = await make_simulator(api="varserver", inverters=1)
    now = [5000.0]
    sim.pvs.session_clock = lambda: now[0]
    client = client_for(sim)
    client.clock = lambda: now[0]
    await client.read()
    token = next(iter(sim.pvs.sessions))
    for _ in range(4):  # 4 polls 60 s apart, then one at 240 s after login
        now[0] += 60.0
        sim.pvs.log.clear()
        await client.read()
    # The fourth poll logged in first: same session, fresh lifetime, no refusal.
    assert names(sim) == ["/auth"] + ["/vars"] * len(PRESENT)
    assert list(sim.pvs.sessions) == [token]
    now[0] += 200.0  # 440 s after the first login: still the same live session
    sim.pvs.log.clear()
    await client.read()
    assert "/auth" not in names(sim)
    assert client.logins == 2 and client.relogins_after_empty_answer == 0


async def test_a_supervisor_answer_without_serial_means_log_in_again(make_simulator, client_for):
    sim = await make_simulator(api="varserver", inverters=2)
    client = client_for(sim)
    await client.read()
    sim.pvs.expire_sessions()
    sim.pvs.faults.unauthorized_status = EXPIRED_EMPTY_200
    sim.pvs.faults.expired_session_body = b"{}"
    sim.pvs.log.clear()
    snap = await client.read()
    # The cached read and the rebuild both say "{}": no serial, so log in
    # again once; then the sets are built afresh.
    assert names(sim)[:4] == ["/vars", "/vars", "/auth", "/vars"]
    assert client.relogins_after_empty_answer == 1
    assert snap.supervisor is not None and len(snap.inverters) == 2
