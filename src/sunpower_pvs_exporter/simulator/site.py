"""A simulated solar site: sun, clouds, household load, meters and micro-inverters.

The model is a pure function of simulated time and a seed, except for
lifetime energy, which is integrated forward as time passes so it only ever
grows. Each API module (legacy, varserver) renders the same ``SiteState``, so
the two APIs describe one physical site and can be compared series by series.

Device data is sampled on a grid (inverters and the supervisor every 5
minutes, meters every 15 s) like a real PVS: two reads inside one period see
identical values and identical sample times.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

INVERTER_PERIOD = 300.0
SUPERVISOR_PERIOD = 300.0
METER_PERIOD = 15.0
INTEGRATION_STEP = 60.0
SUPERVISOR_SWVER = "2021.9, Build 41001"
INVERTER_MODELS = ("AC_Module_Type_E", "AC_Module_Type_H")
PANELS = {"AC_Module_Type_E": "SPR-E20-327-E-AC", "AC_Module_Type_H": "SPR-X22-360-E-AC"}
# SunVault: usable capacity, power limits and the reserve kept for outages.
BATTERY_KWH_PER_MODULE = 6.5
CHARGE_LIMIT_KW = 3.84
DISCHARGE_LIMIT_KW = 6.8
BATTERY_RESERVE = 0.2
STORAGE_PERIOD = 15.0
# Named inverter faults (``Site.set_inverter_fault``): a dead inverter makes
# nothing (the PVS shows it in error); a degraded one (shade, soiling, a
# failing module) makes ``factor`` of what it would; an intermittent one drops
# out for the first ``INTERMITTENT_OFF`` seconds of every ``INTERMITTENT_CYCLE``.
INVERTER_FAULTS = ("dead", "degraded", "intermittent")
DEFAULT_DEGRADED_FACTOR = 0.7
INTERMITTENT_CYCLE = 1800.0
INTERMITTENT_OFF = 600.0
WEATHERS = ("variable", "cloudy")
# Array names of a site split in two (``SiteConfig.west_inverters``).
SOUTH_ARRAY = "south"
WEST_ARRAY = "west"
# What a dead production meter reports as 0 (every reading but the power factor).
DEAD_METER_ZEROS = (
    "p_kw", "q_kvar", "s_kva", "freq_hz", "net_kwh", "pos_kwh", "neg_kwh", "v12_v", "i_a",
    "p1_kw", "p2_kw", "i1_a", "i2_a", "v1n_v", "v2n_v",
)  # fmt: skip


@dataclass
class SimClock:
    """Simulated wall clock: starts at ``start`` and runs ``scale`` times real time."""

    start: float
    scale: float = 1.0
    real_start: float = field(default_factory=time.monotonic)

    def now(self) -> float:
        return self.start + (time.monotonic() - self.real_start) * self.scale


@dataclass(frozen=True)
class SiteConfig:
    seed: int = 1
    inverters: int = 20
    error_inverters: int = 1
    production_meter: bool = True
    consumption_meter: bool = True
    # The site's local zone: where the sun and the household keep their hours
    # (None: this machine's zone).
    tz: tzinfo | None = None
    # The zone the legacy device clocks (DATATIME/CURTIME) run in. None: UTC,
    # as on real units; set it to model a PVS whose clock runs local time.
    device_clock_tz: tzinfo | None = None
    # Legacy firmware before ~2020 drops all readings of a device in error
    # state; later firmware keeps the last values. ``"strip"`` or ``"keep"``.
    error_style: str = "strip"
    software_version: str = SUPERVISOR_SWVER
    # SunVault: an ESS with this many battery modules, a Hub+ transfer switch
    # and site live data that includes the battery. 0: no storage.
    battery_modules: int = 0
    # Firmware build reported by dl_cgi/supervisor/info (BUILD field).
    build: int = 41001
    # varserver meters carry a valid-field mask (``vldFldMsk``). False: the
    # variables a production meter does not measure are still 0.0, but no
    # mask says so (what the flat variable layout may look like).
    meter_valid_field_masks: bool = True
    # Real inverters sample on a 5-minute grid and their samples reach the
    # PVS up to ~10 minutes after the meters'. >0: inverter ``i`` reports the
    # slot of ``now - lag * (1 + i % 3) / 3`` (a spread of lags, the largest
    # this many seconds). 0: every inverter reports the current slot.
    inverter_lag_seconds: float = 0.0
    # Where the consumption CT sits: "net" (at the grid connection, the usual
    # NET_CONSUMPTION_LOADSIDE install: it reads import - export) or "gross"
    # (on the home's load lines, GROSS_CONSUMPTION_LINESIDE: it reads what the
    # home uses, never negative).
    consumption_ct: str = "net"
    # Units of the legacy SunVault report (every value is {"value", "unit"}):
    # "kW" (kW, %, °C: what hass-sunpower's users see), "W" (W, fractions,
    # °F), or "unknown" (a power unit no one documents).
    legacy_ess_units: str = "kW"
    # Sign of the legacy report's agg_power: +1 positive while discharging,
    # -1 positive while charging (the sign is undocumented on real units).
    legacy_agg_power_sign: int = 1
    # Named fault "two_arrays": the last this many inverters sit on a west
    # face (little morning sun, full afternoon sun); the others face south.
    west_inverters: int = 0
    # Quirks of real units (shared/real-payloads FACTS.md), each off by default.
    # "pvs5-2017": DeviceList as PVS5 "5.0.0, Build 325" writes it: "result"
    # before "devices", the PVS entry last, ISDETAIL the string "1", no panid,
    # no origin/OPERATION (L1-L3).
    legacy_layout: str = "current"
    # Every inverter reports this one serial, as in redacted published
    # captures (11 inverters with one ``sn``: V3, L18). "": real serials.
    shared_inverter_serial: str = ""
    # DeviceList also lists a SunVault's Schneider-side devices the way real
    # units do (PV Disconnect with relays and voltages; Gateway, Storage
    # Inverter, ESS BMS, Battery and an ESS with a compound serial, those five
    # without DATATIME and in STATE "error"), plus a MET Station and a Ground
    # Current Monitor (L14, L15).
    storage_side_devices: bool = False
    # ``/sys/pvs/flashwear_type_b`` in 10 % steps; None: from the uptime.
    # 11 (0x0b) is a flash past its rated life (V5).
    flash_wear_steps: int | None = None
    # SunVault state of health (``sohVal``); healthy units have read 0.
    battery_soh: float = 0.97
    # The production meter is listed as working but measures nothing: every
    # reading 0 and power factor 1 (L10).
    dead_production_meter: bool = False
    # Get_Comm also lists a cellular modem, whose ``signal`` is a JSON number
    # where sta0's is a string (O2).
    cell_modem: bool = False


@dataclass(frozen=True)
class InverterFault:
    """What is wrong with one inverter (``kind`` in ``INVERTER_FAULTS``)."""

    kind: str
    factor: float = DEFAULT_DEGRADED_FACTOR

    def __post_init__(self) -> None:
        if self.kind not in INVERTER_FAULTS:
            raise ValueError(f"inverter fault must be one of {', '.join(INVERTER_FAULTS)}")
        if not 0.0 <= self.factor <= 1.0:
            raise ValueError(f"degraded factor must be within 0..1, got {self.factor}")

    def output_factor(self, t: float) -> float:
        """Share of its healthy output the inverter delivers at ``t``."""
        if self.kind == "dead":
            return 0.0
        if self.kind == "degraded":
            return self.factor
        return 0.0 if t % INTERMITTENT_CYCLE < INTERMITTENT_OFF else 1.0


@dataclass(frozen=True)
class SupervisorState:
    serial: str
    model: str
    hardware_version: str
    software_version: str
    data_time: float
    uptime: float
    cpu_load: float
    mem_used_kib: float
    flash_avail_kib: float
    error_count: int
    comm_errors: int
    skipped_scans: int
    scan_time: int
    untransmitted: int
    cpu_usage_pct: float
    ram_usage_pct: float
    flash_usage_pct: float
    flash_wear_steps: int


@dataclass(frozen=True)
class MeterState:
    serial: str
    model: str
    type: str
    description: str
    kind: str  # "production" | "consumption"
    subtype: str  # legacy DeviceList ``subtype``
    data_time: float
    ct_amps: int
    p_kw: float
    q_kvar: float
    s_kva: float
    pf: float
    freq_hz: float
    net_kwh: float
    pos_kwh: float
    neg_kwh: float
    v12_v: float
    i_a: float
    p1_kw: float
    p2_kw: float
    i1_a: float
    i2_a: float
    v1n_v: float
    v2n_v: float


@dataclass(frozen=True)
class InverterState:
    serial: str
    model: str
    module_serial: str
    panel: str
    software_version: str
    description: str
    working: bool
    data_time: float
    p_kw: float
    energy_kwh: float
    vln_v: float
    i_a: float
    freq_hz: float
    dc_kw: float
    dc_v: float
    dc_a: float
    heatsink_c: float


@dataclass(frozen=True)
class BatteryModuleState:
    serial: str
    model: str
    soc: float
    voltage_v: float
    current_a: float  # + charging, as the legacy ESS status reports it
    temperature_c: float


@dataclass(frozen=True)
class StorageState:
    """The SunVault as both APIs see it; ``power_kw`` is + while discharging."""

    serial: str
    model: str
    hub_serial: str
    hub_model: str
    mio_serial: str
    data_time: float
    op_mode: str
    soc: float
    customer_soc: float
    soh: float
    power_kw: float
    battery_v: float
    charge_limit_kw: float
    discharge_limit_kw: float
    cell_t_min: float
    cell_t_max: float
    cell_v_min: float
    cell_v_max: float
    inverter_t: float
    enclosure_t: float
    enclosure_humidity_pct: float
    charged_kwh: float
    discharged_kwh: float
    v1n_v: float
    v2n_v: float
    modules: tuple[BatteryModuleState, ...]
    hub_state: str
    hub_pvd_state: str
    hub_t: float
    hub_humidity_pct: float
    grid_v1n: float
    grid_v2n: float
    # Hub+ readings: legacy ``main_voltage`` (undocumented point, about the
    # leg-to-leg grid voltage here) and varserver ``vSpplyV``, the switch's
    # own control supply (a real MIDC reads 11.24 V).
    main_v: float
    control_supply_v: float


@dataclass(frozen=True)
class LiveState:
    """``/sys/livedata``: site totals in kW, ``ess_p`` + discharging, ``net_p`` + import."""

    time: float
    pv_kw: float
    net_kw: float
    load_kw: float
    ess_kw: float | None
    soc: float | None
    backup_minutes: float | None
    pv_kwh: float
    net_kwh: float
    load_kwh: float


@dataclass(frozen=True)
class SiteState:
    now: float
    supervisor: SupervisorState
    meters: tuple[MeterState, ...]
    inverters: tuple[InverterState, ...]
    storage: StorageState | None = None
    live: LiveState | None = None


def _unit_noise(seed: int, *parts: object) -> float:
    """A deterministic pseudo-random number in [0, 1) for (seed, parts)."""
    digest = hashlib.blake2b(repr((seed, *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _serial(rng: random.Random, prefix: str, length: int, suffix: str = "") -> str:
    alphabet = "0123456789ABCDEF"
    return prefix + "".join(rng.choice(alphabet) for _ in range(length)) + suffix


@dataclass
class _Inverter:
    serial: str
    model: str
    module_serial: str
    rated_w: float
    efficiency: float
    forced_error: bool
    energy_kwh: float
    array: str = SOUTH_ARRAY
    fault: InverterFault | None = None


class Site:
    """The site's hardware and its behaviour over time."""

    def __init__(self, config: SiteConfig, start: float) -> None:
        self.config = config
        rng = random.Random(config.seed)
        self.pvs_serial = _serial(rng, "ZT", 14, "")
        self.boot_time = start - rng.uniform(3600, 40 * 86400)
        self.inverters: list[_Inverter] = []
        for index in range(config.inverters):
            # Mostly newer Type H modules, with an older Type E every seventh.
            model = INVERTER_MODELS[0] if index % 7 == 6 else INVERTER_MODELS[1]
            self.inverters.append(
                _Inverter(
                    serial=_serial(rng, "E00", 12),
                    model=model,
                    module_serial=_serial(rng, "", 12),
                    rated_w=327.0 if model.endswith("E") else 360.0,
                    efficiency=rng.uniform(0.86, 1.0),
                    forced_error=index >= config.inverters - config.error_inverters,
                    energy_kwh=rng.uniform(2000.0, 4500.0),
                    array=WEST_ARRAY
                    if index >= config.inverters - config.west_inverters
                    else SOUTH_ARRAY,
                )
            )
        # Named faults "cloudy_day" and "grid_outage" (see set_weather,
        # set_grid_outage): site-wide, changed while the simulator runs.
        self.weather = "variable"
        self.grid_down = False
        if config.shared_inverter_serial:
            for inv in self.inverters:
                inv.serial = config.shared_inverter_serial
        self.production_serial = _serial(rng, "PVS6M", 10, "p")
        self.consumption_serial = _serial(rng, "PVS6M", 10, "c")
        self.import_kwh = rng.uniform(8000.0, 20000.0)
        self.export_kwh = rng.uniform(5000.0, 15000.0)
        self.production_offset_kwh = rng.uniform(0.0, 50.0)
        self._integrated_to = start
        self._flash_start_kib = 90000.0
        self.ess_serial = _serial(rng, "BC", 12)
        self.hub_serial = _serial(rng, "SPHUB", 10)
        self.mio_serial = _serial(rng, "SPMIO", 10)
        self.module_serials = [_serial(rng, "BM", 12) for _ in range(config.battery_modules)]
        self.soc = 0.5
        self.charged_kwh = rng.uniform(500.0, 2000.0)
        self.discharged_kwh = self.charged_kwh * 0.9
        self.load_kwh = rng.uniform(20000.0, 40000.0)

    @property
    def has_storage(self) -> bool:
        return self.config.battery_modules > 0

    @property
    def password(self) -> str:
        """The default varserver password: the last 5 characters of the serial."""
        return self.pvs_serial[-5:].upper()

    # --- physics -------------------------------------------------------------

    def _local(self, t: float) -> datetime:
        if self.config.tz is None:
            return datetime.fromtimestamp(t).astimezone()
        return datetime.fromtimestamp(t, self.config.tz)

    def _daylight(self, t: float) -> float | None:
        """How far through the local day's daylight ``t`` is (0..1), None at night."""
        local = self._local(t)
        hour = local.hour + local.minute / 60 + local.second / 3600
        day = local.timetuple().tm_yday
        half_day = 6.0 + 1.5 * math.cos(2 * math.pi * (day - 172) / 365.25)
        sunrise, sunset = 12.5 - half_day, 12.5 + half_day
        if not sunrise < hour < sunset:
            return None
        return (hour - sunrise) / (sunset - sunrise)

    def sun(self, t: float) -> float:
        """Clear-sky irradiance fraction 0..1 at local time, with the seasons."""
        elapsed = self._daylight(t)
        if elapsed is None:
            return 0.0
        return float(math.sin(math.pi * elapsed) ** 1.3)

    def face(self, array: str, t: float) -> float:
        """How much of the sun an array's face gets: a west face little in the morning."""
        if array != WEST_ARRAY:
            return 1.0
        elapsed = self._daylight(t)
        return 1.0 if elapsed is None else min(1.0, 0.3 + 0.9 * elapsed)

    def clouds(self, t: float) -> float:
        slot = int(t // 600)
        noise = _unit_noise(self.config.seed, "cloud", slot)
        if self.weather == "cloudy":
            # Overcast: every panel low, all alike (diffuse light only).
            return 0.1 + 0.08 * noise
        return 0.7 + 0.3 * noise

    def healthy_watts(self, inv: _Inverter, t: float) -> float:
        """What the inverter would make at ``t`` without any fault or outage."""
        return inv.rated_w * inv.efficiency * self.sun(t) * self.face(inv.array, t) * self.clouds(t)

    def inverter_watts(self, inv: _Inverter, t: float) -> float:
        if inv.forced_error:
            return 0.0
        watts = self.healthy_watts(inv, t)
        if inv.fault is not None:
            watts *= inv.fault.output_factor(t)
        if self.grid_down:
            watts *= self._outage_curtailment(t)
        return watts

    def _outage_curtailment(self, t: float) -> float:
        """Share of PV the islanded site can use: the home plus what the battery takes.

        Without a battery the inverters stop (anti-islanding); with one, the
        PVS curtails PV that neither the home nor the battery can absorb.
        """
        if not self.has_storage:
            return 0.0
        available = sum(
            self.healthy_watts(inv, t) * (inv.fault.output_factor(t) if inv.fault else 1.0)
            for inv in self.inverters
            if not inv.forced_error
        )
        if available <= 0:
            return 1.0
        absorbable = self.demand_watts(t) + (CHARGE_LIMIT_KW * 1000 if self.soc < 0.999 else 0.0)
        return min(1.0, absorbable / available)

    def pv_watts(self, t: float) -> float:
        return sum(self.inverter_watts(inv, t) for inv in self.inverters)

    def load_watts(self, t: float) -> float:
        """What the home draws: its demand, unless an outage left it dark."""
        if not self.grid_down:
            return self.demand_watts(t)
        if not self.has_storage:
            return 0.0
        if self.soc <= 0.005:
            return min(self.demand_watts(t), self.pv_watts(t))
        return self.demand_watts(t)

    def demand_watts(self, t: float) -> float:
        local = self._local(t)
        hour = local.hour + local.minute / 60
        base = 350.0 + 150.0 * _unit_noise(self.config.seed, "base", int(t // 900))
        morning = 800.0 * math.exp(-(((hour - 7.5) / 1.0) ** 2))
        evening = 1500.0 * math.exp(-(((hour - 19.0) / 1.6) ** 2))
        spikes = 1200.0 if _unit_noise(self.config.seed, "spike", int(t // 300)) > 0.9 else 0.0
        return base + morning + evening + spikes

    def battery_watts(self, t: float, soc: float) -> float:
        """Battery power at ``t`` (+ discharging): soak up surplus PV, cover deficits."""
        if not self.has_storage:
            return 0.0
        if self.grid_down:
            # Islanded: the battery alone balances home and PV (PV is curtailed
            # to what it can absorb, and it may go below the reserve).
            return self.load_watts(t) - self.pv_watts(t)
        surplus = self.pv_watts(t) - self.load_watts(t)
        if surplus > 0:
            return -min(surplus, CHARGE_LIMIT_KW * 1000) if soc < 0.999 else 0.0
        return min(-surplus, DISCHARGE_LIMIT_KW * 1000) if soc > BATTERY_RESERVE else 0.0

    def grid_watts(self, t: float, soc: float) -> float:
        """Net grid power (+ import) once the battery has done its part."""
        if self.grid_down:
            return 0.0
        return self.load_watts(t) - self.pv_watts(t) - self.battery_watts(t, soc)

    def array_of(self, serial: str) -> str:
        """The array (roof face) the inverter with ``serial`` sits on."""
        for inv in self.inverters:
            if inv.serial == serial:
                return inv.array
        raise KeyError(serial)

    # --- named faults (change the site from now on) ---------------------------

    def set_inverter_fault(self, index: int, fault: InverterFault | None, now: float) -> str:
        """Inverter ``index`` suffers ``fault`` (None: healthy again) from ``now``; its serial."""
        self.advance(now)
        self.inverters[index].fault = fault
        return self.inverters[index].serial

    def set_weather(self, weather: str, now: float) -> None:
        """``"cloudy"``: an overcast day, every panel low alike; ``"variable"``: the usual."""
        if weather not in WEATHERS:
            raise ValueError(f"weather must be one of {', '.join(WEATHERS)}")
        self.advance(now)
        self.weather = weather

    def set_grid_outage(self, *, down: bool, now: float) -> None:
        """The utility grid fails (or returns) at ``now``: the Hub+ islands the home."""
        self.advance(now)
        self.grid_down = down

    @property
    def capacity_kwh(self) -> float:
        return BATTERY_KWH_PER_MODULE * self.config.battery_modules

    def advance(self, t: float) -> None:
        """Integrate lifetime energies up to ``t`` (never backwards)."""
        if t <= self._integrated_to:
            return
        start = self._integrated_to
        # Long gaps (a simulator started with a huge time scale) are integrated
        # coarsely: energy stays monotonic, only its shape is approximate.
        step = max(INTEGRATION_STEP, (t - start) / 2000)
        while start < t:
            end = min(t, start + step)
            mid = (start + end) / 2
            hours = (end - start) / 3600
            for inv in self.inverters:
                inv.energy_kwh += self.inverter_watts(inv, mid) * hours / 1000
            battery_kw = self.battery_watts(mid, self.soc) / 1000
            if self.has_storage:
                if battery_kw > 0:
                    self.discharged_kwh += battery_kw * hours
                else:
                    self.charged_kwh += -battery_kw * hours
                self.soc = min(1.0, max(0.0, self.soc - battery_kw * hours / self.capacity_kwh))
            self.load_kwh += self.load_watts(mid) * hours / 1000
            net = self.load_watts(mid) - self.pv_watts(mid) - battery_kw * 1000
            if net > 0:
                self.import_kwh += net * hours / 1000
            else:
                self.export_kwh += -net * hours / 1000
            start = end
        self._integrated_to = t

    # --- state ---------------------------------------------------------------

    def state(self, now: float) -> SiteState:
        self.advance(now)
        return SiteState(
            now=now,
            supervisor=self._supervisor(now),
            meters=self._meters(now),
            inverters=tuple(
                self._inverter(inv, index, now) for index, inv in enumerate(self.inverters)
            ),
            storage=self._storage(now) if self.has_storage else None,
            live=self._live(now),
        )

    def _storage(self, now: float) -> StorageState:
        sampled = now - now % STORAGE_PERIOD
        noise = _unit_noise(self.config.seed, "ess", int(sampled))
        power_kw = self.battery_watts(sampled, self.soc) / 1000
        battery_v = round(51.2 + 4.0 * (self.soc - 0.5) + 0.2 * noise, 2)
        cell_v = battery_v / 16
        modules = []
        for index, serial in enumerate(self.module_serials):
            share = 1.0 / len(self.module_serials)
            modules.append(
                BatteryModuleState(
                    serial=serial,
                    model="SPWR-Equinox-BMS",
                    soc=round(self.soc, 4),
                    voltage_v=battery_v,
                    current_a=round(-power_kw * share * 1000 / battery_v, 2),
                    temperature_c=round(24.0 + index + 3 * noise, 1),
                )
            )
        mode = "SELF_CONSUMPTION" if self.soc > BATTERY_RESERVE else "BACKUP_ONLY"
        return StorageState(
            serial=self.ess_serial,
            model="SPWR-Equinox-model",
            hub_serial=self.hub_serial,
            hub_model="SunPower MIDC",
            mio_serial=self.mio_serial,
            data_time=sampled,
            op_mode=mode,
            soc=round(self.soc, 4),
            customer_soc=round(max(0.0, (self.soc - BATTERY_RESERVE) / (1 - BATTERY_RESERVE)), 4),
            soh=self.config.battery_soh,
            power_kw=round(power_kw, 4),
            battery_v=battery_v,
            charge_limit_kw=CHARGE_LIMIT_KW,
            discharge_limit_kw=DISCHARGE_LIMIT_KW,
            cell_t_min=round(22.0 + 2 * noise, 1),
            cell_t_max=round(27.0 + 3 * noise, 1),
            cell_v_min=round(cell_v - 0.01, 3),
            cell_v_max=round(cell_v + 0.012, 3),
            inverter_t=round(30.0 + 10 * abs(power_kw) / DISCHARGE_LIMIT_KW, 1),
            enclosure_t=round(25.0 + 2 * noise, 1),
            enclosure_humidity_pct=round(30.0 + 10 * noise, 1),
            charged_kwh=round(self.charged_kwh, 3),
            discharged_kwh=round(self.discharged_kwh, 3),
            v1n_v=round(120.4 + (noise - 0.5), 2),
            v2n_v=round(120.2 + (0.5 - noise), 2),
            modules=tuple(modules),
            # The Hub+ opens its grid contactor in an outage (islanded home).
            hub_state="OPEN" if self.grid_down else "CLOSED",
            hub_pvd_state="CLOSED",
            hub_t=round(28.0 + 3 * noise, 1),
            hub_humidity_pct=round(35.0 + 5 * noise, 1),
            grid_v1n=0.0 if self.grid_down else round(120.5 + (noise - 0.5), 2),
            grid_v2n=0.0 if self.grid_down else round(120.3 + (0.5 - noise), 2),
            main_v=round(241.0 + (noise - 0.5), 2),
            control_supply_v=round(11.2 + 0.1 * noise, 3),
        )

    def _live(self, now: float) -> LiveState:
        sampled = now - now % METER_PERIOD
        pv_kw = self.pv_watts(sampled) / 1000
        load_kw = self.load_watts(sampled) / 1000
        battery_kw = self.battery_watts(sampled, self.soc) / 1000
        has_storage = self.has_storage
        backup = None
        if has_storage:
            usable_kwh = max(0.0, self.soc - BATTERY_RESERVE) * self.capacity_kwh
            backup = round(usable_kwh / max(load_kw, 0.1) * 60)
        return LiveState(
            time=sampled,
            pv_kw=round(pv_kw, 4),
            net_kw=round(load_kw - pv_kw - battery_kw, 4),
            load_kw=round(load_kw, 4),
            ess_kw=round(battery_kw, 4) if has_storage else None,
            soc=round(self.soc, 4) if has_storage else None,
            backup_minutes=backup,
            pv_kwh=round(sum(inv.energy_kwh for inv in self.inverters), 3),
            net_kwh=round(self.import_kwh - self.export_kwh, 3),
            load_kwh=round(self.load_kwh, 3),
        )

    def _supervisor(self, now: float) -> SupervisorState:
        sampled = now - now % SUPERVISOR_PERIOD
        noise = _unit_noise(self.config.seed, "sup", int(sampled))
        uptime = max(0.0, sampled - self.boot_time)
        return SupervisorState(
            serial=self.pvs_serial,
            model="PV Supervisor PVS6",
            hardware_version="6.02",
            software_version=self.config.software_version,
            data_time=sampled,
            uptime=round(uptime),
            cpu_load=round(0.3 + 0.9 * noise, 2),
            mem_used_kib=round(39000 + 3000 * noise),
            flash_avail_kib=round(self._flash_start_kib - uptime / 86400 * 12),
            error_count=0,
            comm_errors=int(200 + 100 * noise),
            skipped_scans=0,
            scan_time=int(noise * 2),
            untransmitted=int(50 + 20 * noise),
            cpu_usage_pct=round(10 + 40 * noise),
            ram_usage_pct=round(40 + 10 * noise),
            flash_usage_pct=round(30 + uptime / 86400 / 100),
            flash_wear_steps=(
                self.config.flash_wear_steps
                if self.config.flash_wear_steps is not None
                else min(10, int(uptime / 86400 / 365) + 1)
            ),
        )

    def _meters(self, now: float) -> tuple[MeterState, ...]:
        sampled = now - now % METER_PERIOD
        noise = _unit_noise(self.config.seed, "meter", int(sampled))
        freq = round(60.0 + (noise - 0.5) * 0.1, 4)
        v1n = round(120.5 + (noise - 0.5) * 2, 4)
        v2n = round(120.3 + (0.5 - noise) * 2, 4)
        v12 = round(v1n + v2n, 4)
        meters: list[MeterState] = []
        if self.config.production_meter and self.config.dead_production_meter:
            meters.append(self._dead_meter(sampled))
        elif self.config.production_meter:
            pv_kw = self.pv_watts(sampled) / 1000
            production_kwh = self.production_offset_kwh + sum(
                inv.energy_kwh for inv in self.inverters
            )
            s_kva = pv_kw / 0.99 if pv_kw > 0 else 0.0
            meters.append(
                MeterState(
                    serial=self.production_serial,
                    model="PVS6M0400p",
                    type="PVS5-METER-P",
                    description="Power Meter " + self.production_serial,
                    kind="production",
                    subtype="GROSS_PRODUCTION_SITE",
                    data_time=sampled,
                    ct_amps=50,
                    p_kw=round(pv_kw, 4),
                    q_kvar=round(s_kva * 0.14, 4),
                    s_kva=round(s_kva, 4),
                    pf=0.99 if pv_kw > 0 else 0.0,
                    freq_hz=freq,
                    net_kwh=round(production_kwh, 2),
                    pos_kwh=round(production_kwh, 2),
                    neg_kwh=0.0,
                    v12_v=v12,
                    i_a=round(pv_kw * 1000 / v12, 4),
                    p1_kw=round(pv_kw / 2, 4),
                    p2_kw=round(pv_kw / 2, 4),
                    i1_a=round(pv_kw * 500 / v1n, 4),
                    i2_a=round(pv_kw * 500 / v2n, 4),
                    v1n_v=v1n,
                    v2n_v=v2n,
                )
            )
        if self.config.consumption_meter:
            gross = self.config.consumption_ct == "gross"
            if gross:
                net_kw = self.load_watts(sampled) / 1000
                pos_kwh, neg_kwh = self.load_kwh, 0.0
            else:
                net_kw = self.grid_watts(sampled, self.soc) / 1000
                pos_kwh, neg_kwh = self.import_kwh, self.export_kwh
            p1 = net_kw * 0.55
            p2 = net_kw - p1
            s_kva = abs(net_kw) / 0.95
            meters.append(
                MeterState(
                    serial=self.consumption_serial,
                    model="PVS6M0400c",
                    type="PVS5-METER-C",
                    description="Power Meter " + self.consumption_serial,
                    kind="consumption",
                    subtype="GROSS_CONSUMPTION_LINESIDE" if gross else "NET_CONSUMPTION_LOADSIDE",
                    data_time=sampled,
                    ct_amps=100,
                    p_kw=round(net_kw, 4),
                    q_kvar=round(s_kva * 0.3, 4),
                    s_kva=round(s_kva, 4),
                    pf=round(0.95 if net_kw >= 0 else -0.95, 4),
                    freq_hz=freq,
                    net_kwh=round(pos_kwh - neg_kwh, 2),
                    pos_kwh=round(pos_kwh, 2),
                    neg_kwh=round(neg_kwh, 2),
                    v12_v=v12,
                    i_a=round(abs(net_kw) * 1000 / v12, 4),
                    p1_kw=round(p1, 4),
                    p2_kw=round(p2, 4),
                    i1_a=round(abs(p1) * 1000 / v1n, 4),
                    i2_a=round(abs(p2) * 1000 / v2n, 4),
                    v1n_v=v1n,
                    v2n_v=v2n,
                )
            )
        return tuple(meters)

    def _dead_meter(self, sampled: float) -> MeterState:
        """A production meter that is listed as working and reads nothing (PF 1)."""
        return MeterState(
            serial=self.production_serial,
            model="PVS6M0400p",
            type="PVS5-METER-P",
            description="Power Meter " + self.production_serial,
            kind="production",
            subtype="GROSS_PRODUCTION_SITE",
            data_time=sampled,
            ct_amps=50,
            pf=1.0,
            **dict.fromkeys(DEAD_METER_ZEROS, 0.0),
        )

    def _inverter(self, inv: _Inverter, index: int, now: float) -> InverterState:
        lagged = now - self.config.inverter_lag_seconds * (1 + index % 3) / 3
        sampled = lagged - lagged % INVERTER_PERIOD
        watts = self.inverter_watts(inv, sampled)
        noise = _unit_noise(self.config.seed, "inv", index, int(sampled))
        working = watts >= 1.0
        vln = round(240.0 + 8 * (noise - 0.5), 2)
        dc_v = round(52.0 + 4 * noise, 2) if working else 0.0
        dc_kw = watts / 0.965 / 1000 if working else 0.0
        sun = self.sun(sampled)
        return InverterState(
            serial=inv.serial,
            model=inv.model,
            module_serial=inv.module_serial,
            panel=PANELS[inv.model],
            software_version="4.21.4",
            description=f"Inverter {inv.serial}",
            working=working,
            # A device that stopped reporting keeps its last sample time; here,
            # simply the boot (what a never-working inverter shows).
            data_time=sampled if working else max(0.0, self.boot_time - self.boot_time % 300),
            p_kw=round(watts / 1000, 4),
            energy_kwh=round(inv.energy_kwh, 4),
            vln_v=vln,
            i_a=round(watts / vln, 2),
            freq_hz=round(60.0 + (noise - 0.5) * 0.04, 2),
            dc_kw=round(dc_kw, 4),
            dc_v=dc_v,
            dc_a=round(dc_kw * 1000 / dc_v, 2) if working and dc_v else 0.0,
            heatsink_c=round(12 + 30 * sun + 4 * noise) if working else round(12 + 4 * noise),
        )
