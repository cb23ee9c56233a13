"""``--replay FILE``: serve a capture as a PVS, so anyone can run the exporter on a user's site.

A capture (written by ``sunpower-pvs-exporter capture``) is a list of
requests and the answers the PVS gave. The replaying PVS answers each
request with the recorded answer to the same request. Matching is the
simulator's own, written from the protocol rather than from the exporter's
request building:

* the path must be equal, and the query (and a POST body) is split the way
  the PVS's web handlers split it: on ``&``, then on the first ``=``, with no
  percent-decoding; the order of the pairs does not matter;
* a ``cache=``/``clearcache=`` id is chosen by each client, so its value is
  not compared; a later ``/vars?fmt=obj&cache=<id>`` (the cheap re-read of a
  set) answers what the request that created ``<id>`` answered, and an
  unknown id answers ``200 {}`` as a real PVS does;
* a ``/vars`` query the capture does not have verbatim (a newer exporter
  groups its reads differently) is answered from every variable the capture
  holds, selected by ``name=``/``match=`` as the PVS selects them (a ``name=``
  list with one name the capture lacks: 400, the others still in the set),
  so a capture keeps replaying when the client's requests change;
* ``/auth?logout`` always answers ``200 {}``;
* a request recorded several times gets its answers in order, the last one
  repeating; a request the capture has no answer for gets ``404``.

Logins are answered as recorded, whatever the password (the real one is not
in the capture). A recorded request that got no answer (a timeout, a reset)
is replayed as a reset connection.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from sunpower_pvs_exporter.simulator.server import Listeners, certificate_context
from sunpower_pvs_exporter.troubleshoot.capture_format import FORMAT, CaptureError

VARSERVER_PATHS = ("/vars", "/auth")
VARS_PATH = "/vars"
CACHE_KEYS = ("cache", "clearcache")


Key = tuple[str, str, frozenset[tuple[str, str]]]


def split_pairs(text: str) -> list[tuple[str, str]]:
    """``a=1&b=c=d`` -> ``[("a", "1"), ("b", "c=d")]``, raw, as the PVS splits it."""
    pairs: list[tuple[str, str]] = []
    for part in text.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((name, value))
    return pairs


def request_key(method: str, path_and_query: str, body: str | None) -> Key:
    path, _, query = path_and_query.partition("?")
    pairs = split_pairs(query)
    if method.upper() == "POST" and body:
        pairs += split_pairs(body)
    normalised = frozenset((name, "*" if name in CACHE_KEYS else value) for name, value in pairs)
    return method.upper(), path, normalised


@dataclass
class RecordedAnswer:
    status: int | None
    headers: dict[str, str]
    body: bytes
    content_type: str


def _answer(entry: dict[str, Any]) -> RecordedAnswer:
    status = entry.get("status")
    headers = entry.get("headers") or {}
    if "body" in entry:
        body = json.dumps(entry["body"]).encode()
        content_type = "application/json"
    elif "body_text" in entry:
        body = str(entry["body_text"]).encode()
        content_type = "text/plain"
    elif "body_base64" in entry:
        body = base64.b64decode(entry["body_base64"])
        content_type = "application/octet-stream"
    else:
        body, content_type = b"", "application/json"
    recorded_type = headers.get("Content-Type") if isinstance(headers, dict) else None
    if isinstance(recorded_type, str) and recorded_type:
        content_type = recorded_type.split(";")[0].strip()
    pairs = headers.items() if isinstance(headers, dict) else ()
    kept = {str(k): str(v) for k, v in pairs if k == "Set-Cookie"}
    return RecordedAnswer(status if isinstance(status, int) else None, kept, body, content_type)


@dataclass
class ReplayPvs:
    """The answers of a capture, and the state a replay needs (cache ids, counters)."""

    answers: dict[Key, list[RecordedAnswer]]
    api_setting: str = "auto"
    varserver: bool = False
    use_tls: bool = False
    served: dict[Key, int] = field(default_factory=dict)
    caches: dict[str, RecordedAnswer] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)
    # Every varserver variable the capture holds: name -> value.
    variables: dict[str, Any] = field(default_factory=dict)
    variable_sets: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_document(cls, doc: object) -> ReplayPvs:
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise CaptureError(f'not a capture file (no "format": "{FORMAT}")')
        exchanges = doc.get("exchanges")
        if not isinstance(exchanges, list) or not exchanges:
            raise CaptureError("the capture has no exchanges")
        answers: dict[Key, list[RecordedAnswer]] = {}
        variables: dict[str, Any] = {}
        varserver = False
        for entry in exchanges:
            if not isinstance(entry, dict) or not isinstance(entry.get("target"), str):
                raise CaptureError('an exchange has no "target"')
            key = request_key(
                str(entry.get("method", "GET")), entry["target"], entry.get("request_body")
            )
            answers.setdefault(key, []).append(_answer(entry))
            varserver = varserver or key[1] in VARSERVER_PATHS
            if key[1] == VARS_PATH and entry.get("status") == 200:
                _collect_variables(entry.get("body"), variables)
        target = doc.get("target") if isinstance(doc.get("target"), dict) else {}
        assert isinstance(target, dict)
        api = target.get("api") if target.get("api") in ("auto", "legacy", "varserver") else "auto"
        return cls(
            answers=answers,
            api_setting=str(api),
            varserver=varserver,
            use_tls=bool(target.get("use_tls")),
            variables=variables,
        )

    @classmethod
    def load(cls, path: str | Path) -> ReplayPvs:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise CaptureError(f"cannot read {path}: {exc.strerror}") from exc
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise CaptureError(f"{path} is not JSON: {exc}") from exc
        return cls.from_document(doc)

    def answer_for(self, key: Key, cache_id: str | None) -> RecordedAnswer | None:
        recorded = self.answers.get(key)
        if recorded is None:
            return None
        index = self.served.get(key, 0)
        self.served[key] = index + 1
        answer = recorded[min(index, len(recorded) - 1)]
        if cache_id and answer.status == 200:
            self.caches[cache_id] = answer
        return answer


def _collect_variables(body: object, into: dict[str, Any]) -> None:
    """Variables of one ``/vars`` answer, in either format (``fmt=obj`` or values list)."""
    if not isinstance(body, dict):
        return
    values = body.get("values")
    if isinstance(values, list) and "count" in body:
        for item in values:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                into[item["name"]] = item.get("value")
        return
    for name, value in body.items():
        if isinstance(name, str) and name.startswith("/"):
            into[name] = value


def select_variables(pvs: ReplayPvs, pairs: dict[str, str]) -> web.Response:
    """A ``/vars`` read answered from the capture's variables, as the PVS would."""
    set_id = pairs.get("clearcache") or pairs.get("cache")
    missing = False
    if "name" in pairs:
        asked = [n for n in pairs["name"].split(",") if n]
        wanted = tuple(n for n in asked if n in pvs.variables)
        # Like fcgi_vars: one unknown name makes the answer 400, but every
        # name found still goes into the set.
        missing = len(wanted) < len(asked)
    elif "match" in pairs:
        pattern = pairs["match"]
        wanted = tuple(n for n in pvs.variables if pattern and pattern in n)
    elif set_id:
        wanted = pvs.variable_sets.get(set_id, ())
        if not wanted:
            return web.json_response({})  # unknown or emptied set: 200, nothing
    else:
        wanted = ()
    if set_id and wanted:
        pvs.variable_sets[set_id] = wanted
    if missing or not wanted:
        # fcgi_vars' answers: an unknown name (errorcode 0x0100), or a query
        # that matched nothing (0x0040).
        code = "0x0100" if missing else "0x0040"
        return web.json_response(
            {"status": 400, "description": "Bad request", "errorcode": code}, status=400
        )
    if pairs.get("fmt") == "obj":
        return web.json_response({name: pvs.variables[name] for name in wanted})
    values = [{"name": name, "value": pvs.variables[name]} for name in wanted]
    return web.json_response({"count": len(values), "values": values})


