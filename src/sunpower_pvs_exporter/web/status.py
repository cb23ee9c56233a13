"""The landing page at ``/``: what each target is doing, readable on a phone.

Server-rendered HTML, no JavaScript, no external assets (the stylesheet is
inlined), so it works on an isolated network and under a strict
``Content-Security-Policy``. Every value goes through ``html.escape``.

Nothing secret is in ``TargetStatus`` to begin with (passwords are read from
file/env by the clients and never stored on it); as a second line of defence,
error text is passed through ``redact`` before it is shown, which blanks
anything that looks like a credential (``password=…``, ``Authorization: …``,
``user:pass@`` in URLs, session cookies).
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Mapping, Sequence
from importlib import metadata, resources
from urllib.parse import quote

from sunpower_pvs_exporter import __version__
from sunpower_pvs_exporter.day_record import DAY_RECORD_TARGETS, DayCurve
from sunpower_pvs_exporter.health import TargetStatus
from sunpower_pvs_exporter.pvs.model import Snapshot
from sunpower_pvs_exporter.site_facts import (
    Problem,
    duration_text,
    newest_data_time,
    site_power,
    snapshot_problems,
    target_problems,
)
from sunpower_pvs_exporter.web.day_chart import day_chart
from sunpower_pvs_exporter.web.inverter_grid import inverter_grid
from sunpower_pvs_exporter.wording import counted

ORIGINAL_PROJECT_URL = "https://github.com/ginoledesma/sunpower-pvs-exporter"
# This project's documents, by path in its source tree.
PROJECT_DOCS = (
    ("docs/metrics.md", "Metric reference"),
    ("docs/configuration.md", "Configuration"),
    ("docs/troubleshooting.md", "Something looks wrong? (check and capture)"),
    ("docs/migration.md", "Migrating from the original exporter"),
    ("docs/monitoring.md", "Dashboards and alerts"),
)
MAX_PROBLEM_ROWS = 50
# Lines per target in the list of what is wrong; the rest are counted.
MAX_PROBLEM_LINES = 10


def project_url() -> str | None:
    """The source repository's URL from the package metadata (``[project.urls]``), if any."""
    try:
        urls = metadata.metadata("sunpower-pvs-exporter").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        return None
    by_label = {}
    for entry in urls:
        label, _, url = str(entry).partition(",")
        by_label[label.strip().lower()] = url.strip()
    for label in ("source", "repository", "homepage", "documentation"):
        url = by_label.get(label, "")
        if url.startswith("https://"):
            return url.rstrip("/")
    return None


CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
MAX_ERROR_CHARS = 300

_SECRET_PATTERNS = (
    # key=value and key: value forms of anything password- or token-like.
    re.compile(
        r"(?i)\b(pass(?:word|wd)?|pwd|secret|token|api[_-]?key|session(?:id)?|cookie)"
        r"(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&]+)"
    ),
    re.compile(r"(?i)\b(authorization)(\s*[=:]\s*)(\w+\s+)?[^\s,;]+"),
    # user:password@host in URLs.
    re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)[^/\s@:]+:[^/\s@]*@"),
)


def redact(text: str) -> str:
    """``text`` with anything credential-shaped replaced by ``***``."""
    text = _SECRET_PATTERNS[0].sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    text = _SECRET_PATTERNS[1].sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    text = _SECRET_PATTERNS[2].sub(lambda m: f"{m.group(1)}***@", text)
    if len(text) > MAX_ERROR_CHARS:
        text = text[:MAX_ERROR_CHARS] + "…"
    return text


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _ago(moment: float | None, now: float) -> str:
    if moment is None:
        return "never"
    seconds = now - moment
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 120:
        text = f"{seconds:.0f} s"
    elif seconds < 7200:
        text = f"{seconds / 60:.0f} min"
    else:
        text = f"{seconds / 3600:.1f} h"
    text = f"in {text}" if future else f"{text} ago"
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(moment))
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))
    return f'<time datetime="{_e(iso)}" title="{_e(stamp)}">{_e(text)}</time>'


