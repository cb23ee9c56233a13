"""The status page renderer: escaping, redaction, power figures (no browser needed)."""

from __future__ import annotations

import html
import re
import time

import pytest
import yaml

from sunpower_pvs_exporter.health import TargetStatus
from sunpower_pvs_exporter.pvs.model import Device, LiveData, Meter, Snapshot
from sunpower_pvs_exporter.web.status import redact, render_status_page

NOW = 1_750_000_000.0
# 2027-01-05 12:00:00 UTC: a date whose month and day have leading zeros, the
# kind that once made "-0" appear in the page's own timestamp.
LEADING_ZERO_DATE = 1_799_150_400.0


def render(statuses, single_target=True, *, now=NOW, **options):
    """The page as of ``now``: a function of its inputs, never of today's date."""
    return render_status_page(statuses, single_target=single_target, now=now, **options)


def power_tiles(page: str) -> str:
    start = page.index('<div class="tiles">')
    return page[start : page.index("<table", start)]


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("login failed: password=hunter2 rejected", "hunter2"),
        ("bad config password: 's3cr3t value'", "s3cr3t value"),
        ("sent Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("GET https://ssm_owner:ABCDE@172.27.153.1/vars failed", "ABCDE"),
        ("cookie=session_abc123; path=/", "session_abc123"),
        ("token: eyJhbGciOi", "eyJhbGciOi"),
    ],
)
def test_redact_blanks_credential_shaped_text(text, secret):
    cleaned = redact(text)
    assert secret not in cleaned
    assert "***" in cleaned


def test_redact_keeps_ordinary_errors_and_bounds_length():
    assert redact("DeviceList: HTTP 500") == "DeviceList: HTTP 500"
    assert len(redact("x" * 10_000)) <= 301


def status(**overrides) -> TargetStatus:
    values = {"target": "site", "host": "127.0.0.1", "api": "legacy", "now": NOW, "polls": 1}
    values.update(overrides)
    return TargetStatus(**values)


def test_hostile_values_are_escaped_and_secrets_redacted():
    page = render(
        [
            status(
                target='x"><script>alert(1)</script>',
                host="<b>h</b>",
                last_error="varserver login failed (password=hunter2) <img src=x>",
                last_error_reason="auth",
            )
        ],
        single_target=True,
    )
    assert "<script>" not in page
    assert "<img" not in page
    assert "<b>h</b>" not in page
    assert "&lt;script&gt;" in page
    assert "hunter2" not in page
    assert "password=***" in page
    assert "/probe?target=x%22%3E%3Cscript%3E" in page


def test_power_tiles_show_the_sites_power():
    """The tiles show ``site_facts.site_power`` (tests/test_site_facts.py)."""
    live = LiveData(pv_power_watts=4000.0, battery_power_watts=1000.0, state_of_charge_ratio=0.5)
    snapshot = Snapshot(backend="varserver", fetched_at=NOW, live=live)
    tiles = power_tiles(render([status(snapshot=snapshot, last_poll_ok=True)], True))
    assert "4.00 kW" in tiles
    assert "1.00 kW" in tiles and "discharging, 50 % charged" in tiles


def test_page_without_targets_and_waiting_target():
    assert "No targets configured" in render([], single_target=False)
    page = render([status(polls=0)], single_target=False)
    assert "WAITING" in page
    assert "metrics_path: /probe" in page


def test_devices_not_working_are_listed_with_serial_type_state_and_age():
    newest = NOW - 10
    devices = (
        Device("PVS", "ZT0123456789", state="error", data_time=newest - 60),
        Device("Power Meter", "M1p", state="working", data_time=newest),
        Device("Inverter", "E001", state="working", data_time=newest - 30),
        Device("Inverter", "E002", state="error", data_time=newest - 7200),
        Device("Inverter", "E003", state="working", data_time=newest - 3 * 3600),
        Device("Inverter", "E004", state="error"),
    )
    snapshot = Snapshot(backend="legacy", fetched_at=NOW, devices=devices)
    page = render([status(snapshot=snapshot, last_poll_ok=True)], True)
    table = page[page.index('<table class="problems">') :]
    table = table[: table.index("</table>")]
    rows = re.findall(
        r"<tr><td>(.*?)</td><td>(.*?)</td><td>.*?>(.*?)</span></td><td>(.*?)</td>", table
    )
    assert rows == [
        ("ZT01********", "PVS", "error", "60 s"),
        ("E002", "Inverter", "error", "2.0 h"),
        ("E003", "Inverter", "working", "3.0 h"),
        ("E004", "Inverter", "error", "—"),
    ]
    assert "Not working" in table and "(4)" in table
    assert "0123456789" not in page


