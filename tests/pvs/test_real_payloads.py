"""Every payload of real units that others published (``../shared/real-payloads``),
replayed through the readers a poll uses, and what each must give.

The files are read where they are, at test time, never copied into the
project (their SOURCES.md says where each came from). DeviceLists (and the
DeviceList fragments) are served over HTTP by the simulator's replay and
read by a running exporter; so are a whole varserver dump, a flat meter
dump, a login answer, ``Get_Comm`` and ``GridProfileGet``. The rest go
through the same pure readers the clients hand their answers to
(``answer_variables`` + ``parse_variables``, ``parse_supervisor_info``,
``merge_telemetry``, ``parse_comm``, ``parse_grid_profile``).

``test_every_file_is_covered`` fails when a file is added to the folder and
not to one of the tables below. Without the folder the tests skip loudly,
and fail in CI (``SUNPOWER_PVS_REQUIRE_E2E=1``).
"""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sunpower_pvs_exporter.pvs.detect import backend_for, parse_supervisor_info
from sunpower_pvs_exporter.pvs.legacy_parse import parse_comm, parse_grid_profile
from sunpower_pvs_exporter.pvs.telemetry import merge_telemetry
from sunpower_pvs_exporter.pvs.transport import decode_json
from sunpower_pvs_exporter.pvs.varserver import VarserverClient
from sunpower_pvs_exporter.pvs.varserver_parse import answer_variables, parse_variables
from sunpower_pvs_exporter.simulator.replay import ReplayPvs, ReplayServer
from support import Samples, parse_samples, series, skip_loudly, target_for, tls_target_for

# ../shared/real-payloads beside the repository (tests/pvs/ -> repo root -> ..).
PAYLOADS = (Path(__file__).resolve().parents[2] / ".." / "shared" / "real-payloads").resolve()

# The corpus, by the reader each file goes through.
DEVICE_LISTS = (
    "devicelist.apara-solar.1.json",
    "devicelist.esphome-sunpower.1.json",
    "devicelist.gino-notes.1.json",
    "devicelist.steveturbek.1.json",
    "devicelist.sungazer.1.json",
    "fixtures/device_list.json",
    "fixtures/device_list.error.json",
    "fixtures/device_list.ha-esunpower-2025.json",
    "fixtures/device_list.hass-sunpower-2024.json",
    "fixtures/device_list.hostile.json",
)
# One device object each, cut from a DeviceList: served as a list of one.
DEVICE_FRAGMENTS = ("other.ehampshire.1.json", "other.ehampshire.2.json")
# Not JSON as published (an elided "..."): the poll that gets one is up 0.
NOT_JSON = {
    "devicelist.jrconlin-sunpower_hass.1.json": "legacy",
    "varserver.pypvs-localapi.8.json": "varserver",
}
# varserver answers: flat (fmt=obj), values list, nested per-device objects.
VARSERVER_DUMPS = (
    "varserver.ksmooove.1.json",
    "varserver.ksmooove.2.json",
    "varserver.ksmooove.3.json",
    "varserver.pypvs-localapi.1.json",
    "varserver.pypvs-localapi.3.json",
    "varserver.pypvs-localapi.4.json",
    "varserver.pypvs-localapi.5.json",
    "varserver.pypvs-localapi.6.json",
    "varserver.pypvs-localapi.7.json",
    "varserver.steveturbek.1.json",
    "fixtures/varserver.pypvs-samples.json",
)
SUPERVISOR_INFOS = {
    "other.ksmooove.1.json": ("varserver", 61846),
    "other.sungazer.1.json": ("legacy", 61839),
    "fixtures/start.json": ("legacy", 4150),
}
COMM = ("other.sungazer.2.json", "fixtures/get_comm.json")
GRID_PROFILES = ("other.sungazer.3.json", "fixtures/grid_profile.json")
# Answers tested over HTTP inside other tests of this module.
LOGIN = "other.pypvs-localapi.1.json"
TELEMETRY_ENABLE = "varserver.pypvs-localapi.2.json"
TELEMETRY = "telemetry.pvs-recorder.1.json"
# ``Command=Stop``: never sent by the exporter; served as a DeviceList it is
# not one, and the poll says so.
STOP = "fixtures/stop.json"

COVERED = {
    *DEVICE_LISTS,
    *DEVICE_FRAGMENTS,
    *NOT_JSON,
    *VARSERVER_DUMPS,
    *SUPERVISOR_INFOS,
    *COMM,
    *GRID_PROFILES,
    LOGIN,
    TELEMETRY_ENABLE,
    TELEMETRY,
    STOP,
}

