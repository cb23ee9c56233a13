"""The replaying PVS's own request matching, over HTTP."""

from __future__ import annotations

import json

import pytest

from sunpower_pvs_exporter.simulator.replay import ReplayPvs, ReplayServer
from sunpower_pvs_exporter.troubleshoot.capture_format import CaptureError

CAPTURE = {
    "format": "sunpower-pvs-capture",
    "format_version": 1,
    "target": {"api": "varserver", "use_tls": True},
    "exchanges": [
        {
            "method": "GET",
            "target": "/auth?login",
            "status": 200,
            "headers": {"Set-Cookie": "session=abc; HttpOnly"},
            "body": {"session": "abc"},
        },
        {
            "method": "GET",
            "target": "/vars?match=/sys/&fmt=obj&cache=spx1",
            "status": 200,
            "body": {
                "/sys/info/serialnum": "ZT0000000000AAAAA",
                "/sys/devices/meter/0/p3phsumKw": "1.5",
                "/sys/devices/meter/1/p3phsumKw": "-0.5",
            },
        },
        {"method": "GET", "target": "/cgi-bin/dl_cgi?Command=DeviceList", "error": "timeout"},
    ],
}


@pytest.fixture
async def replay():
    server = ReplayServer(ReplayPvs.from_document(CAPTURE))
    assert server.tls  # the capture has varserver requests
    await server.start()
    yield server
    await server.stop()


async def get(http, server, target):
    async with http.get(server.url + target) as response:
        return response.status, await response.text(), response.headers


async def test_recorded_requests_match_in_any_order_and_with_any_cache_id(replay, http):
    status, body, headers = await get(http, replay, "/auth?login")
    assert status == 200 and json.loads(body) == {"session": "abc"}
    assert headers["Set-Cookie"].startswith("session=abc")
    status, body, _ = await get(http, replay, "/vars?cache=mine&fmt=obj&match=/sys/")
    assert status == 200 and len(json.loads(body)) == 3
    # The cheap re-read of the set this client created.
    status, body, _ = await get(http, replay, "/vars?fmt=obj&cache=mine")
    assert status == 200 and len(json.loads(body)) == 3
    status, body, _ = await get(http, replay, "/vars?fmt=obj&cache=never-made")
    assert (status, json.loads(body)) == (200, {})


async def test_other_var_queries_are_answered_from_the_captured_variables(replay, http):
    status, body, _ = await get(
        http, replay, "/vars?match=/sys/devices/meter/&fmt=obj&clearcache=m"
    )
    assert status == 200
    assert json.loads(body) == {
        "/sys/devices/meter/0/p3phsumKw": "1.5",
        "/sys/devices/meter/1/p3phsumKw": "-0.5",
    }
    status, body, _ = await get(http, replay, "/vars?fmt=obj&cache=m")
    assert len(json.loads(body)) == 2
    status, body, _ = await get(http, replay, "/vars?name=/sys/info/serialnum")
    assert json.loads(body) == {
        "count": 1,
        "values": [{"name": "/sys/info/serialnum", "value": "ZT0000000000AAAAA"}],
    }
    status, _body, _ = await get(http, replay, "/vars?match=/sys/devices/ess/&fmt=obj")
    assert status == 400
    # A name the capture lacks: 400 for the list, as fcgi_vars answers, but
    # the names found are in the set.
    status, _body, _ = await get(
        http, replay, "/vars?name=/sys/info/serialnum,/sys/info/nope&fmt=obj&clearcache=i"
    )
    assert status == 400
    status, body, _ = await get(http, replay, "/vars?fmt=obj&cache=i")
    assert json.loads(body) == {"/sys/info/serialnum": "ZT0000000000AAAAA"}


async def test_unknown_requests_get_404_and_unanswered_ones_a_reset(replay, http):
    import aiohttp

    status, _body, _ = await get(http, replay, "/cgi-bin/dl_cgi?Command=Get_Comm")
    assert status == 404
    assert replay.pvs.unmatched == ["GET /cgi-bin/dl_cgi?Command=Get_Comm"]
    with pytest.raises(aiohttp.ClientError):
        await get(http, replay, "/cgi-bin/dl_cgi?Command=DeviceList")
    status, body, _ = await get(http, replay, "/auth?logout")
    assert (status, json.loads(body)) == (200, {})


def test_files_that_are_not_captures_are_refused(tmp_path):
    with pytest.raises(CaptureError, match="not a capture file"):
        ReplayPvs.from_document({"exchanges": []})
    with pytest.raises(CaptureError, match="no exchanges"):
        ReplayPvs.from_document({"format": "sunpower-pvs-capture", "exchanges": []})
    path = tmp_path / "x.json"
    path.write_text("{not json")
    with pytest.raises(CaptureError, match="is not JSON"):
        ReplayPvs.load(path)


async def test_simulator_command_line_replays_a_capture(http):
    import asyncio
    import re
    import sys
    from pathlib import Path

    capture = Path(__file__).parents[1] / "captures" / "devicelist-2019-build-4150.json"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sunpower_pvs_exporter.simulator.cli",
        "--replay",
        str(capture),
        "--port",
        "0",  # any free port: the first line names it (no race for a port found free)
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        served = re.search(r" on (http://127\.0\.0\.1:(\d+))$", line.strip())
        assert served is not None and served.group(2) != "0", line
        async with http.get(f"{served.group(1)}/cgi-bin/dl_cgi?Command=DeviceList") as r:
            doc = await r.json()
        recorded = json.loads(capture.read_text())["exchanges"][0]["body"]
        assert doc == recorded
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 10)
