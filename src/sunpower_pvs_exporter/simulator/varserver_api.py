"""The simulated site as the new-firmware "varserver" API shows it.

Rendering (``variables``) is pure: a ``SiteState`` in, the flat
``{name: value}`` namespace out, values as strings and power in kW like a
real PVS. The handlers add what makes the API awkward for clients: basic-auth
login to a session cookie, sessions that expire, ``/vars`` queries by
``name=``/``match=`` in a query string or a POST body, ``cache=`` sets, and
HTTP 400 for a query that matches nothing. Written from
``shared/pvs-protocol.md`` section B.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web

from sunpower_pvs_exporter.simulator.site import SiteState

if TYPE_CHECKING:
    from sunpower_pvs_exporter.simulator.server import SimulatedPvs

USER = "ssm_owner"
# Readable without a session on a real PVS (pypvs reads them before login).
OPEN_VARIABLES = frozenset({"/sys/info/serialnum", "/sys/info/ssid", "/sys/info/lmac"})
SESSION_COOKIE = "session"
# Valid-field masks (``vldFldMsk``, decimal text) of a real PVS6's meters, as
# published in a SunPower Home Assistant integration's sample data: the production
# meter's mask has 10 bits set, the consumption meter's the same 10 plus 8
# more, one per field that only the consumption meter measures.
PRODUCTION_METER_MASK = "67174655"
CONSUMPTION_METER_MASK = "70239999"
# What a production meter reports for the fields it does not measure.
UNMEASURED = "0.000000"
TELEMETRY_ENABLE = "/sys/telemetryws/enable=1"


def iso_utc(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _num(value: float) -> str:
    return f"{value:.6f}"


def _supervisor_vars(state: SiteState, mac: str) -> dict[str, str]:
    sup = state.supervisor
    wear = min(10, int(sup.uptime / 86400 / 365) + 1)
    return {
        "/sys/info/serialnum": sup.serial,
        "/sys/info/model": "PVS6",
        "/sys/info/sys_type": "PV-Storage" if state.storage is not None else "PV-only",
        "/sys/info/hwrev": sup.hardware_version,
        "/sys/info/fwrev": " Major 2, Revision 0x00000001, Build 3",
        "/sys/info/sw_rev": sup.software_version,
        "/sys/info/uptime": f"{sup.uptime:.2f}",
        "/sys/info/lmac": mac,
        "/sys/info/ssid": "SunPower" + sup.serial[-5:],
        "/sys/info/ram_usage": str(round(sup.ram_usage_pct)),
        "/sys/info/flash_usage": str(round(sup.flash_usage_pct)),
        "/sys/info/cpu_usage": str(round(sup.cpu_usage_pct)),
        "/sys/pvs/flashwear_type_b": f"0x{wear:02X}",
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
    return out


def variables(
    state: SiteState, error_style: str, mac: str, meter_masks: bool = True
) -> dict[str, str]:
    """The whole varserver namespace of the site at this moment."""
    return {
        **_supervisor_vars(state, mac),
        **_device_vars(state, error_style, meter_masks),
        **_live_vars(state),
        "/sys/toggle_cell/broadband_connected": "1",
        "/sys/toggle_cell/cell_connected": "0",
        "/net/wan0/state": "online",
    }


def telemetry_message(state: SiteState) -> dict[str, Any]:
    """One push of the telemetry WebSocket: the live data's short names, in kW."""
    live = _live_vars(state)
    params = {name.removeprefix("/sys/livedata/"): value for name, value in live.items()}
    return {"notification": "power", "params": params}


async def handle_telemetry(request: web.Request, pvs: SimulatedPvs) -> web.StreamResponse:
    """``ws://<pvs>:9002``: pushes live data every ``telemetry_interval`` seconds
    once a client has set ``/sys/telemetryws/enable=1``."""
    if not pvs.telemetry_enabled:
        return web.Response(status=403, text="telemetry disabled")
    ws = web.WebSocketResponse(heartbeat=None)
    await ws.prepare(request)
    pvs.telemetry_connections += 1
    try:
        while not ws.closed and pvs.telemetry_enabled:
            await ws.send_json(telemetry_message(pvs.state()))
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


def session_valid(pvs: SimulatedPvs, request: web.Request) -> bool:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return False
    expires = pvs.sessions.get(token)
    if expires is None:
        return False
    if time.monotonic() >= expires:
        del pvs.sessions[token]
        return False
    return True


async def handle_auth(request: web.Request, pvs: SimulatedPvs) -> web.Response:
    if "logout" in request.query:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            pvs.sessions.pop(token, None)
        return _json({})
    if "login" not in request.query:
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
    token = secrets.token_hex(32)
    pvs.sessions[token] = time.monotonic() + pvs.session_ttl
    response = _json({"session": token})
    response.set_cookie(SESSION_COOKIE, token, httponly=True)
    return response


async def _params(request: web.Request) -> dict[str, str]:
    """Query parameters, or a POST body; ``&``-joined or a single ``key=value``.

    The body is not URL-decoded beyond what ``parse_qsl`` does, so pypvs's
    unencoded ``name=/sys/info/uptime`` works as on a real PVS.
    """
    params = dict(request.query)
    if request.method == "POST":
        body = (await request.read()).decode("utf-8", "replace")
        params.update(parse_qsl(body, keep_blank_values=True))
    return params


def select(
    names: Mapping[str, str], params: Mapping[str, str], caches: dict[str, tuple[str, ...]]
) -> tuple[str, ...] | None:
    """Which variable names a query asks for; ``None`` when it finds nothing."""
    cache_id = params.get("cache")
    if "name" in params:
        wanted = tuple(n for n in params["name"].split(",") if n in names)
    elif "match" in params:
        pattern = params["match"]
        wanted = tuple(n for n in names if pattern in n) if pattern else ()
    elif cache_id:
        cached = caches.get(cache_id)
        if cached is None:
            return None
        # A cached set re-reads what still exists (a device can disappear).
        wanted = tuple(n for n in cached if n in names)
        return wanted or None
    else:
        return None
    if not wanted:
        return None
    if cache_id:
        caches[cache_id] = wanted
    return wanted


async def handle_vars(request: web.Request, pvs: SimulatedPvs) -> web.Response:
    if pvs.api == "legacy":
        return web.Response(status=404, text="Not Found")
    params = await _params(request)
    if "set" in params:
        if not session_valid(pvs, request):
            return _unauthorized(pvs.faults.unauthorized_status)
        if params["set"] != TELEMETRY_ENABLE:
            return _unauthorized(403)  # the simulator is read-only otherwise
        pvs.telemetry_enabled = True
        return _json({TELEMETRY_ENABLE.partition("=")[0]: "1"})
    requested = params.get("name", "").split(",") if "name" in params else []
    open_read = bool(requested) and all(name in OPEN_VARIABLES for name in requested)
    if not open_read and not session_valid(pvs, request):
        return _unauthorized(pvs.faults.unauthorized_status)
    state = pvs.state() if open_read else pvs.data_state(varserver=True)
    names = variables(state, pvs.config.error_style, pvs.mac, pvs.config.meter_valid_field_masks)
    wanted = select(names, params, pvs.caches)
    if wanted is None:
        return _json({"status": 400, "error": "no such variables"}, 400)
    if params.get("fmt") == "obj":
        return _json({name: names[name] for name in wanted})
    values = [{"name": name, "value": names[name]} for name in wanted]
    return _json({"count": len(values), "values": values})
