"""``check`` against the simulator over HTTP: one mode or fault per test, exit code and finding.

The report is judged by the simulator's clock (injected as ``now``), so the
simulated noon or midnight is what ``check`` sees, whatever the time of day.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest

from metrics.oracle import device_families
from sunpower_pvs_exporter.cli.entry import main
from sunpower_pvs_exporter.pvs.legacy_parse import parse_device_list
from sunpower_pvs_exporter.runtime import make_reader
from sunpower_pvs_exporter.simulator.server import SimulatorServer, free_port
from sunpower_pvs_exporter.troubleshoot.check import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_WARNINGS,
    Report,
    build_report,
    exported_series,
    mask_serial,
    report_json,
    report_text,
)
from sunpower_pvs_exporter.troubleshoot.recorded_poll import poll_once
from support import MIDNIGHT_UTC, NOON_UTC, target_for, tls_target_for

# User-facing intervals, so "polling too often" only fires where a test wants it.
LEGACY = {"api": "legacy", "poll_interval": 120.0, "timeout": 5.0}


async def check(sim: SimulatorServer, target: Any) -> Report:
    outcome = await poll_once(target, clock=sim.pvs.clock.now)
    report = build_report(outcome, sim.pvs.clock.now())
    # Both renderings work for every report, and the JSON says the same exit code.
    assert report_text(report).startswith("sunpower-pvs-exporter")
    assert json.loads(report_json(report))["exit_code"] == report.exit_code
    return report


def codes(report: Report, severity: str | None = None) -> set[str]:
    return {f.code for f in report.findings if severity is None or f.severity == severity}


FIXTURES = Path(__file__).parent.parent / "fixtures"
# The names prometheus_client gives the samples of counter and info families.
SAMPLE_SUFFIX = {"counter": "_total", "info": "_info"}


@pytest.mark.parametrize("fixture", ["device_list_2019.json", "device_list_2024.json"])
def test_check_counts_the_series_prometheus_client_would_render(fixture: str):
    """``check`` counts series in the encoder's text; prometheus_client's families agree."""
    doc = json.loads((FIXTURES / fixture).read_text())
    snapshot = parse_device_list(doc, fetched_at=0.0, tz=UTC)
    expected = {
        family.name + SAMPLE_SUFFIX.get(family.type, ""): len(family.samples)
        for family in device_families(snapshot)
    }
    assert exported_series(snapshot) == expected
    assert expected["sunpower_pvs_device_state"] >= 3


async def test_legacy_site_in_daylight_is_all_good(make_simulator):
    sim = await make_simulator(error_inverters=0, inverters=6)
    report = await check(sim, target_for(sim, **LEGACY))
    assert report.exit_code == EXIT_OK, report_text(report)
    assert report.backend == "legacy"
    assert report.login.startswith("not needed")
    assert report.serial_masked == mask_serial(sim.pvs.site.pvs_serial)
    assert sim.pvs.site.pvs_serial[-5:] not in report_text(report)
    assert report.firmware == sim.pvs.config.software_version
    assert {g.device_type: g.count for g in report.devices} == {
        "Inverter": 6,
        "PVS": 1,
        "Power Meter": 2,
    }
    assert report.clock_offset_seconds is not None and abs(report.clock_offset_seconds) < 5
    assert "-0 s" not in report_text(report)
    assert report.metric_families["sunpower_pvs_inverter_ac_power_watts"] == 6
    assert report.metric_families["sunpower_pvs_supervisor_uptime_seconds_total"] == 1
    # Notes explain the meters but do not make the check fail.
    assert {"consumption_ct_net", "production_meter_without_legs"} <= codes(report, "note")
    assert "not available" in report.telemetry


@pytest.mark.parametrize("api", ["legacy", "varserver"])
async def test_check_sends_only_the_requests_of_one_poll_plus_detection(make_simulator, api):
    checked = await make_simulator(inverters=3, battery_modules=1, api=api)
    polled = await make_simulator(inverters=3, battery_modules=1, api=api)
    target = target_for if api == "legacy" else tls_target_for
    report = await check(checked, target(checked, api="auto"))
    reader = make_reader(target(polled, api="auto"))
    try:
        await reader.read()
    finally:
        await reader.close()
    asked = [(e.method, e.name) for e in checked.pvs.log.entries]
    assert asked == [(e.method, e.name) for e in polled.pvs.log.entries]
    assert asked[0] == ("GET", "/cgi-bin/dl_cgi/supervisor/info")  # detection's one request
    assert ("DeviceList" if api == "legacy" else "/vars") in [name for _m, name in asked]
    assert "/auth" not in [name for _m, name in asked[-1:]]  # no logout at the end
    assert report.requests_sent == report.requests_answered == len(asked)


async def test_varserver_site_logs_in_and_offers_telemetry(make_simulator):
    sim = await make_simulator(api="varserver", error_inverters=0, inverters=4)
    report = await check(sim, tls_target_for(sim, poll_interval=60.0, timeout=5.0))
    assert report.exit_code == EXIT_OK, report_text(report)
    assert report.backend == "varserver"
    assert "61845 >= 61840" in report.backend_reason
    assert report.login == "OK as ssm_owner with the default (serial's last 5) password"
    assert "default_password" in codes(report, "note")
    assert "available" in report.telemetry and "--live" in report.telemetry
    assert report.clock_offset_seconds is not None and abs(report.clock_offset_seconds) < 5
    assert sim.pvs.password not in report_text(report)
    assert sim.pvs.password not in report_json(report)


async def test_firmware_with_both_apis_is_read_through_varserver(make_simulator):
    sim = await make_simulator(api="both", error_inverters=0, inverters=4)
    report = await check(sim, tls_target_for(sim, poll_interval=60.0, timeout=5.0))
    assert report.exit_code == EXIT_OK, report_text(report)
    assert report.backend == "varserver"


async def test_forcing_legacy_on_firmware_with_varserver_warns(make_simulator):
    sim = await make_simulator(api="both", error_inverters=0, inverters=4)
    report = await check(sim, target_for(sim, **LEGACY))
    assert report.exit_code == EXIT_WARNINGS, report_text(report)
    assert "legacy_on_new_firmware" in codes(report, "warning")


async def test_sunvault_site_reports_its_storage_devices(make_simulator):
    sim = await make_simulator(error_inverters=0, inverters=4, battery_modules=2)
    report = await check(sim, target_for(sim, **LEGACY))
    assert report.exit_code == EXIT_OK, report_text(report)
    types = {g.device_type for g in report.devices}
    assert {"Energy Storage System", "ESS BMS", "HUB+"} <= types
    assert any("battery" in name or "storage" in name for name in report.metric_families)
    assert any("energy-storage-system" in e.path for e in sim.pvs.log.entries)


async def test_night_says_no_inverter_reports_and_why(make_simulator):
    sim = await make_simulator(start=MIDNIGHT_UTC, error_inverters=0, inverters=5)
    report = await check(sim, target_for(sim, **LEGACY))
    assert report.exit_code == EXIT_WARNINGS, report_text(report)
    assert codes(report, "warning") == {"no_inverter_reporting"}
    finding = next(f for f in report.findings if f.code == "no_inverter_reporting")
    assert "night" in finding.message and finding.fix
    assert len([p for p in report.not_working if p.device_type == "Inverter"]) == 5


async def test_one_inverter_in_error_by_day_is_named(make_simulator):
    sim = await make_simulator(error_inverters=1, inverters=5)
    report = await check(sim, target_for(sim, **LEGACY))
    assert report.exit_code == EXIT_WARNINGS
    finding = next(f for f in report.findings if f.code == "inverters_not_reporting")
    broken = sim.pvs.site.inverters[-1].serial
    assert broken in finding.message and "1 of 5" in finding.message
    assert [p.serial for p in report.not_working] == [broken]


async def test_polling_too_often_is_a_warning_with_the_fix(make_simulator):
    sim = await make_simulator(error_inverters=0, inverters=2)
    report = await check(sim, target_for(sim, api="legacy", poll_interval=60.0, timeout=5.0))
    assert report.exit_code == EXIT_WARNINGS
    finding = next(f for f in report.findings if f.code == "polling_too_often")
    assert "--poll-interval 120" in finding.fix


async def test_wrong_default_password_fails_and_says_how_to_set_one(make_simulator):
    sim = await make_simulator(api="varserver", inverters=2)
    sim.pvs.password_override = "not-the-serial"
    report = await check(sim, tls_target_for(sim, poll_interval=60.0, timeout=5.0))
    assert report.exit_code == EXIT_FAILED
    assert codes(report) == {"wrong_default_password"}
    assert "--pvs-password-file" in report.findings[0].fix
    assert report.login.startswith("REJECTED")


async def test_wrong_configured_password_fails(make_simulator, tmp_path: Path):
    sim = await make_simulator(api="varserver", inverters=2)
    secret = tmp_path / "pvs-password"
    secret.write_text("WRONG-secret-77\n")
    target = tls_target_for(sim, password_file=str(secret), poll_interval=60.0, timeout=5.0)
    report = await check(sim, target)
    assert report.exit_code == EXIT_FAILED
    assert codes(report) == {"wrong_password"}
    assert "WRONG-secret-77" not in report_text(report) + report_json(report)


async def test_pvs_down_is_unreachable(make_simulator):
    sim = await make_simulator(inverters=1)
    target = target_for(sim, **{**LEGACY, "port": free_port()})
    report = await check(sim, target)
    assert report.exit_code == EXIT_FAILED
    assert codes(report) == {"unreachable"}
    assert "--hostname" in report.findings[0].fix


async def test_slow_pvs_times_out_and_the_fix_is_the_timeout(make_simulator):
    sim = await make_simulator(inverters=1)
    sim.pvs.faults.latency = 1.0
    report = await check(sim, target_for(sim, **{**LEGACY, "timeout": 0.3}))
    assert report.exit_code == EXIT_FAILED
    assert codes(report) == {"timeout"}
    assert "--timeout" in report.findings[0].fix


async def test_slow_but_answering_pvs_is_a_warning(make_simulator):
    sim = await make_simulator(inverters=1, error_inverters=0)
    sim.pvs.faults.latency = 0.4
    sim.pvs.faults.only = frozenset({"DeviceList"})
    report = await check(sim, target_for(sim, **{**LEGACY, "timeout": 0.7}))
    assert report.exit_code == EXIT_WARNINGS, report_text(report)
    assert "slow_answer" in codes(report, "warning")


async def test_new_firmware_403_with_legacy_api_says_use_varserver(make_simulator):
    sim = await make_simulator(api="varserver", inverters=2)
    report = await check(sim, target_for(sim, **LEGACY))
    assert report.exit_code == EXIT_FAILED
    assert codes(report) == {"new_firmware_needs_varserver"}
    assert "--api auto" in report.findings[0].fix


async def test_recent_reboot_and_clock_skew_are_warnings(make_simulator):
    sim = await make_simulator(error_inverters=0, inverters=2)
    sim.pvs.site.boot_time = sim.pvs.clock.now() - 600
    outcome = await poll_once(target_for(sim, **LEGACY))
    report = build_report(outcome, sim.pvs.clock.now() + 3600)
    assert {"rebooted_recently", "clock_skew"} <= codes(report, "warning")
    assert report.clock_offset_seconds is not None
    assert -3605 < report.clock_offset_seconds < -3595
    assert "(-60 min)" in report_text(report)


async def test_cli_check_prints_json_and_exits_with_its_code(make_simulator, capsys):
    sim = await make_simulator(inverters=2)
    argv = ["check", "--hostname", "127.0.0.1", "--port", str(sim.port), "--api", "legacy"]
    code = await asyncio.to_thread(main, [*argv, "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == doc["exit_code"] != EXIT_FAILED
    assert doc["backend"] == "legacy" and doc["series"] > 0
    assert doc["serial_masked"].endswith("*****")
    assert doc["address"] == f"127.0.0.1:{sim.port}"


async def test_cli_check_reads_the_named_target_of_a_config_file(
    make_simulator, tmp_path: Path, capsys
):
    first = await make_simulator(inverters=1)
    second = await make_simulator(inverters=3, api="varserver")
    config = tmp_path / "pvs.yml"
    config.write_text(
        "targets:\n"
        f"  - name: old\n    host: 127.0.0.1\n    port: {first.port}\n    api: legacy\n"
        f"  - name: new\n    host: 127.0.0.1\n    port: {second.tls_port}\n    use_tls: true\n"
    )
    code = await asyncio.to_thread(
        main, ["check", "--config", str(config), "--target", "new", "--format", "json"]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == doc["exit_code"] != EXIT_FAILED
    assert doc["target"] == "new" and doc["backend"] == "varserver"
    assert doc["address"] == f"127.0.0.1:{second.tls_port}"
    assert first.pvs.log.entries == []  # only the named target was asked


def test_cli_check_with_a_config_needs_a_target_name(tmp_path: Path, capsys):
    config = tmp_path / "c.yml"
    config.write_text(
        "targets:\n  - name: a\n    host: 127.0.0.1\n  - name: b\n    host: 127.0.0.1\n"
    )
    assert main(["check", "--config", str(config)]) == EXIT_FAILED
    assert "name one (a, b)" in capsys.readouterr().err
    assert main(["check", "--config", str(config), "--target", "zz"]) == EXIT_FAILED
    assert "no target named 'zz'" in capsys.readouterr().err


async def test_a_gross_consumption_ct_is_explained(make_simulator):
    sim = await make_simulator(error_inverters=0, inverters=2, consumption_ct="gross")
    report = await check(sim, target_for(sim, **LEGACY))
    assert report.exit_code == EXIT_OK
    assert "consumption_ct_gross" in codes(report, "note")
    assert "consumption_ct_net" not in codes(report)


def test_a_meter_that_stopped_refreshing_is_stale():
    from sunpower_pvs_exporter.config import TargetConfig
    from sunpower_pvs_exporter.pvs.model import Device, Snapshot, Supervisor
    from sunpower_pvs_exporter.troubleshoot.recorded_poll import PollOutcome

    now = NOON_UTC
    pvs = Device("PVS", "ZT0123456789", state="working", data_time=now - 3600)
    meter = Device("Power Meter", "PVS6M0001p", state="working", data_time=now - 1800)
    snapshot = Snapshot(
        backend="legacy",
        fetched_at=now,
        supervisor=Supervisor(device=pvs, uptime_seconds=86400.0),
        devices=(pvs, meter),
    )
    target = TargetConfig(name="t", host="127.0.0.1", port=80, api="legacy", poll_interval=120)
    outcome = PollOutcome(target, now, 0.1, snapshot=snapshot, backend="legacy")
    report = build_report(outcome, now)
    assert report.exit_code == EXIT_WARNINGS
    stale = sorted(f.message for f in report.findings if f.code == "stale_data")
    assert len(stale) == 2
    # The PVS's own serial is masked: its last five characters are the password.
    assert stale[0].startswith("PVS ZT01********: ") and "60 min" in stale[0]
    assert "PVS6M0001p" in stale[1] and "30 min" in stale[1]
    assert "0123456789" not in report_text(report) + report_json(report)


async def test_an_unreachable_https_port_is_not_a_login_and_is_the_port_named(make_simulator):
    """supervisor/info answers on the HTTP port and says varserver; HTTPS (443) is closed.
    Nothing logged in, and the port that failed is 443, not the one that answered."""
    sim = await make_simulator(api="varserver", inverters=1, host="127.0.0.41")
    report = await check(sim, target_for(sim, api="auto", poll_interval=60.0, timeout=5.0))
    text = report_text(report)
    assert report.exit_code == EXIT_FAILED
    assert codes(report) == {"unreachable"}
    assert not report.login.startswith("OK"), text
    assert report.login == "not done: no connection to 127.0.0.41:443 (connection refused)"
    finding = report.findings[0]
    assert f"127.0.0.41:{sim.port} answered, but 127.0.0.41:443 refused the connection" in (
        finding.message
    )
    assert "--use-tls --port" in finding.fix
    assert "Poll        1 request sent (1 answered) in " in text
    assert "1 connection failed" in text


async def test_a_closed_port_sends_no_request_and_says_so(make_simulator):
    sim = await make_simulator(inverters=1)
    report = await check(sim, target_for(sim, api="auto", timeout=5.0, port=free_port()))
    text = report_text(report)
    assert report.requests_sent == 0
    assert "requests in" not in text
    assert "Poll        no request sent: 2 connections failed (connection refused)" in text
    assert report.login == "not attempted"


async def test_a_pvs_that_never_answers_fails_within_the_timeout_and_says_what_helps():
    """A PVS that accepts the connection and never answers: one timeout in all (not the
    poll's two requests one after the other), the request counted as sent."""
    held: list[asyncio.StreamWriter] = []

    async def never_answer(_r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    from sunpower_pvs_exporter.config import TargetConfig
    from sunpower_pvs_exporter.troubleshoot.capture import build_capture

    target = TargetConfig(name="hung", host="127.0.0.1", port=port, timeout=1.0)
    try:
        outcome = await poll_once(target)
    finally:
        for writer in held:
            writer.close()
        server.close()
    # Bounded by the timeout, with room for a loaded machine; never twice the timeout.
    assert outcome.duration < 1.8, outcome.duration
    report = build_report(outcome, NOON_UTC)
    text = report_text(report)
    assert codes(report) == {"timeout"}
    assert "busy or hung" in report.findings[0].fix
    assert "Poll        1 request sent (0 answered, 1 without an answer) in " in text
    doc, _ = build_capture(outcome)
    # The capture keeps the request that was sent, and how it ended.
    assert [e["target"] for e in doc["exchanges"]] == ["/cgi-bin/dl_cgi/supervisor/info"]
    assert doc["exchanges"][0]["error"].startswith("supervisor/info: no answer; given up after")


async def test_the_report_says_each_thing_once_and_counts_read_right(make_simulator):
    sim = await make_simulator(inverters=1, error_inverters=0)
    text = report_text(await check(sim, target_for(sim, **LEGACY)))
    assert "API         legacy (set by api: legacy)\n" in text
    assert "configured (no detection)" not in text
    sent = len(sim.pvs.log.entries)
    assert f"Poll        {sent} requests sent ({sent} answered) in " in text
    auto = report_text(await check(sim, target_for(sim, **{**LEGACY, "api": "auto"})))
    assert "API         legacy: supervisor/info: PVS6 build " in auto and "(api: auto)" in auto
    # Issue 22: "Firmware    2021.9, Build 41001 (build 41001)".
    (firmware,) = [line for line in text.splitlines() if line.startswith("Firmware")]
    build = json.loads(report_json(await check(sim, target_for(sim, **LEGACY))))["build"]
    assert build and firmware.count(str(build)) == 1, firmware


async def test_one_silent_inverter_is_counted_in_the_singular(make_simulator):
    sim = await make_simulator(error_inverters=1, inverters=2)
    report = await check(sim, target_for(sim, **LEGACY))
    finding = next(f for f in report.findings if f.code == "inverters_not_reporting")
    assert finding.message.startswith("1 of 2 inverters is not reporting: "), finding.message