def _watts(value: float | None) -> str:
    """Power as shown: never "-0 W" (a sign on a reading that rounds to zero)."""
    if value is None:
        return "—"
    if abs(value) >= 1000:
        text = f"{value / 1000:.2f} kW"
        return "0.00 kW" if text == "-0.00 kW" else text
    rounded = round(value)
    return f"{0 if rounded == 0 else rounded:d} W"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f} %"


def _tile(label: str, css: str, value: str, note: str = "") -> str:
    note_html = f"<small>{_e(note)}</small>" if note else ""
    return (
        f'<div class="tile {css}"><span>{_e(label)}</span>'
        f'<b data-value="{css}">{_e(value)}</b>{note_html}</div>'
    )


def _power_tiles(snapshot: Snapshot) -> str:
    power = site_power(snapshot)
    grid = power.grid
    grid_note = ""
    if grid is not None and round(grid) != 0:
        grid_note = "importing" if grid > 0 else "exporting"
    battery = power.battery
    tiles = [
        _tile("Production", "production", _watts(power.production)),
        _tile("Consumption", "consumption", _watts(power.consumption)),
        _tile("Grid", "grid", _watts(grid), grid_note),
    ]
    if battery is not None or power.soc is not None or snapshot.storage:
        note = "" if battery is None else ("discharging" if battery > 0 else "charging")
        if power.soc is not None:
            note = f"{note}, {_ratio(power.soc)} charged".lstrip(", ")
        tiles.append(_tile("Battery", "battery", _watts(battery), note))
    else:
        tiles.append(_tile("Battery", "battery", "none", "no storage reported"))
    return '<div class="tiles">' + "".join(tiles) + "</div>"


def _device_table(snapshot: Snapshot) -> str:
    counts = snapshot.device_counts()
    if not counts:
        return '<p class="muted">The PVS listed no devices.</p>'
    rows = "".join(
        f"<tr><td>{_e(dtype or '(no type)')}</td>"
        f'<td><span class="state state-{_e(_state_class(state))}">{_e(state or "—")}</span></td>'
        f'<td class="num">{count}</td></tr>'
        for (dtype, state), count in sorted(counts.items())
    )
    total = sum(counts.values())
    return (
        '<table class="devices"><caption>Devices</caption>'
        '<thead><tr><th scope="col">Type</th><th scope="col">State</th>'
        '<th scope="col" class="num">Count</th></tr></thead>'
        f'<tbody>{rows}</tbody><tfoot><tr><td colspan="2">Total</td>'
        f'<td class="num">{total}</td></tr></tfoot></table>'
    )


def _problem_table(snapshot: Snapshot, now: float) -> str:
    """Each device that is not working: serial, type, state, and how old its data is.

    Ages are measured from the newest sample the PVS sent (its own clock, as
    far as the data tells), so a PVS clock that is off does not make every
    device look stale.
    """
    reference = newest_data_time(snapshot.devices) or now
    problems = snapshot_problems(snapshot, reference)
    if not problems:
        return ""
    rows = "".join(
        f"<tr><td>{_e(p.serial or '(no serial)')}</td><td>{_e(p.device_type)}</td>"
        f'<td><span class="state state-{_e(_state_class(p.state))}">'
        f"{_e(p.state or '—')}</span></td>"
        f"<td>{_e('—' if p.age_seconds is None else duration_text(p.age_seconds))}</td></tr>"
        for p in problems[:MAX_PROBLEM_ROWS]
    )
    more = len(problems) - MAX_PROBLEM_ROWS
    foot = f'<tfoot><tr><td colspan="4">and {more} more</td></tr></tfoot>' if more > 0 else ""
    return (
        '<table class="problems"><caption>Not working '
        f'<span class="count">({len(problems)})</span></caption>'
        '<thead><tr><th scope="col">Serial</th><th scope="col">Type</th>'
        '<th scope="col">State</th><th scope="col">Data age</th></tr></thead>'
        f"<tbody>{rows}</tbody>{foot}</table>"
    )


def _state_class(state: str) -> str:
    return state if state in ("working", "error") else "other"


