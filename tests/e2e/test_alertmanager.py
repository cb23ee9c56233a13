"""Alerts reach a person: real Prometheus + real Alertmanager + simulator faults.

Two simulated PVSes ("home", old firmware; "cabin", new firmware with three
inverters) behind one exporter, scraped through /probe by a real Prometheus
that runs the stack's configuration (contrib/stack/prometheus.yml) and every
rule file of contrib/prometheus/. It sends to two real Alertmanagers running
the shipped contrib/alertmanager/alertmanager.yml and templates, with the
telegram, ntfy and generic webhook blocks uncommented and aimed at a
receiver in this test (127.0.0.1):

* "day" runs in a time zone where it is now about noon;
* "night" in one where it is now about 00:30.

What is changed for the test, and nothing else: the addresses, the scrape and
evaluation intervals (1 s), every rule's ``for`` (1 s), and the routes'
group_wait / group_interval (1 s); the rules, routes, receivers and templates
are the shipped ones.

Faults: the "home" PVS stops answering (SunpowerPvsDown, a warning) and two
of "cabin"'s four inverters die (SunpowerPvsInverterDead, a warning
about a device, daylight-only). Then both are cleared.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from contrib.alertmanager_config import uncommented, with_timings, write_config
from contrib.promql_names import REPO, RULE_FILES
from e2e.monitoring_stack import LoopThread, http_get, noon_zone, require_binaries
from sunpower_pvs_exporter.config import ExporterConfig
from sunpower_pvs_exporter.runtime import ExporterState
from sunpower_pvs_exporter.simulator.server import SimulatedPvs, SimulatorServer
from sunpower_pvs_exporter.simulator.site import SimClock, SiteConfig
from sunpower_pvs_exporter.web.server import ExporterServer
from support import (
    http_ready,
    pollers_for,
    start_on_free_port,
    stop_process,
    target_for,
    tls_target_for,
)

SITE_HOSTS = {"home": "127.0.4.10", "cabin": "127.0.4.11"}
pytestmark = pytest.mark.e2e

STACK_PROMETHEUS = REPO / "contrib" / "stack" / "prometheus.yml"
STACK_EXPORTER = "sunpower-pvs-exporter:9110"
TIMING = 1.0
BOT_TOKEN = "123:test-token"
NTFY_PLACEHOLDER = "https://ntfy.sh/YOUR-SECRET-TOPIC"
WAIT = 45.0
# name: (API, simulator seed, inverters)
SITES = {"home": ("legacy", 31, 3), "cabin": ("varserver", 32, 4)}


def midnight_zone(now: float) -> str:
    """An IANA fixed-offset zone where it is between 00:00 and 01:00 at ``now``."""
    offset = -datetime.fromtimestamp(now, UTC).hour  # -23 .. 0
    if offset < -12:
        offset += 24
    return f"Etc/GMT{-offset:+d}"


class Inbox:
    """An HTTP server on 127.0.0.1 that keeps every notification it is sent.

    Answers Telegram's Bot API as Telegram would (``ok`` and the message), and
    anything else with 200.
    """

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, list[str]], Any]] = []
        self.lock = threading.Lock()
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                doc: Any
                try:
                    doc = json.loads(body)
                except ValueError:
                    doc = dict(urllib.parse.parse_qsl(body.decode()))
                with inbox.lock:
                    inbox.received.append((url.path, urllib.parse.parse_qs(url.query), doc))
                answer: dict[str, Any] = {"ok": True, "result": True}
                if url.path.endswith("/getMe"):
                    answer["result"] = {"id": 1, "is_bot": True, "first_name": "t", "username": "t"}
                elif url.path.endswith("/sendMessage"):
                    answer["result"] = {
                        "message_id": len(inbox.received),
                        "date": int(time.time()),
                        "chat": {"id": 42, "type": "private"},
                        "text": doc.get("text", ""),
                    }
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def messages(self, path_prefix: str) -> list[tuple[str, dict[str, list[str]], Any]]:
        with self.lock:
            return [m for m in self.received if m[0].startswith(path_prefix)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def receivers_for(inbox: Inbox, name: str) -> dict[str, Any]:
    """The shipped config, three blocks uncommented, placeholders aimed at ``inbox``."""
    config = with_timings(uncommented("telegram", "ntfy", "webhook"), TIMING)
    (owner,) = config["receivers"]
    (telegram,) = owner["telegram_configs"]
    telegram["api_url"] = f"{inbox.url}/{name}/telegram"
    telegram["bot_token"] = BOT_TOKEN
    ntfy, webhook = owner["webhook_configs"]
    assert ntfy["url"].startswith(NTFY_PLACEHOLDER + "?"), ntfy["url"]
    ntfy["url"] = ntfy["url"].replace(NTFY_PLACEHOLDER, f"{inbox.url}/{name}/ntfy/topic")
    webhook["url"] = f"{inbox.url}/{name}/webhook"
    return config


def quick_rules(directory: Path) -> Path:
    """Every shipped rule file, each ``for`` shortened to 1 s (nothing else changed)."""
    directory.mkdir()
    for path in RULE_FILES:
        doc = yaml.safe_load(path.read_text())
        for group in doc["groups"]:
            for rule in group["rules"]:
                if "for" in rule:
                    rule["for"] = f"{TIMING:g}s"
        (directory / path.name).write_text(yaml.safe_dump(doc, sort_keys=False))
    return directory


def stack_prometheus_config(
    rules: Path, exporter: str, alertmanagers: list[str], sites: list[str]
) -> dict[str, Any]:
    """contrib/stack/prometheus.yml aimed at our processes, with 1 s intervals."""
    config: dict[str, Any] = yaml.safe_load(STACK_PROMETHEUS.read_text())
    config["global"] = {key: f"{TIMING:g}s" for key in config["global"]}
    (pattern,) = config["rule_files"]
    config["rule_files"] = [str(rules / Path(pattern).name)]
    (manager,) = config["alerting"]["alertmanagers"]
    manager["static_configs"] = [{"targets": alertmanagers}]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    probe, health = jobs["sunpower_probe"], jobs["sunpower_exporter"]
    probe["static_configs"] = [{"targets": sites}]
    text = json.dumps([probe, health])
    assert text.count(STACK_EXPORTER) == 2, text
    # The stack's own Prometheus and Alertmanager jobs are left out (not this test's subject).
    config["scrape_configs"] = json.loads(text.replace(STACK_EXPORTER, exporter))
    return config


class AlertingStack:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.binaries = require_binaries("prometheus", "prometheus-alertmanager", "openssl")
        now = time.time()
        self.day_zone, self.night_zone = noon_zone(now), midnight_zone(now)
        self.loop = LoopThread()
        self.inbox = Inbox()
        self.processes: list[Any] = []
        self.pvs: dict[str, SimulatedPvs] = {}
        self.servers: dict[str, SimulatorServer] = {}
        self.exporter: ExporterServer | None = None
        self.alertmanager_ports: dict[str, int] = {}
        self.prometheus_port = 0

    def start(self) -> None:
        site_tz = ZoneInfo(self.day_zone)  # the sun is up on both sites
        for name, api, seed, inverters in (
            ("home", "legacy", 31, 3),
            ("cabin", "varserver", 32, 4),
        ):
            self.pvs[name] = SimulatedPvs(
                config=SiteConfig(tz=site_tz, seed=seed, inverters=inverters, error_inverters=0),
                clock=SimClock(start=time.time()),
                api=api,
            )
            self.start_simulator(name)
        password = self.workdir / "cabin.password"
        password.write_text(self.pvs["cabin"].password + "\n")
        password.chmod(0o600)
        config = ExporterConfig(
            targets=(
                target_for(self.servers["home"], name="home", poll_interval=0.5),
                tls_target_for(
                    self.servers["cabin"],
                    name="cabin",
                    api="varserver",
                    poll_interval=0.5,
                    password_file=str(password),
                ),
            ),
            listen_host="127.0.0.1",
            listen_port=0,
            single_target=False,
        )
        self.exporter = ExporterServer(ExporterState(config, pollers_for(config, backoff_cap=1.0)))
        self.loop.run(self.exporter.start())
        for name, zone in (("day", self.day_zone), ("night", self.night_zone)):
            self.start_alertmanager(name, zone)
        rules = quick_rules(self.workdir / "rules")
        prometheus_yml = self.workdir / "prometheus.yml"
        prometheus_yml.write_text(
            yaml.safe_dump(
                stack_prometheus_config(
                    rules,
                    exporter=f"127.0.0.1:{self.exporter.port}",
                    alertmanagers=[f"127.0.0.1:{p}" for p in self.alertmanager_ports.values()],
                    sites=list(self.pvs),
                )
            )
        )
        process, self.prometheus_port = start_on_free_port(
            lambda port: [
                self.binaries["prometheus"],
                f"--config.file={prometheus_yml}",
                f"--storage.tsdb.path={self.workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            lambda port: http_ready(f"http://127.0.0.1:{port}/-/ready"),
            self.workdir / "prometheus.log",
        )
        self.processes.append(process)

    def start_alertmanager(self, name: str, zone: str) -> None:
        directory = self.workdir / f"alertmanager-{name}"
        config = write_config(receivers_for(self.inbox, name), directory)
        process, port = start_on_free_port(
            lambda port: [
                self.binaries["prometheus-alertmanager"],
                f"--config.file={config}",
                f"--storage.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",  # no gossip port: a single instance
            ],
            lambda port: http_ready(f"http://127.0.0.1:{port}/-/ready"),
            directory / "alertmanager.log",
            env={"TZ": zone},
        )
        self.processes.append(process)
        self.alertmanager_ports[name] = port

    def start_simulator(self, name: str) -> None:
        old = self.servers.get(name)
        server = SimulatorServer(
            self.pvs[name],
            host=SITE_HOSTS[name],  # each PVS its own host, with its own request queue
            port=old.port if old else 0,
            tls_port=old.tls_port if old else 0,
        )
        self.loop.run(server.start())
        self.servers[name] = server

    def stop_simulator(self, name: str) -> None:
        self.loop.run(self.servers[name].stop())

    def stop(self) -> None:
        for process in reversed(self.processes):
            stop_process(process)
        if self.exporter is not None:
            with contextlib.suppress(Exception):
                self.loop.run(self.exporter.stop())
        for server in self.servers.values():
            with contextlib.suppress(Exception):
                self.loop.run(server.stop())
        self.loop.close()
        self.inbox.close()

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"http://127.0.0.1:{self.prometheus_port}/api/v1/query?" + urllib.parse.urlencode(
            {"query": expr}
        )
        status, body = http_get(url)
        assert status == 200, body
        result: list[dict[str, Any]] = json.loads(body)["data"]["result"]
        return result

    def alertmanager_alerts(self, name: str) -> list[dict[str, Any]]:
        port = self.alertmanager_ports[name]
        status, body = http_get(f"http://127.0.0.1:{port}/api/v2/alerts")
        assert status == 200, body
        alerts: list[dict[str, Any]] = json.loads(body)
        return alerts

    def logs(self) -> str:
        parts = []
        for path in sorted(self.workdir.rglob("*.log")):
            tail = path.read_text(errors="replace").splitlines()[-15:]
            parts.append(f"--- {path.name} ({path.parent.name})\n" + "\n".join(tail))
        return "\n".join(parts)


def wait_until(what: str, check: Callable[[], bool], stack: AlertingStack) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {WAIT:g} s waiting for {what}\n{stack.logs()}")
        time.sleep(0.25)


def webhook_alerts(stack: AlertingStack, receiver: str) -> list[dict[str, Any]]:
    """Every alert of every webhook notification, with the notification's group."""
    found = []
    for _path, _query, doc in stack.inbox.messages(f"/{receiver}/webhook"):
        for alert in doc["alerts"]:
            found.append({**alert, "groupKey": doc["groupKey"], "groupLabels": doc["groupLabels"]})
    return found


