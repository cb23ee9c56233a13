"""Volume fuzzing of both network faces, with a fixed seed (issue "Hardened under hostile load").

PVS side: real answers of the simulated PVS (legacy DeviceList, the SunVault
status report, varserver variables, telemetry messages), each mutated a few
times (``network_fuzz.mutate``) or corrupted as bytes, then decoded, parsed
and encoded exactly as the exporter does; every exposition must be valid.
HTTP side: hostile requests (paths, query strings, headers, credentials) to
one exporter with basic auth over raw sockets; every answer must be a
deliberate status, never a 500 or a traceback, and the server must stay up.

``FUZZ_CASES`` cases per face (``SUNPOWER_PVS_FUZZ_CASES`` overrides, e.g.
100000 for a long run); the seed is fixed so CI runs are identical, and
``SUNPOWER_PVS_FUZZ_SEED`` picks another. The HTTP side is in
``test_http_fuzz.py``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
from datetime import UTC, datetime
from typing import Any

from fuzz.network_fuzz import (
    REFERENCE_EVERY,
    check_exposition,
    corrupt_bytes,
    dumps,
    hostile_value,
    mutate,
    run_cases,
)
from sunpower_pvs_exporter.health import LiveStatus
from sunpower_pvs_exporter.metrics.catalog import DEVICE_METRICS, LIVE_METRICS
from sunpower_pvs_exporter.metrics.encoder import encode_metrics
from sunpower_pvs_exporter.pvs.errors import PvsPayloadError
from sunpower_pvs_exporter.pvs.legacy_ess import parse_ess_status
from sunpower_pvs_exporter.pvs.legacy_parse import parse_device_list
from sunpower_pvs_exporter.pvs.model import LiveData, Snapshot
from sunpower_pvs_exporter.pvs.telemetry import merge_telemetry
from sunpower_pvs_exporter.pvs.transport import decode_json
from sunpower_pvs_exporter.pvs.values import json_int
from sunpower_pvs_exporter.pvs.varserver_parse import parse_variables
from sunpower_pvs_exporter.simulator import legacy_api, varserver_api
from sunpower_pvs_exporter.simulator.site import Site, SiteConfig

FUZZ_CASES = int(os.environ.get("SUNPOWER_PVS_FUZZ_CASES", "10000"))
SEED = int(os.environ.get("SUNPOWER_PVS_FUZZ_SEED", "20261130"))
NOON = datetime(2026, 6, 21, 12, tzinfo=UTC).timestamp()
FETCHED_AT = NOON + 5.0


def site_states(battery: bool = False) -> list[Any]:
    """Small sites (every device kind, few of each): a case costs what its devices cost."""
    states = []
    for seed, inverters, bigger in ((1, 1, False), (7, 2, True)):
        config = SiteConfig(
            seed=seed,
            inverters=inverters,
            error_inverters=1,
            consumption_meter=bigger,
            battery_modules=1 if battery and bigger else 0,
            tz=UTC,
        )
        states.append(Site(config, NOON).state(NOON + 60.0))
    return states


def checked(snapshot: Snapshot, number: int) -> None:
    """Encode as /metrics does; the format and timestamps alternate between cases."""
    openmetrics = number % 2 == 1
    use_timestamps = number % 4 >= 2
    text = encode_metrics(DEVICE_METRICS, snapshot, use_timestamps, openmetrics)
    check_exposition(text, openmetrics, number % REFERENCE_EVERY < 2)


def decoded_or_none(body: bytes, what: str) -> Any:
    try:
        return decode_json(body, what)
    except PvsPayloadError as exc:
        error = exc
    assert error.reason == "invalid_payload" and len(error.message) < 500
    return None


def parsed_or_none(parse: Any, *args: Any) -> Any:
    try:
        return parse(*args)
    except PvsPayloadError as exc:
        error = exc
    assert error.reason == "invalid_payload" and len(error.message) < 500
    return None


def fresh(seed_text: bytes, rng: random.Random, number: int, what: str) -> Any:
    """A mutated copy of a seed document; one case in ten is corrupted as bytes instead."""
    doc = json.loads(seed_text)
    if number % 10 == 9:
        return decoded_or_none(corrupt_bytes(seed_text, rng), what)
    doc = mutate(doc, rng, rng.randint(1, 4))
    try:
        body = dumps(doc)
    except ValueError:  # an int json.dumps will not write: use the object as is
        return doc
    return decoded_or_none(body, what)


# --- PVS payloads ---------------------------------------------------------------------------


def test_legacy_device_lists():
    seeds = [
        dumps(legacy_api.device_list(state, UTC, style))
        for state in site_states()
        for style in ("strip", "keep")
    ]
    parsed = 0

    def case(rng: random.Random, number: int) -> None:
        nonlocal parsed
        doc = fresh(seeds[number % len(seeds)], rng, number, "DeviceList")
        snapshot = parsed_or_none(parse_device_list, doc, FETCHED_AT, UTC)
        if snapshot is not None:
            parsed += 1
            checked(snapshot, number)

    run_cases("DeviceList", SEED, FUZZ_CASES, case)
    assert parsed > FUZZ_CASES // 2, "most mutated DeviceLists should still parse"


def test_legacy_sunvault_status_reports():
    states = [
        Site(SiteConfig(seed=seed, inverters=1, battery_modules=1, tz=UTC), NOON).state(NOON + 60.0)
        for seed in (1, 7)
    ]
    pairs = []
    for state in states:
        base = parse_device_list(legacy_api.device_list(state, UTC, "keep"), FETCHED_AT, UTC)
        pairs.append((dumps(legacy_api.ess_status(state)), base))
    with_storage = 0

    def case(rng: random.Random, number: int) -> None:
        nonlocal with_storage
        seed_text, base = pairs[number % len(pairs)]
        doc = fresh(seed_text, rng, number, "energy-storage-system/status")
        report = parsed_or_none(parse_ess_status, doc, base.devices)
        if report is None:
            return
        with_storage += bool(report.storage)
        snapshot = dataclasses.replace(
            base, storage=report.storage, transfer_switches=report.switches
        )
        checked(snapshot, number)

    run_cases("ESS status", SEED + 1, FUZZ_CASES, case)
    assert with_storage > FUZZ_CASES // 4


def test_varserver_variables():
    seeds = []
    for state in site_states(battery=True):
        variables = varserver_api.variables(state, "keep", "00:22:F2:00:00:01")
        seeds.append(dumps(variables))
    with_devices = 0

    def case(rng: random.Random, number: int) -> None:
        nonlocal with_devices
        doc = fresh(seeds[number % len(seeds)], rng, number, "vars")
        if isinstance(doc, dict) and number % 3 == 0:
            # Flat names invite their own mutations: odd indices and families.
            for _ in range(rng.randint(1, 3)):
                name = rng.choice(list(doc)) if doc else "/sys/devices/inverter/0/sn"
                parts = name.split("/")
                if len(parts) > 4:
                    parts[4] = rng.choice(["99999999999", "-1", "²", "", "1" * 5000, "0"])
                doc["/".join(parts)] = hostile_value(rng)
        snapshot = parsed_or_none(parse_variables, doc, FETCHED_AT)
        if snapshot is not None:
            with_devices += bool(snapshot.devices)
            checked(snapshot, number)

    run_cases("varserver", SEED + 2, FUZZ_CASES, case)
    assert with_devices > FUZZ_CASES // 2


def test_telemetry_messages():
    states = site_states(battery=True)
    seeds = [dumps(varserver_api.telemetry_message(state)) for state in states]
    live: LiveData | None = None
    merged = 0

    def case(rng: random.Random, number: int) -> None:
        nonlocal live, merged
        seed_text = seeds[number % len(seeds)]
        if number % 10 == 9:
            text = corrupt_bytes(seed_text, rng).decode("utf-8", "replace")
        else:
            try:
                text = dumps(mutate(json.loads(seed_text), rng, rng.randint(1, 3))).decode(
                    "utf-8", "surrogatepass"
                )
            except ValueError:
                return
        try:  # as TelemetryStream._handle does
            message = json.loads(text, parse_int=json_int)
        except ValueError:
            return
        before = live
        live = merge_telemetry(live, message)
        merged += live is not before
        if number % 500 == 0:
            live = None  # the stream restarts now and then
        status = LiveStatus("site", live, 1, number)
        openmetrics = number % 2 == 1
        text_out = encode_metrics(LIVE_METRICS, status, False, openmetrics)
        check_exposition(text_out, openmetrics, number % REFERENCE_EVERY < 2)

    run_cases("telemetry", SEED + 3, FUZZ_CASES, case)
    assert merged > FUZZ_CASES // 4
