"""The simulator's varserver side over real HTTPS: login, sessions, /vars forms, faults.

Also drives the vendor's own client, pypvs, against it: if pypvs can log in
and read the site, the simulator speaks the protocol the way a PVS does.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from datetime import UTC

import aiohttp
import pytest
from pypvs.exceptions import PVSAuthenticationError
from pypvs.pvs import PVS

from sunpower_pvs_exporter.simulator import varserver_api
from sunpower_pvs_exporter.simulator.faults import EXPIRED_EMPTY_200, FLASHWEAR_VARIABLE
from sunpower_pvs_exporter.simulator.legacy_api import device_list
from sunpower_pvs_exporter.simulator.server import SimulatorServer
from sunpower_pvs_exporter.simulator.site import Site, SiteConfig
from support import NOON_UTC


def auth(password: str, user: str = "ssm_owner") -> dict[str, str]:
    return {"Authorization": "basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
async def https():
    """A client that trusts nothing but the simulator's own self-signed certificate."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        yield session


def verified(sim: SimulatorServer) -> ssl.SSLContext:
    assert sim.cert_file is not None
    return ssl.create_default_context(cafile=str(sim.cert_file))


async def login(https: aiohttp.ClientSession, sim: SimulatorServer) -> str:
    async with https.get(
        sim.tls_url + "/auth?login", headers=auth(sim.pvs.password), ssl=verified(sim)
    ) as response:
        assert response.status == 200
        token = (await response.json())["session"]
        assert response.cookies["session"].value == token
        assert len(token) == 64
        return str(token)


async def test_login_with_default_password_gives_a_session_cookie(make_simulator, https):
    sim = await make_simulator(api="varserver", inverters=2)
    assert sim.pvs.password == sim.pvs.site.pvs_serial[-5:].upper()
    async with https.get(sim.tls_url + "/vars?match=/sys/info/&fmt=obj", ssl=False) as response:
        assert response.status == 401
    await login(https, sim)
    async with https.get(sim.tls_url + "/vars?match=/sys/info/&fmt=obj", ssl=False) as response:
        assert response.status == 200
        doc = await response.json()
    assert doc["/sys/info/serialnum"] == sim.pvs.site.pvs_serial
    async with https.get(sim.tls_url + "/auth?logout", ssl=False) as response:
        assert response.status == 204
    async with https.get(sim.tls_url + "/vars?match=/sys/info/", ssl=False) as response:
        assert response.status == 401


@pytest.mark.parametrize(
    "headers",
    [auth("WRONG"), auth("", user="ssm_owner"), {"Authorization": "basic !!"}, {}],
)
async def test_bad_credentials_are_401(make_simulator, https, headers):
    sim = await make_simulator(api="varserver", inverters=1)
    async with https.get(sim.tls_url + "/auth?login", headers=headers, ssl=False) as response:
        assert response.status == 401
        assert "session" not in response.cookies
    assert sim.pvs.failed_logins == 1


async def test_reject_logins_fault_and_unauthorized_status(make_simulator, https):
    sim = await make_simulator(api="varserver", inverters=1)
    sim.pvs.faults.reject_logins = True
    async with https.get(
        sim.tls_url + "/auth?login", headers=auth(sim.pvs.password), ssl=False
    ) as response:
        assert response.status == 401
    sim.pvs.faults.clear()
    await login(https, sim)
    sim.pvs.expire_sessions()
    sim.pvs.faults.unauthorized_status = 500
    async with https.get(sim.tls_url + "/vars?match=/sys/info/", ssl=False) as response:
        assert response.status == 500


async def test_session_expires_after_ttl(make_simulator, https):
    sim = await make_simulator(api="varserver", inverters=1)
    sim.pvs.session_ttl = 0.0
    await login(https, sim)
    async with https.get(sim.tls_url + "/vars?name=/sys/info/uptime", ssl=False) as response:
        assert response.status == 401


