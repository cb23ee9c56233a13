"""The status page renderer: escaping, redaction, power figures (no browser needed)."""

from __future__ import annotations

import dataclasses
import html
import re
import time

import pytest
import yaml

from sunpower_pvs_exporter.day_record import DayCurve
from sunpower_pvs_exporter.health import TargetStatus
from sunpower_pvs_exporter.pvs.model import Device, Inverter, LiveData, Meter, Snapshot
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


# --- what is wrong first; the inverter grid; today's curve ---------------------------


def inverters(*watts: float | None, state: str = "working", prefix: str = "E") -> tuple:
    return tuple(
        Inverter(device=Device("Inverter", f"{prefix}{n}", state=state), ac_power_watts=w)
        for n, w in enumerate(watts, start=1)
    )


def up_with(*invs: Inverter, **fields) -> TargetStatus:
    devices = tuple(i.device for i in invs) + fields.pop("devices", ())
    snapshot = Snapshot(backend="legacy", fetched_at=NOW, inverters=invs, devices=devices, **fields)
    return status(target="roof", snapshot=snapshot, last_poll_ok=True, last_snapshot_at=NOW)


def problem_list(page: str) -> list[str]:
    start = page.index('id="problems"')
    block = page[start : page.index("</section>", start)]
    return [
        re.sub(r"<[^>]+>", "", html.unescape(li))
        for li in re.findall(r"<li[^>]*>(.*?)</li>", block)
    ]


def test_what_is_wrong_comes_first_one_line_per_problem():
    down = status(
        target="garage",
        last_error="DeviceList: HTTP 500 password=hunter2",
        last_error_reason="http_status",
        last_success_at=NOW - 720,
        consecutive_failures=3,
    )
    meter = Device("Power Meter", "PM1", state="error", data_time=NOW)
    roof = up_with(*inverters(300.0, 310.0, 0.0, 150.0), devices=(meter,))
    page = render([roof, down], single_target=False)
    assert page.index('id="problems"') < page.index("<table")
    lines = problem_list(page)
    assert lines == [
        "roof: inverter E3 dead: makes 0 W while its array's median is 225 W (array site)",
        "roof: inverter E4 low: 150 W, 67 % of its array's median 225 W (array site)",
        "roof: Power Meter PM1 state error",
        "garage: PVS down: http_status: DeviceList: HTTP 500 password=*** "
        "(last good poll 12 min ago, 3 failed polls in a row)",
    ]
    assert "hunter2" not in page


def test_nothing_wrong_says_so():
    page = render([up_with(*inverters(300.0, 300.0, 300.0))])
    assert problem_list(page) == []
    assert "Nothing is wrong" in page[: page.index("<main")]


def badge(page: str, target: str) -> tuple[str, str]:
    section = page[page.index(f'id="target-{target}"') :]
    found = re.search(r'<span class="badge (\w+)">([^<]*)</span>', section)
    assert found is not None
    return found.group(1), found.group(2)


def test_an_up_site_with_a_failed_device_is_not_plain_green():
    meter = Device("Power Meter", "PM1", state="error", data_time=NOW)
    assert badge(render([up_with(devices=(meter,))]), "roof") == ("warn", "UP · 1 problem")
    two = up_with(*inverters(300.0, 300.0, 0.0), devices=(meter,))
    assert badge(render([two]), "roof") == ("warn", "UP · 2 problems")
    assert badge(render([up_with(*inverters(300.0, 300.0, 300.0))]), "roof") == ("up", "UP")


def test_problem_lines_of_one_target_are_bounded_and_counted():
    dead = inverters(*([None] * 13), state="error")
    # Daylight: the 15 producing ones make the median.
    busy = up_with(*dead, *inverters(*([300.0] * 15), prefix="S"))
    lines = problem_list(render([busy]))
    assert len(lines) == 11
    assert lines[0] == (
        "roof: inverter E1 dead: state error, makes nothing while its array's median "
        "is 300 W (array site)"
    )
    assert lines[-1] == "roof: and 3 more problems (see its section below)"
    assert badge(render([busy]), "roof") == ("warn", "UP · 13 problems")


