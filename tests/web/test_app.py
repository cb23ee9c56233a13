"""The exporter's HTTP endpoints over real sockets, fed by the simulator."""

from __future__ import annotations

import asyncio
import gzip

import aiohttp
import pytest

from support import parse_samples, series, target_for


async def wait_up(http: aiohttp.ClientSession, url: str, want: float = 1.0) -> str:
    """Scrape until sunpower_pvs_up has the wanted value (bounded: 5 s)."""
    text = ""
    for _ in range(100):
        async with http.get(url) as response:
            assert response.status == 200
            text = await response.text()
        ups = series(parse_samples(text), "sunpower_pvs_up")
        if ups and ups[0][1] == want:
            return text
        await asyncio.sleep(0.05)
    raise AssertionError(f"sunpower_pvs_up never became {want}:\n{text[:2000]}")


async def test_metrics_serves_device_metrics_in_single_target_mode(
    make_simulator, make_exporter, http
):
    sim = await make_simulator(inverters=3, error_inverters=0)
    exporter = await make_exporter([target_for(sim)])
    text = await wait_up(http, exporter.url + "/metrics")
    samples = parse_samples(text)
    power = series(samples, "sunpower_pvs_inverter_ac_power_watts")
    assert len(power) == 3
    assert all(value > 50 for _, value in power), power
    assert series(samples, "python_info")


async def test_probe_unknown_target_is_400_and_contacts_nobody(make_simulator, make_exporter, http):
    sim = await make_simulator(inverters=1)
    exporter = await make_exporter([target_for(sim, name="a"), target_for(sim, name="b")])
    await asyncio.sleep(0.3)
    before = len(sim.pvs.log.entries)
    async with http.get(exporter.url + "/probe", params={"target": "127.0.0.1:80"}) as response:
        assert response.status == 400
        assert "unknown target" in await response.text()
    async with http.get(exporter.url + "/probe") as response:
        assert response.status == 400
    # The log only grows by the pollers' own DeviceList calls, never by a probe.
    assert all(
        e.name in {"DeviceList", "Get_Comm", "GridProfileGet"} for e in sim.pvs.log.entries[before:]
    )


async def test_probe_returns_only_that_target(make_simulator, make_exporter, http):
    sim_a = await make_simulator(inverters=2, seed=1)
    sim_b = await make_simulator(inverters=5, seed=2)
    exporter = await make_exporter([target_for(sim_a, name="a"), target_for(sim_b, name="b")])
    text = await wait_up(http, exporter.url + "/probe?target=b")
    samples = parse_samples(text)
    assert len(series(samples, "sunpower_pvs_inverter_ac_power_watts")) == 5
    assert [labels["target"] for labels, _ in series(samples, "sunpower_pvs_up")] == ["b"]
    # /metrics in multi-target mode: health of both, no device metrics.
    async with http.get(exporter.url + "/metrics") as response:
        metrics = parse_samples(await response.text())
    assert sorted(labels["target"] for labels, _ in series(metrics, "sunpower_pvs_up")) == [
        "a",
        "b",
    ]
    assert not series(metrics, "sunpower_pvs_inverter_ac_power_watts")


async def test_gzip_and_openmetrics_negotiation(make_simulator, make_exporter, http):
    sim = await make_simulator(inverters=2)
    exporter = await make_exporter([target_for(sim)])
    await wait_up(http, exporter.url + "/metrics")
    headers = {
        "Accept": "application/openmetrics-text; version=1.0.0",
        "Accept-Encoding": "gzip",
    }
    async with http.get(exporter.url + "/metrics", headers=headers, auto_decompress=False) as r:
        assert r.headers["Content-Encoding"] == "gzip"
        assert r.headers["Content-Type"].startswith("application/openmetrics-text")
        body = gzip.decompress(await r.read()).decode()
    assert body.endswith("# EOF\n")
    assert r.headers["Server"].startswith("sunpower-pvs-exporter/")


async def test_health_ready_and_unknown_paths(make_simulator, make_exporter, http):
    sim = await make_simulator(inverters=1)
    exporter = await make_exporter([target_for(sim)])
    for path, status in (("/-/healthy", 200), ("/-/ready", 200), ("/nope", 404)):
        async with http.get(exporter.url + path) as response:
            assert response.status == status, path
            assert "Traceback" not in await response.text()
    async with http.get(exporter.url + "/") as response:
        assert response.status == 200
        assert "site" in await response.text()


async def test_replace_targets_keeps_unchanged_pollers_and_serves_new_ones(
    make_simulator, make_exporter, http
):
    from sunpower_pvs_exporter.runtime import make_poller

    sim_a = await make_simulator(inverters=1, seed=1)
    sim_b = await make_simulator(inverters=2, seed=2)
    sim_c = await make_simulator(inverters=3, seed=3)
    a, b = target_for(sim_a, name="a"), target_for(sim_b, name="b")
    exporter = await make_exporter([a, b])
    state = exporter.state
    await wait_up(http, exporter.url + "/probe?target=a")
    poller_a = state.pollers["a"]

    c = target_for(sim_c, name="c")
    b_changed = target_for(sim_b, name="b", poll_interval=0.3)
    added, changed, removed = await state.replace_targets(
        [a, c], lambda t: make_poller(t, "background")
    )
    assert (added, changed, removed) == (["c"], [], ["b"])
    assert state.pollers["a"] is poller_a  # cache, schedule and backoff kept
    text = await wait_up(http, exporter.url + "/probe?target=c")
    assert len(series(parse_samples(text), "sunpower_pvs_inverter_ac_power_watts")) == 3
    async with http.get(exporter.url + "/probe?target=b") as response:
        assert response.status == 400

    added, changed, removed = await state.replace_targets(
        [a, c, b_changed], lambda t: make_poller(t, "background")
    )
    assert (added, changed, removed) == (["b"], [], [])
    added, changed, removed = await state.replace_targets(
        [a, c, b], lambda t: make_poller(t, "background")
    )
    assert (added, changed, removed) == ([], ["b"], [])
    await wait_up(http, exporter.url + "/probe?target=b")


@pytest.mark.parametrize(
    ("accept_encoding", "gzipped"),
    [
        ("gzip", True),
        ("br, GZIP;q=0.8", True),
        ("deflate, gzip", True),
        ("x-gzip-like", False),  # a substring, not the gzip coding
        ("identity;gzip=1", False),
        ("", False),
    ],
)
async def test_gzip_negotiation_is_prometheus_clients(
    accept_encoding: str, gzipped: bool, make_simulator, make_exporter, http
):
    sim = await make_simulator(inverters=2)
    exporter = await make_exporter([target_for(sim)])
    await wait_up(http, exporter.url + "/metrics")
    headers = {"Accept-Encoding": accept_encoding}
    async with http.get(exporter.url + "/metrics", headers=headers, auto_decompress=False) as r:
        body = await r.read()
        assert (r.headers.get("Content-Encoding") == "gzip") is gzipped
    text = gzip.decompress(body) if gzipped else body
    assert b"sunpower_pvs_up" in text


async def test_probe_unknown_target_from_flags_names_the_one_target(
    make_simulator, make_exporter, http
):
    """Issue 22: started from flags, /probe spoke of a config file that does not exist."""
    sim = await make_simulator(inverters=1)
    exporter = await make_exporter([target_for(sim, name="pvs.lan")])
    assert exporter.config.single_target
    async with http.get(exporter.url + "/probe", params={"target": "other"}) as response:
        assert response.status == 400
        assert await response.text() == (
            "unknown target 'other': this exporter runs from flags, without a config file; "
            "its target is 'pvs.lan'\n"
        )