def _failures(status: TargetStatus) -> str:
    total = sum(status.failures.values())
    if not total:
        return f"{counted(status.polls, 'poll')}, no failures"
    parts = ", ".join(f"{reason} {n}" for reason, n in sorted(status.failures.items()) if n)
    return f"{counted(status.polls, 'poll')}, {total} failed ({parts})"


def _interval(status: TargetStatus) -> str:
    configured = status.configured_poll_interval
    if configured and configured != status.poll_interval:
        return f"{status.poll_interval:g} s (configured {configured:g} s)"
    return f"{status.poll_interval:g} s"


def _target_section(
    status: TargetStatus,
    address: str,
    simulated: str,
    problems: Sequence[Problem],
    *,
    detailed: bool,
    curve: DayCurve | None,
) -> str:
    """One target: its state, power, today's curve and inverter grid (the
    first ``DAY_RECORD_TARGETS`` targets only), devices and polling facts."""
    now = status.now
    snap = status.snapshot
    if status.up and problems:
        count = len(problems)
        state_class, state_text = "warn", f"UP · {count} problem{'s' if count != 1 else ''}"
    elif status.up:
        state_class, state_text = "up", "UP"
    elif status.last_poll_ok is False and status.polls == 0:
        state_class, state_text = "pending", "WAITING"
    else:
        state_class, state_text = "down", "DOWN"
    firmware = model = ""
    if snap is not None and snap.supervisor is not None:
        firmware = snap.supervisor.device.software_version
        model = snap.supervisor.device.model
    duration = status.last_poll_duration
    rows: list[tuple[str, str, str]] = [
        ("host", "PVS address", _e(address or status.host)),
        (
            "backend",
            "API",
            _e(status.backend or "not detected yet") + _e(f" (setting: {status.api})"),
        ),
        ("firmware", "Firmware", _e(firmware or "—")),
        ("model", "Model", _e(model or "—")),
        ("last-success", "Last successful poll", _ago(status.last_success_at, now)),
        ("last-attempt", "Last attempt", _ago(status.last_attempt_at, now)),
        ("data-from", "Data from", _ago(status.last_snapshot_at, now)),
        ("duration", "Poll duration", _e("—" if duration is None else f"{duration:.2f} s")),
        ("next", "Next poll", _ago(status.next_poll_at, now) if status.next_poll_at else "—"),
        ("interval", "Poll interval", _e(_interval(status))),
        ("polls", "Polls", _e(_failures(status))),
    ]
    easing = status.easing
    if easing is not None and easing.eased:
        back = f" ({_ago(easing.until, now)}, if it does not reboot before)" if easing.until else ""
        rows.append(
            ("eased", "Eased off", f'<span class="eased">{_e(easing.describe())}</span>{back}')
        )
    if simulated:
        rows.insert(0, ("source", "Data source", _e(f"{simulated}: not a real PVS")))
    if status.last_error and not status.last_poll_ok:
        error = redact(f"{status.last_error_reason}: {status.last_error}")
        rows.append(("error", "Last error", f'<span class="error">{_e(error)}</span>'))
    if status.snapshot is None and status.last_snapshot_at is not None:
        rows.append(
            (
                "stale",
                "Data",
                _e("last good data is older than max_age and is no longer served"),
            )
        )
    table = "".join(
        f'<tr data-field="{key}"><th scope="row">{_e(label)}</th><td>{value}</td></tr>'
        for key, label, value in rows
    )
    name = _e(status.target)
    probe = "/probe?target=" + quote(status.target, safe="")
    sim_badge = ' <span class="badge simulated">SIMULATED</span>' if simulated else ""
    body = ""
    if snap is not None:
        body = _power_tiles(snap)
        if detailed:
            body += (day_chart(curve, now) if curve is not None else "") + inverter_grid(snap)
        else:
            body += (
                '<p class="muted">Today\'s curve and the inverter grid are shown for the '
                f"first {DAY_RECORD_TARGETS} target{'s' if DAY_RECORD_TARGETS != 1 else ''} "
                "only.</p>"
            )
        body += _device_table(snap) + _problem_table(snap, now)
    else:
        body = '<p class="muted">No current data from this PVS.</p>'
    return (
        f'<section class="target" id="target-{name}" data-target="{name}" '
        f'data-up="{int(status.up)}">'
        f'<h2><span class="name">{name}</span> '
        f'<span class="badge {state_class}">{state_text}</span>{sim_badge}</h2>'
        f"{body}"
        f'<table class="facts"><caption>Polling</caption><tbody>{table}</tbody></table>'
        f'<p class="links"><a href="{_e(probe)}">{_e(probe)}</a></p>'
        "</section>"
    )