# A poll merges the supervisor's info group with every other group; a dump of
# one group alone gets this stand-in for it (no value of it is checked).
STAND_IN_INFO = {"/sys/info/serialnum": "ZTSTANDIN0000000", "/sys/info/model": "PVS6"}


def corpus() -> Path:
    if not PAYLOADS.is_dir():
        skip_loudly(
            f"{PAYLOADS} is absent, so no payload of a real unit was replayed",
            "check the repository out beside shared/ (../shared/real-payloads)",
        )
    return PAYLOADS


def raw(name: str) -> bytes:
    return (corpus() / name).read_bytes()


def load(name: str) -> Any:
    return json.loads(raw(name))


def test_every_file_is_covered():
    """A file added to the folder fails here until a test reads it."""
    files = {
        str(path.relative_to(corpus()))
        for path in corpus().rglob("*")
        if path.is_file() and path.suffix != ".md"
    }
    assert files, "the corpus is empty"
    assert files - COVERED == set(), "real payloads no test reads"
    assert COVERED - files == set(), "tests name payloads that are gone"


# --- helpers: replaying a file over HTTP ---------------------------------------------


def exchange(target: str, name: str | None = None, body: Any = None) -> dict[str, Any]:
    """One recorded answer: a file's bytes as published, or a JSON body."""
    entry: dict[str, Any] = {"method": "GET", "target": target, "status": 200}
    if name is not None:
        entry["body_text"] = raw(name).decode("utf-8")
    else:
        entry["body"] = body
    return entry


def capture(*exchanges: dict[str, Any], api: str = "legacy") -> dict[str, Any]:
    return {
        "format": "sunpower-pvs-capture",
        "format_version": 1,
        "target": {"api": api, "use_tls": api == "varserver"},
        "exchanges": list(exchanges),
    }


@pytest.fixture
async def replay() -> Any:
    """``server = await replay(capture_doc)``: a replaying PVS on 127.0.0.1."""
    servers: list[ReplayServer] = []

    async def start(doc: dict[str, Any]) -> ReplayServer:
        server = ReplayServer(ReplayPvs.from_document(doc))
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


async def scrape_after_first_poll(
    http: aiohttp.ClientSession, exporter: Any, tries: int = 200
) -> Samples:
    """``/metrics`` once the first poll has ended, well or badly (bounded)."""
    poller = exporter.state.pollers["site"]
    for _ in range(tries):
        status = poller.status()
        if status.up or status.last_error:
            async with http.get(exporter.url + "/metrics") as response:
                return parse_samples(await response.text())
        await asyncio.sleep(0.05)
    raise AssertionError("the exporter never finished a poll")


def kilo(value: object) -> float | None:
    """A payload's kW/kWh value x 1000, computed here (not by the exporter's code)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    return number * 1000 if math.isfinite(number) else None


def distinct_entries(devices: list[Any]) -> list[dict[str, Any]]:
    """The devices of a DeviceList, an entry listed twice counted once."""
    out: list[dict[str, Any]] = []
    for entry in devices:
        if isinstance(entry, dict) and entry not in out:
            out.append(entry)
    return out


def exported(samples: Samples, name: str) -> list[float]:
    return sorted(v for _, v in series(samples, name) if not math.isnan(v))


def expected(entries: list[dict[str, Any]], device_type: str, key: str) -> list[float]:
    values = (kilo(e.get(key)) for e in entries if e.get("DEVICE_TYPE") == device_type)
    return sorted(v for v in values if v is not None)


# --- DeviceList (legacy) over HTTP ----------------------------------------------------


def device_list_doc(name: str) -> dict[str, Any]:
    doc = load(name)
    return {"result": "succeed", "devices": [doc]} if name in DEVICE_FRAGMENTS else doc


async def poll_device_list(
    name: str, replay: Any, make_exporter: Any, http: aiohttp.ClientSession
) -> Samples:
    """Serve ``name`` as the PVS's DeviceList (its own bytes unless a fragment)."""
    if name in DEVICE_FRAGMENTS:
        answer = exchange("/cgi-bin/dl_cgi?Command=DeviceList", body=device_list_doc(name))
    else:
        answer = exchange("/cgi-bin/dl_cgi?Command=DeviceList", name)
    server = await replay(capture(answer))
    exporter = await make_exporter([target_for(server, api="legacy", max_age=600.0)])
    samples = await scrape_after_first_poll(http, exporter)
    status = exporter.state.pollers["site"].status()
    assert status.up, f"{name}: {status.last_error}"
    return samples


