"""``sunpower-pvs-exporter check``: one read of a PVS, explained.

``build_report`` is pure: the recorded poll (``recorded_poll.PollOutcome``) and
this machine's time in, a ``Report`` out. It answers what a user or a
maintainer asks first — which PVS, which firmware, which API and why, did
the login work, which devices report and how old their data is, whether the
clocks agree, what would be exported — and turns each known trap into a
finding with its fix.

Exit codes: 0 all good (notes are fine), 1 the PVS answered but something
needs attention (a warning), 2 the read failed (an error).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sunpower_pvs_exporter import __version__
from sunpower_pvs_exporter.metrics.catalog import device_metrics_for
from sunpower_pvs_exporter.metrics.encoder import encode_metrics
from sunpower_pvs_exporter.pvs.detect import VARSERVER_MIN_BUILD, parse_build
from sunpower_pvs_exporter.pvs.errors import (
    PvsAuthError,
    PvsConnectionError,
    PvsHttpStatusError,
    PvsPayloadError,
    PvsTimeoutError,
)
from sunpower_pvs_exporter.pvs.hosts import host_port
from sunpower_pvs_exporter.pvs.model import Device, Snapshot
from sunpower_pvs_exporter.pvs.transport import decode_json
from sunpower_pvs_exporter.pvs.values import parse_pvs_time
from sunpower_pvs_exporter.site_facts import (
    DeviceProblem,
    data_age,
    dead_meter,
    duration_text,
    mask_serial,
    site_power,
    snapshot_problems,
)
from sunpower_pvs_exporter.troubleshoot.recorded_poll import PollOutcome
from sunpower_pvs_exporter.wording import counted

Severity = Literal["note", "warning", "error"]
EXIT_OK, EXIT_WARNINGS, EXIT_FAILED = 0, 1, 2

# Recommended poll intervals (docs/protocol.md §P): faster polling
# does not make readings fresher and has been linked to PVS reboots.
RECOMMENDED_INTERVAL = {"legacy": 120.0, "varserver": 60.0}
CLOCK_SKEW_LIMIT = 120.0
RECENT_REBOOT = 3600.0
SLOW_FRACTION = 0.5
# Below this the site is not producing (night, or a tripped breaker).
PRODUCING_WATTS = 10.0


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    message: str
    fix: str = ""


@dataclass(frozen=True)
class DeviceGroup:
    device_type: str
    count: int
    states: dict[str, int]
    newest_age_seconds: float | None
    oldest_age_seconds: float | None


@dataclass(frozen=True)
class Report:
    target: str
    address: str
    exit_code: int
    result: str
    checked_at: float
    model: str = ""
    serial_masked: str = ""
    firmware: str = ""
    build: int | None = None
    api_setting: str = ""
    backend: str = ""
    backend_reason: str = ""
    login: str = ""
    # Requests the PVS got (a refused connection carries none), those it answered,
    # and connections that were never made.
    requests_sent: int = 0
    requests_answered: int = 0
    connections_failed: int = 0
    poll_seconds: float = 0.0
    timeout_seconds: float = 0.0
    pvs_time: float | None = None
    clock_offset_seconds: float | None = None
    telemetry: str = ""
    devices: list[DeviceGroup] = field(default_factory=list)
    not_working: list[DeviceProblem] = field(default_factory=list)
    metric_families: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    error: str = ""

    @property
    def series(self) -> int:
        return sum(self.metric_families.values())


def _address(outcome: PollOutcome) -> str:
    target = outcome.target
    return host_port(target.host, target.port)


# --- reading facts out of the recorded exchanges -----------------------------------


def _json_bodies(outcome: PollOutcome, fragment: str) -> list[Any]:
    docs: list[Any] = []
    for exchange in outcome.exchanges:
        if exchange.status == 200 and fragment in exchange.target:
            try:
                docs.append(decode_json(exchange.body, exchange.target))
            except PvsPayloadError:  # a body the client rejected too
                continue
    return docs


def pvs_clock(outcome: PollOutcome) -> float | None:
    """The PVS's own time: legacy ``CURTIME``, else varserver ``/sys/livedata/time``."""
    snapshot = outcome.snapshot
    tz = ZoneInfo(outcome.target.timezone) if outcome.target.timezone else None
    for doc in _json_bodies(outcome, "Command=DeviceList"):
        devices = doc.get("devices") if isinstance(doc, dict) else None
        for raw in devices if isinstance(devices, list) else []:
            if isinstance(raw, dict) and raw.get("DEVICE_TYPE") == "PVS":
                moment = parse_pvs_time(raw.get("CURTIME"), tz)
                if moment is not None:
                    return moment
    if snapshot is not None and snapshot.live is not None and snapshot.live.time is not None:
        return snapshot.live.time
    return None


def _telemetry(outcome: PollOutcome) -> str:
    snapshot = outcome.snapshot
    model = ""
    if snapshot is not None and snapshot.supervisor is not None:
        model = snapshot.supervisor.device.model
    if outcome.backend != "varserver":
        return "not available: the telemetry WebSocket needs varserver (2025+) firmware"
    if "PVS5" in model.upper():
        return "not available: a PVS5 has no telemetry WebSocket"
    return "available on this firmware (port 9002); follow it with --live"


# --- findings --------------------------------------------------------------------------


def failure_finding(outcome: PollOutcome) -> Finding:
    """What a failed read means, and what to do about it."""
    error = outcome.error
    assert error is not None
    target = outcome.target
    message = error.message
    if isinstance(error, PvsTimeoutError):
        connected = any(e.connected for e in outcome.exchanges)
        return Finding(
            "timeout",
            "error",
            f"the PVS did not answer within {target.timeout:g} s ({message})"
            + ("; it accepted the connection" if connected else ""),
            "a PVS that accepts and does not answer is busy or hung: try again in a few "
            "minutes, and if it never answers, power-cycle it; a DeviceList can take over a "
            "minute on a big site, so if it answers slowly, raise --timeout (or timeout: in "
            "the config)",
        )
    if isinstance(error, PvsConnectionError):
        return _unreachable(outcome, message)
    if isinstance(error, PvsAuthError):
        if "DeviceList" in message or (outcome.backend == "legacy" and target.api == "legacy"):
            return Finding(
                "new_firmware_needs_varserver",
                "error",
                f"the PVS refused DeviceList ({message}): 2025+ firmware (PVS6 build "
                f">= {VARSERVER_MIN_BUILD['PVS6']}) answers 403 without a varserver login",
                "use --api auto (or varserver) and --pvs-password-file if the password is not "
                "the last 5 characters of the serial; an old PVS that suddenly answers 403 is "
                "fixed by power-cycling it",
            )
        if outcome.login is not None and outcome.login.password_source == "default":
            return Finding(
                "wrong_default_password",
                "error",
                f"varserver login failed with the default password ({message})",
                "set the PVS password with --pvs-password-file FILE, $SUNPOWER_PVS_PASSWORD or "
                "password_file: in the config",
            )
        return Finding(
            "wrong_password",
            "error",
            f"varserver login failed with the configured password ({message})",
            "check the password file / environment variable (no trailing spaces); the factory "
            "password is the last 5 characters of the PVS serial",
        )
    if isinstance(error, PvsHttpStatusError):
        return Finding(
            "http_error",
            "error",
            f"the PVS answered HTTP {error.status} ({message})",
            "dl_cgi answers 500 while it is busy or crashed: wait a few minutes; if it persists, "
            "power-cycle the PVS",
        )
    if isinstance(error, PvsPayloadError):
        return Finding(
            "bad_answer",
            "error",
            f"the PVS's answer could not be read ({message})",
            "attach a capture (sunpower-pvs-exporter capture --output pvs.json) to an issue",
        )
    return Finding("failed", "error", message)


def _unreachable(outcome: PollOutcome, message: str) -> Finding:
    """Name the address that failed, and one that answered if there was one: an
    ``api: auto`` PVS is asked on its HTTP port and then, for varserver, on 443."""
    failed = next((e for e in reversed(outcome.exchanges) if not e.connected), None)
    answered = next((e for e in outcome.exchanges if e.answered), None)
    where = failed.address if failed is not None and failed.address else _address(outcome)
    fix = (
        "check --hostname and --port; on the installer port (LAN1) the PVS is "
        "172.27.153.1 (sunpowerconsole.com); new firmware also answers HTTPS on the home "
        "network"
    )
    if answered is not None and answered.address and answered.address != where:
        return Finding(
            "unreachable",
            "error",
            f"{answered.address} answered, but {where} refused the connection ({message})",
            "the varserver API is HTTPS, on port 443 of the PVS: if it listens on another "
            "port, give it with --use-tls --port PORT (use_tls: and port: in the config); "
            "else look for a firewall between here and the PVS",
        )
    return Finding("unreachable", "error", f"cannot reach the PVS at {where}: {message}", fix)