def _problem_line(problem: Problem) -> str:
    anchor = "#target-" + quote(problem.target, safe="")
    text = redact(f"{problem.subject} {problem.text}")
    return (
        f'<li class="problem {problem.kind}" data-target="{_e(problem.target)}" '
        f'data-kind="{problem.kind}"><a href="{_e(anchor)}">{_e(problem.target)}</a>: '
        f"{_e(text)}</li>"
    )


def _problem_list(problems: Mapping[str, Sequence[Problem]]) -> str:
    """What is wrong, one line each, before anything else on the page; at most
    ``MAX_PROBLEM_LINES`` per target, the rest counted on one more line."""
    lines: list[str] = []
    for target, found in problems.items():
        lines.extend(_problem_line(p) for p in found[:MAX_PROBLEM_LINES])
        more = len(found) - MAX_PROBLEM_LINES
        if more > 0:
            anchor = "#target-" + quote(target, safe="")
            lines.append(
                f'<li class="problem more" data-target="{_e(target)}" data-kind="more">'
                f'<a href="{_e(anchor)}">{_e(target)}</a>: and {more} more '
                f"problem{'s' if more != 1 else ''} (see its section below)</li>"
            )
    total = sum(len(found) for found in problems.values())
    if not total:
        return (
            '<section id="problems" class="problem-list none"><p>Nothing is wrong: every '
            "target that answers has every device working.</p></section>"
        )
    return (
        '<section id="problems" class="problem-list" aria-labelledby="problems-title">'
        f'<h2 id="problems-title">What is wrong <span class="count">({total})</span></h2>'
        f"<ul>{''.join(lines)}</ul></section>"
    )


def _summary(statuses: Sequence[TargetStatus]) -> str:
    up = sum(1 for s in statuses if s.up)
    return (
        f'<p class="summary"><b>{up}</b> of <b>{len(statuses)}</b> '
        f"target{'s' if len(statuses) != 1 else ''} up</p>"
    )


def scrape_config(names: Sequence[str], *, single_target: bool, listen: str, scheme: str) -> str:
    """A ``scrape_configs`` block for this exporter as it runs, to paste into Prometheus.

    ``listen`` is the address this page was served from (host:port), i.e. one
    Prometheus can reach. Run from flags, ``/metrics`` carries the device
    metrics too, so one job is all; with a config file, one job scrapes the
    exporter's own health on ``/metrics`` and another each PVS via ``/probe``.
    """
    tls = f"    scheme: {scheme}\n" if scheme == "https" else ""
    own = (
        "  - job_name: sunpower_pvs_exporter\n"
        f"{tls}"
        "    static_configs:\n"
        f"      - targets: ['{listen}']\n"
    )
    if single_target or not names:
        return "scrape_configs:\n" + own
    targets = ", ".join(_yaml_item(name) for name in names)
    return (
        "scrape_configs:\n"
        f"{own}"
        "  - job_name: sunpower_pvs\n"
        "    metrics_path: /probe\n"
        f"{tls}"
        "    static_configs:\n"
        f"      - targets: [{targets}]\n"
        "    relabel_configs:\n"
        "      - source_labels: [__address__]\n"
        "        target_label: __param_target\n"
        "      - source_labels: [__param_target]\n"
        "        target_label: instance\n"
        "      - target_label: __address__\n"
        f"        replacement: '{listen}'\n"
    )


def _yaml_item(name: str) -> str:
    """A flow-sequence item: quoted unless plainly safe."""
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        return name
    return "'" + name.replace("'", "''") + "'"


