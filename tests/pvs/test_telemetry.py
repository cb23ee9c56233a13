"""The telemetry WebSocket against the simulator: enable, merge, keep, reconnect, give up."""

from __future__ import annotations

import asyncio
import logging

import pytest

from sunpower_pvs_exporter.pvs.model import LiveData
from sunpower_pvs_exporter.pvs.telemetry import TelemetryStream, merge_telemetry
from sunpower_pvs_exporter.pvs.varserver import VarserverClient
from sunpower_pvs_exporter.runtime import make_reader
from support import tls_target_for


def test_merge_keeps_fields_a_partial_message_leaves_out():
    first = merge_telemetry(None, {"notification": "power", "params": {"pv_p": "1.5", "soc": 0.5}})
    assert first == LiveData(pv_power_watts=1500.0, state_of_charge_ratio=0.5)
    second = merge_telemetry(first, {"notification": "power", "params": {"pv_p": "2"}})
    assert second is not None
    assert second.pv_power_watts == 2000.0 and second.state_of_charge_ratio == 0.5
    for junk in ({"notification": "other", "params": {}}, {"params": []}, [], "x", None):
        assert merge_telemetry(second, junk) is second


async def until(predicate, seconds: float = 8.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")


def client_for(sim) -> VarserverClient:
    client = make_reader(tls_target_for(sim, api="varserver"))
    assert isinstance(client, VarserverClient)
    return client


async def test_values_stay_through_quiet_minutes_and_come_back_after_a_dead_socket(
    make_simulator,
):
    # scale=0: steady output, so after the first message the PVS says nothing.
    sim = await make_simulator(api="varserver", inverters=3, battery_modules=1, scale=0.0)
    sim.pvs.telemetry_interval = 0.02
    client = client_for(sim)
    now = [1000.0]
    stream = TelemetryStream(
        f"ws://127.0.0.1:{sim.telemetry_port}/",
        enable=client.enable_telemetry,
        backoff_start=0.05,
        backoff_cap=0.2,
        clock=lambda: now[0],
        check_interval=0.02,
    )
    stream.start()
    try:
        await until(lambda: stream.latest() is not None)
        assert sim.pvs.telemetry_enabled
        live = stream.latest()
        state = sim.pvs.state()
        assert live.state_of_charge_ratio == pytest.approx(state.storage.soc)
        assert live.pv_power_watts == pytest.approx(state.live.pv_kw * 1000)
        # 70 s without a message is normal at steady output: values stay.
        now[0] += 70.0
        await asyncio.sleep(0.1)
        assert stream.latest() == live
        assert stream.connects == 1 and stream.messages == 1
        # The session that enabled it expires: the PVS goes silent, TCP open.
        sim.pvs.expire_sessions()
        now[0] += 21.0  # 91 s of silence
        assert stream.latest() is None
        await until(lambda: stream.silent_reconnects == 1)
        # Reconnected after enabling again (the client logs in again first);
        # the new connection's first message carries only pv_p: nothing of
        # the old connection (soc) is served with it.
        sim.pvs.telemetry_fields = frozenset({"pv_p"})
        await until(lambda: stream.latest() is not None)
        assert stream.connects == 2 and client.logins == 2
        fresh = stream.latest()
        assert fresh.pv_power_watts == pytest.approx(state.live.pv_kw * 1000)
        assert fresh.state_of_charge_ratio is None
    finally:
        await stream.stop()
        await client.close()


async def test_enable_failing_is_a_warning_and_the_socket_is_tried(make_simulator, caplog):
    sim = await make_simulator(api="varserver", inverters=1, scale=0.0)
    sim.pvs.telemetry_interval = 0.02
    sim.pvs.telemetry_enabled = True  # someone else enabled it
    sim.pvs.faults.status = 400
    sim.pvs.faults.only = frozenset({"/vars"})
    client = client_for(sim)
    stream = TelemetryStream(
        f"ws://127.0.0.1:{sim.telemetry_port}/", enable=client.enable_telemetry, backoff_cap=0.1
    )
    stream.start()
    try:
        await until(lambda: stream.latest() is not None)
    finally:
        await stream.stop()
        await client.close()
    assert any(
        "telemetry enable failed" in r.getMessage() and r.levelno == logging.WARNING
        for r in caplog.records
    )


async def test_pvs5_without_telemetry_stops_trying_with_one_line(make_simulator, caplog):
    sim = await make_simulator(api="varserver", inverters=1, telemetry=False)
    client = client_for(sim)
    stream = TelemetryStream(
        f"ws://127.0.0.1:{sim.telemetry_port}/",
        enable=client.enable_telemetry,
        backoff_start=0.01,
        backoff_cap=0.05,
    )
    stream.start()
    try:
        await until(lambda: stream.unsupported)
        await asyncio.sleep(0.2)
        enables = [e for e in sim.pvs.log.entries if "telemetryws" in e.raw_target]
        assert len(enables) == 3  # and no more after giving up
        assert stream.connects == 0 and stream.latest() is None
    finally:
        await stream.stop()
        await client.close()
    lines = [r for r in caplog.records if "has no telemetry stream" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING
