"""What the simulated PVS knows and remembers, apart from how it is served.

``server.py`` serves it over HTTP and ``legacy_api.py``/``varserver_api.py``
answer from it; all of them import this module and none imports another for
it, so the simulator has no import cycle (tests/test_structure.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sunpower_pvs_exporter.simulator.faults import (
    ENERGY_GLITCHES,
    ENERGY_KINDS,
    FaultPlan,
    RequestLog,
    glitch_energy,
)
from sunpower_pvs_exporter.simulator.site import (
    DEFAULT_DEGRADED_FACTOR,
    SUPERVISOR_SWVER,
    InverterFault,
    SimClock,
    Site,
    SiteConfig,
    SiteState,
)

API_MODES = ("legacy", "varserver", "both")
VARSERVER_MIN_BUILD = 61840
NEW_FIRMWARE_BUILD = 61845
NEW_FIRMWARE_SWVER = "2025.09, Build 61845"
# Build 61839 sits on both sides in the field: some units on it serve only
# varserver (DeviceList 403), others still serve DeviceList. ``api=
# "varserver"`` with ``SiteConfig(build=MIXED_FIELD_BUILD)`` is the former.
MIXED_FIELD_BUILD = 61839
MIXED_FIELD_SWVER = "2025.05, Build 61839"


@dataclass(frozen=True)
class OwnerNetwork:
    """What a real PVS knows about its owner's network and contract, and must keep.

    A PVS6 lists its Wi-Fi hotspot's key as ``/sys/info/wpa_key`` beside
    ``ssid`` and ``finance_type``, so ``match=/sys/info/`` returns it; legacy
    ``Get_Comm`` names the home Wi-Fi the PVS joined (``sta0`` ``ssid``).
    The values are recognisable (``wifikey-…``, ``LEASE-…``, ``HomeWifi-…``) so a
    test can search any output for them.
    """

    hotspot_ssid: str
    hotspot_key: str
    finance_type: str
    home_ssid: str

    @classmethod
    def for_serial(cls, serial: str) -> OwnerNetwork:
        digest = hashlib.blake2b(f"owner-network\0{serial}".encode(), digest_size=12).hexdigest()
        return cls(
            hotspot_ssid="SunPower" + serial[-5:],
            hotspot_key="wifikey-" + digest[:10],
            finance_type="LEASE-" + digest[10:16].upper(),
            home_ssid="HomeWifi-" + digest[16:22],
        )


@dataclass
class Session:
    """A varserver session: one per client address, ``session_ttl`` from login."""

    client: str
    expires: float


@dataclass
class SimulatedPvs:
    """Everything the simulated PVS knows: its site, clock, faults and log."""

    config: SiteConfig
    clock: SimClock
    faults: FaultPlan = field(default_factory=FaultPlan)
    log: RequestLog = field(default_factory=RequestLog)
    # "legacy": dl_cgi only (old firmware); "varserver": new firmware
    # (DeviceList answers 403); "both": DeviceList and varserver both work.
    api: str = "legacy"
    # Seconds a varserver session lives (sessionmgr's default: 300, counted
    # from login, not extended by use), on ``session_clock`` (injectable).
    session_ttl: float = 300.0
    session_clock: Callable[[], float] = time.monotonic
    # Overrides the default password (last 5 characters of the serial).
    password_override: str | None = None
    site: Site = field(init=False)
    # The owner's Wi-Fi names, hotspot key and finance type (derived from the
    # serial; a test may replace it).
    network: OwnerNetwork = field(init=False)
    # Session token -> session. One session per client IP: a second login
    # from the same address gets the same token (and a fresh lifetime).
    sessions: dict[str, Session] = field(default_factory=dict)
    caches: dict[str, list[str]] = field(default_factory=dict)
    # What a /vars answer with no variables in it gets: 200 and an empty
    # result (fcgi_vars before its 2024 error-handling change) or 400 (after).
    empty_result_status: int = 200
    logins: int = 0
    failed_logins: int = 0
    # /vars answers that held the hotspot's Wi-Fi key (``/sys/info/wpa_key``).
    hotspot_key_reads: int = 0
    # Telemetry WebSocket: off until a client sets /sys/telemetryws/enable=1.
    # ``telemetry=False`` is a PVS5: no such variable (400) and no listener.
    telemetry: bool = True
    telemetry_enabled: bool = False
    telemetry_interval: float = 1.0
    # Named fault "energy_glitch": lifetime-energy glitches still to serve,
    # per kind of device, one per read of that kind (see faults.glitch_energy).
    energy_glitches: dict[str, list[str]] = field(default_factory=dict)
    # Named fault "inverter_vanishes": serials of inverters that died; varserver
    # leaves them out of its data entirely, as it does every silent inverter.
    vanished_inverters: set[str] = field(default_factory=set)
    # Fault: open telemetry sockets stop sending while TCP stays open.
    telemetry_silent: bool = False
    # Push only these fields (None: all), e.g. a new connection whose first
    # message carries only what changed.
    telemetry_fields: frozenset[str] | None = None
    # Nightly reboot: inverters are missing until this site time, then come
    # back one every ``inverter_return_interval`` seconds.
    inverters_back_at: float | None = None
    inverter_return_interval: float = 0.0
    # Named fault "reboot_schedule" (``reboot_every``): the PVS reboots every
    # ``reboot_period`` seconds of its clock, the next at ``next_reboot_at``,
    # and answers nothing for ``reboot_downtime`` seconds after each.
    reboot_period: float | None = None
    reboot_downtime: float = 0.0
    next_reboot_at: float | None = None
    scheduled_reboots: int = 0
    # Requests that came while the PVS was down (refused, never answered).
    refused_while_down: int = 0

    def __post_init__(self) -> None:
        if self.api not in API_MODES:
            raise ValueError(f"api must be one of {', '.join(API_MODES)}, got {self.api!r}")
        if self.api != "legacy" and self.config.build == MIXED_FIELD_BUILD:
            self.config = dataclasses.replace(self.config, software_version=MIXED_FIELD_SWVER)
        elif self.api != "legacy" and self.config.build < VARSERVER_MIN_BUILD:
            # New firmware: a build and version string that say so.
            version = self.config.software_version
            self.config = dataclasses.replace(
                self.config,
                build=NEW_FIRMWARE_BUILD,
                software_version=NEW_FIRMWARE_SWVER if version == SUPERVISOR_SWVER else version,
            )
        self.site = Site(self.config, self.clock.now())
        self.network = OwnerNetwork.for_serial(self.site.pvs_serial)

    def state(self) -> SiteState:
        self.follow_reboot_schedule()
        now = self.clock.now()
        state = self.site.state(now)
        if self.inverters_back_at is None:
            return state
        if now < self.inverters_back_at:
            present = 0
        elif self.inverter_return_interval <= 0:
            present = len(state.inverters)
        else:
            present = 1 + int((now - self.inverters_back_at) // self.inverter_return_interval)
        return dataclasses.replace(state, inverters=state.inverters[:present])

    def data_state(self, *, varserver: bool = False) -> SiteState:
        """The state a data read (DeviceList, ``/vars``) reports, faults included."""
        state = self.state()
        if not varserver:  # DeviceList: every device at once
            state = self.glitched(state, ENERGY_KINDS)
        if varserver and self.vanished_inverters:
            alive = tuple(i for i in state.inverters if i.serial not in self.vanished_inverters)
            state = dataclasses.replace(state, inverters=alive)
        return state

    def vanish_inverter(self, index: int = 0) -> str:
        """Named fault "inverter_vanishes": inverter ``index`` dies; returns its serial.

        On varserver firmware a dead inverter is simply no longer in the data,
        exactly like every inverter at night.
        """
        serial = self.site.inverters[index].serial
        self.vanished_inverters.add(serial)
        return serial

    def inverter_fault(
        self, index: int, kind: str, *, factor: float = DEFAULT_DEGRADED_FACTOR
    ) -> str:
        """Named faults "dead", "degraded", "intermittent" for inverter ``index``; its serial.

        From now on a dead inverter makes nothing (the PVS lists it in error,
        and its lifetime energy stops growing); a degraded one makes
        ``factor`` of its healthy output; an intermittent one drops out (in
        error, no readings) ten minutes in every thirty.
        """
        return self.site.set_inverter_fault(
            index, InverterFault(kind, factor=factor), self.clock.now()
        )

    def heal_inverter(self, index: int) -> None:
        """Inverter ``index`` works normally again."""
        self.site.set_inverter_fault(index, None, self.clock.now())

    def cloudy_day(self, *, cloudy: bool = True) -> None:
        """Named fault "cloudy_day": overcast from now on, every panel low alike."""
        self.site.set_weather("cloudy" if cloudy else "variable", self.clock.now())

    def grid_outage(self, *, down: bool = True) -> None:
        """Named fault "grid_outage": the grid fails; the Hub+ islands the home.

        The transfer switch reports state ``OPEN`` and 0 V on its grid side;
        the consumption meter reads no import or export; the battery alone
        balances the home and the PV (curtailed to what they absorb). A site
        without a battery goes dark: inverters stop, the home draws nothing.
        """
        self.site.set_grid_outage(down=down, now=self.clock.now())

    def array_of(self, serial: str) -> str:
        """Named fault "two_arrays" (``SiteConfig.west_inverters``): the face of an inverter."""
        return self.site.array_of(serial)

    def glitched(self, state: SiteState, kinds: Iterable[str]) -> SiteState:
        """``state`` with the next queued energy glitch of each of ``kinds`` applied."""
        for kind in kinds:
            queue = self.energy_glitches.get(kind)
            if queue:
                state = glitch_energy(state, queue.pop(0), kind)
        return state

    def energy_glitch(self, *steps: str) -> None:
        """Named fault "energy_glitch": the next data reads misreport lifetime energy.

        Each step is one read: ``"float_step"`` (every lifetime kWh one float32
        step low) or ``"zero"`` (every lifetime kWh 0), as real units do. The
        default is what ha-esunpower users saw: a step down, then a brief 0.
        """
        steps = steps or ("float_step", "zero")
        for step in steps:
            if step not in ENERGY_GLITCHES:
                raise ValueError(f"unknown energy glitch {step!r}")
        for kind in ENERGY_KINDS:
            self.energy_glitches.setdefault(kind, []).extend(steps)

    @property
    def password(self) -> str:
        return self.password_override or self.site.password

    @property
    def mac(self) -> str:
        tail = self.site.pvs_serial[-6:].rjust(6, "0")
        return "00:22:F2:" + ":".join(tail[i : i + 2] for i in (0, 2, 4))

    def expire_sessions(self) -> None:
        """Every session ends now, as after an undocumented PVS-side timeout."""
        self.sessions.clear()

    def reboot(
        self,
        inverters_absent_for: float | None = None,
        inverter_return_interval: float = 0.0,
        *,
        at: float | None = None,
    ) -> None:
        """Forget sessions, ``cache=`` sets and telemetry, as a PVS restart does.

        Uptime starts again from zero (at ``at`` on the PVS's clock, default
        now). ``inverters_absent_for``: a nightly reboot. The PVS knows no
        inverter until each talks to it again (at dawn): they are absent for
        that many site seconds, then return one every ``inverter_return_interval``.
        """
        self.site.boot_time = self.clock.now() if at is None else at
        self.sessions.clear()
        self.caches.clear()
        self.telemetry_enabled = False
        if inverters_absent_for is not None:
            self.inverters_back_at = self.site.boot_time + inverters_absent_for
            self.inverter_return_interval = inverter_return_interval

    def reboot_every(self, period: float, *, down_for: float = 60.0) -> None:
        """Named fault "reboot_schedule": from now on the PVS reboots every ``period`` s.

        A struggling unit (peers saw a PVS polled every 30 s crash about every
        4 hours): at each reboot its uptime starts again from zero and it
        forgets sessions and ``cache=`` sets; for ``down_for`` seconds after
        each it answers nothing (every connection is dropped unanswered). The
        reboots follow the simulator's clock, so a test that moves the clock
        by a day sees every reboot of that day.
        """
        if period <= 0 or down_for < 0 or down_for >= period:
            raise ValueError("reboot_every: need period > down_for >= 0")
        self.reboot_period = period
        self.reboot_downtime = down_for
        self.next_reboot_at = self.clock.now() + period

    def stop_rebooting(self) -> None:
        """The "reboot_schedule" fault ends: the PVS runs on from its last reboot."""
        self.follow_reboot_schedule()
        self.reboot_period = None
        self.next_reboot_at = None

    def follow_reboot_schedule(self) -> None:
        """Carry out the scheduled reboots due by now; the PVS is as after the last one."""
        if self.reboot_period is None or self.next_reboot_at is None:
            return
        now = self.clock.now()
        if now < self.next_reboot_at:
            return
        missed = int((now - self.next_reboot_at) // self.reboot_period)
        last = self.next_reboot_at + missed * self.reboot_period
        self.scheduled_reboots += missed + 1
        self.reboot(at=last)
        self.next_reboot_at = last + self.reboot_period

    def down(self) -> bool:
        """Whether the PVS is still starting after a scheduled reboot: it answers nothing."""
        self.follow_reboot_schedule()
        if self.reboot_period is None or self.scheduled_reboots == 0:
            return False
        return self.clock.now() < self.site.boot_time + self.reboot_downtime
