"""Hostile HTTP requests to the exporter, 10 000 per CI run with a fixed seed.

Paths, query strings, headers and credentials drawn from hostile lists (and
now and then a corrupted byte), sent over raw sockets to one exporter with
basic auth. Every answer must be a deliberate status — never a 500, never a
traceback — every 200 scrape a valid exposition, and the server must still
be up at the end. ``SUNPOWER_PVS_FUZZ_CASES`` / ``SUNPOWER_PVS_FUZZ_SEED``
as in ``test_network_fuzz.py``.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import time

import bcrypt

from fuzz.network_fuzz import check_exposition
from support import parse_samples, target_for

FUZZ_CASES = int(os.environ.get("SUNPOWER_PVS_FUZZ_CASES", "10000"))
SEED = int(os.environ.get("SUNPOWER_PVS_FUZZ_SEED", "20261130"))

PASSWORD = "fuzz-password"
PATHS = [
    "/metrics",
    "/probe",
    "/",
    "/-/healthy",
    "/-/ready",
    "/-/reload",
    "/nope",
    "//metrics",
    "/metrics/",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/probe/../metrics",
    "/%00",
    "/%ff%fe",
    "/\u00e4",
    "/" + "a" * 300,
    "*",
    "http://127.0.0.1/metrics",
]
QUERY_KEYS = ["target", "module", "host", "port", "debug", "", "target[]", "%00", "t\u00e4"]
QUERY_VALUES = ["site", "other", "", "x" * 300, "../site", "site%0d%0aX: 1", "%ff", "\u202e"]
HEADER_NAMES = [
    "Accept",
    "Accept-Encoding",
    "Authorization",
    "X-Prometheus-Scrape-Timeout-Seconds",
    "Content-Length",
    "Transfer-Encoding",
    "Connection",
    "Host",
    "Cookie",
    "X-Forwarded-For",
    "Expect",
    "Range",
]
HEADER_VALUES = [
    "application/openmetrics-text; version=1.0.0",
    "application/openmetrics-text;version=0.0.1,text/plain;q=0.5",
    "text/plain; version=0.0.4",
    "*/*;q=0",
    "gzip",
    "gzip;q=0, identity;q=0",
    "br, deflate, gzip;q=1.1",
    "close",
    "keep-alive, Upgrade",
    "chunked",
    "100-continue",
    "bytes=0-10",
    "-1",
    "1e9",
    "nan",
    "x" * 1000,
    "\u00e4\u00f6",
]
METHODS = ["GET", "GET", "GET", "HEAD", "POST", "OPTIONS", "PUT", "DELETE", "TRACE", "BREW", "get"]
ALLOWED = {200, 400, 401, 404, 405, 411, 413, 414, 417, 429, 431, 501, 503}


def authorization(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.35:
        return "Basic " + base64.b64encode(f"prometheus:{PASSWORD}".encode()).decode()
    if roll < 0.5:
        user = rng.choice(["prometheus", "", "root", "\u00e4", "x" * 300, "a:b"])
        password = rng.choice(["", "wrong", PASSWORD + "x", "p" * 100, "\x00"])
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    return rng.choice(
        [
            "Basic",
            "Basic ",
            "Basic ====",
            "Basic !!!",
            "basic " + base64.b64encode(b"prometheus").decode(),
            "Bearer abc",
            "Digest username=x",
            "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
            "Basic " + "A" * 4000,
            "",
        ]
    )


def hostile_request(rng: random.Random) -> bytes:
    method = rng.choice(METHODS)
    path = rng.choice(PATHS)
    if rng.random() < 0.5:
        pairs = [
            f"{rng.choice(QUERY_KEYS)}={rng.choice(QUERY_VALUES)}" for _ in range(rng.randint(1, 3))
        ]
        path += "?" + "&".join(pairs)
    headers = [("Host", "127.0.0.1")]
    if rng.random() < 0.8:
        headers.append(("Authorization", authorization(rng)))
    for _ in range(rng.randint(0, 3)):
        name = rng.choice(HEADER_NAMES)
        if name in ("Content-Length", "Transfer-Encoding") and method in ("GET", "HEAD"):
            continue  # a body on a GET is covered in test_connection_limits
        headers.append((name, rng.choice(HEADER_VALUES)))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    data = head.encode("utf-8", "surrogatepass") + b"Connection: close\r\n\r\n"
    if rng.random() < 0.05:
        at = rng.randrange(len(data))
        data = data[:at] + bytes([rng.randrange(256)]) + data[at + 1 :]
    return data


async def exchange(port: int, data: bytes) -> bytes:
    """One request on a new connection; the answer (head and body), or b"" if closed unanswered.

    The body is read by its Content-Length (nothing for HEAD), not to EOF:
    a request may have asked to keep the connection open.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(10):
            try:
                head = await reader.readuntil(b"\r\n\r\n")
                if head.startswith(b"HTTP/1.1 100 "):  # Expect: 100-continue
                    head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                return exc.partial
            length = 0
            chunked = False
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
                elif name.strip().lower() == b"transfer-encoding":
                    chunked = b"chunked" in value.lower()
            if data.startswith(b"HEAD "):
                return head
            if chunked:
                return head + await reader.readuntil(b"0\r\n\r\n")
            return head + await reader.readexactly(length)
    except ConnectionResetError:
        return b""
    finally:
        writer.close()


async def test_hostile_http_requests(make_simulator, make_secure_exporter):
    sim = await make_simulator(inverters=2)
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    exporter = await make_secure_exporter(
        [target_for(sim, name="site"), target_for(sim, name="other")],
        web_config=f"basic_auth_users:\n  prometheus: '{hashed}'\n",
        # A new connection per case, thousands a second from one address: what
        # the connection-rate limit closes at accept (tests/web/test_connection_rate.py).
        web_max_connection_rate=0,
    )
    rng = random.Random(SEED + 4)
    statuses: dict[int, int] = {}
    scrapes_checked = 0
    started = time.monotonic()
    for number in range(FUZZ_CASES):
        data = hostile_request(rng)
        try:
            answer = await exchange(exporter.port, data)
        except TimeoutError:
            raise AssertionError(f"case {number}: no answer in 10 s to {data[:300]!r}") from None
        if not answer:  # closed without an answer: only for garbage the parser refused
            statuses[0] = statuses.get(0, 0) + 1
            continue
        head, _, body = answer.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        statuses[status] = statuses.get(status, 0) + 1
        assert status in ALLOWED, (number, data[:300], answer[:300])
        assert b"Traceback" not in answer and b'File "' not in answer, (number, data[:300])
        chunked = b"transfer-encoding: chunked" in head.lower()
        plain = b"content-encoding" not in head.lower() and not chunked
        if status == 200 and plain and data.startswith(b"GET /metrics") and body:
            openmetrics = b"application/openmetrics-text" in head
            text = body.removesuffix(b"# EOF\n") if openmetrics else body
            check_exposition(text, openmetrics, reference=scrapes_checked % 20 == 0)
            if not openmetrics:
                parse_samples(body.decode())
            scrapes_checked += 1
    elapsed = time.monotonic() - started
    print(f"\nHTTP fuzz: {FUZZ_CASES} requests in {elapsed:.1f} s: {sorted(statuses.items())}")
    assert statuses.get(200, 0) > FUZZ_CASES // 100
    assert statuses.get(401, 0) > FUZZ_CASES // 20
    assert statuses.get(0, 0) < FUZZ_CASES // 10
    assert scrapes_checked > 0
    answer = await exchange(
        exporter.port, b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 401")  # still up, still asking for credentials
