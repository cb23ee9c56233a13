"""web/probe_body.py: a /probe answer kept compressed between polls is, byte
for byte, what a fresh render at that moment gives, with the same headers;
gzip only when asked; a new poll's data shows at once."""

from __future__ import annotations

import asyncio
import gzip

import pytest

from sunpower_pvs_exporter.web.exposition import render
from support import NOON_UTC, FakeClock, target_for

PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
    "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


async def started(make_simulator, make_exporter, inverters: int = 2):  # type: ignore[no-untyped-def]
    sim = await make_simulator(inverters=inverters)
    clock = FakeClock(NOON_UTC)
    exporter = await make_exporter([target_for(sim, name="a", poll_interval=60.0)], clock=clock)
    poller = exporter.state.pollers["a"]
    for _ in range(200):
        if poller.status().up:
            break
        await asyncio.sleep(0.05)
    assert poller.status().up
    return exporter, poller, clock


def fresh(exporter, poller, accept: str) -> tuple[bytes, dict[str, str]]:  # type: ignore[no-untyped-def]
    """What /probe rendered on every scrape before answers were kept."""
    state = exporter.state

    def appended(*, openmetrics: bool) -> bytes:
        return state.metrics_text([poller], [poller], exporter_info=False, openmetrics=openmetrics)

    return render(state.empty_registry, accept, appended)


async def probe(http, exporter, accept: str, encoding: str | None):  # type: ignore[no-untyped-def]
    headers = {"Accept": accept}
    if encoding is not None:
        headers["Accept-Encoding"] = encoding
    async with http.get(
        exporter.url + "/probe?target=a",
        headers=headers,
        auto_decompress=False,
        skip_auto_headers=() if encoding is not None else ("Accept-Encoding",),
    ) as response:
        assert response.status == 200
        return await response.read(), response.headers


@pytest.mark.parametrize("accept", [PROMETHEUS_ACCEPT, "text/plain", ""])
async def test_kept_answers_are_the_fresh_render_byte_for_byte(
    accept: str, make_simulator, make_exporter, http
):
    exporter, poller, clock = await started(make_simulator, make_exporter, inverters=30)
    ages = []
    for step in (0.0, 1.5, 0.125, 17.0):  # the first fills, the others reuse
        clock.advance(step)
        body, headers = await probe(http, exporter, accept, "gzip")
        want, want_headers = fresh(exporter, poller, accept)
        assert headers["Content-Encoding"] == "gzip"
        assert headers["Content-Type"] == want_headers["Content-Type"]
        assert headers["Vary"] == want_headers["Vary"]
        text = gzip.decompress(body)
        assert text == want
        ages.append(
            next(
                line
                for line in text.decode().splitlines()
                if line.startswith("sunpower_pvs_snapshot_age_seconds{")
            )
        )
    assert len(set(ages)) == 4, ages  # the age moved with the clock every time


async def test_gzip_only_when_asked(make_simulator, make_exporter, http):
    exporter, poller, _ = await started(make_simulator, make_exporter)
    await probe(http, exporter, PROMETHEUS_ACCEPT, "gzip")  # an answer is kept
    for encoding in (None, "", "identity", "x-gzip-like"):
        body, headers = await probe(http, exporter, PROMETHEUS_ACCEPT, encoding)
        assert "Content-Encoding" not in headers
        assert body == fresh(exporter, poller, PROMETHEUS_ACCEPT)[0]


async def test_a_new_poll_shows_at_once(make_simulator, make_exporter, http):
    exporter, poller, clock = await started(make_simulator, make_exporter)
    before, _ = await probe(http, exporter, PROMETHEUS_ACCEPT, "gzip")
    polls = poller.status().polls
    clock.advance(61.0)
    await poller.poll()
    assert poller.status().polls == polls + 1
    after, _ = await probe(http, exporter, PROMETHEUS_ACCEPT, "gzip")
    text = gzip.decompress(after)
    assert text == fresh(exporter, poller, PROMETHEUS_ACCEPT)[0]
    assert f'sunpower_pvs_polls_total{{target="a"}} {polls + 1}.0'.encode() in text
    assert text != gzip.decompress(before)
