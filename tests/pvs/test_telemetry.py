"""The telemetry WebSocket against the simulator: enable, merge, expire, reconnect."""

from __future__ import annotations

import asyncio

import pytest

from sunpower_pvs_exporter.pvs.model import LiveData
from sunpower_pvs_exporter.pvs.readers import make_reader
from sunpower_pvs_exporter.pvs.telemetry import TelemetryStream, merge_telemetry
from sunpower_pvs_exporter.pvs.varserver import VarserverClient
from support import tls_target_for


@pytest.fixture(autouse=True)
def no_password_in_environment(monkeypatch):
    monkeypatch.delenv("SUNPOWER_PVS_PASSWORD", raising=False)


def test_merge_keeps_fields_a_partial_message_leaves_out():
    first = merge_telemetry(None, {"notification": "power", "params": {"pv_p": "1.5", "soc": 0.5}})
    assert first == LiveData(pv_power_watts=1500.0, state_of_charge_ratio=0.5)
    second = merge_telemetry(first, {"notification": "power", "params": {"pv_p": "2"}})
    assert second is not None
    assert second.pv_power_watts == 2000.0 and second.state_of_charge_ratio == 0.5
    for junk in ({"notification": "other", "params": {}}, {"params": []}, [], "x", None):
        assert merge_telemetry(second, junk) is second


async def until(predicate, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")


async def test_stream_enables_pushes_expires_and_reconnects(make_simulator):
    sim = await make_simulator(api="varserver", inverters=3, battery_modules=1)
    sim.pvs.telemetry_interval = 0.05
    client = make_reader(tls_target_for(sim, api="varserver"))
    assert isinstance(client, VarserverClient)
    now = [0.0]
    stream = TelemetryStream(
        f"ws://127.0.0.1:{sim.telemetry_port}/",
        enable=client.enable_telemetry,
        max_age=5.0,
        backoff_start=0.05,
        backoff_cap=0.2,
        clock=lambda: now[0],
    )
    stream.start()
    try:
        await until(lambda: stream.messages >= 3)
        assert sim.pvs.telemetry_enabled
        live = stream.latest()
        assert live is not None
        state = sim.pvs.state()
        assert live.state_of_charge_ratio == pytest.approx(state.storage.soc)
        assert live.pv_power_watts == pytest.approx(state.live.pv_kw * 1000)
        # The stream stops (PVS reboot): values expire instead of going stale.
        sim.pvs.reboot()
        now[0] += 10.0
        assert stream.latest() is None
        # ...and it comes back by itself, enabling telemetry again after login.
        await until(lambda: stream.connects >= 2)
        await until(lambda: stream.latest() is not None)
        assert sim.pvs.telemetry_connections >= 2
    finally:
        await stream.stop()
        await client.close()