async def test_vars_query_forms_cache_and_400(make_simulator, https):
    sim = await make_simulator(api="varserver", inverters=3)
    await login(https, sim)
    url = sim.tls_url + "/vars"
    # GET, names, default (values/count) format.
    async with https.get(url + "?name=/sys/info/uptime,/sys/info/model", ssl=False) as response:
        doc = await response.json()
    assert doc["count"] == 2
    assert {v["name"] for v in doc["values"]} == {"/sys/info/uptime", "/sys/info/model"}
    # POST body with several parameters, creating a cache set.
    async with https.post(
        url,
        data="match=/sys/devices/inverter/&fmt=obj&cache=inv",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        ssl=False,
    ) as response:
        created = await response.json()
    assert len([n for n in created if n.endswith("/sn")]) == 3
    assert all(isinstance(v, str) for v in created.values())
    # Re-reading the cache by id alone gives the same set of names.
    async with https.get(url + "?fmt=obj&cache=inv", ssl=False) as response:
        cached = await response.json()
    assert set(cached) == set(created)
    # A match that finds nothing, or an unknown cache id: an empty 200, not 401.
    async with https.get(url + "?match=/sys/devices/ess/", ssl=False) as response:
        assert response.status == 200
        assert await response.json() == {"count": 0, "values": []}
    async with https.get(url + "?fmt=obj&cache=nope", ssl=False) as response:
        assert response.status == 200
        assert await response.json() == {}
    # A name that does not exist: 400, even next to one that does.
    async with https.get(url + "?name=/sys/info/uptime,/sys/nope", ssl=False) as response:
        assert response.status == 400
    # Builds after fcgi_vars's 2024 error-handling change answer 400 for "nothing".
    sim.pvs.empty_result_status = 400
    async with https.get(url + "?fmt=obj&cache=nope", ssl=False) as response:
        assert response.status == 400
    sim.pvs.reboot()
    async with https.get(url + "?fmt=obj&cache=inv", ssl=False) as response:
        assert response.status == 401  # the session went with the reboot


async def test_serial_is_readable_without_a_session(make_simulator, https):
    sim = await make_simulator(api="varserver", inverters=1)
    async with https.get(
        sim.tls_url + "/vars?name=/sys/info/serialnum&fmt=obj", ssl=False
    ) as response:
        assert response.status == 200
        assert (await response.json()) == {"/sys/info/serialnum": sim.pvs.site.pvs_serial}


async def test_firmware_modes_for_device_list_and_supervisor_info(make_simulator, http):
    new = await make_simulator(api="varserver", inverters=1)
    old = await make_simulator(api="legacy", inverters=1)
    async with http.get(new.url + "/cgi-bin/dl_cgi?Command=DeviceList") as response:
        assert response.status == 403
        assert (await response.json())["error"] == "Unauthorized"
    async with http.get(new.url + "/cgi-bin/dl_cgi/supervisor/info") as response:
        info = (await response.json())["supervisor"]
    assert info["BUILD"] >= 61840 and info["MODEL"] == "PVS6"
    async with http.get(old.url + "/cgi-bin/dl_cgi/supervisor/info") as response:
        assert (await response.json())["supervisor"]["BUILD"] < 61840
    async with http.get(old.url + "/vars?match=/sys/") as response:
        assert response.status == 404


def test_variables_render_the_same_site_as_device_list():
    """Pure rendering: both APIs describe one physical state."""
    site = Site(SiteConfig(inverters=2, error_inverters=0, battery_modules=1, tz=UTC), NOON_UTC)
    state = site.state(NOON_UTC)
    names = varserver_api.variables(state, "strip", "00:22:F2:00:00:01")
    legacy = {d["SERIAL"]: d for d in device_list(state, UTC, "strip")["devices"]}
    for index, inv in enumerate(state.inverters):
        assert names[f"/sys/devices/inverter/{index}/sn"] == inv.serial
        assert float(names[f"/sys/devices/inverter/{index}/p3phsumKw"]) == pytest.approx(
            float(legacy[inv.serial]["p_3phsum_kw"])
        )
    assert names["/sys/devices/inverter/0/msmtEps"].endswith("Z")
    assert float(names["/sys/livedata/soc"]) == pytest.approx(state.storage.soc)
    assert "/sys/devices/ess/0/socVal" in names


async def test_pypvs_logs_in_and_reads_the_simulated_site(make_simulator):
    """The vendor library against the simulator (it only speaks https on its own)."""
    sim = await make_simulator(api="varserver", inverters=4, battery_modules=1)
    async with aiohttp.ClientSession() as session:
        pvs = PVS(session=session, host=f"127.0.0.1:{sim.tls_port}", password=sim.pvs.password)
        pvs.update_clients()
        await pvs.discover()
        await pvs.setup()
        data = await pvs.update()
    assert len(data.inverters) == 4
    assert len(data.meters) == 2
    assert len(data.ess) == 1
    assert data.gateway is not None
    assert data.gateway.software_version == sim.pvs.config.software_version
    assert sim.pvs.logins >= 1


