"""A target's first poll shows every series that its later polls show.

In a sharded fleet a site that moves to another shard is probed by a fresh
exporter. Prometheus 2.42 can then send the old shard's staleness marker of
a series at the millisecond of that series' last sample, 1.1 scrape
intervals late; the central server refuses it as a duplicate (and the whole
remote-write request with it) unless the new shard has sent the series in
the meantime. So whatever the old exporter showed for a healthy site, the
new one must show from its first poll (docs/scaling.md, "Adding or removing
a shard").
"""

from __future__ import annotations

import pytest

from support import NOON_UTC, FakeClock, api_target_for, parse_samples

POLLS = 4  # "long": the cached /vars reads start at the second poll


def shape(text: str) -> set[tuple[str, frozenset[tuple[str, str]]]]:
    """The series of a /probe page, values and the target's own name left out."""
    return {
        (name, frozenset((k, v) for k, v in labels if k != "target"))
        for name, labels in parse_samples(text)
    }


async def probe(http, url: str, target: str) -> str:
    async with http.get(f"{url}/probe?target={target}") as response:
        assert response.status == 200
        return await response.text()


@pytest.mark.parametrize(
    ("api", "battery_modules"),
    [("legacy", 0), ("legacy", 2), ("varserver", 0), ("varserver", 2)],
)
async def test_a_first_poll_shows_every_series_of_a_long_polled_site(
    make_simulator, make_exporter, http, api: str, battery_modules: int
):
    """Two identical simulated sites: one polled ``POLLS`` times, the other once;
    their /probe pages have the same series."""
    sims = [
        await make_simulator(api=api, inverters=2, battery_modules=battery_modules)
        for _ in range(2)
    ]
    clock = FakeClock(NOON_UTC)
    targets = [
        api_target_for(sim, api, name=name) for sim, name in ((sims[0], "long"), (sims[1], "fresh"))
    ]
    exporter = await make_exporter(targets, clock=clock, poll_mode="scrape")
    long, fresh = exporter.state.pollers["long"], exporter.state.pollers["fresh"]
    for _ in range(POLLS):
        await long.poll()
        assert long.status().last_poll_ok
        clock.advance(targets[0].poll_interval)
    await fresh.poll()
    assert fresh.status().last_poll_ok
    seasoned = shape(await probe(http, exporter.url, "long"))
    first = shape(await probe(http, exporter.url, "fresh"))
    assert sorted(seasoned - first) == [], "shown only after the first poll"
    assert sorted(first - seasoned) == [], "shown only on the first poll"
    kinds = {dict(labels).get("kind") for name, labels in first}
    if api == "varserver":
        assert "vars_cached" in kinds  # the case that made a reshard lose samples
