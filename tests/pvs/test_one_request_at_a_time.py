"""A PVS never has two of our requests at once, counting those we gave up on.

The PVS's ``/vars`` handler is one single-threaded FastCGI process, and a
PVS finishes a request even after the client stopped waiting for it. The
simulator's "slow_group" fault makes one group's answer outlast its timeout;
its request log counts the requests it is working on at once.
"""

from __future__ import annotations

from sunpower_pvs_exporter.runtime import make_live_stream, make_poller
from support import target_for, tls_target_for

OTHERS = ("info", "flashwear", "inverter", "livedata", "net")


def groups_read(sim, since: int) -> list[str]:
    """The groups whose ``/vars`` requests reached the PVS since log entry ``since``."""
    return [
        entry.raw_target.split("spx_", 1)[1]
        for entry in sim.pvs.log.entries[since:]
        if "spx_" in entry.raw_target
    ]


async def test_a_group_slower_than_its_timeout_never_overlaps_the_next_request(
    make_simulator, client_for
):
    """The meters answer after 1.6 s, their timeout is 1 s: the client waits for
    the PVS to finish before the next group, and the other groups still arrive
    in the same poll. From then on the failing group is read last."""
    sim = await make_simulator(api="varserver", inverters=3, scale=0.0)
    sim.pvs.faults.slow_variables = {"/sys/devices/meter/": 1.6}
    client = client_for(sim, timeout=4.0)  # 1 s per group, 3.6 s per poll
    assert client.request_timeout == 1.0
    snaps = []
    orders = []
    for _ in range(4):
        mark = len(sim.pvs.log.entries)
        snaps.append(await client.read())
        orders.append(groups_read(sim, mark))
    assert sim.pvs.log.max_in_flight == 1
    for snap in snaps:
        groups = {group.name: group.ok for group in snap.read_groups}
        assert not groups["meter"] and snap.meters == ()
        assert all(groups[name] for name in OTHERS), groups
        assert len(snap.inverters) == 3 and snap.live is not None and snap.interfaces
    # The first poll also looks for the families this site lacks (no SunVault).
    assert orders[0] == [
        "info",
        "flashwear",
        "meter",
        "inverter",
        "ess",
        "transfer_switch",
        "livedata",
        "net",
    ]
    # Retried last, so that a second timeout delays nothing else; skipped
    # on the third poll (backoff), tried again on the fourth.
    assert orders[1] == ["info", "flashwear", "inverter", "livedata", "net", "meter"]
    assert "meter" not in orders[2]
    assert orders[3][-1] == "meter"
    assert {g.name: g.failures for g in snaps[3].read_groups}["meter"] == 3
    sim.pvs.faults.clear()
    for _ in range(8):  # the backoff skips it for a few polls
        snap = await client.read()
        if snap.meters:
            break
    assert len(snap.meters) == 2
    assert sim.pvs.log.max_in_flight == 1


async def test_a_group_still_on_the_pvs_when_the_poll_ends_leaves_the_rest_to_the_next_poll(
    make_simulator, client_for
):
    """Flash wear answers after 2.5 s, past the whole poll's 1.8 s: the groups
    after it are not sent while the PVS works on it (not failures: nothing
    was asked), and the next poll reads them first, flash wear last."""
    sim = await make_simulator(api="varserver", inverters=3, scale=0.0)
    sim.pvs.faults.slow_variables = {"/sys/pvs/": 2.5}
    client = client_for(sim, timeout=2.0)  # 1 s per group, 1.8 s per poll
    mark = len(sim.pvs.log.entries)
    first = await client.read()
    assert groups_read(sim, mark) == ["info", "flashwear"]
    groups = {group.name: group for group in first.read_groups}
    assert first.supervisor is not None and groups["info"].ok
    assert not groups["flashwear"].ok and groups["flashwear"].failures == 1
    for name in ("meter", "inverter", "livedata", "net"):
        assert not groups[name].ok and groups[name].failures == 0, name
    assert first.inverters == () and first.meters == () and first.live is None
    mark = len(sim.pvs.log.entries)
    second = await client.read()
    # Including the look for the families the site lacks, which was due.
    assert groups_read(sim, mark) == [
        "info",
        "meter",
        "inverter",
        "ess",
        "transfer_switch",
        "livedata",
        "net",
        "flashwear",
    ]
    assert len(second.inverters) == 3 and len(second.meters) == 2
    assert second.live is not None and second.interfaces
    groups = {group.name: group for group in second.read_groups}
    assert all(groups[name].ok for name in ("info", "meter", "inverter", "livedata", "net"))
    assert sim.pvs.log.max_in_flight == 1
    # Closing waits for the PVS to finish the request given up on last.
    assert sim.pvs.log.in_flight == 1
    await client.close()
    assert sim.pvs.log.in_flight == 0


async def test_live_enable_after_a_poll_that_gave_up_on_a_group_waits_for_the_pvs(
    make_simulator,
):
    """The last group of a poll times out; the --live stream's enable request,
    next in line at the PVS gate, is sent only once the PVS answered it."""
    sim = await make_simulator(api="varserver", inverters=2, scale=0.0)
    sim.pvs.faults.slow_variables = {"/net/": 1.6}
    target = tls_target_for(sim, api="varserver", timeout=4.0, telemetry_port=sim.telemetry_port)
    poller = make_poller(target, "background")
    stream = make_live_stream(target, poller.reader)
    assert stream is not None and stream.enable is not None
    try:
        await poller.poll()
        status = poller.status()
        assert status.last_poll_ok and status.snapshot is not None
        assert not {g.name: g.ok for g in status.snapshot.read_groups}["net"]
        assert sim.pvs.log.in_flight == 1  # the PVS still works on the abandoned read
        await stream.enable()
        assert sim.pvs.telemetry_enabled
        assert sim.pvs.log.max_in_flight == 1
    finally:
        await poller.stop()


async def test_legacy_device_list_abandoned_by_the_poll_timeout_delays_the_next_poll(
    make_simulator,
):
    """DeviceList takes 2.5 s, the poll gives up after 2 s; a poll started right
    away sends its DeviceList only once the PVS has answered the first (and
    its own timeout starts then)."""
    sim = await make_simulator(inverters=2, scale=0.0)
    sim.pvs.faults.latency = 2.5
    sim.pvs.faults.only = frozenset({"DeviceList"})
    sim.pvs.faults.remaining = 1
    poller = make_poller(target_for(sim, timeout=2.0), "background", jitter=0.0)
    try:
        await poller.poll()
        assert poller.status().last_error_reason == "timeout"
        assert sim.pvs.log.in_flight == 1
        await poller.poll()
        status = poller.status()
        assert status.last_poll_ok, status.last_error
        assert sim.pvs.log.count("DeviceList") == 2
        assert sim.pvs.log.max_in_flight == 1
    finally:
        await poller.stop()
