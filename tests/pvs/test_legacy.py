"""The legacy client over real HTTP(S) to the simulator: TLS, CA verification, errors."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sunpower_pvs_exporter.pvs.errors import PvsAuthError, PvsConnectionError
from sunpower_pvs_exporter.pvs.legacy import LegacyClient
from sunpower_pvs_exporter.simulator.server import self_signed_certificate
from support import read_once, target_for, tls_target_for


async def test_https_with_the_pvs_self_signed_certificate(make_simulator):
    sim = await make_simulator(api="legacy", tls=True, inverters=2)
    target = target_for(sim, port=sim.tls_port, use_tls=True)
    snapshot = await read_once(target)
    assert len(snapshot.inverters) == 2
    assert sim.pvs.log.count("DeviceList") == 1


@pytest.fixture
def other_ca(tmp_path: Path) -> Path:
    """A self-signed certificate the simulator's is not signed by."""
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=someone-else",
            "-keyout",
            str(tmp_path / "key.pem"),
            "-out",
            str(tmp_path / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    return tmp_path / "cert.pem"


async def test_tls_ca_file_verifies_the_certificate(make_simulator, other_ca: Path):
    sim = await make_simulator(api="legacy", tls=True, inverters=1)
    cert, _key = self_signed_certificate()
    trusted = target_for(sim, port=sim.tls_port, use_tls=True, tls_ca_file=str(cert))
    assert len((await read_once(trusted)).inverters) == 1

    # Any other CA: the handshake fails and nothing is read.
    untrusted = target_for(sim, port=sim.tls_port, use_tls=True, tls_ca_file=str(other_ca))
    before = sim.pvs.log.count("DeviceList")
    with pytest.raises(PvsConnectionError) as exc:
        await read_once(untrusted)
    assert "certificate" in exc.value.message.lower() or "ssl" in exc.value.message.lower()
    assert sim.pvs.log.count("DeviceList") == before


async def test_new_firmware_403_says_which_api_to_use(make_simulator):
    sim = await make_simulator(api="varserver", inverters=1)
    with pytest.raises(PvsAuthError) as exc:
        await read_once(target_for(sim, api="legacy"))
    assert exc.value.reason == "auth"
    assert "varserver" in exc.value.message


async def test_no_session_is_held_between_legacy_polls(make_simulator):
    """A fleet kept an aiohttp session, connector and cookie jar per target between
    polls a minute apart, whose keep-alive connection had closed by then anyway."""
    from sunpower_pvs_exporter.runtime import make_reader

    sim = await make_simulator(api="legacy", inverters=2)
    reader = make_reader(target_for(sim))
    assert isinstance(reader, LegacyClient)
    try:
        for polls in (1, 2):
            snapshot = await reader.read()
            assert len(snapshot.inverters) == 2
            assert sim.pvs.log.count("DeviceList") == polls
            assert not reader.transport.session_open
    finally:
        await reader.close()


async def test_a_session_holding_a_login_cookie_is_kept(make_simulator):
    """varserver logs in once per session: releasing it would log in at every poll."""
    from sunpower_pvs_exporter.runtime import make_varserver

    sim = await make_simulator(api="varserver", inverters=1)
    client = make_varserver(tls_target_for(sim, api="varserver"))
    try:
        await client.read()
        await client.transport.release_idle()
        assert client.transport.session_open
        await client.read()
        assert sim.pvs.log.count("/auth") == 1
    finally:
        await client.close()