def telegram_texts(stack: AlertingStack, receiver: str) -> list[str]:
    return [
        doc["text"]
        for path, _query, doc in stack.inbox.messages(f"/{receiver}/telegram")
        if path == f"/{receiver}/telegram/bot{BOT_TOKEN}/sendMessage"
    ]


def has(alerts: list[dict[str, Any]], status: str, alertname: str, **labels: str) -> bool:
    return any(
        a["status"] == status
        and a["labels"]["alertname"] == alertname
        and all(a["labels"].get(k) == v for k, v in labels.items())
        for a in alerts
    )


def told(stack: AlertingStack, status: str, word: str, *inverters: str) -> bool:
    """The day receiver has had both faults with this status, by webhook and in words."""
    alerts = webhook_alerts(stack, "day")
    texts = "\n".join(telegram_texts(stack, "day"))
    return (
        has(alerts, status, "SunpowerPvsDown", target="home", job="sunpower_probe")
        and all(
            has(alerts, status, "SunpowerPvsInverterDead", device_id=serial) for serial in inverters
        )
        and f"{word} at site home: PVS home" in texts
        and all(f"{word} at site cabin: Inverter {serial}" in texts for serial in inverters)
    )


def has_path(doc: Any, path: str) -> bool:
    """Whether ``.a.b`` (a Go template's field path) leads somewhere in ``doc``."""
    for part in path.strip(".").split("."):
        if not isinstance(doc, dict) or part not in doc:
            return False
        doc = doc[part]
    return True


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertingStack]:
    running = AlertingStack(tmp_path_factory.mktemp("alerting"))
    try:
        running.start()
        yield running
    finally:
        running.stop()