def _scrape_example(
    statuses: Sequence[TargetStatus], *, single_target: bool, listen: str, scheme: str
) -> str:
    example = scrape_config(
        [s.target for s in statuses], single_target=single_target, listen=listen, scheme=scheme
    )
    return (
        "<details open><summary>Prometheus scrape config (for this exporter at "
        f"{_e(listen)})</summary>"
        f'<pre><code id="scrape-config">{_e(example)}</code></pre></details>'
    )


def _docs_links() -> str:
    base = project_url()
    items = []
    for path, title in PROJECT_DOCS:
        if base:
            items.append(f'<li><a href="{_e(base + "/blob/main/" + path)}">{_e(title)}</a></li>')
        else:
            items.append(f"<li>{_e(title)}: <code>{_e(path)}</code></li>")
    where = "" if base else '<p class="muted">In the docs/ folder of this exporter\'s source.</p>'
    return (
        '<h2>Documentation</h2><ul class="docs">'
        + "".join(items)
        + "<li>Diagnose a PVS: <code>sunpower-pvs-exporter check</code>; record one for a bug "
        "report: <code>sunpower-pvs-exporter capture --output pvs.json</code></li>"
        f'<li>Metric names of the <a href="{_e(ORIGINAL_PROJECT_URL)}">original '
        "sunpower-pvs-exporter</a> are kept</li></ul>" + where
    )


def render_status_page(
    statuses: Sequence[TargetStatus],
    *,
    single_target: bool,
    now: float,
    addresses: Mapping[str, str] | None = None,
    simulated: Mapping[str, str] | None = None,
    listen: str = "EXPORTER_HOST:9110",
    scheme: str = "http",
    curves: Mapping[str, DayCurve] | None = None,
) -> str:
    """The page. ``now``: the moment it says it was generated (a parameter, so
    what it shows is a function of its inputs, whatever the date);
    ``addresses``: target name -> "host:port" of its PVS;
    ``simulated``: target name -> what stands in for the PVS (the demo);
    ``listen``/``scheme``: where this page was served from, for the scrape config;
    ``curves``: target name -> today's curve (``day_record``), where kept."""
    addresses = addresses or {}
    simulated = simulated or {}
    curves = curves or {}
    css = resources.files("sunpower_pvs_exporter.web").joinpath("status.css").read_text()
    problems = {s.target: target_problems(s) for s in statuses}
    sections = "".join(
        _target_section(
            s,
            addresses.get(s.target, ""),
            simulated.get(s.target, ""),
            problems[s.target],
            detailed=index < DAY_RECORD_TARGETS,
            curve=curves.get(s.target),
        )
        for index, s in enumerate(statuses)
    )
    sections = sections or "<p>No targets configured.</p>"
    metrics_note = (
        "device metrics of the target and the exporter's own health"
        if single_target
        else "the exporter's own health; device metrics are under /probe"
    )
    probe_links = "".join(
        f'<li><a href="{_e("/probe?target=" + quote(s.target, safe=""))}">'
        f"/probe?target={_e(s.target)}</a></li>"
        for s in statuses
    )
    generated = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(now))
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta http-equiv="refresh" content="60">'
        '<meta name="color-scheme" content="light dark">'
        # An empty icon: no /favicon.ico request, no 404 in the browser console.
        '<link rel="icon" href="data:,">'
        "<title>SunPower PVS Exporter</title>"
        f"<style>{css}</style></head><body>"
        "<header><h1>SunPower PVS Exporter</h1>"
        f'<p class="version">version <span id="version">{_e(__version__)}</span>'
        f" · page generated {_e(generated)}</p>{_summary(statuses)}"
        f"{_problem_list(problems)}</header>"
        f"<main>{sections}</main>"
        '<footer><h2>Endpoints</h2><ul class="endpoints">'
        f'<li><a href="/metrics">/metrics</a> — {_e(metrics_note)}</li>'
        f"{probe_links}"
        '<li><a href="/-/healthy">/-/healthy</a> · <a href="/-/ready">/-/ready</a></li>'
        "</ul>"
        f"{_scrape_example(statuses, single_target=single_target, listen=listen, scheme=scheme)}"
        f"{_docs_links()}"
        "</footer></body></html>\n"
    )
