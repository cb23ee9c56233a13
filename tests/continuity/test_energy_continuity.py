"""Lifetime-energy counters never go backwards (continuity/energy.py)."""

from __future__ import annotations

import math

import pytest

from sunpower_pvs_exporter.continuity.energy import RESET_AFTER_SECONDS, LifetimeEnergyGuard
from sunpower_pvs_exporter.pvs.model import Device, EnergyStorage, Inverter, Meter, Snapshot


def inverter_snapshot(kwh: float | None, serial: str = "E001") -> Snapshot:
    device = Device("Inverter", serial, state="working")
    energy = None if kwh is None else kwh * 1000
    return Snapshot(
        "legacy", 0.0, inverters=(Inverter(device, energy_watt_hours=energy),), devices=(device,)
    )


def exported(snapshot: Snapshot) -> float | None:
    return snapshot.inverters[0].energy_watt_hours


def test_the_issue_sequence_holds_and_counts_two() -> None:
    guard = LifetimeEnergyGuard("site")
    out = [
        exported(guard.apply(inverter_snapshot(kwh), now=120.0 * i))
        for i, kwh in enumerate([1000.0, 999.9999, 0, 1000.5])
    ]
    assert out == [1000000.0, 1000000.0, 1000000.0, 1000500.0]
    assert sum(guard.held.values()) == 2
    assert guard.held == {"zero": 1, "small_decrease": 1, "large_decrease": 0}


def test_the_float32_step_from_a_real_unit_is_held_silently(caplog) -> None:
    guard = LifetimeEnergyGuard("site")
    guard.apply(inverter_snapshot(1665.559204), 0.0)
    # The lower reading can last all night: a rounding step is never a reset.
    for i in range(1, 200):
        assert exported(guard.apply(inverter_snapshot(1665.559082), 120.0 * i)) == 1665559.204
    assert guard.held["small_decrease"] == 199
    assert not caplog.records


def test_a_first_reading_of_zero_is_dropped_not_exported() -> None:
    guard = LifetimeEnergyGuard("site")
    assert exported(guard.apply(inverter_snapshot(0.0), 0.0)) is None
    assert guard.held["zero"] == 1
    assert exported(guard.apply(inverter_snapshot(12.5), 120.0)) == 12500.0


def test_an_absent_reading_holds_the_last_value_and_is_not_counted() -> None:
    """Legacy inverters in error state (every night) report no energy at all."""
    guard = LifetimeEnergyGuard("site")
    guard.apply(inverter_snapshot(10.0), 0.0)
    assert exported(guard.apply(inverter_snapshot(None), 120.0)) == 10000.0
    assert sum(guard.held.values()) == 0
    assert exported(guard.apply(inverter_snapshot(10.01), 240.0)) == 10010.0


def test_an_absent_reading_with_nothing_to_hold_stays_absent() -> None:
    guard = LifetimeEnergyGuard("site")
    assert exported(guard.apply(inverter_snapshot(None), 0.0)) is None
    assert exported(guard.apply(inverter_snapshot(None), 120.0)) is None
    assert sum(guard.held.values()) == 0


def test_a_large_drop_is_held_logged_once_then_accepted_as_a_reset(caplog) -> None:
    guard = LifetimeEnergyGuard("site")
    guard.apply(inverter_snapshot(2000.0), 0.0)
    held = [exported(guard.apply(inverter_snapshot(5.0), 120.0 * i)) for i in range(1, 30)]
    assert held == [2000000.0] * 29
    assert guard.held["large_decrease"] == 29
    assert len([r for r in caplog.records if "holding" in r.getMessage()]) == 1
    # An hour after the first low reading it is a real reset, logged and exported.
    after = 120.0 + RESET_AFTER_SECONDS
    assert exported(guard.apply(inverter_snapshot(5.1), after)) == 5100.0
    assert any("as a reset" in r.getMessage() for r in caplog.records)
    assert guard.held["large_decrease"] == 29
    assert exported(guard.apply(inverter_snapshot(5.2), after + 120)) == 5200.0


def test_a_large_drop_that_recovers_is_not_a_reset() -> None:
    guard = LifetimeEnergyGuard("site")
    guard.apply(inverter_snapshot(2000.0), 0.0)
    guard.apply(inverter_snapshot(1.0), 120.0)  # a garbage read
    assert exported(guard.apply(inverter_snapshot(2000.1), 240.0)) == 2000100.0
    # A later drop starts its own hour.
    guard.apply(inverter_snapshot(1.0), RESET_AFTER_SECONDS + 500)
    assert exported(guard.apply(inverter_snapshot(1.0), RESET_AFTER_SECONDS + 620)) == 2000100.0


def test_devices_are_tracked_separately_by_serial() -> None:
    guard = LifetimeEnergyGuard("site")
    guard.apply(inverter_snapshot(3000.0, "E001"), 0.0)
    # A new inverter with its own, much lower lifetime: not a drop.
    assert exported(guard.apply(inverter_snapshot(1.0, "E002"), 120.0)) == 1000.0
    assert sum(guard.held.values()) == 0


def test_meter_and_storage_counters_are_guarded_too() -> None:
    meter = Device("Power Meter", "M1c")
    ess = Device("Energy Storage System", "BC1")

    def snap(imported: float, exported_: float, charged: float, discharged: float) -> Snapshot:
        return Snapshot(
            "varserver",
            0.0,
            meters=(
                Meter(
                    meter,
                    imported_energy_watt_hours=imported,
                    exported_energy_watt_hours=exported_,
                    net_energy_watt_hours=imported - exported_,
                ),
            ),
            storage=(
                EnergyStorage(
                    ess,
                    charged_energy_watt_hours=charged,
                    discharged_energy_watt_hours=discharged,
                ),
            ),
        )

    guard = LifetimeEnergyGuard("site")
    guard.apply(snap(5000.0, 3000.0, 800.0, 700.0), 0.0)
    out = guard.apply(snap(0.0, 2999.99, 0.0, 699.99), 120.0)
    m, e = out.meters[0], out.storage[0]
    assert (m.imported_energy_watt_hours, m.exported_energy_watt_hours) == (5000.0, 3000.0)
    assert (e.charged_energy_watt_hours, e.discharged_energy_watt_hours) == (800.0, 700.0)
    # The net-energy gauge may really go down: it is passed through untouched.
    assert m.net_energy_watt_hours == pytest.approx(-2999.99)
    assert guard.held == {"zero": 2, "small_decrease": 2, "large_decrease": 0}


def test_an_unchanged_snapshot_is_returned_as_is() -> None:
    guard = LifetimeEnergyGuard("site")
    first = inverter_snapshot(10.0)
    assert guard.apply(first, 0.0) is first


def test_nan_and_infinity_are_not_values() -> None:
    guard = LifetimeEnergyGuard("site")
    guard.apply(inverter_snapshot(10.0), 0.0)
    assert exported(guard.apply(inverter_snapshot(math.inf), 120.0)) == 10000.0
    assert exported(guard.apply(inverter_snapshot(math.nan), 240.0)) == 10000.0
    assert exported(LifetimeEnergyGuard("site").apply(inverter_snapshot(math.nan), 0.0)) is None
