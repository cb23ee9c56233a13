"""A target's gzipped ``/probe`` answer, rendered and compressed once per change of its state.

Prometheus probes each target every scrape interval and asks for gzip; a
target's state changes when it is polled, every one or two minutes. Between
two changes the answer differs only in the snapshot-age sample, so the rest
is compressed once (``web/gzip_splice.py``) and each scrape costs a
lookup, the age and a splice instead of rendering the target's health and
compressing its whole text (85 KB for a 30-inverter site). What is sent
decompresses to exactly the bytes a fresh render gives (the tests compare
them); an answer without gzip is rendered as before, and nothing is kept
for it.

Only the compressed pieces are kept: about a tenth of the text.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from prometheus_client.exposition import choose_encoder, gzip_accepted
from prometheus_client.registry import CollectorRegistry

from sunpower_pvs_exporter.web.exposition import (
    GZIP_MIN_BYTES,
    GZIP_THREAD_BYTES,
    gzip_if_accepted,
    render,
)
from sunpower_pvs_exporter.web.gzip_splice import Spliced

if TYPE_CHECKING:
    from sunpower_pvs_exporter.poller import Poller


class ProbeState(Protocol):
    """What an answer is made from: the part of ``web.app.ServedState`` (which
    extends this) read here."""

    @property
    def pollers(self) -> Mapping[str, Poller]: ...
    @property
    def empty_registry(self) -> CollectorRegistry: ...

    def metrics_text(
        self,
        health_pollers: Sequence[Poller],
        device_pollers: Sequence[Poller],
        *,
        exporter_info: bool,
        openmetrics: bool,
    ) -> bytes:
        """The health of ``health_pollers``, then the device and live metrics of
        ``device_pollers``: what ``/metrics`` and ``/probe`` append."""

    def probe_key(self, poller: Poller, now: float) -> Hashable | None:
        """Equal at two times when ``poller``'s ``/probe`` body can differ only in
        its snapshot age; None when it may differ in more."""

    def snapshot_age_sample(self, poller: Poller, now: float) -> tuple[str, str] | None:
        """``name{labels} `` and value of ``poller``'s snapshot-age sample at
        ``now``; None when it has no data yet (the line is the same at any time)."""


@dataclasses.dataclass(frozen=True, slots=True)
class _Answer:
    poller: Poller
    key: Hashable
    headers: dict[str, str]
    spliced: Spliced


class ProbeAnswers:
    """Each target's last gzipped ``/probe`` answer, per content type."""

    def __init__(self) -> None:
        self._answers: dict[tuple[str, str], _Answer] = {}

    def __len__(self) -> int:
        return len(self._answers)

    async def answer(
        self, state: ProbeState, poller: Poller, accept: str, accept_encoding: str
    ) -> tuple[bytes, dict[str, str]]:
        """The body and headers of ``poller``'s ``/probe`` answer."""
        if not gzip_accepted(accept_encoding):
            return await _fresh(state, poller, accept, accept_encoding)
        _, content_type = choose_encoder(accept)
        slot = (poller.name, content_type)
        now = poller.clock()
        key = state.probe_key(poller, now)
        kept = self._answers.get(slot)
        if key is not None and kept is not None and kept.poller is poller and kept.key == key:
            age = state.snapshot_age_sample(poller, now)
            middle = b"" if age is None else age[1].encode()
            return kept.spliced.gzip(middle), dict(kept.headers)
        body, headers = _render(state, poller, accept)
        split = _split(state, poller, body, now) if key is not None else None
        if (
            split is None
            or len(body) < GZIP_MIN_BYTES
            or state.probe_key(poller, poller.clock()) != key
        ):
            # Rendered across a change of state, or not to be kept: as before.
            return await gzip_if_accepted(body, headers, accept_encoding), headers
        start, end = split
        head, tail = body[:start], body[end:]
        if len(body) < GZIP_THREAD_BYTES:
            spliced = Spliced.of(head, tail)
        else:
            spliced = await asyncio.to_thread(Spliced.of, head, tail)
        headers["Content-Encoding"] = "gzip"
        self._prune(state)
        self._answers[slot] = _Answer(poller, key, dict(headers), spliced)
        return spliced.gzip(body[start:end]), headers

    def _prune(self, state: ProbeState) -> None:
        """Drop the answers of targets that left the configuration or were replaced."""
        if len(self._answers) < 2 * len(state.pollers) + 8:
            return
        pollers = state.pollers
        self._answers = {
            slot: kept
            for slot, kept in self._answers.items()
            if pollers.get(slot[0]) is kept.poller
        }


def _render(state: ProbeState, poller: Poller, accept: str) -> tuple[bytes, dict[str, str]]:
    def appended(*, openmetrics: bool) -> bytes:
        return state.metrics_text([poller], [poller], exporter_info=False, openmetrics=openmetrics)

    return render(state.empty_registry, accept, appended)


async def _fresh(
    state: ProbeState, poller: Poller, accept: str, accept_encoding: str
) -> tuple[bytes, dict[str, str]]:
    body, headers = _render(state, poller, accept)
    return await gzip_if_accepted(body, headers, accept_encoding), headers


def _split(state: ProbeState, poller: Poller, body: bytes, now: float) -> tuple[int, int] | None:
    """Where the snapshot-age value is in ``body``: (start, end); (len, len)
    when it has none (nothing changes then); None if it cannot be found once."""
    age = state.snapshot_age_sample(poller, now)
    if age is None:
        return len(body), len(body)
    marker = ("\n" + age[0]).encode()
    at = body.find(marker)
    if at < 0 or body.find(marker, at + 1) >= 0:
        return None
    start = at + len(marker)
    end = body.find(b"\n", start)
    return None if end < 0 else (start, end)