def _device_findings(
    snapshot: Snapshot, reference: float
) -> tuple[list[DeviceGroup], list[DeviceProblem]]:
    by_type: dict[str, list[Device]] = {}
    for device in snapshot.devices:
        by_type.setdefault(device.device_type or "(no type)", []).append(device)
    groups: list[DeviceGroup] = []
    for device_type, devices in sorted(by_type.items()):
        states: dict[str, int] = {}
        for device in devices:
            state = device.state or "(no state)"
            states[state] = states.get(state, 0) + 1
        ages = [a for a in (data_age(d, reference) for d in devices) if a is not None]
        groups.append(
            DeviceGroup(
                device_type,
                len(devices),
                dict(sorted(states.items())),
                min(ages) if ages else None,
                max(ages) if ages else None,
            )
        )
    return groups, snapshot_problems(snapshot, reference)


def _meter_findings(snapshot: Snapshot) -> list[Finding]:
    findings: list[Finding] = []
    for meter in snapshot.meters:
        legs = [reading for _phase, reading in meter.phases]
        has_legs = any(
            value not in (None, 0.0)
            for leg in legs
            for value in (leg.power_watts, leg.current_amperes, leg.voltage_volts)
        )
        if meter.mode == "production" and not has_legs:
            findings.append(
                Finding(
                    "production_meter_without_legs",
                    "note",
                    f"production meter {meter.device.serial} reports no per-leg data "
                    "(production CTs measure only the total)",
                    "nothing to fix; per-leg power and current exist for the consumption "
                    "meter only",
                )
            )
        if meter.mode == "consumption":
            subtype = meter.subtype.upper()
            if "NET" in subtype:
                findings.append(
                    Finding(
                        "consumption_ct_net",
                        "note",
                        f"consumption meter {meter.device.serial} is a NET meter ({meter.subtype}):"
                        " its power is what the grid supplies (+) or takes (-), not the house "
                        "load",
                        "house load = consumption meter + production; the dashboards do this sum",
                    )
                )
            elif "GROSS" in subtype:
                findings.append(
                    Finding(
                        "consumption_ct_gross",
                        "note",
                        f"consumption meter {meter.device.serial} is a GROSS meter "
                        f"({meter.subtype}): its power is the house load",
                        "grid exchange = consumption - production",
                    )
                )
            else:
                negative = meter.real_power_watts is not None and meter.real_power_watts < 0
                findings.append(
                    Finding(
                        "consumption_ct_unknown",
                        "note",
                        f"consumption meter {meter.device.serial}: the PVS does not say whether "
                        "its CT is net (load side) or gross"
                        + (
                            "; it reads negative now, so it is net (measures the grid exchange)"
                            if negative
                            else ""
                        ),
                        "a net CT reads negative while the site exports; then house load = "
                        "consumption meter + production",
                    )
                )
    return findings