@pytest.mark.parametrize("now", [NOW, LEADING_ZERO_DATE])
def test_no_minus_zero_watts_and_no_direction_for_a_balanced_grid(now):
    meters = (
        Meter(device=Device("Power Meter", "Mp"), mode="production", real_power_watts=-0.3),
        Meter(device=Device("Power Meter", "Mc"), mode="consumption", real_power_watts=-0.4),
    )
    snapshot = Snapshot(backend="legacy", fetched_at=now, meters=meters)
    page = render([status(snapshot=snapshot, last_poll_ok=True, now=now)], True, now=now)
    tiles = power_tiles(page)
    assert "-0" not in tiles and "−0" not in tiles
    assert 'data-value="grid">0 W<' in tiles
    assert "importing" not in tiles and "exporting" not in tiles


@pytest.mark.parametrize("now", [NOW, LEADING_ZERO_DATE])
def test_the_page_shows_the_time_it_is_given(now):
    page = render([status(now=now)], True, now=now)
    shown = re.search(r"page generated (\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})", page)
    assert shown is not None
    assert shown.group(1) == time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))


def test_pvs_address_with_port_and_the_simulated_mark():
    page = render(
        [status(target="demo"), status(target="roof")],
        False,
        addresses={"demo": "127.0.0.1:40001", "roof": "127.0.0.1:40002 (HTTPS)"},
        simulated={"demo": "simulated PVS (--demo)"},
    )
    demo = page[page.index('id="target-demo"') : page.index('id="target-roof"')]
    roof = page[page.index('id="target-roof"') :]
    assert "127.0.0.1:40001" in demo and "127.0.0.1:40002 (HTTPS)" in roof
    assert "SIMULATED" in demo and "simulated PVS (--demo): not a real PVS" in demo
    assert "SIMULATED" not in roof.split("</section>")[0]


def scrape_block(page: str) -> dict:
    code = re.search(r'<code id="scrape-config">(.*?)</code>', page, re.S)
    assert code is not None
    return yaml.safe_load(html.unescape(code.group(1)))


def test_scrape_config_uses_the_real_listen_address_and_has_both_jobs():
    page = render(
        [status(target="roof"), status(target="garage pvs")],
        False,
        listen="192.0.2.7:9200",
        scheme="https",
    )
    jobs = {job["job_name"]: job for job in scrape_block(page)["scrape_configs"]}
    own, probe = jobs["sunpower_pvs_exporter"], jobs["sunpower_pvs"]
    assert own["static_configs"][0]["targets"] == ["192.0.2.7:9200"]
    assert own.get("metrics_path", "/metrics") == "/metrics" and own["scheme"] == "https"
    assert probe["metrics_path"] == "/probe" and probe["scheme"] == "https"
    assert probe["static_configs"][0]["targets"] == ["roof", "garage pvs"]
    assert probe["relabel_configs"][-1] == {
        "target_label": "__address__",
        "replacement": "192.0.2.7:9200",
    }
    single = scrape_block(render([status()], True, listen="[::1]:9110"))
    assert [job["static_configs"][0]["targets"] for job in single["scrape_configs"]] == [
        ["[::1]:9110"]
    ]


def test_docs_point_at_this_projects_documents(monkeypatch):
    page = render([status()], True)
    for path in ("docs/metrics.md", "docs/configuration.md", "docs/troubleshooting.md"):
        assert path in page
    assert "sunpower-pvs-exporter check" in page
    monkeypatch.setattr(
        "sunpower_pvs_exporter.web.status.project_url", lambda: "https://example.org/pvs"
    )
    page = render([status()], True)
    assert 'href="https://example.org/pvs/blob/main/docs/metrics.md"' in page


def test_the_scrape_config_offered_passes_promtool(tmp_path):
    """The block the status page and ``init`` print is one Prometheus accepts."""
    import subprocess

    from sunpower_pvs_exporter.web.status import scrape_config
    from support import require_program

    promtool = require_program(
        "promtool",
        not_tested="the scrape config offered to paste was not checked by promtool",
        fix="Debian: apt-get install prometheus, as .ci/run does",
    )
    for text in (
        scrape_config(["pvs-1", "pvs-2"], single_target=False, listen="pi.lan:9110", scheme="http"),
        scrape_config(["home"], single_target=True, listen="[::1]:9110", scheme="https"),
    ):
        config = tmp_path / "prometheus.yml"
        config.write_text(text)
        run = subprocess.run(
            [promtool, "check", "config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert run.returncode == 0, text + run.stdout + run.stderr


def test_one_poll_is_counted_in_the_singular():
    """Issue 22: the page said "1 polls, no failures"."""
    assert "1 poll, no failures" in render([status(polls=1)])
    assert "2 polls, no failures" in render([status(polls=2)])
