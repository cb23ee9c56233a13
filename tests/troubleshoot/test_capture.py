"""``capture``: anonymised, and a replay of it scrapes like the PVS it was made from.

The simulator's clock is frozen (``scale=0``) so the site answers the same
thing to every read: then the only difference between scraping the
simulator and scraping the replayed capture can be the anonymised values.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sunpower_pvs_exporter.cli.entry import main
from sunpower_pvs_exporter.config import ExporterConfig, TargetConfig
from sunpower_pvs_exporter.metrics.catalog import DEVICE_METRICS
from sunpower_pvs_exporter.pvs.errors import PvsPayloadError
from sunpower_pvs_exporter.pvs.recording import Exchange
from sunpower_pvs_exporter.runtime import ExporterState
from sunpower_pvs_exporter.simulator import legacy_api, varserver_api
from sunpower_pvs_exporter.simulator.demo import DemoSite
from sunpower_pvs_exporter.simulator.server import SimulatorServer
from sunpower_pvs_exporter.troubleshoot.anonymise import Anonymiser
from sunpower_pvs_exporter.troubleshoot.capture import build_capture, capture_text
from sunpower_pvs_exporter.troubleshoot.recorded_poll import PollOutcome, poll_once
from sunpower_pvs_exporter.web.server import ExporterServer
from support import NOON_UTC, pollers_for, target_for, tls_target_for


@pytest.fixture(autouse=True)
def no_password_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUNPOWER_PVS_PASSWORD", raising=False)


def site_secrets(sim: SimulatorServer) -> dict[str, str]:
    """Every identifier of the simulated site, read from the simulator's own state."""
    site = sim.pvs.site
    state = sim.pvs.state()
    found: dict[str, str] = {"password": sim.pvs.password, "pvs serial": site.pvs_serial}
    for inv in site.inverters:
        found[f"inverter {inv.serial}"] = inv.serial
        found[f"module {inv.module_serial}"] = inv.module_serial
    for name in ("production_serial", "consumption_serial"):
        found[name] = getattr(site, name)
    if sim.pvs.config.battery_modules:
        for name in ("ess_serial", "hub_serial", "mio_serial"):
            found[name] = getattr(site, name)
        for serial in site.module_serials:
            found[f"battery {serial}"] = serial
    if sim.pvs.api != "legacy":
        names = varserver_api.variables(state, "strip", sim.pvs.mac)
        found["mac"] = names["/sys/info/lmac"]
        found["ssid"] = names["/sys/info/ssid"]
    for interface in legacy_api.get_comm(state)["networkstatus"]["interfaces"]:
        if interface.get("ipaddr"):
            found[f"ip {interface['ipaddr']}"] = interface["ipaddr"]
    for token in sim.pvs.sessions:
        found["session cookie"] = token
    return found


async def capture_of(target: TargetConfig) -> tuple[dict[str, Any], Anonymiser, str]:
    outcome = await poll_once(target)
    assert outcome.ok, outcome.error
    doc, anonymiser = build_capture(outcome)
    return doc, anonymiser, capture_text(doc)


@pytest.mark.parametrize("api", ["legacy", "varserver"])
async def test_no_identifier_of_the_site_is_in_the_capture(make_simulator, api):
    sim = await make_simulator(api=api, inverters=8, battery_modules=2, scale=0.0)
    target = target_for(sim, api="legacy") if api == "legacy" else tls_target_for(sim)
    doc, _anonymiser, text = await capture_of(target)
    found = site_secrets(sim)
    if api == "varserver":
        assert {"mac", "ssid", "session cookie"} <= set(found)
    else:
        assert any(k.startswith("ip ") for k in found)
    for what, secret in found.items():
        assert secret not in text, f"{what} ({secret}) is in the capture"
        assert secret.lower() not in text.lower(), f"{what} ({secret}) is in the capture"
    assert "127.0.0.1" not in text  # the PVS address itself
    assert "authorization" not in text.lower()
    assert not re.search(r"(?i)basic [A-Za-z0-9+/=]{8,}", text)
    assert doc["exporter_version"] and re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["captured_at"]
    )
    json.loads(text)  # one JSON document


