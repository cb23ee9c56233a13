"""The simulated site as the legacy ``dl_cgi`` API shows it.

Numbers are JSON strings and power is in kW, as on a real PVS. Written from
the field tables of ``docs/protocol.md`` §L2-§L3.
"""

from __future__ import annotations

import time
from datetime import datetime, tzinfo
from typing import Any

from sunpower_pvs_exporter.simulator.site import (
    InverterState,
    MeterState,
    SiteState,
    StorageState,
)


def pvs_time(t: float, clock_tz: tzinfo | None = None) -> str:
    """``DATATIME``/``CURTIME`` text: ``YYYY,MM,DD,hh,mm,ss`` on the device's clock.

    Real PVS clocks run UTC (recorded dumps show panels at their midday peak
    at "18:02" in California), so ``clock_tz=None`` writes UTC whatever this
    machine's zone. ``clock_tz`` models a unit set to local time. Formatted
    here by hand, not with the exporter's format string: a shared mistake
    would be invisible to every test.
    """
    if clock_tz is None:
        parts = time.gmtime(int(t))[:6]
    else:
        moment = datetime.fromtimestamp(int(t), clock_tz)
        parts = (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)
    year, month, day, hour, minute, second = parts
    return f"{year:04d},{month:02d},{day:02d},{hour:02d},{minute:02d},{second:02d}"


def _num(value: float) -> str:
    return str(value) if isinstance(value, int) else repr(round(value, 4))


def supervisor_json(state: SiteState, tz: tzinfo | None) -> dict[str, Any]:
    sup = state.supervisor
    return {
        "DETAIL": "detail",
        "STATE": "working",
        "STATEDESCR": "Working",
        "SERIAL": sup.serial,
        "MODEL": sup.model,
        "HWVER": sup.hardware_version,
        "SWVER": sup.software_version,
        "DEVICE_TYPE": "PVS",
        "DATATIME": pvs_time(sup.data_time, tz),
        "CURTIME": pvs_time(state.now, tz),
        "dl_err_count": str(sup.error_count),
        "dl_comm_err": str(sup.comm_errors),
        "dl_skipped_scans": str(sup.skipped_scans),
        "dl_scan_time": str(sup.scan_time),
        "dl_untransmitted": str(sup.untransmitted),
        "dl_uptime": _num(sup.uptime),
        "dl_cpu_load": _num(sup.cpu_load),
        "dl_mem_used": _num(sup.mem_used_kib),
        "dl_flash_avail": _num(sup.flash_avail_kib),
        "panid": 3276331684,
    }


def meter_json(meter: MeterState, now: float, tz: tzinfo | None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "ISDETAIL": True,
        "SERIAL": meter.serial,
        "TYPE": meter.type,
        "STATE": "working",
        "STATEDESCR": "Working",
        "MODEL": meter.model,
        "DESCR": meter.description,
        "DEVICE_TYPE": "Power Meter",
        "interface": "mime",
        "subtype": meter.subtype,
        "SWVER": "3000",
        "PORT": "",
        "DATATIME": pvs_time(meter.data_time, tz),
        "CURTIME": pvs_time(now, tz),
        "ct_scl_fctr": str(meter.ct_amps),
        "CAL0": str(meter.ct_amps),
        "origin": "data_logger",
        "OPERATION": "noop",
        "net_ltea_3phsum_kwh": _num(meter.net_kwh),
        "p_3phsum_kw": _num(meter.p_kw),
        "q_3phsum_kvar": _num(meter.q_kvar),
        "s_3phsum_kva": _num(meter.s_kva),
        "tot_pf_rto": _num(meter.pf),
        "freq_hz": _num(meter.freq_hz),
        "v12_v": _num(meter.v12_v),
    }
    if meter.kind == "production":
        doc["i_a"] = _num(meter.i_a)
    else:
        doc["consumption_subtype_enum"] = meter.subtype
        doc.update(
            {
                "pos_ltea_3phsum_kwh": _num(meter.pos_kwh),
                "neg_ltea_3phsum_kwh": _num(meter.neg_kwh),
                "i1_a": _num(meter.i1_a),
                "i2_a": _num(meter.i2_a),
                "p1_kw": _num(meter.p1_kw),
                "p2_kw": _num(meter.p2_kw),
                "v1n_v": _num(meter.v1n_v),
                "v2n_v": _num(meter.v2n_v),
            }
        )
    return doc


