"""What one read of a PVS says, in SI units, whichever API it came from.

Every reading is ``float | None``: ``None`` means the PVS did not report it (or
reported something unparsable). Zero is a real reading, so it is never used as
a stand-in for "missing" — a zero on a production graph is a lie.

All classes are frozen: a ``Snapshot`` is shared between the poller, any
number of concurrent scrapes and the status page without locks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Backend = Literal["legacy", "varserver"]
MeterMode = Literal["production", "consumption", ""]
Phase = Literal["L1", "L2"]


@dataclass(frozen=True, slots=True)
class Device:
    """Identity and state every PVS device has, known type or not.

    ``state`` is the raw PVS string (``working``/``error``/…); ``""`` when the
    API has no state (varserver reports none).
    """

    device_type: str
    serial: str
    model: str = ""
    software_version: str = ""
    state: str = ""
    type: str = ""
    description: str = ""
    port: str = ""
    # Epoch seconds at which the device sampled its data (DATATIME/msmtEps).
    data_time: float | None = None


@dataclass(frozen=True, slots=True)
class Supervisor:
    device: Device
    hardware_version: str = ""
    uptime_seconds: float | None = None
    cpu_loadavg: float | None = None
    memory_used_bytes: float | None = None
    flash_available_bytes: float | None = None
    error_count: float | None = None
    communication_errors: float | None = None
    skipped_scans: float | None = None
    scan_time_seconds: float | None = None
    untransmitted_events: float | None = None
    # varserver only: usage percentages reported as ratios 0..1.
    cpu_usage_ratio: float | None = None
    memory_usage_ratio: float | None = None
    flash_usage_ratio: float | None = None
    flash_wear_ratio: float | None = None


@dataclass(frozen=True, slots=True)
class PhaseReading:
    power_watts: float | None = None
    current_amperes: float | None = None
    voltage_volts: float | None = None


@dataclass(frozen=True, slots=True)
class Meter:
    device: Device
    mode: MeterMode = ""
    ct_rated_current_label: str = ""
    subtype: str = ""
    ct_rated_current_amperes: float | None = None
    frequency_hertz: float | None = None
    net_energy_watt_hours: float | None = None
    imported_energy_watt_hours: float | None = None
    exported_energy_watt_hours: float | None = None
    real_power_watts: float | None = None
    reactive_power_var: float | None = None
    apparent_power_va: float | None = None
    power_factor: float | None = None
    current_amperes: float | None = None
    supply_voltage_volts: float | None = None
    phases: tuple[tuple[Phase, PhaseReading], ...] = ()


@dataclass(frozen=True, slots=True)
class Inverter:
    device: Device
    module_id: str = ""
    panel: str = ""
    ac_current_amperes: float | None = None
    ac_power_watts: float | None = None
    ac_voltage_volts: float | None = None
    dc_current_amperes: float | None = None
    dc_power_watts: float | None = None
    dc_voltage_volts: float | None = None
    frequency_hertz: float | None = None
    energy_watt_hours: float | None = None
    heatsink_celsius: float | None = None


@dataclass(frozen=True, slots=True)
class EnergyStorage:
    """A SunVault storage device: the ESS inverter/battery stack or one battery module.

    ``power_watts`` is positive while the battery discharges (delivers power to
    the home) and negative while it charges, the same sign as the site's
    ``ess_p``: a positive value reduces what the home draws from the grid.
    Which fields are present depends on the API and the device (varserver's
    ESS reports SoH, limits and cell extremes; the legacy ESS status reports
    per-module current and temperature).
    """

    device: Device
    operating_mode: str = ""
    state_of_charge_ratio: float | None = None
    customer_state_of_charge_ratio: float | None = None
    state_of_health_ratio: float | None = None
    battery_voltage_volts: float | None = None
    battery_current_amperes: float | None = None
    power_watts: float | None = None
    charge_limit_watts: float | None = None
    discharge_limit_watts: float | None = None
    cell_min_temperature_celsius: float | None = None
    cell_max_temperature_celsius: float | None = None
    cell_min_voltage_volts: float | None = None
    cell_max_voltage_volts: float | None = None
    temperature_celsius: float | None = None
    inverter_temperature_celsius: float | None = None
    humidity_ratio: float | None = None
    charged_energy_watt_hours: float | None = None
    discharged_energy_watt_hours: float | None = None
    phases: tuple[tuple[Phase, PhaseReading], ...] = ()


@dataclass(frozen=True, slots=True)
class TransferSwitch:
    """The SunVault Hub+ / MIDC that islands the home from the grid.

    ``state`` is the raw PVS text (varserver ``midStEnum``, legacy
    ``contactor_position``); it is exported as an info label, not a number,
    because its set of values is not documented.

    ``control_supply_voltage_volts`` (varserver ``vSpplyV``) is the switch's
    own ~12 V control supply; ``main_voltage_volts`` (legacy
    ``main_voltage``) is a different, undocumented mains reading. Neither is
    the other, so each has its own metric.
    """

    device: Device
    state: str = ""
    pv_disconnect_state: str = ""
    temperature_celsius: float | None = None
    control_supply_voltage_volts: float | None = None
    main_voltage_volts: float | None = None
    grid_phases: tuple[tuple[Phase, PhaseReading], ...] = ()
    load_phases: tuple[tuple[Phase, PhaseReading], ...] = ()


@dataclass(frozen=True, slots=True)
class Relay:
    """One relay of a PV Disconnect, its codes as the PVS reports them (1 and 0
    seen; their meaning is not documented)."""

    number: str
    state: float | None = None
    error: float | None = None


@dataclass(frozen=True, slots=True)
class PvDisconnect:
    """The SunVault's PV Disconnect relay box (DeviceList ``PV Disconnect``):
    its relays and the leg voltages on its grid side and its PV side."""

    device: Device
    relays: tuple[Relay, ...] = ()
    grid_phases: tuple[tuple[Phase, PhaseReading], ...] = ()
    pv_phases: tuple[tuple[Phase, PhaseReading], ...] = ()


@dataclass(frozen=True, slots=True)
class LiveData:
    """Site totals the PVS computes itself (varserver ``/sys/livedata``).

    Signs: ``grid_power_watts`` positive = importing from the grid;
    ``battery_power_watts`` positive = battery discharging.
    """

    time: float | None = None
    pv_power_watts: float | None = None
    grid_power_watts: float | None = None
    load_power_watts: float | None = None
    battery_power_watts: float | None = None
    state_of_charge_ratio: float | None = None
    backup_time_remaining_seconds: float | None = None
    # "Lifetime" net energies that are negative and fall (a net exporter's
    # grid total, a battery's charge-minus-discharge): gauges, never counters.
    grid_energy_watt_hours: float | None = None
    battery_energy_watt_hours: float | None = None


@dataclass(frozen=True, slots=True)
class CommInterface:
    name: str
    internet: str = ""
    sms: str = ""
    link: str = ""
    state: str = ""


@dataclass(frozen=True, slots=True)
class GridProfile:
    id: str = ""
    name: str = ""
    percent: str = ""
    status: str = ""


@dataclass(frozen=True, slots=True)
class ReadGroupStatus:
    """One varserver variable group (``info``, ``inverter``, …) as of a poll."""

    name: str
    ok: bool
    failures: int


# Panel health (docs/panel-health.md): an inverter the target's ``arrays``
# do not assign is in this array; without ``arrays`` the whole site is.
DEFAULT_ARRAY = "site"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One complete read of one PVS.

    ``devices`` holds every device the PVS listed (including the supervisor,
    meters and inverters) so unknown hardware still shows in ``device_state``.
    """

    backend: Backend
    fetched_at: float
    supervisor: Supervisor | None = None
    meters: tuple[Meter, ...] = ()
    inverters: tuple[Inverter, ...] = ()
    devices: tuple[Device, ...] = ()
    interfaces: tuple[CommInterface, ...] = ()
    grid_profile: GridProfile | None = None
    storage: tuple[EnergyStorage, ...] = ()
    transfer_switches: tuple[TransferSwitch, ...] = ()
    pv_disconnects: tuple[PvDisconnect, ...] = ()
    live: LiveData | None = None
    # Non-fatal oddities found while parsing (e.g. a device without serial).
    warnings: tuple[str, ...] = field(default=())
    # varserver: how each group of variables fared (one stuck group costs
    # only its own metrics).
    read_groups: tuple[ReadGroupStatus, ...] = ()
    # Not from the PVS: the owner's (inverter serial, array) pairs from the
    # target's configuration, added by the poller, so the array info metric
    # is rendered with the snapshot it describes.
    inverter_arrays: tuple[tuple[str, str], ...] = ()

    def inverter_array_pairs(self) -> list[tuple[str, str]]:
        """(serial, array) of every inverter the PVS lists, missing ones included."""
        arrays = dict(self.inverter_arrays)
        return [
            (dev.serial, arrays.get(dev.serial, DEFAULT_ARRAY))
            for dev in self.devices
            if dev.device_type == "Inverter" and dev.serial
        ]

    def device_counts(self) -> dict[tuple[str, str], int]:
        """Devices by (device_type, state), for the status page."""
        counts: dict[tuple[str, str], int] = {}
        for dev in self.devices:
            key = (dev.device_type, dev.state)
            counts[key] = counts.get(key, 0) + 1
        return counts
