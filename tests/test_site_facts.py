"""What a snapshot means for a person: the site's power, the devices not working.

``check`` and the status page both read these; here they are tested once, on
snapshots built by hand (the two users have their own tests of how they show them).
"""

from __future__ import annotations

from sunpower_pvs_exporter.pvs.model import (
    Device,
    EnergyStorage,
    Inverter,
    LiveData,
    Meter,
    Snapshot,
)
from sunpower_pvs_exporter.site_facts import SitePower, site_power

NOW = 1_750_000_000.0
METERS = (
    Meter(device=Device("Power Meter", "Mp"), mode="production", real_power_watts=3000.0),
    Meter(device=Device("Power Meter", "Mc"), mode="consumption", real_power_watts=-1000.0),
)


def test_site_power_comes_from_the_meters_without_live_data():
    snapshot = Snapshot(backend="legacy", fetched_at=NOW, meters=METERS)
    assert site_power(snapshot) == SitePower(
        production=3000.0, consumption=2000.0, grid=-1000.0, battery=None, soc=None
    )


def test_site_power_prefers_the_pvs_live_totals_to_the_meters():
    live = LiveData(
        pv_power_watts=4000.0,
        grid_power_watts=500.0,
        load_power_watts=5500.0,
        battery_power_watts=1000.0,
        state_of_charge_ratio=0.5,
    )
    snapshot = Snapshot(backend="varserver", fetched_at=NOW, meters=METERS, live=live)
    assert site_power(snapshot) == SitePower(
        production=4000.0, consumption=5500.0, grid=500.0, battery=1000.0, soc=0.5
    )


def test_site_power_falls_back_to_the_inverters_and_the_batteries():
    """No production meter: the inverters' sum; no live data: the ESS stacks."""
    inverters = (
        Inverter(device=Device("Inverter", "E1"), ac_power_watts=200.0),
        Inverter(device=Device("Inverter", "E2"), ac_power_watts=None),
        Inverter(device=Device("Inverter", "E3"), ac_power_watts=250.0),
    )
    storage = (
        EnergyStorage(
            device=Device("Energy Storage System", "S1"),
            power_watts=-300.0,
            state_of_charge_ratio=0.4,
        ),
        EnergyStorage(
            device=Device("Energy Storage System", "S2"),
            power_watts=None,
            state_of_charge_ratio=0.6,
        ),
        # A battery module is not a stack: its SoC is not averaged in.
        EnergyStorage(device=Device("ESS BMS", "B1"), state_of_charge_ratio=0.1),
    )
    snapshot = Snapshot(
        backend="legacy",
        fetched_at=NOW,
        meters=METERS[1:],
        inverters=inverters,
        storage=storage,
    )
    assert site_power(snapshot) == SitePower(
        production=450.0, consumption=-850.0, grid=-1000.0, battery=-300.0, soc=0.5
    )


def test_site_power_is_unknown_not_zero_without_readings():
    snapshot = Snapshot(
        backend="legacy",
        fetched_at=NOW,
        inverters=(Inverter(device=Device("Inverter", "E1")),),
    )
    assert site_power(snapshot) == SitePower(None, None, None, None, None)