async def test_pypvs_wrong_password_is_an_authentication_error(make_simulator):
    sim = await make_simulator(api="varserver", inverters=1)
    async with aiohttp.ClientSession() as session:
        pvs = PVS(session=session, host=f"127.0.0.1:{sim.tls_port}", password="WRONG")
        pvs.update_clients()
        await pvs.discover()
        with pytest.raises(PVSAuthenticationError):
            await pvs.setup()


async def raw_get(sim: SimulatorServer, target: str, cookie: str = "") -> tuple[int, bytes]:
    """One GET with the request target written byte for byte, as a PVS receives it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.tls_port, ssl=verified(sim))
    try:
        head = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        if cookie:
            head += f"Cookie: session={cookie}\r\n"
        writer.write((head + "\r\n").encode())
        data = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


async def test_vars_parameters_are_read_raw_like_fcgi_vars(make_simulator, https):
    sim = await make_simulator(api="varserver", inverters=1)
    token = await login(https, sim)
    # Percent-encoded "=" is part of the name: no such variable.
    status, _ = await raw_get(sim, "/vars?set=/sys/telemetryws/enable%3D1", token)
    assert status == 400
    assert not sim.pvs.telemetry_enabled
    status, body = await raw_get(sim, "/vars?set=/sys/telemetryws/enable=1", token)
    assert status == 200 and json.loads(body) == {"/sys/telemetryws/enable": "1"}
    assert sim.pvs.telemetry_enabled
    assert sim.pvs.log.entries[-1].raw_target == "/vars?set=/sys/telemetryws/enable=1"
    # Encoded names are not names either.
    status, _ = await raw_get(sim, "/vars?name=%2Fsys%2Finfo%2Fuptime", token)
    assert status == 400


async def test_clearcache_rebuilds_a_set_cache_adds_to_it(make_simulator, https):
    sim = await make_simulator(api="varserver", inverters=1)
    await login(https, sim)
    url = sim.tls_url + "/vars"

    async def names_of(query: str) -> set[str]:
        async with https.get(url + query, ssl=False) as response:
            assert response.status == 200
            return set(await response.json())

    assert await names_of("?name=/sys/info/uptime&fmt=obj&cache=s") == {"/sys/info/uptime"}
    assert await names_of("?name=/sys/info/model&fmt=obj&cache=s") == {
        "/sys/info/uptime",
        "/sys/info/model",
    }
    assert await names_of("?name=/sys/info/model&fmt=obj&clearcache=s") == {"/sys/info/model"}
    assert await names_of("?fmt=obj&cache=s") == {"/sys/info/model"}


async def test_sys_info_holds_the_owner_network_as_a_real_pvs6_does(make_simulator, https):
    """A published PVS6 dump lists the hotspot's Wi-Fi key in ``/sys/info/``: so does this."""
    sim = await make_simulator(api="varserver", inverters=1)
    await login(https, sim)
    async with https.get(sim.tls_url + "/vars?match=/sys/info/&fmt=obj", ssl=False) as response:
        everything = await response.json()
    network = sim.pvs.network
    assert everything["/sys/info/wpa_key"] == network.hotspot_key
    assert everything["/sys/info/ssid"] == network.hotspot_ssid
    assert everything["/sys/info/finance_type"] == network.finance_type
    assert len({network.hotspot_key, network.hotspot_ssid, network.finance_type}) == 3
    assert sim.pvs.hotspot_key_reads == 1
    names = "/sys/info/uptime,/sys/info/model"
    async with https.get(sim.tls_url + f"/vars?name={names}&fmt=obj", ssl=False) as response:
        assert set(await response.json()) == {"/sys/info/uptime", "/sys/info/model"}
    assert sim.pvs.hotspot_key_reads == 1  # read by name: the key stays home
    # The home Wi-Fi the PVS joined is in legacy Get_Comm (sta0).
    async with https.get(sim.tls_url + "/cgi-bin/dl_cgi?Command=Get_Comm", ssl=False) as response:
        interfaces = (await response.json())["networkstatus"]["interfaces"]
    assert {i["interface"]: i.get("ssid") for i in interfaces}["sta0"] == network.home_ssid