def test_faults_reach_the_owner_named_and_resolve(stack: AlertingStack):
    # Both sites scraped, the cabin's inverters all producing (the sun is up).
    wait_until(
        "four producing inverters on cabin",
        lambda: bool(stack.query('sunpower_pvs:site_inverters_producing{instance="cabin"} == 4')),
        stack,
    )
    wait_until(
        "home scraped through /probe",
        lambda: bool(stack.query('sunpower_pvs_up{job="sunpower_probe", instance="home"} == 1')),
        stack,
    )
    assert stack.inbox.messages("/") == [], "notifications before any fault"

    # --- the faults ---------------------------------------------------------------
    stack.stop_simulator("home")
    dead = stack.pvs["cabin"].vanish_inverter(1)
    also_dead = stack.pvs["cabin"].vanish_inverter(3)

    wait_until(
        "both problems at the day receiver",
        lambda: told(stack, "firing", "PROBLEM", dead, also_dead),
        stack,
    )
    alerts = webhook_alerts(stack, "day")
    inverters = {
        a["labels"]["device_id"]: a["labels"]
        for a in alerts
        if a["labels"]["alertname"] == "SunpowerPvsInverterDead"
    }
    assert set(inverters) == {dead, also_dead}, "an alert for a working inverter"
    assert {labels["instance"] for labels in inverters.values()} == {"cabin"}
    # The telegram message says it in words: site, device, what to do, and where to look.
    texts = "\n".join(telegram_texts(stack, "day"))
    assert "PROBLEM at site home: PVS home is not answering the exporter" in texts
    assert "What to do: The exporter at " in texts and "power cycle" in texts
    assert f"PROBLEM at site cabin: Inverter {dead} on cabin produces nothing" in texts
    assert f"/d/sunpower-pvs-inverters?var-instance=cabin&var-inverter={dead}" in texts
    assert "/d/sunpower-pvs-supervisor?var-instance=home" in texts
    # Warnings are grouped by severity: one message holds both dead inverters
    # (daylight-only warnings come in a message of their own, muted at night).
    assert all(
        a["groupLabels"] == {"severity": "warning"}
        for a in alerts
        if a["labels"]["severity"] == "warning"
    )
    assert any(
        {a["labels"].get("device_id") for a in doc["alerts"]} >= {dead, also_dead}
        for _path, _query, doc in stack.inbox.messages("/day/webhook")
    ), "the two dead inverters never came in one message"

    # The unreadable PVS is told once: its copy from the exporter's health job is inhibited.
    def health_copies() -> list[dict[str, Any]]:
        return [
            a
            for a in stack.alertmanager_alerts("day")
            if a["labels"]["alertname"] == "SunpowerPvsDown"
            and a["labels"].get("job") == "sunpower_exporter"
        ]

    wait_until("the PVS-down alert of the health job", lambda: bool(health_copies()), stack)
    inhibited = health_copies()
    assert all(a["status"]["inhibitedBy"] for a in inhibited), inhibited
    # ntfy got Alertmanager's JSON with its templates in the URL; every field they
    # read is in that JSON (for an alert's fields: in at least one alert sent, since
    # some are optional, e.g. "target" in {{or .labels.target .labels.instance}}).
    sent = stack.inbox.messages("/day/ntfy/topic")
    (_path, query, first) = sent[0]
    assert query["tpl"] == ["1"]
    alerts_sent = [alert for _path, _query, doc in sent for alert in doc["alerts"]]
    for template in (query["t"][0], query["m"][0]):
        outer, _, inner = template.partition("{{range .alerts}}")
        for field in re.findall(r"\.[a-z][A-Za-z.]*", outer):
            assert has_path(first, field), field
        for field in re.findall(r"\.[a-z][A-Za-z.]*", inner.partition("{{end}}")[0]):
            assert any(has_path(alert, field) for alert in alerts_sent), field

    # At night: the PVS-down warning is sent, the daylight-only inverter alert is not.
    wait_until(
        "the PVS-down warning at the night receiver",
        lambda: has(webhook_alerts(stack, "night"), "firing", "SunpowerPvsDown", target="home"),
        stack,
    )
    time.sleep(3 * TIMING)
    night = webhook_alerts(stack, "night")
    assert not any(a["labels"]["alertname"].startswith("SunpowerPvsInverter") for a in night)
    assert "Inverter" not in "\n".join(telegram_texts(stack, "night"))

    # --- the faults cleared: both are announced as resolved -------------------------
    stack.start_simulator("home")
    stack.pvs["cabin"].vanished_inverters.difference_update({dead, also_dead})

    wait_until(
        "both problems resolved at the day receiver",
        lambda: told(stack, "resolved", "RESOLVED", dead, also_dead),
        stack,
    )
