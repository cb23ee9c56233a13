"""docs/troubleshooting.md says what a capture of a failed poll holds: each request
that got no answer, with how it ended in the doc's own words (issue 22, items 3, 6)."""

from __future__ import annotations

import asyncio
import re

from docs.markdown import REPO
from sunpower_pvs_exporter.config import TargetConfig
from sunpower_pvs_exporter.simulator.server import free_port
from sunpower_pvs_exporter.troubleshoot.capture import build_capture
from sunpower_pvs_exporter.troubleshoot.recorded_poll import poll_once

DOC = REPO / "docs" / "troubleshooting.md"


def documented_endings() -> tuple[str, str]:
    """The doc's two examples: ``no connection to …``, ``no answer; given up after Ns``."""
    text = " ".join(DOC.read_text().split())
    sentence = re.search(
        r"A request that got no answer is recorded too, with how it ended \((.+?)\)\.", text
    )
    assert sentence, (
        "docs/troubleshooting.md no longer says what a capture keeps of a failed request"
    )
    refused, hung = re.findall(r"`([^`]+)`", sentence.group(1))
    return refused, hung


async def captured_errors(target: TargetConfig) -> list[tuple[str, str]]:
    doc, _ = build_capture(await poll_once(target))
    return [(exchange["target"], exchange["error"]) for exchange in doc["exchanges"]]


async def test_a_refused_connection_is_recorded_as_the_doc_says():
    refused, _ = documented_endings()
    assert refused.endswith("…")
    target = TargetConfig(
        name="closed", host="127.0.0.1", port=free_port(), api="legacy", timeout=2.0
    )
    ((path, error),) = await captured_errors(target)
    assert path == "/cgi-bin/dl_cgi?Command=DeviceList"
    assert error.startswith("DeviceList: " + refused.removesuffix("…"))


async def test_a_timed_out_request_is_recorded_as_the_doc_says():
    _, hung = documented_endings()
    stem = re.fullmatch(r"(no answer; given up after )\d+\.\ds", hung)
    assert stem, hung
    held: list[asyncio.StreamWriter] = []

    async def never_answer(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    target = TargetConfig(name="hung", host="127.0.0.1", port=port, api="legacy", timeout=0.5)
    try:
        ((path, error),) = await captured_errors(target)
    finally:
        for writer in held:
            writer.close()
        server.close()
    assert path == "/cgi-bin/dl_cgi?Command=DeviceList"
    assert re.fullmatch(r"DeviceList: " + re.escape(stem.group(1)) + r"0\.\ds", error), error
