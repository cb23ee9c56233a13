"""The status page rendered by a real headless Chromium (Debian package ``chromium``).

The simulator and the exporter run in-process on 127.0.0.1; Chromium is driven
over the DevTools protocol (a websocket, with aiohttp — no npm, no
playwright). The test saves desktop and phone screenshots under its tmp_path
and asserts on the live DOM: targets listed, values shown, no secrets, no
console errors, no horizontal scrolling on a phone.

Skips (loudly) only when chromium is missing and SUNPOWER_PVS_REQUIRE_E2E is
not set; CI sets it, so there a missing browser fails the test.
Set SUNPOWER_PVS_UPDATE_SCREENSHOT=1 to refresh docs/status-page.png.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import bcrypt
import pytest

from support import FakeClock, parse_samples, require_program, series, target_for

pytestmark = pytest.mark.e2e

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--mute-audio",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)
BASIC_PASSWORD = "browser-test-basic-secret-5d1f"
PVS_PASSWORD = "browser-test-pvs-secret-a94c"
REPO = Path(__file__).resolve().parents[2]


def find_chromium() -> str:
    return require_program(
        *CHROMIUM_NAMES,
        not_tested="the status page was NOT tested in a browser",
        fix="apt-get install chromium",
    )


class DevTools:
    """A minimal Chrome DevTools Protocol client over one browser websocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            doc = json.loads(message.data)
            future = self.pending.pop(doc.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(doc)
            elif "method" in doc:
                self.events.append(doc)

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        message_id = next(self.ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[message_id] = future
        payload: dict[str, Any] = {"id": message_id, "method": method, "params": params or {}}
        if session is not None:
            payload["sessionId"] = session
        await self.ws.send_str(json.dumps(payload))
        async with asyncio.timeout(20):
            reply = await future
        if "error" in reply:
            raise AssertionError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    async def close(self) -> None:
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader


@pytest.fixture
async def chromium(tmp_path: Path) -> AsyncIterator[DevTools]:
    """A headless Chromium on a fresh profile; always killed at teardown."""
    binary = find_chromium()
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    log_path = tmp_path / "chromium.log"
    log = log_path.open("wb")
    process = await asyncio.create_subprocess_exec(
        binary,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        "about:blank",
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    session: aiohttp.ClientSession | None = None
    devtools: DevTools | None = None
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or len(port_file.read_text().splitlines()) < 2:
            if process.returncode is not None or time.monotonic() > deadline:
                log.flush()
                raise AssertionError("chromium did not start:\n" + log_path.read_text()[-3000:])
            await asyncio.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        session = aiohttp.ClientSession()
        ws = await session.ws_connect(f"ws://127.0.0.1:{int(port)}{path}", max_msg_size=0)
        devtools = DevTools(ws)
        yield devtools
    finally:
        if devtools is not None:
            await devtools.close()
        if session is not None:
            await session.close()
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(10):
                    await process.wait()
            except TimeoutError:
                process.kill()
                async with asyncio.timeout(10):
                    await process.wait()
        log.close()


async def open_page(
    devtools: DevTools, url: str, headers: dict[str, str], width: int, height: int, mobile: bool
) -> str:
    target = await devtools.send("Target.createTarget", {"url": "about:blank"})
    attached = await devtools.send(
        "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
    )
    session = attached["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        await devtools.send(f"{domain}.enable", session=session)
    await devtools.send("Network.setExtraHTTPHeaders", {"headers": headers}, session=session)
    await devtools.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
        session=session,
    )
    await devtools.send("Page.navigate", {"url": url}, session=session)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        state = await evaluate(devtools, session, "document.readyState")
        if state == "complete":
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("page never finished loading")
    return session


async def evaluate(devtools: DevTools, session: str, expression: str) -> Any:
    result = await devtools.send(
        "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=session
    )
    if "exceptionDetails" in result:
        raise AssertionError(f"{expression}: {result['exceptionDetails']}")
    return result["result"].get("value")


async def screenshot(devtools: DevTools, session: str, path: Path) -> None:
    shot = await devtools.send(
        "Page.captureScreenshot",
        {"format": "png", "captureBeyondViewport": True},
        session=session,
    )
    await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))


def console_problems(devtools: DevTools, session: str) -> list[str]:
    problems = []
    for event in devtools.events:
        if event.get("sessionId") != session:
            continue
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.exceptionThrown":
            problems.append(f"exception: {params}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning"):
            problems.append(f"console.{params['type']}: {params.get('args')}")
        elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
            problems.append(f"log {params['entry']['level']}: {params['entry'].get('text')}")
    return problems


DOM_FACTS = r"""
(() => {
  const sections = [...document.querySelectorAll('section.target')];
  return {
    title: document.title,
    version: document.getElementById('version')?.textContent,
    targets: sections.map(s => ({
      name: s.dataset.target,
      up: s.dataset.up,
      badge: s.querySelector('.badge')?.textContent,
      production: s.querySelector('[data-value=production]')?.textContent,
      consumption: s.querySelector('[data-value=consumption]')?.textContent,
      grid: s.querySelector('[data-value=grid]')?.textContent,
      battery: s.querySelector('[data-value=battery]')?.textContent,
      fields: Object.fromEntries([...s.querySelectorAll('tr[data-field]')].map(
        r => [r.dataset.field, r.querySelector('td').textContent])),
      devices: [...s.querySelectorAll('table.devices tbody tr')].map(
        r => [...r.cells].map(c => c.textContent)),
      problems: [...s.querySelectorAll('table.problems tbody tr')].map(
        r => [...r.cells].map(c => c.textContent)),
      tiles: Object.fromEntries([...s.querySelectorAll('.inverter-grid li')].map(
        t => [t.dataset.serial, t.dataset.verdict])),
      curves: [...s.querySelectorAll('svg path.curve')].map(
        p => [p.getAttribute('class'), (p.getAttribute('d').match(/[ML]/g) || []).length]),
      chartWidth: s.querySelector('.chart svg')?.getBoundingClientRect().width,
      energy: s.querySelector('.day figcaption')?.textContent,
    })),
    problemLines: [...document.querySelectorAll('#problems li')].map(
      li => [li.dataset.target, li.dataset.kind, li.textContent]),
    // What is wrong comes first: above the first table, by the layout itself.
    problemsBottom: document.getElementById('problems')?.getBoundingClientRect().bottom,
    firstTableTop: document.querySelector('table')?.getBoundingClientRect().top,
    firstSectionTop: document.querySelector('section.target')?.getBoundingClientRect().top,
    // Words (runs of letters and digits) laid out over two lines: broken mid-word.
    brokenWords: (() => {
      const broken = [];
      const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        if (!node.parentElement || node.parentElement.closest('pre, svg')) continue;
        for (const m of node.data.matchAll(/[\p{L}\p{N}_]+/gu)) {
          const range = document.createRange();
          range.setStart(node, m.index);
          range.setEnd(node, m.index + m[0].length);
          const tops = new Set([...range.getClientRects()].filter(r => r.width > 0)
            .map(r => Math.round(r.top)));
          if (tops.size > 1) broken.push(m[0]);
        }
      }
      return broken;
    })(),
    overflowing: [...document.querySelectorAll('body *')].filter(e => !e.closest('pre, svg'))
      .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
      .map(e => e.tagName + '.' + e.className).slice(0, 10),
    scrapeConfig: document.getElementById('scrape-config')?.textContent,
    links: [...document.querySelectorAll('a')].map(a => a.getAttribute('href')),
    scripts: document.scripts.length,
    externals: [...document.querySelectorAll('link[href],img[src],script[src]')]
      .map(e => e.getAttribute('href') || e.getAttribute('src'))
      .filter(u => !u.startsWith('data:')),
    html: document.documentElement.outerHTML,
    text: document.body.innerText,
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    fontSize: parseFloat(getComputedStyle(document.querySelector('.facts td')).fontSize),
  };
})()
"""


# The day the roof's polls are driven through: host-local hours, whatever the zone.
DAY_START_HOUR = 5
DAY_NOW_HOUR = 14
DAY_STEP = 300.0


async def test_status_page_in_headless_chromium(
    chromium, make_simulator, make_secure_exporter, tmp_path, monkeypatch, http
):
    # The demo setup: a producing site with a broken inverter (in error, so dead
    # in daylight) and a shaded one (low), and a second PVS that is down. The
    # roof's sun keeps this machine's hours, as does the status page's "today".
    from datetime import datetime

    morning = datetime(2026, 6, 21, DAY_START_HOUR).timestamp()  # naive: this host's zone
    clock = FakeClock(morning)
    sim = await make_simulator(inverters=12, error_inverters=1, tz=None, start=morning, scale=0)
    shaded = sim.pvs.inverter_fault(3, "degraded", factor=0.5)
    dead = await make_simulator(inverters=2)
    dead.pvs.faults.status = 500
    password_file = tmp_path / "pvs-password"
    password_file.write_text(PVS_PASSWORD + "\n")
    monkeypatch.setenv("SUNPOWER_PVS_TEST_PASSWORD", PVS_PASSWORD)
    hashed = bcrypt.hashpw(BASIC_PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    exporter = await make_secure_exporter(
        [
            target_for(sim, name="roof", password_file=str(password_file)),
            target_for(dead, name="garage", password_env="SUNPOWER_PVS_TEST_PASSWORD"),
        ],
        web_config=f"basic_auth_users:\n  prometheus: '{hashed}'\n",
        clock=clock,
    )
    clock.advance(1.0)  # past the first polls' spread: each target polls once
    token = base64.b64encode(f"prometheus:{BASIC_PASSWORD}".encode()).decode()
    auth = {"Authorization": f"Basic {token}"}
    # Wait (bounded) until the healthy target has data and the dead one has failed.
    for _ in range(100):
        async with http.get(exporter.url + "/metrics", headers=auth) as response:
            ups = {
                labels["target"]: value
                for labels, value in series(parse_samples(await response.text()), "sunpower_pvs_up")
            }
        if ups.get("roof") == 1.0 and "garage" in ups:
            failures = exporter.state.pollers["garage"].status().failures
            if sum(failures.values()):
                break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"targets never settled: {ups}")
    # The roof's morning, polled every 5 minutes (simulator and exporter clocks
    # moved together): what the status page's curve is drawn from.
    roof_poller = exporter.state.pollers["roof"]
    steps = int((DAY_NOW_HOUR - DAY_START_HOUR) * 3600 / DAY_STEP)
    for _ in range(steps):
        clock.advance(DAY_STEP)
        sim.pvs.clock.start = clock.now
        await roof_poller.poll()
    assert roof_poller.status().up

    shots = {}
    sessions = {}
    facts_by_view = {}
    for view, (width, height, mobile) in {
        "desktop": (1024, 900, False),
        "phone": (360, 800, True),
    }.items():
        session = await open_page(chromium, exporter.url + "/", auth, width, height, mobile)
        sessions[view] = session
        facts_by_view[view] = await evaluate(chromium, session, DOM_FACTS)
        shots[view] = tmp_path / f"status-page-{view}.png"
        await screenshot(chromium, session, shots[view])
        assert console_problems(chromium, session) == []
    for path in shots.values():
        assert path.read_bytes().startswith(b"\x89PNG"), path
        assert path.stat().st_size > 5000, path
    print(f"\nstatus page screenshots: {', '.join(str(p) for p in shots.values())}")

    facts = facts_by_view["desktop"]
    assert facts["title"] == "SunPower PVS Exporter"
    from sunpower_pvs_exporter import __version__

    assert facts["version"] == __version__
    targets = {t["name"]: t for t in facts["targets"]}
    assert sorted(targets) == ["garage", "roof"]
    roof, garage = targets["roof"], targets["garage"]
    assert roof["badge"] == "UP · 2 problems" and roof["up"] == "1"
    assert garage["badge"] == "DOWN" and garage["up"] == "0"
    # What is wrong, first: one line per problem, above the first table.
    broken = sim.pvs.site.inverters[-1].serial
    lines = {(target, kind): text for target, kind, text in facts["problemLines"]}
    assert sorted(lines) == [("garage", "down"), ("roof", "dead"), ("roof", "low")]
    assert broken in lines[("roof", "dead")] and shaded in lines[("roof", "low")]
    assert "HTTP 500" in lines[("garage", "down")]
    for view_facts in facts_by_view.values():
        assert view_facts["problemsBottom"] <= view_facts["firstSectionTop"]
        assert view_facts["problemsBottom"] <= view_facts["firstTableTop"]
    # The roof's inverters as tiles: the broken one dead, the shaded one low.
    expected = dict.fromkeys((inv.serial for inv in sim.pvs.site.inverters), "normal")
    expected[broken], expected[shaded] = "dead", "low"
    assert roof["tiles"] == expected
    assert garage["tiles"] == {}
    # Today's curve: both series, one point per 5-minute poll of the morning.
    curves = dict(roof["curves"])
    assert set(curves) == {"curve production", "curve consumption"}
    assert curves["curve production"] >= 100, curves
    assert "kWh" in roof["energy"]
    assert facts_by_view["phone"]["targets"][0]["chartWidth"] > 250
    # Values shown: early afternoon on the simulated site, so real power numbers.
    for key in ("production", "consumption", "grid"):
        assert roof[key] and roof[key] != "—", (key, roof)
        assert roof[key].endswith(("W", "kW")), roof[key]
    assert roof["battery"] == "none"
    assert roof["fields"]["backend"].startswith("legacy")
    assert "Build" in roof["fields"]["firmware"] or roof["fields"]["firmware"] != "—"
    assert roof["fields"]["last-success"].endswith("ago")
    assert roof["fields"]["duration"].endswith(" s")
    devices = {(row[0], row[1]): int(row[2]) for row in roof["devices"]}
    assert devices[("Inverter", "working")] == 11
    assert devices[("Inverter", "error")] == 1
    assert devices[("PVS", "working")] == 1
    # The one inverter in error, by serial, with its state and data age.
    assert [row[:3] for row in roof["problems"]] == [[broken, "Inverter", "error"]]
    assert roof["problems"][0][3]
    # Addresses with their port, so two PVSes on one host differ.
    assert roof["fields"]["host"] == f"127.0.0.1:{sim.port}"
    assert garage["fields"]["host"] == f"127.0.0.1:{dead.port}"
    # A scrape config for this exporter as it runs: its real port, both jobs.
    scrape = facts["scrapeConfig"]
    assert f"'127.0.0.1:{exporter.port}'" in scrape
    assert "job_name: sunpower_pvs_exporter" in scrape and "metrics_path: /probe" in scrape
    assert "-0 W" not in facts["text"] and "\u22120 W" not in facts["text"]
    assert "docs/metrics.md" in facts["text"]
    assert "http_status: " in garage["fields"]["error"]
    assert "HTTP 500" in garage["fields"]["error"]
    # Links to /metrics, /probe examples and docs.
    assert "/metrics" in facts["links"]
    assert "/probe?target=roof" in facts["links"]
    assert "/probe?target=garage" in facts["links"]
    assert any(link.startswith("https://") for link in facts["links"])
    # No JavaScript, no external assets.
    assert facts["scripts"] == 0
    assert facts["externals"] == []
    # No secrets anywhere on the page.
    for view_facts in facts_by_view.values():
        for secret in (BASIC_PASSWORD, PVS_PASSWORD, hashed, token, str(password_file)):
            assert secret not in view_facts["html"], secret
    # Readable on a phone (360 px): no sideways scrolling, no word broken
    # mid-word, text not shrunk; and at desktop width too.
    phone = facts_by_view["phone"]
    assert phone["innerWidth"] == 360
    for view_facts in facts_by_view.values():
        assert view_facts["scrollWidth"] <= view_facts["innerWidth"], view_facts["overflowing"]
        assert view_facts["brokenWords"] == []
    assert phone["fontSize"] >= 14
    assert sorted(t["name"] for t in phone["targets"]) == ["garage", "roof"]
    assert phone["targets"][0]["problems"] or phone["targets"][1]["problems"]

    if os.environ.get("SUNPOWER_PVS_UPDATE_SCREENSHOT") == "1":
        # The docs copy: a phone's view from the top to the roof's inverter grid.
        bottom = await evaluate(
            chromium,
            sessions["phone"],
            "document.querySelector('section.target .inverters').getBoundingClientRect().bottom",
        )
        shot = await chromium.send(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": 360, "height": bottom + 12, "scale": 1},
            },
            session=sessions["phone"],
        )
        (REPO / "docs").mkdir(exist_ok=True)
        (REPO / "docs" / "status-page.png").write_bytes(base64.b64decode(shot["data"]))


async def test_status_page_without_auth_is_refused_in_the_browser(
    chromium, make_simulator, make_secure_exporter
):
    sim = await make_simulator(inverters=1)
    hashed = bcrypt.hashpw(BASIC_PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    exporter = await make_secure_exporter(
        [target_for(sim, name="roof")], web_config=f"basic_auth_users:\n  p: '{hashed}'\n"
    )
    session = await open_page(chromium, exporter.url + "/", {}, 800, 600, False)
    html = await evaluate(chromium, session, "document.documentElement.outerHTML")
    assert "roof" not in html
    statuses = [
        event["params"]["response"]["status"]
        for event in chromium.events
        if event.get("sessionId") == session
        and event["method"] == "Network.responseReceived"
        and event["params"]["response"]["url"] == exporter.url + "/"
    ]
    assert statuses == [401]