def _findings(outcome: PollOutcome, snapshot: Snapshot, now: float) -> list[Finding]:
    target = outcome.target
    findings: list[Finding] = []
    backend = outcome.backend or snapshot.backend
    recommended = RECOMMENDED_INTERVAL.get(backend, 120.0)
    if target.poll_interval < recommended:
        findings.append(
            Finding(
                "polling_too_often",
                "warning",
                f"poll interval {target.poll_interval:g} s is shorter than the {recommended:g} s "
                f"recommended for the {backend} API; the PVS refreshes its data on its own "
                "schedule (minutes), and frequent polling has been linked to PVS reboots",
                f"set --poll-interval {recommended:g} (or poll_interval: in the config)",
            )
        )
    if outcome.duration > SLOW_FRACTION * target.timeout:
        findings.append(
            Finding(
                "slow_answer",
                "warning",
                f"the read took {outcome.duration:.1f} s of the {target.timeout:g} s timeout",
                "raise --timeout before polls start failing; a slow PVS is often a busy one "
                "(poll less often)",
            )
        )
    sup = snapshot.supervisor
    build = None
    if sup is not None:
        build = parse_build(None, sup.device.software_version)
    model = sup.device.model.upper() if sup is not None else ""
    minimum = VARSERVER_MIN_BUILD["PVS5" if "PVS5" in model else "PVS6"]
    if backend == "legacy" and build is not None and build >= minimum:
        findings.append(
            Finding(
                "legacy_on_new_firmware",
                "warning",
                f"build {build} has the varserver API, but the legacy dl_cgi API is in use; "
                "SunStrong calls dl_cgi unsupported on this firmware and it may stop answering",
                "use --api auto (or varserver)",
            )
        )
    if outcome.login is not None and outcome.login.password_source == "default":
        findings.append(
            Finding(
                "default_password",
                "note",
                "logged in with the factory password (last 5 characters of the serial)",
                "if the owner changes it, give it with --pvs-password-file",
            )
        )
    if sup is not None and sup.uptime_seconds is not None and sup.uptime_seconds < RECENT_REBOOT:
        findings.append(
            Finding(
                "rebooted_recently",
                "warning",
                f"the PVS restarted {duration_text(sup.uptime_seconds)} ago; inverters can take a "
                "while to reappear after a restart",
                "if it restarts often (look at sunpower_pvs_supervisor_uptime_seconds_total), "
                "poll less often",
            )
        )
    findings.extend(_meter_findings(snapshot))
    return findings


def _inverter_findings(
    snapshot: Snapshot, problems: list[DeviceProblem], production: float | None
) -> list[Finding]:
    inverters = [d for d in snapshot.devices if d.device_type == "Inverter"]
    silent = [p for p in problems if p.device_type == "Inverter"]
    if not inverters or not silent:
        return []
    if len(silent) == len(inverters) and (production is None or production < PRODUCING_WATTS):
        return [
            Finding(
                "no_inverter_reporting",
                "warning",
                (
                    "the one inverter is not reporting"
                    if len(inverters) == 1
                    else f"none of the {len(inverters)} inverters is reporting"
                )
                + " and the site produces "
                "nothing: normal at night (inverters sleep without sun)",
                "in daylight: check the PV breaker and the PVS's PLC link to the inverters",
            )
        ]
    names = ", ".join(f"{p.serial} ({p.why})" for p in silent[:5])
    more = f" and {len(silent) - 5} more" if len(silent) > 5 else ""
    return [
        Finding(
            "inverters_not_reporting",
            "warning",
            f"{len(silent)} of {counted(len(inverters), 'inverter')} "
            f"{'is' if len(silent) == 1 else 'are'} not reporting: {names}{more}",
            "shade or a failed module can stop one inverter; if it stays in error in full sun, "
            "have the panel checked",
        )
    ]


def _dead_meter_findings(snapshot: Snapshot) -> list[Finding]:
    return [
        Finding(
            "dead_production_meter",
            "warning",
            f"production meter {m.device.serial} reports every reading as 0 with power "
            "factor 1: it is dead or absent, and its 0 W of production is not a measurement",
            "have the installer check the production meter's CTs; until then read production "
            "from the inverters (sunpower_pvs:site_production_watts)",
        )
        for m in snapshot.meters
        if dead_meter(m)
    ]


def _stale_findings(problems: list[DeviceProblem]) -> list[Finding]:
    late = [p for p in problems if p.device_type != "Inverter" and p.why.startswith("data")]
    return [
        Finding(
            "stale_data",
            "warning",
            f"{p.device_type} {p.serial}: {p.why}",
            "the PVS stopped refreshing this device; if it lasts, power-cycle the PVS",
        )
        for p in late
    ]


