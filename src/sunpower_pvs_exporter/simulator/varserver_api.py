"""The simulated site as the new-firmware "varserver" API shows it.

Rendering (``variables``) is pure: a ``SiteState`` in, the flat
``{name: value}`` namespace out, values as strings and power in kW like a
real PVS. The handlers add what makes the API awkward for clients, as the
PVS's own handlers (``fcgi_vars``, ``fcgi_auth``, ``sessionmgr``) do it:

* ``/vars`` parameters are read raw: split on ``&``, known by prefix, a
  ``set=`` value split on its first ``=``, nothing percent-decoded (this
  module's own parser; it must not share the exporter's request building);
* ``cache=`` adds to a stored set, ``clearcache=`` empties it first; an
  empty answer is ``200`` with nothing in it (or 400: ``empty_result_status``);
* sessions belong to the client address, last ``session_ttl`` (300 s) from
  login, and a second login from the same address gets the same session;
* the telemetry WebSocket pushes only changed fields and goes silent when
  the session ends; faults and modes for expired-session answers, hanging
  variables, nightly reboots and a PVS5 without telemetry.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from sunpower_pvs_exporter.simulator.site import SiteState
from sunpower_pvs_exporter.simulator.state import OwnerNetwork, Session, SimulatedPvs

USER = "ssm_owner"
# Readable without a session on a real PVS (pypvs reads them before login).
OPEN_VARIABLES = frozenset({"/sys/info/serialnum", "/sys/info/ssid", "/sys/info/lmac"})
SESSION_COOKIE = "session"
HOTSPOT_KEY_VARIABLE = "/sys/info/wpa_key"
TELEMETRY_VARIABLE = "/sys/telemetryws/enable"
# A hanging variable holds its request this long (the client times out first).
HANG_SECONDS = 3600.0
# Valid-field masks (``vldFldMsk``, decimal text) of a real PVS6's meters, as
# published in a SunPower Home Assistant integration's sample data: the production
# meter's mask has 10 bits set, the consumption meter's the same 10 plus 8
# more, one per field that only the consumption meter measures.
PRODUCTION_METER_MASK = "67174655"
CONSUMPTION_METER_MASK = "70239999"
# What a production meter reports for the fields it does not measure.
UNMEASURED = "0.000000"


def iso_utc(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _num(value: float) -> str:
    return f"{value:.6f}"


def _supervisor_vars(state: SiteState, mac: str, network: OwnerNetwork) -> dict[str, str]:
    """``/sys/info/*`` as a PVS6 on build 61845 lists it (a published dump, redacted),
    the hotspot's Wi-Fi key included, and ``/sys/pvs/*``."""
    sup = state.supervisor
    return {
        "/sys/info/serialnum": sup.serial,
        "/sys/info/model": "PVS6",
        "/sys/info/hwrev": sup.hardware_version,
        "/sys/info/uptime": f"{sup.uptime:.2f}",
        "/sys/info/fwrev": " Major 2, Revision 0x00000001, Build 3",
        "/sys/info/boardtype": "A0K LIB 1.0 PSoC5",
        "/sys/info/sw_rev": sup.software_version,
        "/sys/info/ssid": network.hotspot_ssid,
        "/sys/info/wpa_key": network.hotspot_key,
        "/sys/info/lmac": mac,
        "/sys/info/sys_type": "PV-Storage" if state.storage is not None else "PV-only",
        "/sys/info/finance_type": network.finance_type,
        "/sys/info/active_interface": "wan0",
        "/sys/info/active_interface_mac": mac,
        "/sys/info/ram_usage": str(round(sup.ram_usage_pct)),
        "/sys/info/flash_usage": str(round(sup.flash_usage_pct)),
        "/sys/info/cpu_usage": str(round(sup.cpu_usage_pct)),
        "/sys/pvs/flashwear_type_b": f"0x{sup.flash_wear_steps:02x}",
    }


def _device_vars(state: SiteState, error_style: str, meter_masks: bool = True) -> dict[str, str]:
    out: dict[str, str] = {}
    for index, meter in enumerate(state.meters):
        base = f"/sys/devices/meter/{index}/"
        fields: dict[str, str] = {
            "sn": meter.serial,
            "prodMdlNm": meter.model,
            "msmtEps": iso_utc(meter.data_time),
            "ctSclFctr": str(meter.ct_amps),
            "p3phsumKw": _num(meter.p_kw),
            "q3phsumKvar": _num(meter.q_kvar),
            "s3phsumKva": _num(meter.s_kva),
            "totPfRto": _num(meter.pf),
            "freqHz": _num(meter.freq_hz),
            "netLtea3phsumKwh": _num(meter.net_kwh),
            "v12V": _num(meter.v12_v),
        }
        if meter.kind == "production":
            fields["i3phsumA"] = _num(meter.i_a)
            # A real production meter lists the per-leg and directional
            # energy variables too, as 0.0: it does not measure them.
            for name in ("posLtea3phsumKwh", "negLtea3phsumKwh", "i1A", "i2A"):
                fields[name] = UNMEASURED
            for name in ("p1Kw", "p2Kw", "v1nV", "v2nV"):
                fields[name] = UNMEASURED
            if meter_masks:
                fields["vldFldMsk"] = PRODUCTION_METER_MASK
        else:
            if meter_masks:
                fields["vldFldMsk"] = CONSUMPTION_METER_MASK
            fields.update(
                {
                    "posLtea3phsumKwh": _num(meter.pos_kwh),
                    "negLtea3phsumKwh": _num(meter.neg_kwh),
                    "i1A": _num(meter.i1_a),
                    "i2A": _num(meter.i2_a),
                    "p1Kw": _num(meter.p1_kw),
                    "p2Kw": _num(meter.p2_kw),
                    "v1nV": _num(meter.v1n_v),
                    "v2nV": _num(meter.v2n_v),
                }
            )
        out.update({base + key: value for key, value in fields.items()})
    for index, inv in enumerate(state.inverters):
        base = f"/sys/devices/inverter/{index}/"
        fields = {"sn": inv.serial, "prodMdlNm": inv.model, "msmtEps": iso_utc(inv.data_time)}
        if inv.working or error_style == "keep":
            fields.update(
                {
                    "p3phsumKw": _num(inv.p_kw),
                    "vln3phavgV": _num(inv.vln_v),
                    "i3phsumA": _num(inv.i_a),
                    "freqHz": _num(inv.freq_hz),
                    "tHtsnkDegc": str(round(inv.heatsink_c)),
                    "ltea3phsumKwh": _num(inv.energy_kwh),
                    "vMppt1V": _num(inv.dc_v),
                    "iMppt1A": _num(inv.dc_a),
                    "pMppt1Kw": _num(inv.dc_kw),
                }
            )
        out.update({base + key: value for key, value in fields.items()})
    ess = state.storage
    if ess is not None:
        base = "/sys/devices/ess/0/"
        fields = {
            "sn": ess.serial,
            "prodMdlNm": ess.model,
            "msmtEps": iso_utc(ess.data_time),
            "opMode": ess.op_mode,
            "socVal": _num(ess.soc),
            "customerSocVal": _num(ess.customer_soc),
            "sohVal": _num(ess.soh),
            "p3phsumKw": _num(ess.power_kw),
            "vBattV": _num(ess.battery_v),
            "chrgLimitPmaxKw": _num(ess.charge_limit_kw),
            "dischrgLimPmaxKw": _num(ess.discharge_limit_kw),
            "minTBattCellDegc": _num(ess.cell_t_min),
            "maxTBattCellDegc": _num(ess.cell_t_max),
            "minVBattCellV": _num(ess.cell_v_min),
            "maxVBattCellV": _num(ess.cell_v_max),
            "tInvtrDegc": _num(ess.inverter_t),
            "posLtea3phsumKwh": _num(ess.discharged_kwh),
            "negLtea3phsumKwh": _num(ess.charged_kwh),
            "v1nV": _num(ess.v1n_v),
            "v2nV": _num(ess.v2n_v),
        }
        out.update({base + key: value for key, value in fields.items()})
        base = "/sys/devices/transfer_switch/0/"
        fields = {
            "sn": ess.hub_serial,
            "prodMdlNm": ess.hub_model,
            "msmtEps": iso_utc(ess.data_time),
            "midStEnum": ess.hub_state,
            "pvd1StEnum": ess.hub_pvd_state,
            "tDegc": _num(ess.hub_t),
            "v1nGridV": _num(ess.grid_v1n),
            "v2nGridV": _num(ess.grid_v2n),
            "v1nV": _num(ess.v1n_v),
            "v2nV": _num(ess.v2n_v),
            "vSpplyV": _num(ess.control_supply_v),
        }
        out.update({base + key: value for key, value in fields.items()})
    return out


def _live_vars(state: SiteState) -> dict[str, str]:
    live = state.live
    if live is None:
        return {}
    out = {
        "/sys/livedata/time": str(int(live.time)),
        "/sys/livedata/pv_p": _num(live.pv_kw),
        "/sys/livedata/pv_en": _num(live.pv_kwh),
        "/sys/livedata/net_p": _num(live.net_kw),
        "/sys/livedata/net_en": _num(live.net_kwh),
        "/sys/livedata/site_load_p": _num(live.load_kw),
        "/sys/livedata/site_load_en": _num(live.load_kwh),
    }
    if live.ess_kw is not None:
        out["/sys/livedata/ess_p"] = _num(live.ess_kw)
    if live.soc is not None:
        out["/sys/livedata/soc"] = _num(live.soc)
    if live.backup_minutes is not None:
        out["/sys/livedata/backupTimeRemaining"] = str(int(live.backup_minutes))
    if state.storage is not None:
        out["/sys/livedata/midstate"] = state.storage.hub_state
        # Net battery energy, discharged minus charged: negative on real units.
        ess_kwh = state.storage.discharged_kwh - state.storage.charged_kwh
        out["/sys/livedata/ess_en"] = _num(ess_kwh)
    return out


def variables(
    state: SiteState,
    error_style: str,
    mac: str,
    meter_masks: bool = True,
    *,
    network: OwnerNetwork | None = None,
) -> dict[str, str]:
    """The whole varserver namespace of the site at this moment.

    ``network``: the owner's Wi-Fi names, key and finance type (default:
    derived from the serial, as ``SimulatedPvs`` derives them).
    """
    if network is None:
        network = OwnerNetwork.for_serial(state.supervisor.serial)
    return {
        **_supervisor_vars(state, mac, network),
        **_device_vars(state, error_style, meter_masks),
        **_live_vars(state),
        "/sys/toggle_cell/broadband_connected": "1",
        "/sys/toggle_cell/cell_connected": "0",
        # Interface states: the PVS6's four (pypvs's variable list); the values
        # are not documented, these are the simulator's own words.
        "/net/wan0/state": "online",
        "/net/wan1/state": "offline",
        "/net/sta0/state": "offline",
        "/net/wwan0/state": "offline",
    }


def telemetry_params(state: SiteState) -> dict[str, str]:
    """Everything the telemetry WebSocket can push: the live data's short names, in kW."""
    return {name.removeprefix("/sys/livedata/"): value for name, value in _live_vars(state).items()}


def telemetry_message(
    state: SiteState, previous: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """One push of the telemetry WebSocket: only the fields that changed since ``previous``."""
    params = telemetry_params(state)
    if previous is not None:
        params = {key: value for key, value in params.items() if previous.get(key) != value}
    return {"notification": "power", "params": params}


async def handle_telemetry(request: web.Request, pvs: SimulatedPvs) -> web.StreamResponse:
    """``ws://<pvs>:9002``, once a client has set ``/sys/telemetryws/enable=1``.

    Like a real PVS it pushes a message only when a value changed, with only
    the changed fields (a site at steady output is silent for a minute or
    more), and stops sending, socket still open, when the session of the
    address that follows it has expired or ``telemetry_silent`` is set.
    """
    if not pvs.telemetry_enabled:
        return web.Response(status=403, text="telemetry disabled")
    ws = web.WebSocketResponse(heartbeat=None)
    await ws.prepare(request)
    client = request.remote or ""
    sent: dict[str, str] = {}
    try:
        while not ws.closed and pvs.telemetry_enabled:
            if not pvs.telemetry_silent and has_session(pvs, client):
                message = telemetry_message(pvs.state(), sent)
                if pvs.telemetry_fields is not None:
                    message["params"] = {
                        k: v for k, v in message["params"].items() if k in pvs.telemetry_fields
                    }
                if message["params"]:
                    await ws.send_json(message)
                    sent.update(message["params"])
            await asyncio.sleep(pvs.telemetry_interval)
    except (ConnectionResetError, RuntimeError):
        pass
    finally:
        await ws.close()
    return ws


def supervisor_info(state: SiteState, build: int) -> dict[str, Any]:
    """``/cgi-bin/dl_cgi/supervisor/info``: open on every firmware that has it."""
    sup = state.supervisor
    return {
        "supervisor": {
            "SERIAL": sup.serial,
            "MODEL": "PVS6",
            "SWVER": sup.software_version,
            "BUILD": build,
        },
        "result": "succeed",
    }


# --- HTTP ---------------------------------------------------------------------


# fcgi_vars' errorcode bits (its ErrorResponse prints them as "0x%04X"):
# ERROR_DATA_QUERY is set once a query has run, so a 400 carrying only it
# is a query that matched nothing; ERROR_VARIABLE_NOT_FOUND a name= miss.
NOTHING_MATCHED = 0x0040
VARIABLE_NOT_FOUND = 0x0100


def fcgi_error(status: int, description: str, errorcode: int | str) -> web.Response:
    """An error answer laid out as fcgi_vars prints it (spaces and all)."""
    code = errorcode if isinstance(errorcode, str) else f"0x{errorcode:04X}"
    body = f'{{"status": {status}, "description" : "{description}", "errorcode" : "{code}"}}'
    return web.Response(body=body.encode(), status=status, content_type="application/json")


def fcgi_vars_body(pairs: list[tuple[str, str]], fmt: str) -> bytes:
    """A /vars answer printed the way fcgi_vars prints it: each string between
    quotes as it is (no escaping), a value that looks like a JSON object bare."""

    def value(text: str) -> str:
        return text if text.startswith("{") else f'"{text}"'

    if fmt == "obj":
        inner = ", ".join(f'"{name}": {value(v)}' for name, v in pairs)
        return f"{{{inner}}}".encode()
    items = ", ".join(f'{{"name": "{name}", "value": {value(v)}}}' for name, v in pairs)
    return f'{{"count": {len(pairs)}, "values": [{items}]}}'.encode()


def _json(doc: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(doc).encode(), status=status, content_type="application/json"
    )


def _unauthorized(status: int) -> web.Response:
    return _json({"status": status, "error": "Unauthorized", "path": ""}, status)


def _credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        user, sep, password = (
            base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        )
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def _session(pvs: SimulatedPvs, token: str) -> Session | None:
    session = pvs.sessions.get(token)
    if session is None:
        return None
    if pvs.session_clock() >= session.expires:
        del pvs.sessions[token]
        return None
    return session


def has_session(pvs: SimulatedPvs, client: str) -> bool:
    """Does ``client`` (an IP address) hold a live session?"""
    return any(
        _session(pvs, token) is not None and s.client == client
        for token, s in list(pvs.sessions.items())
    )


def session_valid(pvs: SimulatedPvs, request: web.Request) -> bool:
    token = request.cookies.get(SESSION_COOKIE)
    return bool(token) and _session(pvs, token or "") is not None


async def handle_auth(request: web.Request, pvs: SimulatedPvs) -> web.Response:
    query = raw_query(request)
    if query == "logout":
        # Ends the session of the cookie, which is the session of every
        # program on that client address.
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            pvs.sessions.pop(token, None)
        return web.Response(status=204)
    if query != "login":
        return _json({"status": 400, "error": "bad request"}, 400)
    pvs.logins += 1
    creds = _credentials(request.headers.get("Authorization", ""))
    if (
        creds is None
        or creds != (USER, pvs.password)
        or pvs.faults.reject_logins
        or pvs.api == "legacy"
    ):
        pvs.failed_logins += 1
        status = 404 if pvs.api == "legacy" else 401
        return _unauthorized(status)
    client = request.remote or ""
    expires = pvs.session_clock() + pvs.session_ttl
    token = next(
        (t for t, s in list(pvs.sessions.items()) if s.client == client and _session(pvs, t)), ""
    )
    if token:
        pvs.sessions[token].expires = expires
    else:
        token = secrets.token_hex(32)
        pvs.sessions[token] = Session(client, expires)
    response = _json({"session": token})
    response.set_cookie(SESSION_COOKIE, token, httponly=True)
    return response


def raw_query(request: web.Request) -> str:
    """The query string exactly as sent: the PVS never percent-decodes it."""
    return request.raw_path.partition("?")[2]


@dataclass
class VarsRequest:
    """A ``/vars`` request read the way ``fcgi_vars`` reads it.

    The text (query string or POST body) is split on ``&``; each part is
    known by its prefix. Nothing is percent-decoded.
    """

    fmt: str = ""
    cache: str = ""
    clear_cache: bool = False
    names: list[str] = field(default_factory=list)
    matches: list[str] = field(default_factory=list)
    sets: list[str] = field(default_factory=list)


def parse_vars_request(text: str) -> VarsRequest:
    request = VarsRequest()
    for part in text.split("&"):
        if part.startswith("fmt="):
            request.fmt = part[4:]
        elif part.startswith("cache="):
            request.cache, request.clear_cache = part[6:], False
        elif part.startswith("clearcache="):
            request.cache, request.clear_cache = part[11:], True
        elif part.startswith("name="):
            request.names.extend(n for n in part[5:].split(",") if n)
        elif part.startswith("match="):
            request.matches.append(part[6:])
        elif part.startswith("set="):
            request.sets.extend(t for t in part[4:].split(",") if t)
    return request


async def _request_text(request: web.Request) -> str:
    if request.method == "POST":
        return (await request.read()).decode("latin-1")
    return raw_query(request)


def select(
    names: Mapping[str, str], query: VarsRequest, caches: dict[str, list[str]]
) -> list[str] | None:
    """The variables a read answers with; ``None``: a name that does not exist (400).

    Like ``fcgi_vars``, the result goes into the selected cache set (a
    throwaway one without ``cache=``): ``name=``/``match=`` add to what the
    set already holds, ``clearcache=`` empties it first. A set holds
    variables, not values, and re-reads what still exists.
    """
    if query.cache:
        if query.clear_cache or query.cache not in caches:
            caches[query.cache] = []
        chosen = caches[query.cache]
    else:
        chosen = []
    ok = True
    for name in query.names:
        if name in names:
            if name not in chosen:
                chosen.append(name)
        else:
            ok = False
    for pattern in query.matches:
        chosen.extend(n for n in names if pattern and pattern in n and n not in chosen)
    if not ok:
        return None
    return [n for n in chosen if n in names]


def _empty(pvs: SimulatedPvs, fmt: str) -> web.Response:
    if pvs.empty_result_status != 200:
        return fcgi_error(pvs.empty_result_status, "Bad request", NOTHING_MATCHED)
    return _json({} if fmt == "obj" else {"count": 0, "values": []})


def _namespace(pvs: SimulatedPvs, state: SiteState) -> dict[str, str]:
    """Every variable this PVS has at ``state``: its firmware's absent ones left out."""
    names = variables(
        state,
        pvs.config.error_style,
        pvs.mac,
        pvs.config.meter_valid_field_masks,
        network=pvs.network,
    )
    for name in pvs.faults.absent_variables:
        names.pop(name, None)
    return names


async def handle_vars(request: web.Request, pvs: SimulatedPvs) -> web.StreamResponse:
    if pvs.api == "legacy":
        return web.Response(status=404, text="Not Found")
    query = parse_vars_request(await _request_text(request))
    open_read = (
        bool(query.names)
        and not query.matches
        and not query.sets
        and all(name in OPEN_VARIABLES for name in query.names)
    )
    if not open_read and not session_valid(pvs, request):
        if pvs.faults.unauthorized_status == 200:
            # Some builds: 200 with an empty body.
            return web.Response(status=200, body=pvs.faults.expired_session_body)
        return _unauthorized(pvs.faults.unauthorized_status)
    if query.sets:
        return _set(pvs, query)
    state = pvs.state() if open_read else pvs.data_state(varserver=True)
    names = _namespace(pvs, state)
    wanted = select(names, query, pvs.caches)
    if wanted is None:
        return fcgi_error(400, "Bad request", VARIABLE_NOT_FOUND)
    code = pvs.faults.query_error(wanted)
    if code is not None:
        return fcgi_error(400, "Bad request", code)
    if any(name in pvs.faults.hanging_variables for name in wanted):
        await asyncio.sleep(HANG_SECONDS)  # the client gives up first
    slow = pvs.faults.slowness(wanted)
    if slow:
        await asyncio.sleep(slow)
    if not wanted:
        return _empty(pvs, query.fmt)
    if HOTSPOT_KEY_VARIABLE in wanted:
        pvs.hotspot_key_reads += 1
    if not open_read and pvs.energy_glitches:
        glitched = pvs.glitched(state, _energy_kinds(wanted))
        if glitched is not state:
            names = _namespace(pvs, glitched)
    quoted = pvs.faults.unescaped_quote_variables
    if quoted & set(wanted):
        pairs = [(n, names[n] + ' "quoted"' if n in quoted else names[n]) for n in wanted]
        return web.Response(body=fcgi_vars_body(pairs, query.fmt), content_type="application/json")
    if query.fmt == "obj":
        return _json({name: names[name] for name in wanted})
    values = [{"name": name, "value": names[name]} for name in wanted]
    return _json({"count": len(values), "values": values})


def _energy_kinds(wanted: Iterable[str]) -> set[str]:
    """Kinds of device whose lifetime energy (``…Ltea…Kwh``) a read includes."""
    kinds: set[str] = set()
    for name in wanted:
        if "ltea" in name.lower() and name.startswith("/sys/devices/"):
            kind = name.split("/")[3]
            kinds.add({"ess": "storage"}.get(kind, kind))
    return kinds


def _set(pvs: SimulatedPvs, query: VarsRequest) -> web.Response:
    """``set=<name>=<value>``, split on the first ``=``; only telemetry is writable."""
    for pair in query.sets:
        name, sep, value = pair.partition("=")
        if not sep or name != TELEMETRY_VARIABLE or not pvs.telemetry:
            return _json({"status": 400, "error": "Bad request"}, 400)
        pvs.telemetry_enabled = value == "1"
    return _json({TELEMETRY_VARIABLE: "1" if pvs.telemetry_enabled else "0"})
