"""``pvs/privacy.py``: which variables are the owner's, and a client that leaves them on the PVS."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from sunpower_pvs_exporter.pvs.privacy import (
    SUPERVISOR_VARIABLES,
    is_private_variable,
    looks_secret,
    without_secrets,
)
from sunpower_pvs_exporter.pvs.varserver_parse import parse_supervisor
from sunpower_pvs_exporter.simulator import legacy_api, varserver_api
from sunpower_pvs_exporter.simulator.site import Site, SiteConfig
from support import NOON_UTC

REAL_PAYLOADS = Path(__file__).resolve().parents[2].parent / "shared" / "real-payloads"


@pytest.mark.parametrize(
    "name",
    [
        "/sys/info/wpa_key",
        "/net/sta0/psk",
        "/sys/pvs/api_token",
        "wifiPassword",
        "WIFI_PASSPHRASE",
        "/sys/x/secret",
        "wpakey",
        "admin_pwd",
    ],
)
def test_names_of_secrets_look_secret(name):
    assert looks_secret(name)
    assert is_private_variable(name)


def test_sys_info_is_private_unless_shareable():
    for name in ("/sys/info/ssid", "/sys/info/finance_type", "/sys/info/something_new"):
        assert is_private_variable(name) and not looks_secret(name)
    for name in (*SUPERVISOR_VARIABLES, "/sys/info/fwrev", "/sys/info/lmac"):
        assert not is_private_variable(name)


def all_keys(doc: Any) -> set[str]:
    if isinstance(doc, dict):
        keys = {k for k in doc if isinstance(k, str)}
        if isinstance(doc.get("name"), str):
            keys.add(doc["name"])
        return keys.union(*(all_keys(v) for v in doc.values()))
    if isinstance(doc, list):
        return set().union(*(all_keys(item) for item in doc))
    return set()


def test_no_field_the_exporter_reads_looks_secret():
    """Only the Wi-Fi key: not one of the simulator's names, nor a real payload's field."""
    state = Site(SiteConfig(inverters=3, battery_modules=2), NOON_UTC).state(NOON_UTC)
    names = set(varserver_api.variables(state, "keep", "00:22:F2:00:00:01"))
    names |= all_keys(legacy_api.device_list(state, None, "keep"))
    names |= all_keys(legacy_api.get_comm(state, "HomeWifi"))
    assert {n for n in names if looks_secret(n)} == {"/sys/info/wpa_key"}


def test_no_field_of_a_real_payload_looks_secret_but_the_wifi_key():
    if not REAL_PAYLOADS.is_dir():
        pytest.skip(f"SKIPPED LOUDLY: {REAL_PAYLOADS} is absent; real field names not checked")
    names: set[str] = set()
    read = 0
    for path in sorted(REAL_PAYLOADS.glob("*.json")):
        try:
            names |= all_keys(json.loads(path.read_text(encoding="utf-8")))
        except ValueError:
            continue  # a few are not JSON as published
        read += 1
    assert read >= 20
    assert {n for n in names if looks_secret(n)} == {"/sys/info/wpa_key"}


def test_the_supervisor_needs_nothing_from_sys_info_but_what_is_read():
    state = Site(SiteConfig(inverters=1), NOON_UTC).state(NOON_UTC)
    everything = varserver_api.variables(state, "keep", "00:22:F2:00:00:01")
    read = {name: everything[name] for name in SUPERVISOR_VARIABLES}
    read["/sys/pvs/flashwear_type_b"] = everything["/sys/pvs/flashwear_type_b"]
    assert parse_supervisor(read) == parse_supervisor(everything)
    assert parse_supervisor(read) is not None


def test_without_secrets_drops_only_secrets():
    assert without_secrets({"/net/sta0/psk": "x", "/net/sta0/state": "up"}) == {
        "/net/sta0/state": "up"
    }


async def test_a_pvs_lacking_a_supervisor_variable_is_still_read(
    make_simulator, client_for, caplog
):
    """fcgi_vars answers 400 for the whole ``name=`` list; the set keeps the rest."""
    sim = await make_simulator(api="varserver", inverters=2)
    sim.pvs.faults.absent_variables = frozenset({"/sys/info/cpu_usage"})
    client = client_for(sim)
    for poll in range(3):
        if poll == 2:
            sim.pvs.reboot()  # the sets are gone: built again, with the same 400
        with caplog.at_level(logging.INFO):
            snap = await client.read()
        lacking = [r for r in caplog.records if "lacks /sys/info/cpu_usage" in r.getMessage()]
        assert len(lacking) == 1  # said once, not at every rebuild
        assert snap.supervisor is not None
        assert snap.supervisor.device.serial == sim.pvs.site.pvs_serial
        assert snap.supervisor.uptime_seconds is not None
        assert snap.supervisor.cpu_usage_ratio is None
        assert len(snap.inverters) == 2
        targets = [entry.raw_target for entry in sim.pvs.log.entries]
        built = [i for i, target in enumerate(targets) if "clearcache=spx_info" in target]
        assert len(built) == (1 if poll < 2 else 2)
    # The name= build answered 400; the set it filled was read right after.
    assert all(targets[i + 1] == "/vars?fmt=obj&cache=spx_info" for i in built)
    assert sim.pvs.hotspot_key_reads == 0