def _login_text(outcome: PollOutcome) -> str:
    login = outcome.login
    if login is None:
        if outcome.backend == "legacy":
            return "not needed (the legacy dl_cgi API has no login)"
        return "not attempted"
    source = "configured" if login.password_source == "configured" else "default (serial's last 5)"
    if login.successes:
        return f"OK as ssm_owner with the {source} password"
    if login.failures:
        return f"REJECTED as ssm_owner with the {source} password"
    # Tried, and neither accepted nor refused: say what happened to the request.
    for exchange in outcome.exchanges:
        if exchange.target.startswith("/auth?login") and exchange.error:
            return "not done: " + exchange.error.removeprefix("login: ")
    return "not done: the login got no answer"


def _exit_code(findings: list[Finding]) -> tuple[int, str]:
    if any(f.severity == "error" for f in findings):
        return EXIT_FAILED, "FAILED"
    if any(f.severity == "warning" for f in findings):
        return EXIT_WARNINGS, "WARNINGS"
    return EXIT_OK, "OK"


def exported_series(snapshot: Snapshot) -> dict[str, int]:
    """Series per metric name, counted in what ``/metrics`` would serve (classic text)."""
    counts: dict[str, int] = {}
    text = encode_metrics(
        device_metrics_for(snapshot), snapshot, use_timestamps=False, openmetrics=False
    ).decode()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name = line.split("{", 1)[0].split(" ", 1)[0]
            counts[name] = counts.get(name, 0) + 1
    return counts


def build_report(outcome: PollOutcome, now: float) -> Report:
    """Everything ``check`` says about one recorded poll; ``now`` is this machine's time."""
    target = outcome.target
    common: dict[str, Any] = {
        "target": target.name,
        "address": _address(outcome),
        "checked_at": now,
        "api_setting": target.api,
        "backend": outcome.backend,
        "backend_reason": outcome.choice_reason,
        "login": _login_text(outcome),
        "requests_sent": sum(1 for e in outcome.exchanges if e.connected),
        "requests_answered": sum(1 for e in outcome.exchanges if e.answered),
        "connections_failed": sum(1 for e in outcome.exchanges if not e.connected),
        "poll_seconds": outcome.duration,
        "timeout_seconds": target.timeout,
    }
    snapshot = outcome.snapshot
    if snapshot is None:
        findings = [failure_finding(outcome)]
        code, result = _exit_code(findings)
        error = outcome.error.message if outcome.error else ""
        return Report(exit_code=code, result=result, findings=findings, error=error, **common)
    sup = snapshot.supervisor
    clock = pvs_clock(outcome)
    reference = clock if clock is not None else now
    groups, problems = _device_findings(snapshot, reference)
    findings = _findings(outcome, snapshot, now)
    findings.extend(_inverter_findings(snapshot, problems, site_power(snapshot).production))
    findings.extend(_stale_findings(problems))
    findings.extend(_dead_meter_findings(snapshot))
    offset = None if clock is None else clock - now
    if offset is not None and abs(offset) > CLOCK_SKEW_LIMIT:
        findings.append(
            Finding(
                "clock_skew",
                "warning",
                f"the PVS clock is {duration_text(offset)} "
                f"{'ahead of' if offset > 0 else 'behind'} this machine's",
                "one of the two clocks is wrong: check NTP here; data ages above are measured on "
                "the PVS's clock; --use-device-data-timestamp would stamp samples off by as much",
            )
        )
    families = exported_series(snapshot)
    findings.sort(key=lambda f: ("error", "warning", "note").index(f.severity))
    code, result = _exit_code(findings)
    software = sup.device.software_version if sup is not None else ""
    return Report(
        exit_code=code,
        result=result,
        model=sup.device.model if sup is not None else "",
        serial_masked=mask_serial(sup.device.serial) if sup is not None else "",
        firmware=software,
        build=parse_build(None, software) if software else None,
        pvs_time=clock,
        clock_offset_seconds=offset,
        telemetry=_telemetry(outcome),
        devices=groups,
        not_working=problems,
        metric_families=families,
        findings=findings,
        **common,
    )


# --- output --------------------------------------------------------------------------