async def test_stand_ins_are_consistent_and_keep_the_format(make_simulator):
    sim = await make_simulator(inverters=4, battery_modules=2, scale=0.0)
    _doc, anonymiser, text = await capture_of(target_for(sim, api="legacy"))
    site = sim.pvs.site
    ess = anonymiser.stand_ins[site.ess_serial]
    # The ESS serial is in the DeviceList and the SunVault report: one stand-in for both.
    assert text.count(ess) >= 2
    for original in (site.pvs_serial, site.production_serial, site.consumption_serial):
        stand_in = anonymiser.stand_ins[original]
        assert len(stand_in) == len(original) and stand_in != original
        assert stand_in[:2] == original[:2]  # ZT…, PVS6M…
        for a, b in zip(original, stand_in, strict=True):
            assert a.isdigit() == b.isdigit() and a.isupper() == b.isupper()
    assert anonymiser.stand_ins[site.production_serial].endswith("p")
    assert anonymiser.stand_ins[site.consumption_serial].endswith("c")
    ip = anonymiser.stand_ins["192.0.2.20"]
    assert re.fullmatch(r"\d{3}\.\d\.\d\.\d{2}", ip)


def test_anonymiser_finds_addresses_anywhere_and_keeps_short_values_whole():
    anonymiser = Anonymiser(key=b"k" * 32)
    anonymiser.learn_json(
        {
            "note": "gw 10.1.2.3 mac 00:22:F2:AB:CD:EF",
            "sn": "ABC",
            "items": [{"SERIAL": "ZT123456789"}],
        }
    )
    assert anonymiser.text("ABCDEF") == "ABCDEF"  # a 3-character serial is not a substring
    assert anonymiser.text("ABC") != "ABC"
    out = anonymiser.text("DESCR ZT123456789 at 10.1.2.3 (00:22:F2:AB:CD:EF)")
    assert "ZT123456789" not in out and "10.1.2.3" not in out and "AB:CD:EF" not in out
    assert "00:22:F2:" in out  # the vendor prefix is SunPower's, not the site's
    again = Anonymiser(key=b"k" * 32)
    again.learn("ZT123456789", "serial")
    assert again.stand_ins["ZT123456789"] == anonymiser.stand_ins["ZT123456789"]


DEVICE_FAMILIES = {spec.family_name for spec in DEVICE_METRICS}


def device_lines(text: str) -> list[str]:
    """The device metrics' lines of an exposition (health metrics hold timings)."""
    kept = []
    for line in text.splitlines():
        name = line.split()[2] if line.startswith("#") else re.split(r"[{ ]", line)[0]
        family = re.sub(r"_(total|info|created)$", "", name)
        if family in DEVICE_FAMILIES or name in DEVICE_FAMILIES:
            kept.append(line)
    return kept


async def scrape_when_up(config: ExporterConfig, http: aiohttp.ClientSession) -> str:
    server = ExporterServer(ExporterState(config, pollers_for(config)))
    await server.start()
    try:
        for _ in range(200):
            async with http.get(f"http://127.0.0.1:{server.port}/metrics") as response:
                text = await response.text()
            if "sunpower_pvs_device_state{" in text:
                return text
            await asyncio.sleep(0.05)
        raise AssertionError("the exporter never had data")
    finally:
        await server.stop()


@pytest.mark.parametrize("api", ["legacy", "varserver"])
async def test_capture_replay_scrape_equals_scraping_the_simulator(
    make_simulator, http, tmp_path: Path, api
):
    sim = await make_simulator(
        api=api, inverters=5, battery_modules=1, error_inverters=1, scale=0.0, start=NOON_UTC
    )
    target = target_for(sim, api="legacy") if api == "legacy" else tls_target_for(sim)
    _doc, anonymiser, text = await capture_of(target)
    path = tmp_path / "capture.json"
    path.write_text(text)

    def config_for(t: TargetConfig) -> ExporterConfig:
        return ExporterConfig(targets=(t,), listen_host="127.0.0.1", listen_port=0)

    original = device_lines(await scrape_when_up(config_for(target), http))
    demo = DemoSite(replay=str(path))
    await demo.start()
    try:
        replayed_config = demo.point_at(config_for(target_for(sim, name="site")))
        assert replayed_config.targets[0].api == target.api
        replayed = device_lines(await scrape_when_up(replayed_config, http))
    finally:
        await demo.stop()
    assert len(original) > 50
    expected = [anonymiser.text(line) for line in original]
    assert replayed == expected
    assert replayed != original  # the label values did change


def test_cli_capture_writes_a_file_that_the_demo_replays(make_simulator, tmp_path, capsys):
    output = tmp_path / "site.json"
    assert main(["capture", "--demo", "--demo-inverters", "3", "--output", str(output)]) == 0
    out = capsys.readouterr().out
    assert str(output) in out and "no password" in out
    doc = json.loads(output.read_text())
    assert doc["format"] == "sunpower-pvs-capture" and doc["poll"]["ok"] is True
    asked = [e["target"] for e in doc["exchanges"]]
    assert asked[:3] == [
        "/cgi-bin/dl_cgi?Command=DeviceList",
        "/cgi-bin/dl_cgi?Command=Get_Comm",
        "/cgi-bin/dl_cgi?Command=GridProfileGet",
    ]
    # …and the SunVault report when the demo site has one: nothing else.
    assert asked[3:] in ([], ["/cgi-bin/dl_cgi/energy-storage-system/status"])
    code = main(["check", "--demo", "--replay", str(output), "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == report["exit_code"] != 2
    assert {g["device_type"]: g["count"] for g in report["devices"]}["Inverter"] == 3
    assert report["clock_offset_seconds"] == 0  # a replay is judged by its own clock


def test_replay_needs_demo_and_a_capture(tmp_path, capsys):
    assert main(["--replay", "x.json"]) == 2
    assert "use it with --demo" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": 1}')
    assert main(["check", "--demo", "--replay", str(bad)]) == 2
    assert "not a capture file" in capsys.readouterr().err


async def test_a_failed_poll_is_captured_too_without_the_address(tmp_path: Path, capsys):
    from sunpower_pvs_exporter.simulator.server import free_port

    output = tmp_path / "down.json"
    port = free_port()
    argv = ["capture", "--hostname", "127.0.0.1", "--port", str(port), "--api", "legacy"]
    code = await asyncio.to_thread(main, [*argv, "--timeout", "2", "--output", str(output)])
    assert code == 1
    # The terminal is the owner's: the address they typed, not its stand-in (issue 22).
    said = capsys.readouterr().out
    assert f"poll FAILED: DeviceList: no connection to 127.0.0.1:{port} " in said
    doc = json.loads(output.read_text())
    assert doc["poll"]["ok"] is False and doc["poll"]["error"]
    [exchange] = doc["exchanges"]
    assert exchange["target"] == "/cgi-bin/dl_cgi?Command=DeviceList" and exchange["error"]
    assert "status" not in exchange
    assert "127.0.0.1" not in output.read_text()


async def test_an_output_that_cannot_be_written_is_refused_before_the_poll(
    make_simulator, tmp_path: Path, capsys
):
    sim = await make_simulator(api="legacy", inverters=1)
    argv = ["capture", "--hostname", "127.0.0.1", "--port", str(sim.port), "--api", "legacy"]
    missing = tmp_path / "no-such-dir" / "c.json"
    assert await asyncio.to_thread(main, [*argv, "--output", str(missing)]) == 2
    assert capsys.readouterr() == (
        "",
        f"sunpower-pvs-exporter capture: error: --output: cannot write {missing}: no "
        f"directory {missing.parent}\n",
    )
    assert await asyncio.to_thread(main, [*argv, "--output", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"sunpower-pvs-exporter capture: error: --output: {tmp_path} is a directory; name a "
        "file in it\n"
    )
    assert sim.pvs.log.entries == []  # the PVS was not asked


# --- the owner's network: the hotspot's Wi-Fi key, SSIDs, finance type ----------


def owner_network(sim: SimulatorServer) -> dict[str, str]:
    """What the simulated PVS knows of its owner's network and contract (its own state)."""
    network = sim.pvs.network
    found = {"home Wi-Fi name": network.home_ssid}
    if sim.pvs.api != "legacy":
        found |= {
            "hotspot Wi-Fi key": network.hotspot_key,
            "hotspot Wi-Fi name": network.hotspot_ssid,
            "finance type": network.finance_type,
        }
    return found


def assert_no_trace(found: dict[str, str], outputs: dict[str, str]) -> None:
    assert all(len(value) >= 8 for value in found.values()), found  # a search that means something
    leaks = [
        f"{what} ({value}) in {where}"
        for what, value in found.items()
        for where, text in outputs.items()
        if value.lower() in text.lower()
    ]
    assert leaks == []


@pytest.mark.parametrize("api", ["legacy", "varserver"])
async def test_the_owner_network_is_not_in_the_capture(make_simulator, api):
    sim = await make_simulator(api=api, inverters=3, battery_modules=1, scale=0.0)
    target = target_for(sim, api="legacy") if api == "legacy" else tls_target_for(sim)
    found = owner_network(sim)
    _doc, _anonymiser, text = await capture_of(target)
    assert_no_trace(found, {"capture": text})
    assert sim.pvs.hotspot_key_reads == 0, "the exporter asked the PVS for its Wi-Fi key"


# Values an older capture (made while the exporter still read all of /sys/info/)
# or a PVS's answer may hold; each must be replaced wherever it appears.
OLD_CAPTURE_SECRETS = {
    "/sys/info/wpa_key": "HotspotKey-9f8e7d6c",
    "/sys/info/ssid": "SunPowerZZ9Q7",
    "/sys/info/finance_type": "FinanceType-PPA-4411",
    "/sys/info/installer_note": "SomethingPrivate-77",
}


def with_old_sys_info(doc: dict[str, Any]) -> dict[str, Any]:
    """The capture as if the supervisor read had returned all of ``/sys/info/``."""
    for exchange in doc["exchanges"]:
        body = exchange.get("body")
        if isinstance(body, dict) and "/sys/info/serialnum" in body:
            body.update(OLD_CAPTURE_SECRETS)
            return doc
    raise AssertionError("no supervisor read in the capture")


async def test_a_replayed_capture_holding_the_wifi_key_gives_it_to_no_new_capture(
    make_simulator, tmp_path: Path
):
    from sunpower_pvs_exporter.troubleshoot.check import build_report, report_json, report_text

    sim = await make_simulator(api="varserver", inverters=3, scale=0.0, start=NOON_UTC)
    doc, _anonymiser, _text = await capture_of(tls_target_for(sim))
    path = tmp_path / "old.json"
    path.write_text(capture_text(with_old_sys_info(doc)))
    demo = DemoSite(replay=str(path))
    await demo.start()
    try:
        target = demo.point_at_target(target_for(sim, name="site"))
        outcome = await poll_once(target)
        assert outcome.ok, outcome.error
        again, _ = build_capture(outcome)
        report = build_report(outcome, outcome.started_at)
    finally:
        await demo.stop()
    outputs = {
        "capture of the replay": capture_text(again),
        "check text": report_text(report),
        "check json": report_json(report),
    }
    leaks = [
        f"{name} in {where}"
        for name, value in OLD_CAPTURE_SECRETS.items()
        for where, text in outputs.items()
        if value in text
    ]
    assert leaks == []


def recorded_outcome(*exchanges: Exchange, error: str = "") -> PollOutcome:
    return PollOutcome(
        target=TargetConfig(
            name="site", host="192.168.1.50", port=443, api="varserver", use_tls=True
        ),
        started_at=NOON_UTC,
        duration=0.5,
        snapshot=None,
        error=PvsPayloadError(error) if error else None,
        backend="varserver",
        exchanges=exchanges,
    )


def test_capture_replaces_private_values_in_bodies_paths_and_error_text():
    key, finance, unknown = "HotspotKey-9f8e7d6c", "FinanceType-PPA-4411", "0"
    obj = {
        "/sys/info/serialnum": "ZT01234567890ABC",
        "/sys/info/sw_rev": "2025.09.04.61845",
        "/sys/info/uptime": "31371.70",
        "/sys/info/wpa_key": key,
        "/sys/info/finance_type": finance,
        "/sys/info/some_new_thing": unknown,
        "/net/sta0/psk": "HomePsk-31415926",
        "/sys/pvs/api_token": "Token-27182818",
        "/sys/devices/meter/0/p3phsumKw": "0",
    }
    listed = {
        "count": 2,
        "values": [
            {"name": "/sys/info/wpa_key", "value": key},
            {"name": "/sys/info/finance_type", "value": finance},
        ],
    }
    outcome = recorded_outcome(
        Exchange("GET", "https", "/vars?match=/sys/info/&fmt=obj", status=200,
                 body=json.dumps(obj).encode()),
        Exchange("GET", "https", "/vars?match=/sys/info/", status=200,
                 body=json.dumps(listed).encode()),
        Exchange("GET", "https", f"/vars?set=/sys/info/wpa_key={key}", status=400,
                 body=f"no variable {key}".encode()),
        Exchange("GET", "https", "/vars?name=/sys/info/uptime", error=f"reset after {key}"),
        Exchange("POST", "https", "/vars?set=/net/sta0/psk=OnlyInThePath-123", status=400,
                 request_body="set=/sys/info/wpa_key=OnlyInTheBody-456"),
        error=f"/vars info: odd value {key}",
    )  # fmt: skip
    doc, anonymiser = build_capture(outcome)
    text = capture_text(doc)
    secrets = (key, finance, "HomePsk-31415926", "Token-27182818")
    for secret in (*secrets, "OnlyInThePath-123", "OnlyInTheBody-456"):
        assert secret not in text, secret
    first = doc["exchanges"][0]["body"]
    # Kept: what the exporter reads (the serial anonymised as always), and device data.
    assert first["/sys/info/sw_rev"] == "2025.09.04.61845"
    assert first["/sys/info/uptime"] == "31371.70"
    assert first["/sys/devices/meter/0/p3phsumKw"] == "0"
    assert first["/sys/info/serialnum"] != "ZT01234567890ABC"
    # Replaced: every other /sys/info/ value, short ones too, and secret-named variables.
    assert first["/sys/info/some_new_thing"] != unknown
    assert first["/sys/info/wpa_key"] == doc["exchanges"][1]["body"]["values"][0]["value"]
    assert doc["anonymised"]["private"] >= 5
    assert anonymiser.text(key) != key


async def run_cli(*argv: str) -> str:
    """The real command in its own process (its logging set up as a user's would be)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sunpower_pvs_exporter", *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        async with asyncio.timeout(60):
            out, _ = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return out.decode("utf-8", "replace")


async def test_capture_and_check_commands_at_debug_hold_no_trace_of_the_owner_network(
    make_simulator, tmp_path: Path
):
    sim = await make_simulator(api="varserver", inverters=3, battery_modules=1, scale=0.0)
    pvs = ["--hostname", "127.0.0.1", "--port", str(sim.tls_port), "--use-tls"]
    pvs += ["--api", "varserver", "--timeout", "10", "--log-level", "DEBUG"]
    capture_file, again_file = tmp_path / "capture.json", tmp_path / "again.json"
    outputs = {
        "capture": await run_cli("capture", *pvs, "--log-file", str(tmp_path / "capture.log"),
                                 "--output", str(capture_file)),
        "check": await run_cli("check", *pvs, "--log-file", str(tmp_path / "check.log")),
        "check json": await run_cli("check", *pvs, "--format", "json"),
    }  # fmt: skip
    outputs["replayed check"] = await run_cli("check", "--demo", "--replay", str(capture_file))
    outputs["capture of the replay"] = await run_cli(
        "capture", "--demo", "--replay", str(capture_file), "--output", str(again_file)
    )
    for path in (capture_file, again_file, tmp_path / "capture.log", tmp_path / "check.log"):
        outputs[path.name] = path.read_text()
    assert json.loads(outputs["capture.json"])["poll"]["ok"] is True, outputs["capture"]
    assert json.loads(outputs["again.json"])["poll"]["ok"] is True
    assert '"exit_code"' in outputs["check json"]
    assert "logged in to varserver" in outputs["check.log"]
    assert_no_trace(owner_network(sim), outputs)
    assert sim.pvs.hotspot_key_reads == 0