@pytest.mark.parametrize("name", DEVICE_LISTS + DEVICE_FRAGMENTS)
async def test_device_list_exports_every_device_once_with_its_power(
    name, replay, make_exporter, http
):
    entries = distinct_entries(device_list_doc(name)["devices"])
    samples = await poll_device_list(name, replay, make_exporter, http)
    assert series(samples, "sunpower_pvs_up") == [({"target": "site"}, 1.0)]

    # Every device once (parse_samples refuses a duplicate series).
    states = series(samples, "sunpower_pvs_device_state")
    assert len(states) == len(entries)
    assert len({labels["device_id"] for labels, _ in states}) == len(entries)
    types = sorted(labels["device_type"] for labels, _ in states)
    assert types == sorted(str(e.get("DEVICE_TYPE", "")) for e in entries)

    # Each inverter's and meter's power: the payload's kW x 1000.
    assert exported(samples, "sunpower_pvs_inverter_ac_power_watts") == pytest.approx(
        expected(entries, "Inverter", "p_3phsum_kw")
    )
    assert exported(samples, "sunpower_pvs_power_meter_average_real_power_watts") == (
        pytest.approx(expected(entries, "Power Meter", "p_3phsum_kw"))
    )
    # "Lifetime" net energy, negative on net exporters: kept as read, in a gauge.
    assert exported(samples, "sunpower_pvs_power_meter_net_energy_watt_hours") == pytest.approx(
        expected(entries, "Power Meter", "net_ltea_3phsum_kwh")
    )


NEGATIVE_NET_ENERGY = {
    "devicelist.apara-solar.1.json": -293690.0,
    "devicelist.gino-notes.1.json": -65650.0,
    "devicelist.sungazer.1.json": -3947550.0,
    "other.ehampshire.1.json": -640390.0,
}


@pytest.mark.parametrize(("name", "watt_hours"), sorted(NEGATIVE_NET_ENERGY.items()))
async def test_negative_lifetime_net_energy_is_a_gauge(
    name, watt_hours, replay, make_exporter, http
):
    samples = await poll_device_list(name, replay, make_exporter, http)
    values = exported(samples, "sunpower_pvs_power_meter_net_energy_watt_hours")
    assert any(v == pytest.approx(watt_hours, abs=0.01) for v in values)
    assert not any(n.startswith("sunpower_pvs_power_meter_net_energy") and "total" in n
                   for n, _ in samples)  # fmt: skip


async def test_the_supervisor_listed_last_is_found(replay, make_exporter, http):
    """PVS5 "5.0.0, Build 325" lists the PVS last and ISDETAIL as "1", no panid (L1-L3)."""
    doc = load("devicelist.apara-solar.1.json")
    assert doc["devices"][-1]["DEVICE_TYPE"] == "PVS" and next(iter(doc)) == "result"
    samples = await poll_device_list("devicelist.apara-solar.1.json", replay, make_exporter, http)
    (uptime,) = series(samples, "sunpower_pvs_supervisor_uptime_seconds_total")
    assert uptime[0]["device_id"] == doc["devices"][-1]["SERIAL"]
    assert uptime[1] == float(doc["devices"][-1]["dl_uptime"])


async def test_storage_side_devices_have_no_report_time(replay, make_exporter, http):
    """Gateway, Storage Inverter, ESS BMS, Battery and the ESS carry no DATATIME (L14)."""
    samples = await poll_device_list("devicelist.sungazer.1.json", replay, make_exporter, http)
    reported = {
        labels["device_type"]
        for labels, _ in series(samples, "sunpower_pvs_device_last_report_timestamp_seconds")
    }
    storage_side = {"Gateway", "Storage Inverter", "ESS BMS", "Battery", "Energy Storage System"}
    assert reported & storage_side == set()
    assert "PV Disconnect" in reported and "Inverter" in reported
    states = {
        labels["device_type"]: v for labels, v in series(samples, "sunpower_pvs_device_state")
    }
    assert all(states[t] == 0.0 for t in storage_side)


async def test_pv_disconnect_relays_and_voltages(replay, make_exporter, http):
    doc = load("devicelist.sungazer.1.json")
    (pvd,) = (d for d in doc["devices"] if d["DEVICE_TYPE"] == "PV Disconnect")
    samples = await poll_device_list("devicelist.sungazer.1.json", replay, make_exporter, http)
    states = {
        labels["relay"]: v
        for labels, v in series(samples, "sunpower_pvs_pv_disconnect_relay_state")
    }
    assert states == {"1": float(pvd["relay1_state"]), "2": float(pvd["relay2_state"])}
    volts = {
        (labels["side"], labels["phase"]): v
        for labels, v in series(samples, "sunpower_pvs_pv_disconnect_phase_voltage_volts")
    }
    assert volts == {
        ("grid", "L1"): float(pvd["v1n_grid_v"]),
        ("grid", "L2"): float(pvd["v2n_grid_v"]),
        ("pv", "L1"): float(pvd["v1n_pv_v"]),
        ("pv", "L2"): float(pvd["v2n_pv_v"]),
    }


async def test_get_comm_and_grid_profile_over_http(replay, make_exporter, http):
    server = await replay(
        capture(
            exchange("/cgi-bin/dl_cgi?Command=DeviceList", "devicelist.sungazer.1.json"),
            exchange("/cgi-bin/dl_cgi?Command=Get_Comm", "other.sungazer.2.json"),
            exchange("/cgi-bin/dl_cgi?Command=GridProfileGet", "other.sungazer.3.json"),
        )
    )
    exporter = await make_exporter([target_for(server, api="legacy", max_age=600.0)])
    samples = await scrape_after_first_poll(http, exporter)
    interfaces = {
        labels["interface"]
        for labels, _ in series(samples, "sunpower_pvs_communication_interface_info")
    }
    # sta0's signal is a string, cell's a number (O2): both interfaces are read.
    assert interfaces == {"wan", "plc", "sta0", "cell"}
    (profile,) = series(samples, "sunpower_pvs_grid_profile_info")
    assert profile[0]["name"] == "IEEE-1547a-2014 + 2020 CA Rule21"
    assert profile[0]["percent"] == "100"


async def test_a_stop_answer_is_no_device_list(replay, make_exporter, http):
    server = await replay(capture(exchange("/cgi-bin/dl_cgi?Command=DeviceList", STOP)))
    exporter = await make_exporter([target_for(server, api="legacy")])
    samples = await scrape_after_first_poll(http, exporter)
    assert series(samples, "sunpower_pvs_up") == [({"target": "site"}, 0.0)]
    status = exporter.state.pollers["site"].status()
    assert "'devices' is missing" in status.last_error


# --- payloads that are not JSON as published --------------------------------------------


async def test_elided_device_list_is_up_0_with_its_reason(replay, make_exporter, http):
    name = "devicelist.jrconlin-sunpower_hass.1.json"
    assert b"..." in raw(name)
    server = await replay(capture(exchange("/cgi-bin/dl_cgi?Command=DeviceList", name)))
    exporter = await make_exporter([target_for(server, api="legacy")])
    samples = await scrape_after_first_poll(http, exporter)
    assert series(samples, "sunpower_pvs_up") == [({"target": "site"}, 0.0)]
    failures = dict(
        (labels["reason"], v) for labels, v in series(samples, "sunpower_pvs_poll_failures_total")
    )
    assert failures["invalid_payload"] >= 1
    status = exporter.state.pollers["site"].status()
    assert status.last_error_reason == "invalid_payload"
    assert "DeviceList: response is not valid JSON" in status.last_error


async def test_elided_varserver_answer_costs_its_group_with_its_reason(replay, client_for, caplog):
    """The elided inverter dump, as the answer to the inverter group: that group
    fails (invalid JSON, logged), the rest of the poll is read."""
    name = "varserver.pypvs-localapi.8.json"
    server = await replay(
        capture(
            exchange("/auth?login", LOGIN),
            exchange("/vars?match=/sys/info/&fmt=obj", body=STAND_IN_INFO),
            exchange("/vars?match=/sys/devices/inverter/&fmt=obj&clearcache=x", name),
            api="varserver",
        )
    )
    client = client_for(server)
    with caplog.at_level("WARNING"):
        snapshot = await client.read()
    groups = {g.name: g for g in snapshot.read_groups}
    assert groups["inverter"].ok is False and groups["inverter"].failures == 1
    assert groups["info"].ok is True and snapshot.inverters == ()
    assert "group inverter failed (invalid_payload)" in caplog.text
    assert "not valid JSON" in caplog.text
    with pytest.raises(Exception, match="not valid JSON"):
        decode_json(raw(name), name)