def inverter_json(
    inv: InverterState, now: float, tz: tzinfo | None, error_style: str
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "ISDETAIL": True,
        "SERIAL": inv.serial,
        "TYPE": "SOLARBRIDGE",
        "STATE": "working" if inv.working else "error",
        "STATEDESCR": "Working" if inv.working else "Error",
        "MODEL": inv.model,
        "DESCR": inv.description,
        "DEVICE_TYPE": "Inverter",
        "hw_version": "4403",
        "interface": "mime",
        "PANEL": inv.panel,
        "slave": 0,
        "SWVER": inv.software_version,
        "PORT": "",
        "MOD_SN": inv.module_serial,
        "NMPLT_SKU": "",
        "CURTIME": pvs_time(now, tz),
        "OPERATION": "noop",
    }
    if not inv.working and error_style == "strip":
        # Older firmware: an inverter in error state reports identity only.
        return doc
    doc.update(
        {
            "DATATIME": pvs_time(inv.data_time, tz),
            "origin": "data_logger",
            "ltea_3phsum_kwh": _num(inv.energy_kwh),
            "p_3phsum_kw": _num(inv.p_kw),
            "vln_3phavg_v": _num(inv.vln_v),
            "i_3phsum_a": _num(inv.i_a),
            "p_mpptsum_kw": _num(inv.dc_kw),
            "v_mppt1_v": _num(inv.dc_v),
            "i_mppt1_a": _num(inv.dc_a),
            "t_htsnk_degc": _num(inv.heatsink_c),
            "freq_hz": _num(inv.freq_hz),
            "stat_ind": "0",
        }
    )
    return doc


def storage_devices_json(ess: StorageState, now: float, tz: tzinfo | None) -> list[dict[str, Any]]:
    """DeviceList entries of a SunVault: identity and state only, as on a real PVS.

    The readings live in ``energy-storage-system/status`` (``ess_status``).
    """

    def entry(device_type: str, serial: str, model: str, type_: str = "") -> dict[str, Any]:
        doc: dict[str, Any] = {
            "ISDETAIL": True,
            "SERIAL": serial,
            "STATE": "working",
            "STATEDESCR": "Working",
            "MODEL": model,
            "DESCR": f"{device_type} {serial}",
            "DEVICE_TYPE": device_type,
            "SWVER": "1.0",
            "PORT": "",
            "DATATIME": pvs_time(ess.data_time, tz),
            "CURTIME": pvs_time(now, tz),
        }
        if type_:
            doc["TYPE"] = type_
        return doc

    # One ESS BMS per system; each battery module is a "Battery" (real
    # SunVault lists: FACTS L15), matched to the status report by serial.
    devices = [entry("Energy Storage System", ess.serial, ess.model)]
    devices.append(entry("ESS BMS", ess.serial + "BMS", "SchneiderElectric-SP1", "EQUINOX-BMS"))
    devices += [entry("Battery", m.serial, m.model, "BATTERY") for m in ess.modules]
    devices.append(entry("ESS Hub", ess.mio_serial, "SunPower MIO", "EQUINOX-MIO"))
    devices.append(entry("HUB+", ess.hub_serial, ess.hub_model, "HUB+"))
    return devices


def storage_side_json(now: float, tz: tzinfo | None) -> list[dict[str, Any]]:
    """The Schneider-side SunVault devices as real DeviceLists list them (FACTS L14-L16).

    Only the PV Disconnect samples (DATATIME, relays, grid and PV voltages);
    the other five have no DATATIME and stay in STATE "error" while the
    system works. ESS BMS is one per system (no SWVER); ``Battery`` is the
    per-module device; the ESS's serial joins the gateway's and batteries'.
    The MET Station and Ground Current Monitor are types the PVS's own API
    description lists, rendered here with identity only.
    """
    ess_serial = "00001ABC1234_M00122109A0355_M00122109A0356"

    def entry(
        device_type: str, serial: str, model: str, type_: str, **extra: Any
    ) -> dict[str, Any]:
        working = "DATATIME" in extra
        doc: dict[str, Any] = {
            "ISDETAIL": True,
            "SERIAL": serial,
            "TYPE": type_,
            "STATE": "working" if working else "error",
            "STATEDESCR": "Working" if working else "Error",
            "MODEL": model,
            "DESCR": f"{device_type} {serial}",
            "DEVICE_TYPE": device_type,
            "SWVER": "V1",
            "PORT": "P0, SunSpec, Slave 1",
            "origin": "data_logger",
            "OPERATION": "noop",
            "CURTIME": pvs_time(now, tz),
        }
        doc.update(extra)
        return doc

    sampled = pvs_time(now - now % 300, tz)
    stack = {"parent": 11, "PARENT": ess_serial, "mac_address": "d8:a9:8b:00:00:01"}
    return [
        entry(
            "PV Disconnect", "SY0000000000PVD01", "SunPower PV Disconnect Relay",
            "PV-DISCONNECT", DATATIME=sampled, SWVER="0.2.13", slave=230,
            event_history="32", fw_error="0", relay_mode="0",
            relay1_state="1", relay2_state="0", relay1_error="0", relay2_error="1",
            v1n_grid_v="123.1", v2n_grid_v="122.5", v1n_pv_v="122.8", v2n_pv_v="0.4",
        ),
        entry("Gateway", "BC1234006789", "SchneiderElectric-ConextGateway", "GATEWAY",
              slave=1, mac_address="d8:a9:8b:00:00:01"),
        entry("Storage Inverter", "00001ABC1234", "SchneiderElectric-XW6848-21",
              "SCHNEIDER-XWPRO", slave=10, **stack),
        {k: v for k, v in entry("ESS BMS", "BC123400678933751040", "SchneiderElectric-SP1",
                                "EQUINOX-BMS", slave=230, **stack).items() if k != "SWVER"},
        entry("Battery", "M00122109A0355", "POWERAMP-Komodo 1.2", "BATTERY",
              parent=11, PARENT=ess_serial, SWVER="2.8"),
        entry("Battery", "M00122109A0356", "POWERAMP-Komodo 1.2", "BATTERY",
              parent=11, PARENT=ess_serial, SWVER="2.8"),
        entry("Energy Storage System", ess_serial, "SPWR-Equinox-model", "EQUINOX-ESS",
              SWVER="0"),
        entry("MET Station", "MET0000000001", "SunPower MET Station", "MET-STATION",
              DATATIME=sampled),
        entry("Ground Current Monitor", "GCM0000000001", "SunPower GCM", "GCM",
              DATATIME=sampled),
    ]  # fmt: skip