def _utc(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def report_json(report: Report) -> str:
    doc = asdict(report)
    doc["series"] = report.series
    doc["exporter_version"] = __version__
    for key in ("checked_at", "pvs_time"):
        value = doc.get(key)
        doc[key + "_utc"] = _utc(value) if isinstance(value, float) else None
    return json.dumps(doc, indent=2, allow_nan=False, default=_finite) + "\n"


def _finite(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(type(value).__name__)


def _signed(seconds: float) -> str:
    """``+3 s``, ``-2.0 h``; no sign on what rounds to zero (never "-0 s")."""
    text = duration_text(seconds)
    if text.startswith("0 "):
        return text
    return ("+" if seconds > 0 else "-") + text


def _age_text(age: float | None) -> str:
    return "no data time" if age is None else f"{duration_text(age)} old"


def _poll_text(report: Report) -> str:
    """What went to the PVS, as it went: sent, answered, or never connected."""
    failed = (
        f"{counted(report.connections_failed, 'connection')} failed"
        if report.connections_failed
        else ""
    )
    if not report.requests_sent:
        reason = report.error.rpartition("(")[2].rstrip(")") if "(" in report.error else ""
        return f"no request sent: {failed}" + (f" ({reason})" if reason else "")
    unanswered = report.requests_sent - report.requests_answered
    answers = f"{report.requests_answered} answered" + (
        f", {unanswered} without an answer" if unanswered else ""
    )
    text = (
        f"{counted(report.requests_sent, 'request')} sent ({answers}) in "
        f"{report.poll_seconds:.2f} s (timeout {report.timeout_seconds:g} s)"
    )
    return text + (f"; {failed}" if failed else "")


def report_text(report: Report) -> str:
    lines = [
        f"sunpower-pvs-exporter {__version__} check: target {report.target} ({report.address})",
        f"Result: {report.result} (exit {report.exit_code})",
        "",
    ]

    def row(label: str, value: str) -> None:
        lines.append(f"{label:<11} {value}")

    if report.model or report.serial_masked:
        row("PVS", f"{report.model or '?'}, serial {report.serial_masked or '?'}")
    if report.firmware:
        # "2021.9, Build 41001" already says its build; a bare version does not.
        shown = report.build is not None and str(report.build) in report.firmware
        build = f" (build {report.build})" if report.build is not None and not shown else ""
        row("Firmware", f"{report.firmware}{build}")
    if report.api_setting != "auto":
        row("API", f"{report.backend or report.api_setting} (set by api: {report.api_setting})")
    else:
        reason = f": {report.backend_reason}" if report.backend_reason else ""
        row("API", f"{report.backend or 'not decided'}{reason} (api: auto)")
    row("Login", report.login)
    row("Poll", _poll_text(report))
    if report.pvs_time is not None and report.clock_offset_seconds is not None:
        offset = report.clock_offset_seconds
        row(
            "Clock",
            f"PVS {_utc(report.pvs_time)}, this machine {_utc(report.checked_at)} "
            f"({_signed(offset)})",
        )
    elif report.exit_code != EXIT_FAILED:
        row("Clock", "the PVS did not say its time")
    if report.telemetry:
        row("Telemetry", report.telemetry)
    if report.devices:
        lines += ["", "Devices (type, count, states, age of their data)"]
        for group in report.devices:
            states = ", ".join(f"{state} {n}" for state, n in group.states.items())
            if group.newest_age_seconds is None:
                ages = "no data time"
            elif group.newest_age_seconds == group.oldest_age_seconds:
                ages = _age_text(group.newest_age_seconds)
            else:
                ages = (
                    f"{duration_text(group.newest_age_seconds)} to "
                    f"{_age_text(group.oldest_age_seconds)}"
                )
            lines.append(f"  {group.device_type:<24} {group.count:>4}  {states:<22} {ages}")
    if report.not_working:
        lines += ["", "Not working"]
        for problem in report.not_working:
            lines.append(f"  {problem.device_type} {problem.serial}: {problem.why}")
    if report.metric_families:
        lines += [
            "",
            f"Would export {len(report.metric_families)} device metric families, "
            f"{report.series} series:",
        ]
        for name, count in report.metric_families.items():
            lines.append(f"  {name:<70} {count:>5}")
    if report.findings:
        lines.append("")
        for finding in report.findings:
            mark = {"error": "ERROR", "warning": "WARNING", "note": "note"}[finding.severity]
            lines.append(f"{mark} [{finding.code}] {finding.message}")
            if finding.fix:
                lines.append(f"    fix: {finding.fix}")
    else:
        lines += ["", "No problems found."]
    return "\n".join(lines) + "\n"
