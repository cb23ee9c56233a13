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
from sunpower_pvs_exporter.pvs.readers import make_reader, password_of
from sunpower_pvs_exporter.pvs.varserver import VarserverClient, default_password
from support import parse_samples, series, tls_target_for


@pytest.fixture(autouse=True)
def no_password_in_environment(monkeypatch):
    """A developer's own SUNPOWER_PVS_PASSWORD must not change what these tests see."""
    monkeypatch.delenv("SUNPOWER_PVS_PASSWORD", raising=False)


def names(sim) -> list[str]:
    return [entry.name for entry in sim.pvs.log.entries]


def client_for(sim, **overrides) -> VarserverClient:
    reader = make_reader(tls_target_for(sim, api="varserver", **overrides))
    assert isinstance(reader, VarserverClient)
    return reader


async def test_first_poll_three_requests_then_one_per_poll(make_simulator):
    sim = await make_simulator(api="varserver", inverters=5)
    client = client_for(sim)
    try:
        snap = await client.read()
        # No password configured: unauthenticated serial read, login, match+cache.
        assert names(sim) == ["/vars", "/auth", "/vars"]
        assert client.password_source == "default"
        assert snap.backend == "varserver"
        assert len(snap.inverters) == 5
        sim.pvs.log.clear()
        for _ in range(3):
            again = await client.read()
        assert names(sim) == ["/vars"] * 3
        assert len(again.inverters) == 5
        assert again.supervisor is not None
        assert again.supervisor.device.serial == sim.pvs.site.pvs_serial
    finally:
        await client.close()
    assert sim.pvs.log.entries[-1].path == "/auth"  # logged out on close
    assert not sim.pvs.sessions


async def test_configured_password_saves_the_serial_request(make_simulator, tmp_path):
    sim = await make_simulator(api="varserver", inverters=1)
    secret = tmp_path / "pvs-password"
    secret.write_text(sim.pvs.password + "\n")
    client = client_for(sim, password_file=str(secret))
    try:
        await client.read()
        assert names(sim) == ["/auth", "/vars"]
        assert client.password_source == "configured"
    finally:
        await client.close()


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


@pytest.mark.parametrize("status", [401, 403, 500])
async def test_expired_session_relogs_in_within_the_same_poll(make_simulator, status):
    sim = await make_simulator(api="varserver", inverters=2)
    client = client_for(sim)
    try:
        await client.read()
        sim.pvs.expire_sessions()
        sim.pvs.faults.unauthorized_status = status
        sim.pvs.log.clear()
        snap = await client.read()  # no exception: the poll is not lost
        assert names(sim) == ["/vars", "/auth", "/vars"]
        assert len(snap.inverters) == 2
        assert client.logins == 2
        assert client.auth_failures == 0
    finally:
        await client.close()


async def test_reboot_forgets_the_cache_and_the_client_rebuilds_it(make_simulator):
    sim = await make_simulator(api="varserver", inverters=2)
    client = client_for(sim)
    try:
        await client.read()
        sim.pvs.reboot()
        sim.pvs.log.clear()
        snap = await client.read()
        # Session gone (401) -> login -> cache gone (400) -> match+cache again.
        assert names(sim) == ["/vars", "/auth", "/vars", "/vars"]
        assert len(snap.inverters) == 2
        sim.pvs.log.clear()
        await client.read()
        assert names(sim) == ["/vars"]
    finally:
        await client.close()


async def test_wrong_password_is_an_auth_error_that_names_no_secret(make_simulator, caplog):
    sim = await make_simulator(api="varserver", inverters=1)
    sim.pvs.password_override = "SECRET1"
    client = client_for(sim)
    caplog.set_level(logging.DEBUG)
    try:
        with pytest.raises(PvsAuthError) as raised:
            await client.read()
        assert "default password" in raised.value.message
        assert client.auth_failures == 1
        # The default-password hint is logged once, loudly.
        assert any(
            "DEFAULT password" in r.getMessage() and r.levelno == logging.ERROR
            for r in caplog.records
        )
        with pytest.raises(PvsAuthError):
            await client.read()
        hints = [r for r in caplog.records if "DEFAULT password" in r.getMessage()]
        assert len(hints) == 1
    finally:
        await client.close()
    default = default_password(sim.pvs.site.pvs_serial)
    for record in caplog.records:
        text = record.getMessage()
        assert default not in text and "SECRET1" not in text
        assert not any(token in text for token in sim.pvs.sessions)


async def test_session_token_never_logged(make_simulator, caplog):
    sim = await make_simulator(api="varserver", inverters=1)
    client = client_for(sim)
    caplog.set_level(logging.DEBUG)
    try:
        await client.read()
        tokens = list(sim.pvs.sessions)
        assert tokens
    finally:
        await client.close()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert all(token not in logged for token in tokens)
    assert sim.pvs.password not in logged


async def test_varserver_on_a_legacy_pvs_is_a_404(make_simulator):
    sim = await make_simulator(api="legacy", tls=True, inverters=1)
    client = client_for(sim, password_file=None)
    try:
        with pytest.raises(PvsHttpStatusError) as raised:
            await client.read()
        assert raised.value.status == 404
    finally:
        await client.close()


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
