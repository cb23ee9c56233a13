"""Turning targets' state into exposition bytes, for HTTP and the Pushgateway.

``targets_text`` is the one renderer: ``/metrics``, ``/probe`` and every
Pushgateway push get their health, device and live metrics from it, so the
three cannot drift apart. ``render`` adds the HTTP side (format negotiation,
as ``prometheus_client``'s own handlers do), ``gzip_if_accepted`` compression.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Callable, Sequence

from prometheus_client.exposition import choose_encoder, gzip_accepted
from prometheus_client.registry import CollectorRegistry

from sunpower_pvs_exporter.health import LiveStatus, ReloadStatus, TargetStatus
from sunpower_pvs_exporter.metrics.cache import DeviceText, HealthSource, HealthText
from sunpower_pvs_exporter.metrics.catalog import LIVE_METRICS
from sunpower_pvs_exporter.metrics.encoder import encode_metrics

# Small bodies are not worth the CPU of compressing.
GZIP_MIN_BYTES = 1024
# Past this, compressing takes long enough to be worth a thread hop.
GZIP_THREAD_BYTES = 64 * 1024


OPENMETRICS_EOF = b"# EOF\n"


def targets_text(
    health: HealthText,
    cache: DeviceText,
    sources: Sequence[tuple[HealthSource, float]],
    devices: Sequence[tuple[TargetStatus, LiveStatus | None]],
    openmetrics: bool,
    reload_status: ReloadStatus | None = None,
    exporter_info: bool = False,
) -> bytes:
    """The health of each ``(source, now)``, then per entry of ``devices`` its cached
    device metrics and its telemetry stream's metrics (OpenMetrics without
    ``# EOF``)."""
    parts = [health.text(sources, openmetrics, exporter_info, reload_status)]
    for status, live in devices:
        if status.snapshot is not None:
            parts += cache.parts(status.target, status.snapshot, openmetrics)
        if live is not None:
            parts.append(encode_metrics(LIVE_METRICS, live, False, openmetrics))
    return b"".join(parts)


def render(
    registry: CollectorRegistry,
    accept: str,
    tail: Callable[[bool], bytes] | None = None,
) -> tuple[bytes, dict[str, str]]:
    """Encode ``registry``, then append ``tail(openmetrics)``: pre-rendered families.

    The tail is how cached device metrics join the live health metrics without
    being re-encoded on every scrape.
    """
    encoder, content_type = choose_encoder(accept)
    body: bytes = encoder(registry)
    if tail is not None:
        openmetrics = content_type.startswith("application/openmetrics-text")
        extra = tail(openmetrics)
        if openmetrics:
            body = body.removesuffix(OPENMETRICS_EOF) + extra + OPENMETRICS_EOF
        else:
            body += extra
    return body, {"Content-Type": content_type, "Vary": "Accept, Accept-Encoding"}


async def gzip_if_accepted(body: bytes, headers: dict[str, str], accept_encoding: str) -> bytes:
    """Compress when the client accepts gzip and the body is worth it.

    "Accepts gzip" is prometheus_client's own rule (``gzip_accepted``: a
    ``gzip`` coding in the list), so we negotiate exactly as its handlers do.

    Level 1: about half the CPU of level 6 for a slightly larger body
    (benchmarks/RESULTS.md, load). Large bodies are compressed in a
    thread (zlib releases the GIL), so concurrent scrapes use both cores
    instead of queueing on the event loop.
    """
    if not gzip_accepted(accept_encoding) or len(body) < GZIP_MIN_BYTES:
        return body
    headers["Content-Encoding"] = "gzip"
    if len(body) < GZIP_THREAD_BYTES:
        return gzip.compress(body, compresslevel=1)
    return await asyncio.to_thread(gzip.compress, body, 1)
