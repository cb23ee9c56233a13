"""``sunpower-pvs-exporter capture``: one poll's raw answers, safe to attach to an issue.

The file is one human-readable JSON document::

    {
      "format": "sunpower-pvs-capture",
      "format_version": 1,
      "exporter_version": "…",
      "captured_at": "2026-11-30T14:00:00Z",
      "target": {"api": "auto", "backend": "legacy", "backend_reason": "…", "use_tls": false},
      "poll": {"ok": true, "error": ""},
      "anonymised": {"serial": 24, "mac": 1, …},
      "exchanges": [
        {"method": "GET", "scheme": "http",
         "target": "/cgi-bin/dl_cgi?Command=DeviceList",
         "status": 200, "headers": {"Content-Type": "application/json"},
         "elapsed_seconds": 0.4, "body": {…}}
      ]
    }

``body`` is the parsed JSON when the answer was JSON (so a reader sees the
structure), else ``body_text`` (UTF-8 text) or ``body_base64``. A request
that got no answer has ``error`` instead of ``status``. The PVS host name or
address is not written; every identifier is replaced (``anonymise.py``,
``docs/troubleshooting.md``), and so is every private value: any
``/sys/info/`` variable the exporter does not use (the hotspot's Wi-Fi key
among them) and anything whose name says key, password or token
(``pvs/privacy.py``). Request headers (``Authorization``, ``Cookie``) are never
recorded in the first place.

The simulator's ``--replay`` reads this format with its own code
(``simulator/replay.py``), not with this module; the two share only
``capture_format.py``.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from sunpower_pvs_exporter import __version__
from sunpower_pvs_exporter.pvs.recording import Exchange
from sunpower_pvs_exporter.troubleshoot.anonymise import Anonymiser
from sunpower_pvs_exporter.troubleshoot.capture_format import FORMAT, FORMAT_VERSION
from sunpower_pvs_exporter.troubleshoot.recorded_poll import PollOutcome


def _decoded(body: bytes) -> tuple[str, Any]:
    """``("json", doc)``, ``("text", str)`` or ``("base64", str)``."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "base64", base64.b64encode(body).decode("ascii")
    try:
        return "json", json.loads(text)
    except (ValueError, RecursionError):
        return "text", text


def _learn(anonymiser: Anonymiser, outcome: PollOutcome) -> None:
    anonymiser.learn(outcome.target.host, "ip" if outcome.target.host[:1].isdigit() else "host")
    for exchange in outcome.exchanges:
        anonymiser.learn_text(exchange.target)
        if exchange.request_body:
            anonymiser.learn_text(exchange.request_body)
        for _name, value in exchange.headers:
            anonymiser.learn_text(value)
        kind, body = _decoded(exchange.body)
        if kind == "json":
            anonymiser.learn_json(body)
        elif kind == "text":
            anonymiser.learn_text(body)


def _exchange_doc(exchange: Exchange, anonymiser: Anonymiser) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "method": exchange.method,
        "scheme": exchange.scheme,
        "target": anonymiser.text(exchange.target),
    }
    if exchange.request_body is not None:
        doc["request_body"] = anonymiser.text(exchange.request_body)
    doc["elapsed_seconds"] = round(exchange.elapsed_seconds, 3)
    if exchange.status is None:
        doc["error"] = anonymiser.text(exchange.error)
        return doc
    doc["status"] = exchange.status
    doc["headers"] = {name: anonymiser.text(value) for name, value in exchange.headers}
    kind, body = _decoded(exchange.body)
    if kind == "json":
        doc["body"] = anonymiser.json(body)
    elif kind == "text":
        doc["body_text"] = anonymiser.text_body(body)
    else:
        doc["body_base64"] = body
    return doc


def build_capture(
    outcome: PollOutcome, anonymiser: Anonymiser | None = None
) -> tuple[dict[str, Any], Anonymiser]:
    """The capture document, and the anonymiser (tests map originals with it)."""
    anonymiser = anonymiser if anonymiser is not None else Anonymiser()
    _learn(anonymiser, outcome)
    error = anonymiser.text(outcome.error.message) if outcome.error else ""
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "exporter_version": __version__,
        "captured_at": datetime.fromtimestamp(outcome.started_at, UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        ),
        "target": {
            "api": outcome.target.api,
            "backend": outcome.backend,
            "backend_reason": anonymiser.text(outcome.choice_reason),
            "use_tls": outcome.target.use_tls,
        },
        "poll": {"ok": outcome.ok, "error": error},
        "anonymised": anonymiser.counts(),
        "exchanges": [_exchange_doc(e, anonymiser) for e in outcome.exchanges],
    }
    return doc, anonymiser


def capture_text(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
