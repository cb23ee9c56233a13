"""``api: auto`` against legacy-only, varserver-only and both-speaking simulators.

Request counts are asserted: detection must cost the PVS as little as possible.
"""

from __future__ import annotations

import dataclasses
import logging

import pytest

from sunpower_pvs_exporter.pvs.detect import (
    LEGACY_REFUSALS_BEFORE_VARSERVER,
    AutoReader,
    SupervisorInfo,
    backend_for,
    parse_build,
    parse_supervisor_info,
)
from sunpower_pvs_exporter.pvs.errors import PvsAuthError
from sunpower_pvs_exporter.pvs.varserver import GROUPS
from sunpower_pvs_exporter.simulator.server import MIXED_FIELD_BUILD
from support import tls_target_for

# varserver: one request per group of variables; steady state skips the
# families a site without SunVault lacks (ESS, transfer switch).
FIRST_POLL_VARS = ["/vars"] * len(GROUPS)
STEADY_VARS = ["/vars"] * (len(GROUPS) - 2)


def names(sim) -> list[str]:
    return [entry.name for entry in sim.pvs.log.entries]


@pytest.fixture
def auto_reader(open_reader):
    """``auto_reader(sim)``: an ``api: auto`` reader of ``sim``, closed after the test."""

    def factory(sim) -> AutoReader:
        reader = open_reader(tls_target_for(sim, api="auto"))
        assert isinstance(reader, AutoReader)
        return reader

    return factory


@pytest.mark.parametrize(
    ("build", "swver", "want"),
    [
        (61845, "", 61845),
        ("61840", "", 61840),
        (None, "2025.11, Build 5412", 5412),
        (None, "0.0.25.5412", 5412),
        (None, "2019.5, Build 4150", 4150),
        (None, "2025.06.24.61840", 61840),
        (None, "PVS6", None),
        ("", "", None),
    ],
)
def test_parse_build(build, swver, want):
    assert parse_build(build, swver) == want


@pytest.mark.parametrize(
    ("model", "build", "want"),
    [
        ("PVS6", 61840, "varserver"),
        ("PVS6", 61839, "legacy"),
        ("PVS5", 5408, "varserver"),
        ("PVS5", 5407, "legacy"),
        ("", 41001, "legacy"),
    ],
)
def test_backend_for_build(model, build, want):
    assert backend_for(SupervisorInfo("ZT1", model, "", build))[0] == want


def test_supervisor_info_that_is_not_one():
    assert parse_supervisor_info({"result": "succeed"}) is None
    assert parse_supervisor_info([]) is None


async def test_legacy_only_pvs(make_simulator, caplog, auto_reader):
    sim = await make_simulator(api="legacy", tls=True, inverters=3)
    reader = auto_reader(sim)
    caplog.set_level(logging.INFO)
    assert reader.backend == ""
    snap = await reader.read()
    assert reader.backend == "legacy" and snap.backend == "legacy"
    # One request decides; then the legacy client's own first poll.
    assert names(sim) == [
        "/cgi-bin/dl_cgi/supervisor/info",
        "DeviceList",
        "Get_Comm",
        "GridProfileGet",
    ]
    sim.pvs.log.clear()
    await reader.read()
    assert names(sim) == ["DeviceList"]
    assert reader.detections == 1
    assert any("using the legacy API" in r.getMessage() for r in caplog.records)


async def test_varserver_only_pvs(make_simulator, auto_reader):
    sim = await make_simulator(api="varserver", inverters=3)
    reader = auto_reader(sim)
    snap = await reader.read()
    assert reader.backend == "varserver" and snap.backend == "varserver"
    # supervisor/info decides and gives the serial: no separate serial read.
    assert names(sim) == ["/cgi-bin/dl_cgi/supervisor/info", "/auth", *FIRST_POLL_VARS]
    sim.pvs.log.clear()
    await reader.read()
    assert names(sim) == STEADY_VARS
    assert sim.pvs.log.count("DeviceList") == 0


async def test_pvs_speaking_both_prefers_varserver(make_simulator, auto_reader):
    sim = await make_simulator(api="both", inverters=2)
    reader = auto_reader(sim)
    await reader.read()
    assert reader.backend == "varserver"
    assert names(sim) == ["/cgi-bin/dl_cgi/supervisor/info", "/auth", *FIRST_POLL_VARS]


async def test_old_firmware_without_supervisor_info_uses_device_list(make_simulator, auto_reader):
    sim = await make_simulator(api="legacy", tls=True, inverters=2)
    sim.pvs.faults.status = 404
    sim.pvs.faults.only = frozenset({"/cgi-bin/dl_cgi/supervisor/info"})
    reader = auto_reader(sim)
    snap = await reader.read()
    assert reader.backend == "legacy"
    assert len(snap.inverters) == 2
    # The DeviceList that decided is the poll's data: not read twice.
    assert sim.pvs.log.count("DeviceList") == 1


async def test_no_supervisor_info_and_device_list_403_means_varserver(make_simulator, auto_reader):
    sim = await make_simulator(api="varserver", inverters=2)
    sim.pvs.faults.status = 404
    sim.pvs.faults.only = frozenset({"/cgi-bin/dl_cgi/supervisor/info"})
    reader = auto_reader(sim)
    snap = await reader.read()
    assert reader.backend == "varserver" and snap.backend == "varserver"
    assert names(sim)[:2] == ["/cgi-bin/dl_cgi/supervisor/info", "DeviceList"]


async def test_firmware_update_switches_to_varserver_without_losing_the_poll(
    make_simulator, caplog, auto_reader
):
    sim = await make_simulator(api="both", tls=True, inverters=2)
    # Before the update: DeviceList works and supervisor/info reports an old build.
    sim.pvs.config = dataclasses.replace(sim.pvs.config, build=41001)
    reader = auto_reader(sim)
    caplog.set_level(logging.INFO)
    await reader.read()
    assert reader.backend == "legacy"
    # OTA update: DeviceList now 403, supervisor/info reports the new build.
    sim.pvs.api = "varserver"
    sim.pvs.config = dataclasses.replace(sim.pvs.config, build=61845)
    sim.pvs.log.clear()
    snap = await reader.read()
    assert snap.backend == "varserver" and reader.backend == "varserver"
    assert names(sim) == [
        "DeviceList",
        "/cgi-bin/dl_cgi/supervisor/info",
        "/auth",
        *FIRST_POLL_VARS,
    ]
    assert any("changed from legacy to varserver" in r.getMessage() for r in caplog.records)


async def test_wedged_old_pvs_403_does_not_flip_the_mode(make_simulator, auto_reader):
    sim = await make_simulator(api="legacy", tls=True, inverters=1)
    reader = auto_reader(sim)
    await reader.read()
    sim.pvs.faults.status = 403
    sim.pvs.faults.only = frozenset({"DeviceList"})
    with pytest.raises(PvsAuthError):
        await reader.read()
    assert reader.backend == "legacy"  # the build still says legacy
    assert sim.pvs.log.count("/auth") == 0


async def test_reboot_triggers_one_cheap_redetection(make_simulator, auto_reader):
    sim = await make_simulator(api="varserver", inverters=1)
    reader = auto_reader(sim)
    await reader.read()
    sim.pvs.site.boot_time = sim.pvs.clock.now() - 60  # uptime drops: it rebooted
    sim.pvs.reboot()
    await reader.read()
    sim.pvs.log.clear()
    await reader.read()
    assert names(sim) == ["/cgi-bin/dl_cgi/supervisor/info", *STEADY_VARS]
    assert reader.detections == 2


async def test_build_61839_speaking_only_varserver_is_found_by_a_login(
    make_simulator, caplog, auto_reader
):
    sim = await make_simulator(api="varserver", inverters=2, build=MIXED_FIELD_BUILD)
    reader = auto_reader(sim)
    caplog.set_level(logging.INFO)
    for _ in range(LEGACY_REFUSALS_BEFORE_VARSERVER - 1):
        with pytest.raises(PvsAuthError):
            await reader.read()
        assert reader.backend == "legacy"  # the build says legacy
    assert sim.pvs.log.count("/auth") == 0
    snap = await reader.read()  # the third refusal: a varserver login decides
    assert reader.backend == "varserver" and snap.backend == "varserver"
    assert len(snap.inverters) == 2
    # After a reboot the build still says legacy: it is remembered.
    sim.pvs.reboot()
    sim.pvs.site.boot_time = sim.pvs.clock.now() - 60
    await reader.read()
    sim.pvs.log.clear()
    await reader.read()
    assert reader.backend == "varserver"
    assert sim.pvs.log.count("DeviceList") == 0
    changed = [r.getMessage() for r in caplog.records if "changed from legacy" in r.getMessage()]
    assert len(changed) == 1 and "varserver login works" in changed[0]


async def test_wedged_legacy_pvs_tries_varserver_then_stays_legacy(
    make_simulator, caplog, auto_reader
):
    sim = await make_simulator(api="legacy", tls=True, inverters=1)
    reader = auto_reader(sim)
    await reader.read()
    sim.pvs.faults.status = 403
    sim.pvs.faults.only = frozenset({"DeviceList"})
    for _ in range(LEGACY_REFUSALS_BEFORE_VARSERVER):
        with pytest.raises(PvsAuthError):
            await reader.read()
    assert reader.backend == "legacy"
    assert sim.pvs.log.count("/auth") == 1  # one login tried, refused (no varserver)
    sim.pvs.faults.clear()  # power-cycled: DeviceList answers again
    snap = await reader.read()
    assert snap.backend == "legacy"
    assert any("staying on legacy" in r.getMessage() for r in caplog.records)