# --- varserver --------------------------------------------------------------------------


def read_dump(name: str) -> Any:
    """A dump as one poll reads it: its variables, merged with the info group."""
    doc = decode_json(raw(name), name)
    found = answer_variables(doc)
    assert found, f"{name}: no variables read"
    return parse_variables({**STAND_IN_INFO, **found}, fetched_at=0.0), found


def families(found: dict[str, Any], family: str) -> dict[str, dict[str, Any]]:
    """Devices of one family by index, computed here from the flat names."""
    out: dict[str, dict[str, Any]] = {}
    prefix = f"/sys/devices/{family}/"
    for name, value in found.items():
        if name.startswith(prefix):
            index, _, field = name[len(prefix) :].partition("/")
            out.setdefault(index, {})[field] = value
    return out


@pytest.mark.parametrize("name", VARSERVER_DUMPS)
def test_varserver_dump_gives_every_device_once_with_its_power(name):
    snapshot, found = read_dump(name)
    for family, items, key in (
        ("inverter", snapshot.inverters, "p3phsumKw"),
        ("meter", snapshot.meters, "p3phsumKw"),
        ("ess", snapshot.storage, "p3phsumKw"),
    ):
        devices = families(found, family)
        assert len(items) == len(devices), family
        assert len({i.device.serial for i in items}) == len(items), family
        power = sorted(v for d in devices.values() if (v := kilo(d.get(key))) is not None)
        got = sorted(
            i.power_watts if family == "ess" else i.ac_power_watts if family == "inverter"
            else i.real_power_watts
            for i in items
        )  # fmt: skip
        assert got == pytest.approx(power), family
    live = found.get("/sys/livedata/pv_p")
    if live is not None:
        assert snapshot.live is not None
        assert snapshot.live.pv_power_watts == pytest.approx(kilo(live))


def test_nested_and_list_shapes_are_read():
    snapshot, _ = read_dump("varserver.pypvs-localapi.7.json")  # nested objects, ids 11/12
    assert sorted(m.mode for m in snapshot.meters) == ["consumption", "production"]
    (consumption,) = (m for m in snapshot.meters if m.mode == "consumption")
    assert consumption.ct_rated_current_amperes == 300
    assert consumption.net_energy_watt_hours == pytest.approx(6121360.0)
    found = answer_variables(load("varserver.pypvs-localapi.3.json"))  # values list
    assert found["/sys/info/hwrev"] == "6.03"
    assert found == answer_variables(load("varserver.pypvs-localapi.4.json")) | {
        k: v for k, v in found.items() if k not in load("varserver.pypvs-localapi.4.json")
    }


@pytest.mark.parametrize(
    ("name", "grid_wh", "battery_wh"),
    [
        ("varserver.ksmooove.2.json", -713510.01, None),
        ("varserver.pypvs-localapi.5.json", 6121310.059, -490477.997),
        ("varserver.pypvs-localapi.6.json", 6121330.078, -490463.989),
    ],
)
def test_negative_lifetime_net_and_battery_energy_are_read_as_gauges(name, grid_wh, battery_wh):
    snapshot, _ = read_dump(name)
    assert snapshot.live is not None
    assert snapshot.live.grid_energy_watt_hours == pytest.approx(grid_wh)
    assert snapshot.live.battery_energy_watt_hours == (
        None if battery_wh is None else pytest.approx(battery_wh)
    )


def test_redacted_dump_with_one_serial_for_eleven_inverters_keeps_twelve():
    snapshot, found = read_dump("varserver.steveturbek.1.json")
    sns = [d["sn"] for d in families(found, "inverter").values()]
    assert len(sns) == 12 and sns.count("E00123456789") == 11
    ids = [i.device.serial for i in snapshot.inverters]
    assert len(ids) == len(set(ids)) == 12
    assert all(i.device.description.endswith(i.device.serial.split("#")[0])
               for i in snapshot.inverters)  # fmt: skip
    # Flash past its rated life (0x0b), as read.
    sup = snapshot.supervisor
    assert sup is not None and sup.flash_wear_ratio == pytest.approx(1.1)