def pvs5_2017(doc: dict[str, Any]) -> dict[str, Any]:
    """One device entry as PVS5 "5.0.0, Build 325" wrote it (FACTS L2, L3, L4)."""
    dropped = {"panid", "origin", "OPERATION", "interface", "hw_version", "slave", "PANEL"}
    out = {k: v for k, v in doc.items() if k not in dropped}
    if "ISDETAIL" in out or out.get("DEVICE_TYPE") != "PVS":
        out["ISDETAIL"] = "1"
    return out


def device_list(
    state: SiteState,
    tz: tzinfo | None,
    error_style: str,
    layout: str = "current",
    storage_side: bool = False,
) -> dict[str, Any]:
    """``Command=DeviceList``. ``layout="pvs5-2017"``: as the oldest JSON firmware
    writes it, ``"result"`` first and the PVS entry last (FACTS L1)."""
    supervisor = supervisor_json(state, tz)
    devices = [meter_json(m, state.now, tz) for m in state.meters]
    devices += [inverter_json(i, state.now, tz, error_style) for i in state.inverters]
    if state.storage is not None:
        devices += storage_devices_json(state.storage, state.now, tz)
    if storage_side:
        devices += storage_side_json(state.now, tz)
    if layout == "pvs5-2017":
        return {"result": "succeed", "devices": [pvs5_2017(d) for d in (*devices, supervisor)]}
    return {"devices": [supervisor, *devices], "result": "succeed"}


def _value(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit}


class _Units:
    """How one simulated firmware writes SunVault numbers (``SiteConfig.legacy_ess_units``)."""

    def __init__(self, style: str) -> None:
        self.style = style

    def power(self, kw: float) -> dict[str, Any]:
        if self.style == "W":
            return _value(round(kw * 1000, 1), "W")
        if self.style == "unknown":
            return _value(round(kw * 3412.14, 1), "BTU/h")
        return _value(round(kw, 4), "kW")

    def percent(self, pct: float) -> dict[str, Any]:
        if self.style == "W":
            return _value(round(pct / 100, 4), "fraction")
        return _value(round(pct, 2), "%")

    def celsius(self, c: float) -> dict[str, Any]:
        if self.style == "W":
            return _value(round(c * 9 / 5 + 32, 2), "F")
        return _value(c, "C")


