"""Every capture in tests/captures/ is replayed and must scrape as its golden exposition.

A capture attached to a bug report becomes a regression fixture: copy it to
tests/captures/NAME.json, run

    python tests/test_captures.py

to (re)generate tests/captures/NAME.prom, review the diff like code, commit
both. The replay goes over real HTTP(S) through the simulator's ``--replay``
server and the exporter's own reader, exactly as ``--demo --replay`` does.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from sunpower_pvs_exporter.config import TargetConfig
from sunpower_pvs_exporter.metrics.catalog import device_metrics_for
from sunpower_pvs_exporter.metrics.encoder import encode_metrics
from sunpower_pvs_exporter.runtime import make_reader
from sunpower_pvs_exporter.simulator.replay import ReplayPvs, ReplayServer
from sunpower_pvs_exporter.troubleshoot.recorded_poll import transports_of

CAPTURES = Path(__file__).parent / "captures"


def capture_files() -> list[Path]:
    return sorted(CAPTURES.glob("*.json"))


async def replay_exposition(path: Path) -> str:
    """The device metrics the exporter makes from the replayed capture, as text."""
    recorded = ReplayPvs.load(path)
    server = ReplayServer(recorded)
    await server.start()
    try:
        target = TargetConfig(
            name="capture",
            host=server.host,
            port=server.tls_port if server.tls else server.port,
            use_tls=server.tls,
            api=recorded.api_setting,  # type: ignore[arg-type]
            timeout=10.0,
            # Legacy DATATIME carries no zone; the PVS writes UTC.
            timezone="UTC",
        )
        reader = make_reader(target)
        try:
            snapshot = await reader.read()
        finally:
            for transport in transports_of(reader):
                await transport.close()
    finally:
        await server.stop()
    assert not recorded.unmatched or all("dl_cgi" in u for u in recorded.unmatched), (
        f"{path.name}: the exporter asked for requests the capture lacks: {recorded.unmatched}"
    )
    return encode_metrics(device_metrics_for(snapshot), snapshot, False, False).decode()


def test_there_are_captures():
    assert len(capture_files()) >= 4


@pytest.mark.parametrize("path", capture_files(), ids=lambda p: p.stem)
async def test_capture_replays_to_its_golden_exposition(path: Path):
    golden = path.with_suffix(".prom")
    assert golden.exists(), f"no {golden.name}: run `python tests/test_captures.py`"
    text = await replay_exposition(path)
    assert "sunpower_pvs_device_state{" in text
    assert text == golden.read_text(), (
        f"{path.stem}: replay differs from {golden.name}; if the change is intended, run "
        "`python tests/test_captures.py` and review the diff"
    )


if __name__ == "__main__":
    for capture in capture_files():
        capture.with_suffix(".prom").write_text(asyncio.run(replay_exposition(capture)))
        print("regenerated", capture.with_suffix(".prom").name, file=sys.stderr)