async def test_whole_varserver_dump_over_http(replay, client_for, make_exporter, http):
    """The 223-variable dump served by the replay; the vendor's login answer (with
    its space before the brace) logs in; the exporter's /metrics has no duplicate."""
    login = load(LOGIN)
    server = await replay(
        capture(
            exchange("/auth?login", LOGIN),
            exchange("/vars?match=/sys/&fmt=obj", body=load("varserver.steveturbek.1.json")),
            api="varserver",
        )
    )
    client = client_for(server)
    snapshot = await client.read()
    assert client.logins == 1
    cookies = {c.key: c.value for c in client.transport.session.cookie_jar}
    assert cookies["session"] == login["session"]
    assert len(snapshot.inverters) == 12 and len(snapshot.meters) == 2

    exporter = await make_exporter(
        [tls_target_for(server, api="varserver", max_age=600.0, poll_interval=60.0)]
    )
    samples = await scrape_after_first_poll(http, exporter)
    assert series(samples, "sunpower_pvs_up") == [({"target": "site"}, 1.0)]
    inverters = series(samples, "sunpower_pvs_inverter_ac_power_watts")
    assert len(inverters) == 12
    # The dump's hotspot key (as its publisher redacted it) and SSID go nowhere.
    dump = load("varserver.steveturbek.1.json")
    for path in ("/metrics", "/"):
        async with http.get(exporter.url + path) as response:
            text = await response.text()
        assert dump["/sys/info/wpa_key"] not in text and dump["/sys/info/ssid"] not in text
    devices = families(load("varserver.steveturbek.1.json"), "inverter")
    assert sorted(v for _, v in inverters) == pytest.approx(
        sorted(kilo(d["p3phsumKw"]) for d in devices.values())
    )


async def test_flat_meter_dump_over_http(replay, client_for):
    """61846's flat ``match=meter`` dump, both meters redacted to one serial."""
    name = "varserver.ksmooove.3.json"
    server = await replay(
        capture(
            exchange("/auth?login", LOGIN),
            exchange("/vars?match=/sys/info/&fmt=obj", body=STAND_IN_INFO),
            exchange("/vars?match=/sys/devices/meter/&fmt=obj", body=load(name)),
            api="varserver",
        )
    )
    snapshot = await client_for(server).read()
    assert sorted(m.mode for m in snapshot.meters) == ["consumption", "production"]
    assert len({m.device.serial for m in snapshot.meters}) == 2
    devices = families(load(name), "meter")
    assert sorted(m.real_power_watts for m in snapshot.meters) == pytest.approx(
        sorted(kilo(d["p3phsumKw"]) for d in devices.values())
    )


async def test_telemetry_enable_answer_over_http(replay, client_for):
    server = await replay(
        capture(
            exchange("/auth?login", LOGIN),
            exchange("/vars?match=/sys/info/&fmt=obj", body=STAND_IN_INFO),
            exchange("/vars?set=/sys/telemetryws/enable=1", TELEMETRY_ENABLE),
            api="varserver",
        )
    )
    client: VarserverClient = client_for(server)
    await client.enable_telemetry()  # the vendor's answer is accepted
    assert server.pvs.unmatched == []


# --- other endpoints ------------------------------------------------------------------


@pytest.mark.parametrize(("name", "api_and_build"), sorted(SUPERVISOR_INFOS.items()))
def test_supervisor_info_names_the_api(name, api_and_build):
    info = parse_supervisor_info(load(name))
    assert info is not None
    api, build = api_and_build
    assert info.build == build
    assert backend_for(info)[0] == api


@pytest.mark.parametrize("name", COMM)
def test_get_comm_lists_every_interface(name):
    doc = load(name)
    interfaces = parse_comm(doc)
    listed = [i["interface"] for i in doc["networkstatus"]["interfaces"]]
    assert [i.name for i in interfaces] == list(dict.fromkeys(listed))


@pytest.mark.parametrize("name", GRID_PROFILES)
def test_grid_profile_is_read(name):
    doc = load(name)
    profile = parse_grid_profile(doc)
    assert (profile.id, profile.name) == (doc["active_id"], doc["active_name"])


def test_telemetry_message_gives_site_power():
    message = load(TELEMETRY)
    live = merge_telemetry(None, message)
    assert live is not None
    params = message["params"]
    assert live.pv_power_watts == pytest.approx(params["pv_p"] * 1000)
    assert live.grid_power_watts == pytest.approx(params["net_p"] * 1000)
    assert live.load_power_watts == pytest.approx(params["site_load_p"] * 1000)
    assert live.time == params["time"]
    # No battery on this site: no battery reading, not a zero.
    assert live.battery_power_watts is None
