"""contrib/alertmanager: amtool accepts the config, every receiver block and template.

The end-to-end delivery (real Prometheus, real Alertmanager, simulator
faults, notifications received) is tests/e2e/test_alertmanager.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from contrib.alertmanager_config import (
    ALERTMANAGER_YML,
    TEMPLATES,
    receiver_blocks,
    uncommented,
    write_config,
)
from contrib.promql_names import REPO, RULE_FILES
from e2e.monitoring_stack import require_binaries

DATA = REPO / "tests" / "testdata" / "alertmanager"
GROUPED = DATA / "grouped_warnings.json"
ONE_RESOLVED = DATA / "one_critical_resolved.json"
CHANNELS = {"email", "ntfy", "pushover", "telegram", "webhook"}
DASHBOARDS = {
    json.loads(path.read_text())["uid"]: json.loads(path.read_text())
    for path in sorted((REPO / "contrib" / "grafana").glob("*.json"))
}


def amtool(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    binary = require_binaries("amtool")["amtool"]
    return subprocess.run(
        [binary, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


def check_config(config: dict[str, Any], directory: Path) -> None:
    path = write_config(config, directory)
    run = amtool("check-config", str(path))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


def render(text: str, data: Path | None = None, *, html: bool = False, tz: str = "UTC") -> str:
    args = [
        "template",
        "render",
        f"--template.glob={TEMPLATES[0].parent}/*.tmpl",
        f"--template.text={text}",
        f"--template.type={'html' if html else 'text'}",
    ]
    if data is not None:
        args.append(f"--template.data={data}")
    run = amtool(*args, env={"TZ": tz})
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def defined_templates() -> set[str]:
    return {
        name
        for path in TEMPLATES
        for name in re.findall(r'\{\{-? define "([^"]+)"', path.read_text())
    }


@pytest.mark.e2e
def test_shipped_config_passes_amtool(tmp_path: Path):
    run = amtool("check-config", str(ALERTMANAGER_YML))
    assert run.returncode == 0, run.stdout + run.stderr
    # As shipped the owner receiver is empty: nothing is sent until one is filled in.
    config = yaml.safe_load(ALERTMANAGER_YML.read_text())
    (owner,) = config["receivers"]
    assert owner == {"name": "owner"}


def test_every_channel_has_a_ready_to_fill_block():
    blocks = receiver_blocks()
    assert set(blocks) == CHANNELS
    kinds = {name: set(yaml.safe_load(text)) for name, text in blocks.items()}
    assert kinds == {
        "email": {"email_configs"},
        "ntfy": {"webhook_configs"},
        "pushover": {"pushover_configs"},
        "telegram": {"telegram_configs"},
        "webhook": {"webhook_configs"},
    }
    for name, text in blocks.items():
        (configs,) = yaml.safe_load(text).values()
        for entry in configs:
            assert entry["send_resolved"] is True, name


@pytest.mark.e2e
@pytest.mark.parametrize("channel", sorted(CHANNELS))
def test_each_receiver_block_uncommented_passes_amtool(channel: str, tmp_path: Path):
    check_config(uncommented(channel), tmp_path)


@pytest.mark.e2e
def test_all_receiver_blocks_together_pass_amtool(tmp_path: Path):
    check_config(uncommented(*sorted(CHANNELS)), tmp_path)


def test_receivers_use_our_templates():
    """Every templated field of the blocks names a template we ship."""
    defined = defined_templates()
    used = set(re.findall(r'template "([^"]+)"', "".join(receiver_blocks().values())))
    assert used, "the receiver blocks use none of our templates"
    assert used <= defined, used - defined
    assert {"sunpower.title", "sunpower.text", "sunpower.html"} <= used


# What each template is given: one alert (from a group's .Alerts) or the group.
ALERT_TEMPLATES = {"sunpower.site", "sunpower.device", "sunpower.alert", "sunpower.dashboard_url"}
GROUP_TEMPLATES = {
    "sunpower.title",
    "sunpower.text",
    "sunpower.html",
    "sunpower.first_dashboard_url",
    "sunpower.grafana_url",
}


@pytest.mark.e2e
def test_every_template_renders():
    assert defined_templates() == ALERT_TEMPLATES | GROUP_TEMPLATES
    for name in sorted(defined_templates()):
        argument = "(index .Alerts 2)" if name in ALERT_TEMPLATES else "."
        for html in (False, True):
            out = render(f'{{{{ template "{name}" {argument} }}}}', GROUPED, html=html)
            assert out.strip(), f"{name} rendered nothing"
    # The third alert of the data: a PVS, named by its model.
    assert render('{{ template "sunpower.device" (index .Alerts 2) }}', GROUPED) == (
        "PV Supervisor PVS6 ZT01234567890AB"
    )
    assert render('{{ template "sunpower.site" (index .Alerts 2) }}', GROUPED) == "cabin"


@pytest.mark.e2e
def test_text_names_site_device_what_to_do_and_dashboard():
    text = render('{{ template "sunpower.text" . }}', GROUPED)
    problems, resolved = text.split("RESOLVED", 1)
    # Firing first, each with its site, device (if any), what to do and a link.
    assert "PROBLEM at site home: PVS home is not answering the exporter" in problems
    assert "What to do: The exporter at home has had no good read" in problems
    assert "/d/sunpower-pvs-supervisor?var-instance=home" in problems
    assert "PROBLEM at site cabin: PVS ZT01234567890AB flash storage nearly full" in problems
    assert "Device: PV Supervisor PVS6 ZT01234567890AB" in problems
    assert " at site cabin: Inverter E00122334455667 on cabin is not reporting" in resolved
    assert "Device: Inverter E00122334455667" in resolved
    assert "var-instance=cabin&var-inverter=E00122334455667" in resolved
    assert "What to do" not in resolved  # an ended problem says what it was, not what to do
    assert "Was: Inverter E00122334455667 (state missing)" in resolved
    assert "Since: Mon 1 Jun 18:04 UTC" in problems


@pytest.mark.e2e
def test_times_are_in_the_alertmanagers_zone():
    """Times read as the owner's clock: the zone of the Alertmanager process (TZ)."""
    text = render('{{ template "sunpower.text" . }}', GROUPED, tz="Asia/Tokyo")
    assert "Since: Tue 2 Jun 03:04 JST" in text
    assert "From Tue 2 Jun 02:00 to Tue 2 Jun 03:30 JST" in text