def ess_status(state: SiteState, units: str = "kW", agg_sign: int = 1) -> dict[str, Any]:
    """``/cgi-bin/dl_cgi/energy-storage-system/status``: every number is
    ``{"value": …, "unit": …}``, in the units ``units`` picks.

    Battery current is + while charging, as hass-sunpower reads it;
    ``agg_sign`` +1 writes ``agg_power`` + while discharging, -1 + charging.
    """
    ess = state.storage
    assert ess is not None
    u = _Units(units)
    batteries = [
        {
            "serial_number": m.serial,
            "battery_amperage": _value(m.current_a, "A"),
            "battery_voltage": _value(m.voltage_v, "V"),
            "customer_state_of_charge": u.percent(ess.customer_soc * 100),
            "system_state_of_charge": u.percent(m.soc * 100),
            "temperature": u.celsius(m.temperature_c),
        }
        for m in ess.modules
    ]
    half_kw = ess.power_kw / 2
    meter = {
        "current": _value(round(half_kw * 1000 / ess.v1n_v, 2), "A"),
        "power": u.power(half_kw),
        "voltage": _value(ess.v1n_v, "V"),
    }
    return {
        "ess_report": {
            "battery_status": batteries,
            "ess_status": [
                {
                    "serial_number": ess.serial,
                    "enclosure_humidity": u.percent(ess.enclosure_humidity_pct),
                    "enclosure_temperature": u.celsius(ess.enclosure_t),
                    "ess_meter_reading": {
                        "agg_power": u.power(agg_sign * ess.power_kw),
                        "meter_a": {"reading": meter},
                        "meter_b": {"reading": meter},
                    },
                }
            ],
            "hub_plus_status": {
                "serial_number": ess.hub_serial,
                "contactor_position": ess.hub_state,
                "grid_frequency_state": "METER_FREQ_IN_RANGE",
                "grid_voltage_state": "METER_VOLTAGE_IN_RANGE",
                "load_frequency_state": "METER_FREQ_IN_RANGE",
                "grid_phase1_voltage": _value(ess.grid_v1n, "V"),
                "grid_phase2_voltage": _value(ess.grid_v2n, "V"),
                "load_phase1_voltage": _value(ess.v1n_v, "V"),
                "load_phase2_voltage": _value(ess.v2n_v, "V"),
                "main_voltage": _value(ess.main_v, "V"),
                "hub_humidity": u.percent(ess.hub_humidity_pct),
                "hub_temperature": u.celsius(ess.hub_t),
            },
            "last_updated": str(int(ess.data_time)),
        }
    }


CELL_MODEM = {
    "interface": "cell",
    "internet": "down",
    "ipaddr": "",
    "is_alwayson": False,
    "is_primary": False,
    "link": "connected",
    "modem": "MODEM_OK",
    "provider": "UNKNOWN",
    "signal": 0,
    "sim": "SIM_READY",
    "sms": "unreachable",
    "state": "DOWN",
    "status": "NOT_REGISTERED",
}


def get_comm(state: SiteState, home_ssid: str = "", cell_modem: bool = False) -> dict[str, Any]:
    """``Command=Get_Comm``; ``home_ssid``: the owner's Wi-Fi the PVS joined (``sta0``);
    ``cell_modem``: a cellular modem too, whose ``signal`` is a number (FACTS O2)."""
    doc = _get_comm(state, home_ssid)
    if cell_modem:
        doc["networkstatus"]["interfaces"].append(dict(CELL_MODEM))
    return doc


def _get_comm(state: SiteState, home_ssid: str) -> dict[str, Any]:
    return {
        "networkstatus": {
            "interfaces": [
                {
                    "interface": "wan",
                    "internet": "up",
                    "ipaddr": "192.0.2.20",
                    "link": "connected",
                    "state": "up",
                    "sms": "reachable",
                },
                {
                    "interface": "plc",
                    "internet": "down",
                    "ipaddr": "",
                    "link": "disconnected",
                    "state": "down",
                    "sms": "unreachable",
                    "pairing": "unpaired",
                    "speed": 0,
                },
                {
                    "interface": "sta0",
                    "internet": "down",
                    "ipaddr": "",
                    "link": "disconnected",
                    "state": "down",
                    "sms": "unreachable",
                    "ssid": home_ssid,
                    "signal": "-80",
                },
            ],
            "system": {"interface": "wan", "internet": "up", "sms": "reachable"},
            "ts": str(int(state.now)),
        },
        "result": "succeed",
    }


def grid_profile(_state: SiteState) -> dict[str, Any]:
    return {
        "active_name": "IEEE-1547a-2014 + 2020 CA Rule21",
        "active_id": "816bf3302d337a42680b996227ddbc46abf9cd05",
        "pending_name": "IEEE-1547a-2014 + 2020 CA Rule21",
        "pending_id": "816bf3302d337a42680b996227ddbc46abf9cd05",
        "percent": 100,
        "supported_by": "ALL",
        "status": "success",
        "result": "succeed",
    }


def start(state: SiteState) -> dict[str, Any]:
    sup = state.supervisor
    return {
        "result": "succeed",
        "supervisor": {
            "SWVER": sup.software_version,
            "SERIAL": sup.serial,
            "MODEL": "PVS6",
            "FWVER": "1.0.0",
        },
    }
