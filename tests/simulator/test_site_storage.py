"""The simulated SunVault: energy balance and sign conventions of the site model."""

from __future__ import annotations

from datetime import UTC

import pytest

from sunpower_pvs_exporter.simulator.site import BATTERY_RESERVE, Site, SiteConfig
from support import MIDNIGHT_UTC, NOON_UTC


def site(**overrides: object) -> Site:
    return Site(SiteConfig(tz=UTC, inverters=20, battery_modules=2, **overrides), NOON_UTC)


def test_battery_charges_from_surplus_at_noon():
    model = site()
    soc_before = model.soc
    state = model.state(NOON_UTC + 1800)
    assert state.storage is not None and state.live is not None
    assert state.storage.power_kw < 0  # charging
    assert model.soc > soc_before
    live = state.live
    # Grid = load - PV - battery (battery + when discharging).
    assert live.net_kw == pytest.approx(live.load_kw - live.pv_kw - live.ess_kw, abs=1e-3)
    assert live.soc == pytest.approx(state.storage.soc)


def test_battery_discharges_at_night_down_to_the_reserve():
    model = Site(SiteConfig(tz=UTC, inverters=5, battery_modules=1), MIDNIGHT_UTC)
    model.soc = BATTERY_RESERVE + 0.05
    state = model.state(MIDNIGHT_UTC + 60)
    assert state.storage is not None
    assert state.storage.power_kw > 0
    later = model.state(MIDNIGHT_UTC + 6 * 3600)
    assert later.storage is not None
    assert later.storage.soc == pytest.approx(BATTERY_RESERVE, abs=0.02)
    assert later.storage.discharged_kwh > state.storage.discharged_kwh


def test_no_storage_means_no_battery_anywhere():
    model = Site(SiteConfig(tz=UTC, inverters=3), NOON_UTC)
    state = model.state(NOON_UTC)
    assert state.storage is None
    assert state.live is not None and state.live.ess_kw is None and state.live.soc is None


def test_password_is_the_serials_last_five():
    model = site()
    assert model.password == model.pvs_serial[-5:].upper()
    assert len(model.password) == 5
