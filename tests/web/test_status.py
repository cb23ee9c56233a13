"""The status page renderer: escaping, redaction, power figures (no browser needed)."""

from __future__ import annotations

import pytest

from sunpower_pvs_exporter.health import TargetStatus
from sunpower_pvs_exporter.pvs.model import Device, LiveData, Meter, Snapshot
from sunpower_pvs_exporter.web.status import redact, render_status_page, site_power

NOW = 1_750_000_000.0


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
    page = render_status_page(
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


def test_site_power_prefers_live_data_then_meters():
    meters = (
        Meter(device=Device("Power Meter", "Mp"), mode="production", real_power_watts=3000.0),
        Meter(device=Device("Power Meter", "Mc"), mode="consumption", real_power_watts=-1000.0),
    )
    snapshot = Snapshot(backend="legacy", fetched_at=NOW, meters=meters)
    assert site_power(snapshot) == {
        "production": 3000.0,
        "consumption": 2000.0,
        "grid": -1000.0,
        "battery": None,
        "soc": None,
    }
    live = LiveData(
        pv_power_watts=4000.0,
        grid_power_watts=500.0,
        load_power_watts=5500.0,
        battery_power_watts=1000.0,
        state_of_charge_ratio=0.5,
    )
    snapshot = Snapshot(backend="varserver", fetched_at=NOW, meters=meters, live=live)
    assert site_power(snapshot) == {
        "production": 4000.0,
        "consumption": 5500.0,
        "grid": 500.0,
        "battery": 1000.0,
        "soc": 0.5,
    }
    page = render_status_page([status(snapshot=snapshot, last_poll_ok=True)], True)
    assert "1.00 kW" in page and "discharging, 50 % charged" in page


def test_page_without_targets_and_waiting_target():
    assert "No targets configured" in render_status_page([], single_target=False)
    page = render_status_page([status(polls=0)], single_target=False)
    assert "WAITING" in page
    assert "metrics_path: /probe" in page