def grid(page: str, target: str) -> dict[str, dict[str, str]]:
    section = page[page.index(f'id="target-{target}"') :].split("</section>")[0]
    arrays: dict[str, dict[str, str]] = {}
    for name, body in re.findall(
        r'<div class="array" data-array="([^"]*)">(.*?)</ul>', section, re.S
    ):
        arrays[name] = dict(re.findall(r'data-serial="([^"]*)" data-verdict="([^"]*)"', body))
    return arrays


def test_each_site_shows_its_inverters_as_a_grid_by_array():
    arrays = (("W1", "west"), ("W2", "west"), ("W3", "west"))
    roof = up_with(
        *inverters(300.0, 290.0, 5.0, None),  # median 147.5 W
        *inverters(100.0, 0.0, 20.0, prefix="W"),
        inverter_arrays=arrays,
    )
    page = render([roof])
    assert grid(page, "roof") == {
        "site": {"E1": "normal", "E2": "normal", "E3": "dead", "E4": "dead"},
        "west": {"W1": "night", "W2": "night", "W3": "night"},
    }
    # The colour key says what each colour means.
    assert "under 5 %" in page and "under 80 %" in page


def test_no_grid_without_inverters():
    page = render([up_with()])
    assert 'class="inverter-grid"' not in page


def day_curve(start: float, points: dict[int, tuple[float, float]]) -> DayCurve:
    production = [None] * 288
    consumption = [None] * 288
    for index, (p, c) in points.items():
        production[index] = p
        consumption[index] = c
    return DayCurve(start, start + 86400, 300, tuple(production), tuple(consumption))


def test_todays_curve_is_inline_svg_with_both_series():
    start = NOW - 12 * 3600
    curve = day_curve(start, {i: (i * 10.0, 500.0) for i in range(100, 150)})
    page = render([up_with()], curves={"roof": curve})
    section = page[page.index('id="target-roof"') :].split("</section>")[0]
    svg = section[section.index("<svg") : section.index("</svg>") + 6]
    assert 'class="curve production"' in svg and 'class="curve consumption"' in svg
    production_path = re.search(r'class="curve production" d="([^"]+)"', svg).group(1)
    assert production_path.startswith("M100 ") and production_path.count("L") == 49
    assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
    # Energy so far from the buckets: 500 W for 50 x 5 min = 2.08 kWh.
    assert "2.08 kWh" in section


def test_a_day_without_polls_yet_says_so():
    curve = day_curve(NOW - 3600, {})
    page = render([up_with()], curves={"roof": curve})
    assert "<svg" not in page and "no poll today yet" in page


def test_only_the_first_targets_get_grid_and_curve(monkeypatch):
    monkeypatch.setattr("sunpower_pvs_exporter.web.status.DAY_RECORD_TARGETS", 1)
    first = up_with(*inverters(300.0, 300.0, 300.0))
    second = dataclasses.replace(first, target="shed")
    curve = day_curve(NOW - 3600, {1: (1.0, 1.0)})
    page = render([first, second], single_target=False, curves={"roof": curve, "shed": curve})
    assert grid(page, "roof") and not grid(page, "shed")
    shed = page[page.index('id="target-shed"') :].split("</section>")[0]
    assert "<svg" not in shed and "first 1 target" in shed


def test_a_gap_in_the_polls_is_a_gap_in_the_line():
    from sunpower_pvs_exporter.web.day_chart import path

    assert path([None, 100.0, 50.0, None, 25.0, None, 0.0, 200.0], 100.0) == (
        "M1 0 L2 50 M4 75 l1 0 M6 100 L7 0"
    )


def test_polling_eased_off_is_a_line_at_the_top_too():
    from sunpower_pvs_exporter.pvs.ease_off import Easing

    eased = Easing(configured=120.0, interval=600.0, reboots=5, until=NOW + 3600)
    page = render([dataclasses.replace(up_with(), easing=eased)])
    assert problem_list(page) == [f"roof: PVS {eased.describe()}"]
    assert badge(page, "roof") == ("warn", "UP · 1 problem")