async def test_a_missing_name_is_400_but_the_set_keeps_the_others(make_simulator, https):
    """fcgi_vars adds each name it finds to the set and answers 400 if one is missing."""
    sim = await make_simulator(api="varserver", inverters=1)
    await login(https, sim)
    url = sim.tls_url + "/vars"
    async with https.get(
        url + "?name=/sys/info/uptime,/sys/info/nope&fmt=obj&clearcache=s", ssl=False
    ) as response:
        assert response.status == 400
    async with https.get(url + "?fmt=obj&cache=s", ssl=False) as response:
        assert set(await response.json()) == {"/sys/info/uptime"}


async def test_sessions_belong_to_the_client_address(make_simulator):
    sim = await make_simulator(api="varserver", inverters=1)
    now = [0.0]
    sim.pvs.session_clock = lambda: now[0]
    jars = aiohttp.CookieJar(unsafe=True), aiohttp.CookieJar(unsafe=True)
    async with (
        aiohttp.ClientSession(cookie_jar=jars[0]) as one,
        aiohttp.ClientSession(cookie_jar=jars[1]) as two,
    ):
        first, second = await login(one, sim), await login(two, sim)
        assert first == second  # same address, same session
        now[0] += 299.0
        async with two.get(sim.tls_url + "/vars?name=/sys/info/uptime", ssl=False) as response:
            assert response.status == 200  # use does not extend it...
        now[0] += 1.0
        async with two.get(sim.tls_url + "/vars?name=/sys/info/uptime", ssl=False) as response:
            assert response.status == 401  # ...300 s after login it is over
        await login(one, sim)
        async with one.get(sim.tls_url + "/auth?logout", ssl=False) as response:
            assert response.status == 204
        # One program's logout is every program's logout.
        async with two.get(sim.tls_url + "/vars?name=/sys/info/uptime", ssl=False) as response:
            assert response.status == 401


async def test_expired_session_empty_200_mode(make_simulator, https):
    sim = await make_simulator(api="varserver", inverters=1)
    sim.pvs.faults.unauthorized_status = EXPIRED_EMPTY_200
    async with https.get(sim.tls_url + "/vars?match=/sys/info/", ssl=False) as response:
        assert response.status == 200
        assert await response.read() == b""


async def test_hanging_variable_holds_only_requests_that_read_it(make_simulator, https):
    sim = await make_simulator(api="varserver", inverters=1)
    sim.pvs.faults.hanging_variables = frozenset({FLASHWEAR_VARIABLE})
    await login(https, sim)
    async with https.get(sim.tls_url + "/vars?match=/sys/info/", ssl=False) as response:
        assert response.status == 200

    async def read_flash_wear() -> bytes:
        async with https.get(sim.tls_url + "/vars?match=/sys/pvs/", ssl=False) as response:
            return await response.read()

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(read_flash_wear(), 0.5)


async def test_nightly_reboot_inverters_return_one_by_one(make_simulator, https):
    sim = await make_simulator(api="varserver", inverters=3, scale=0.0)
    before = sim.pvs.state().supervisor.uptime
    sim.pvs.reboot(inverters_absent_for=3600.0, inverter_return_interval=60.0)
    await login(https, sim)

    async def inverters() -> int:
        async with https.get(sim.tls_url + "/vars?match=/sn&fmt=obj", ssl=False) as response:
            doc = await response.json()
        return len([n for n in doc if n.startswith("/sys/devices/inverter/")])

    assert sim.pvs.state().supervisor.uptime < before
    assert await inverters() == 0
    counts = []
    for step in (1800.0, 1800.0, 60.0, 60.0):
        sim.pvs.clock.start += step
        counts.append(await inverters())
    assert counts == [0, 1, 2, 3]


async def test_pvs5_has_no_telemetry(make_simulator, https):
    sim = await make_simulator(api="varserver", inverters=1, telemetry=False)
    await login(https, sim)
    async with https.get(
        sim.tls_url + "/vars?set=/sys/telemetryws/enable=1", ssl=False
    ) as response:
        assert response.status == 400
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", sim.telemetry_port)