def _response(answer: RecordedAnswer) -> web.Response:
    assert answer.status is not None
    response = web.Response(
        body=answer.body, status=answer.status, content_type=answer.content_type
    )
    for name, value in answer.headers.items():
        response.headers[name] = value
    return response


REPLAY_KEY = web.AppKey("replay", ReplayPvs)


async def handle(request: web.Request) -> web.StreamResponse:
    pvs = request.app[REPLAY_KEY]
    body = (await request.read()).decode("utf-8", "replace") if request.can_read_body else None
    key = request_key(request.method, request.raw_path, body)
    pairs = dict(split_pairs(request.raw_path.partition("?")[2]) + split_pairs(body or ""))
    cache_id = pairs.get("cache") or pairs.get("clearcache")
    if key[1] == "/auth" and "logout" in pairs:
        return web.json_response({})
    answer = pvs.answer_for(key, cache_id)
    if answer is None and key[1] == VARS_PATH and cache_id and set(pairs) <= {"cache", "fmt"}:
        cached = pvs.caches.get(cache_id)
        if cached is not None:
            return _response(cached)
    if answer is None and key[1] == VARS_PATH and pvs.variables and "set" not in pairs:
        return select_variables(pvs, pairs)
    if answer is None:
        pvs.unmatched.append(f"{request.method} {request.raw_path}")
        return web.json_response(
            {"status": 404, "error": "not in the capture", "path": request.path}, status=404
        )
    if answer.status is None:
        if request.transport is not None:
            request.transport.abort()
        raise ConnectionResetError("replayed a request that got no answer")
    return _response(answer)


def build_replay_app(pvs: ReplayPvs) -> web.Application:
    app = web.Application()
    app[REPLAY_KEY] = pvs
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


class ReplayServer(Listeners):
    """Serves a ``ReplayPvs`` on HTTP, and on HTTPS too when the capture has varserver.

    Has the attributes ``--demo`` reads from ``SimulatorServer`` (host, port,
    tls, tls_port), so it can stand in for it.
    """

    def __init__(
        self, pvs: ReplayPvs, host: str = "127.0.0.1", port: int = 0, tls_port: int = 0
    ) -> None:
        self.pvs = pvs
        self.host = host
        self.port = port
        self.tls = pvs.varserver or pvs.use_tls
        self.tls_port = tls_port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        context = certificate_context()[0] if self.tls else None
        await self._listen(build_replay_app(self.pvs), context)

    async def stop(self) -> None:
        await self._close()