@pytest.mark.e2e
def test_titles_say_what_and_how_many():
    assert render('{{ template "sunpower.title" . }}', GROUPED) == (
        "SunPower: 2 problems, 1 resolved"
    )
    assert render('{{ template "sunpower.title" . }}', ONE_RESOLVED) == (
        "SunPower resolved: No solar production on home"
    )


@pytest.mark.e2e
def test_html_escapes_what_the_alert_says(tmp_path: Path):
    doc = json.loads(GROUPED.read_text())
    doc["alerts"][0]["annotations"]["description"] = "<script>x</script> & more"
    data = tmp_path / "data.json"
    data.write_text(json.dumps(doc))
    html = render('{{ template "sunpower.html" . }}', data, html=True)
    assert "<script>" not in html
    assert "&lt;script&gt;x&lt;/script&gt; &amp; more" in html


@pytest.mark.e2e
def test_every_alert_links_to_a_dashboard_that_exists(tmp_path: Path):
    """The link of each shipped alert opens one of our dashboards on its site."""
    alerts = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    labels = {"alertname": rule["alert"], "instance": "home", "device_id": "X1"}
                    alerts.append({"status": "firing", "labels": labels, "annotations": {}})
    assert len(alerts) >= 9
    data = tmp_path / "alerts.json"
    data.write_text(json.dumps({"status": "firing", "alerts": alerts}))
    out = render(
        '{{ range .Alerts }}{{ .Labels.alertname }} {{ template "sunpower.dashboard_url" . }}\n'
        "{{ end }}",
        data,
    )
    links = dict(line.split(" ", 1) for line in out.strip().splitlines())
    assert set(links) == {a["labels"]["alertname"] for a in alerts}
    for alert, link in links.items():
        match = re.fullmatch(r"http://localhost:3000/d/([a-z-]+)\?(.*)", link)
        assert match, f"{alert}: {link}"
        uid, query = match.groups()
        assert uid in DASHBOARDS, f"{alert}: no dashboard {uid}"
        variables = {v["name"] for v in DASHBOARDS[uid]["templating"]["list"]}
        for pair in query.split("&"):
            name = pair.split("=")[0].removeprefix("var-")
            assert name in variables, f"{alert}: {uid} has no variable {name}"
        if "Inverter" in alert:
            assert uid == "sunpower-pvs-inverters" and "var-inverter=X1" in query, alert
