"""TLS, basic auth and response headers from an exporter-toolkit ``web-config.yml``.

The file format is the one Go exporters read (``--web.config.file``), so a
file written for node_exporter works here too::

    tls_server_config:
      cert_file: server.crt
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert   # mTLS
      client_ca_file: clients-ca.crt
      min_version: TLS12
    http_server_config:
      headers:
        Strict-Transport-Security: max-age=31536000
    basic_auth_users:
      prometheus: $2b$12$...   # bcrypt hash (htpasswd -nBC 12 prometheus)

Parsing is strict: an unknown key, a wrong type, a file that cannot be read
or a certificate that does not load is a ``ConfigError`` naming the key.
Relative paths are resolved against the directory of the web config file,
as exporter-toolkit does.

Decisions where Python's ``ssl`` differs from Go's ``crypto/tls``:

* ``client_auth_type: RequireAnyClientCert`` (require a certificate but do not
  verify it) cannot be expressed with Python's ``ssl`` and is refused with a
  clear error. ``RequestClientCert`` (ask, do not verify, do not require) is
  accepted: nothing here reads an unverified certificate, so not asking for
  one has the same effect.
* ``cipher_suites`` takes Go names (``TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256``)
  and maps them to OpenSSL names; as in Go they apply to TLS 1.2 and below,
  and the TLS 1.3 suites are always on.
* ``curve_preferences``, inline ``cert``/``key`` and ``client_allowed_sans``
  are recognised and refused as unsupported, rather than silently ignored.

Basic auth: a correct check is remembered under an HMAC of the username and
password with a per-process random key — never the password itself — for
``CACHE_TTL_SECONDS`` after its last use (every hit refreshes it), so a
scraper that keeps scraping never pays for bcrypt again. Credentials that
are not in the cache (new, wrong, unknown) go through ``BcryptGate``: one
worker thread, a short queue per client address served round-robin, and a
bound on how many addresses may wait. When that is full the request is
answered 429 at once instead of queueing, so a flood of wrong passwords
costs the flooder, never a cached user, and a new client waits for at most
``MAX_WAITING_CLIENTS`` checks. An unknown user is checked against a dummy
hash of the same cost, so the answer takes as long as for a known user with
a wrong password. bcrypt only ever looks at 72 bytes; bcrypt 5 refuses
longer passwords, and so do we: a password over 72 bytes is rejected (after
the same dummy work), never silently truncated.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hashlib
import hmac
import logging
import os
import re
import secrets
import ssl
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sunpower_pvs_exporter.config import DEFAULT_MAX_CONNECTIONS, ConfigError, read_yaml_file
from sunpower_pvs_exporter.web.connections import client_key

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

BCRYPT_MAX_PASSWORD_BYTES = 72
CACHE_TTL_SECONDS = 300.0
CACHE_MAX_ENTRIES = 256
# bcrypt is CPU-bound: one check at a time, in one dedicated thread, so a
# flood of bad passwords takes at most one core of a Raspberry Pi.
BCRYPT_WORKERS = 1
# Uncached checks waiting per client address (an IPv6 /64 counts as one)...
MAX_WAITING_PER_CLIENT = 2
# ...and how many addresses may wait at once. Served round-robin, a new client
# waits for at most this many checks (~60 ms each at cost 10): well under 1 s.
MAX_WAITING_CLIENTS = 8
RETRY_AFTER_SECONDS = 2
# Every 401/429 is answered this late (see make_auth_middleware): a client
# then gets at most one refusal per connection per 2 s, so max_connections
# connections can make at most max_connections / 2 refusals a second.
AUTH_REFUSAL_DELAY_SECONDS = 2.0
HEALTH_PATHS = frozenset({"/-/healthy", "/-/ready"})
REALM = "sunpower-pvs-exporter"

TOP_KEYS = frozenset({"tls_server_config", "http_server_config", "basic_auth_users"})
TLS_KEYS = frozenset(
    {
        "cert_file",
        "key_file",
        "client_auth_type",
        "client_ca_file",
        "min_version",
        "max_version",
        "cipher_suites",
        "prefer_server_cipher_suites",
        # Known to exporter-toolkit, refused here with a reason (see module doc).
        "cert",
        "key",
        "client_ca",
        "curve_preferences",
        "client_allowed_sans",
    }
)
TLS_UNSUPPORTED = {
    "cert": "inline certificates are not supported; use cert_file",
    "key": "inline keys are not supported; use key_file",
    "client_ca": "inline client CAs are not supported; use client_ca_file",
    "curve_preferences": "not supported by Python's ssl module; remove it "
    "(OpenSSL's default curves are used)",
    "client_allowed_sans": "not supported; use a dedicated client CA instead",
}
HTTP_KEYS = frozenset({"headers", "http2"})
# The headers exporter-toolkit allows, with its value checks.
ALLOWED_HEADERS = {
    "strict-transport-security": "Strict-Transport-Security",
    "x-content-type-options": "X-Content-Type-Options",
    "x-frame-options": "X-Frame-Options",
    "x-xss-protection": "X-XSS-Protection",
    "content-security-policy": "Content-Security-Policy",
}

CLIENT_AUTH_TYPES = (
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
)
TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
# Go crypto/tls cipher suite names -> OpenSSL names (TLS 1.0-1.2).
GO_TO_OPENSSL_CIPHERS = {
    "TLS_RSA_WITH_RC4_128_SHA": "RC4-SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA": "DES-CBC3-SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256": "AES128-SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA": "ECDHE-ECDSA-RC4-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA": "ECDHE-RSA-RC4-SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA": "ECDHE-RSA-DES-CBC3-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": "ECDHE-ECDSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": "ECDHE-RSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    # Go's aliases.
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": "ECDHE-ECDSA-CHACHA20-POLY1305",
}
# Always enabled in TLS 1.3, in Go and in OpenSSL; listing them is allowed.
TLS13_SUITES = frozenset(
    {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}
)
BCRYPT_HASH = re.compile(r"^\$2[abxy]?\$(\d\d)\$[./A-Za-z0-9]{53}$")
USERNAME_MAX_BYTES = 256


@dataclass(frozen=True)
class TlsServerConfig:
    cert_file: str
    key_file: str
    client_auth_type: str = "NoClientCert"
    client_ca_file: str | None = None
    min_version: str = "TLS12"
    max_version: str | None = None
    cipher_suites: tuple[str, ...] = ()
    prefer_server_cipher_suites: bool = True


@dataclass(frozen=True)
class WebConfig:
    """A parsed web config file. ``basic_auth_users`` maps user -> bcrypt hash."""

    path: str
    tls: TlsServerConfig | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    basic_auth_users: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        # The hashes are secrets too (offline brute force): keep them out of reprs.
        users = ", ".join(sorted(self.basic_auth_users))
        return f"WebConfig(path={self.path!r}, tls={self.tls!r}, users=[{users}])"


# --- parsing ----------------------------------------------------------------------


def _err(path: str, key: str, problem: str) -> ConfigError:
    return ConfigError(f"web config {path}: {key}: {problem}")


def _mapping(value: object, path: str, key: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _err(path, key, f"expected a mapping, got {type(value).__name__}")
    for name in value:
        if not isinstance(name, str):
            raise _err(path, key, f"keys must be strings, got {name!r}")
    return value


def _check_keys(doc: Mapping[str, Any], allowed: frozenset[str], path: str, prefix: str) -> None:
    for key in doc:
        if key not in allowed:
            hint = ", ".join(sorted(allowed))
            raise _err(path, f"{prefix}{key}", f"unknown key (allowed: {hint})")


def _string(value: object, path: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _err(path, key, f"expected a non-empty string, got {type(value).__name__}")
    return value.strip()


def _file(value: object, path: str, key: str) -> str:
    name = _string(value, path, key)
    resolved = name if os.path.isabs(name) else os.path.join(os.path.dirname(path), name)
    if not os.path.isfile(resolved):
        raise _err(path, key, f"file not found: {resolved}")
    if not os.access(resolved, os.R_OK):
        raise _err(path, key, f"file not readable: {resolved}")
    return resolved


def _parse_tls(raw: object, path: str) -> TlsServerConfig | None:
    doc = _mapping(raw, path, "tls_server_config")
    if not doc:
        return None
    _check_keys(doc, TLS_KEYS, path, "tls_server_config.")
    for key, reason in TLS_UNSUPPORTED.items():
        if key in doc:
            raise _err(path, f"tls_server_config.{key}", reason)
    for required in ("cert_file", "key_file"):
        if required not in doc:
            raise _err(path, f"tls_server_config.{required}", "missing (required for TLS)")
    key_prefix = "tls_server_config."
    auth = doc.get("client_auth_type") or "NoClientCert"
    if auth not in CLIENT_AUTH_TYPES:
        raise _err(
            path,
            key_prefix + "client_auth_type",
            f"must be one of {', '.join(CLIENT_AUTH_TYPES)}; got {auth!r}",
        )
    if auth == "RequireAnyClientCert":
        raise _err(
            path,
            key_prefix + "client_auth_type",
            "RequireAnyClientCert (require but do not verify) is not possible with "
            "Python's ssl; use RequireAndVerifyClientCert with client_ca_file",
        )
    ca_file = (
        _file(doc["client_ca_file"], path, key_prefix + "client_ca_file")
        if doc.get("client_ca_file") is not None
        else None
    )
    verifying = auth in ("VerifyClientCertIfGiven", "RequireAndVerifyClientCert")
    if verifying and ca_file is None:
        raise _err(path, key_prefix + "client_ca_file", f"required with client_auth_type {auth}")
    if ca_file is not None and not verifying:
        raise _err(
            path,
            key_prefix + "client_ca_file",
            f"given, but client_auth_type is {auth}: set VerifyClientCertIfGiven or "
            "RequireAndVerifyClientCert",
        )
    versions: dict[str, str | None] = {}
    for key, default in (("min_version", "TLS12"), ("max_version", None)):
        value = doc.get(key, default)
        if value is not None and value not in TLS_VERSIONS:
            raise _err(
                path, key_prefix + key, f"must be one of {', '.join(TLS_VERSIONS)}; got {value!r}"
            )
        versions[key] = value
    low, high = versions["min_version"] or "TLS12", versions["max_version"]
    if high is not None and TLS_VERSIONS[high] < TLS_VERSIONS[low]:
        raise _err(path, key_prefix + "max_version", f"{high} is below min_version {low}")
    raw_suites = doc.get("cipher_suites") or []
    if not isinstance(raw_suites, list) or not all(isinstance(s, str) for s in raw_suites):
        raise _err(path, key_prefix + "cipher_suites", "expected a list of cipher suite names")
    for suite in raw_suites:
        if suite not in GO_TO_OPENSSL_CIPHERS and suite not in TLS13_SUITES:
            raise _err(
                path,
                key_prefix + "cipher_suites",
                f"unknown cipher suite {suite!r} (use Go names such as "
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)",
            )
    prefer = doc.get("prefer_server_cipher_suites", True)
    if not isinstance(prefer, bool):
        raise _err(path, key_prefix + "prefer_server_cipher_suites", "expected true or false")
    return TlsServerConfig(
        cert_file=_file(doc["cert_file"], path, key_prefix + "cert_file"),
        key_file=_file(doc["key_file"], path, key_prefix + "key_file"),
        client_auth_type=auth,
        client_ca_file=ca_file,
        min_version=low,
        max_version=high,
        cipher_suites=tuple(raw_suites),
        prefer_server_cipher_suites=prefer,
    )


def _parse_headers(raw: object, path: str) -> dict[str, str]:
    doc = _mapping(raw, path, "http_server_config")
    _check_keys(doc, HTTP_KEYS, path, "http_server_config.")
    if "http2" in doc and not isinstance(doc["http2"], bool):
        raise _err(path, "http_server_config.http2", "expected true or false")
    headers: dict[str, str] = {}
    for name, value in _mapping(doc.get("headers"), path, "http_server_config.headers").items():
        key = f"http_server_config.headers.{name}"
        canonical = ALLOWED_HEADERS.get(name.lower())
        if canonical is None:
            allowed = ", ".join(ALLOWED_HEADERS.values())
            raise _err(path, key, f"header not allowed (allowed: {allowed})")
        text = _string(value, path, key)
        if any(ch in text for ch in "\r\n\0"):
            raise _err(path, key, "value must be one line")
        if canonical == "X-Content-Type-Options" and text.lower() != "nosniff":
            raise _err(path, key, "the only valid value is nosniff")
        if canonical == "X-Frame-Options" and text.lower() not in ("deny", "sameorigin"):
            raise _err(path, key, "must be deny or sameorigin")
        headers[canonical] = text
    return headers


def _parse_users(raw: object, path: str) -> dict[str, str]:
    doc = _mapping(raw, path, "basic_auth_users")
    users: dict[str, str] = {}
    for name, hashed in doc.items():
        # Never echo the value: it is a password hash.
        key = f"basic_auth_users.{name}"
        if not name or ":" in name or len(name.encode("utf-8", "replace")) > USERNAME_MAX_BYTES:
            raise _err(path, key, "user names must be non-empty, without ':'")
        if not isinstance(hashed, str) or not BCRYPT_HASH.match(hashed.strip()):
            raise _err(
                path,
                key,
                "expected a bcrypt hash ($2a$/$2b$/$2y$, e.g. from htpasswd -nBC 12 USER); "
                "plain-text passwords are not accepted",
            )
        users[name] = hashed.strip()
    return users


def parse_web_config(doc: object, path: str) -> WebConfig:
    if doc is None:
        return WebConfig(path=path)
    if not isinstance(doc, dict):
        raise ConfigError(f"web config {path}: expected a mapping at the top level")
    _check_keys(doc, TOP_KEYS, path, "")
    config = WebConfig(
        path=path,
        tls=_parse_tls(doc.get("tls_server_config"), path),
        headers=_parse_headers(doc.get("http_server_config"), path),
        basic_auth_users=_parse_users(doc.get("basic_auth_users"), path),
    )
    if config.tls is not None:
        build_ssl_context(config)  # certificate problems surface now, not at bind time
    return config


def load_web_config(path: str) -> WebConfig:
    """Read and validate ``--web.config.file``; ``ConfigError`` says what is wrong."""
    return parse_web_config(read_yaml_file(path, f"web config {path}"), path)


# --- TLS --------------------------------------------------------------------------


def _ssl_reason(exc: ssl.SSLError) -> str:
    return str(exc.reason or exc.strerror or exc).lower().replace("_", " ")


def build_ssl_context(config: WebConfig) -> ssl.SSLContext:
    tls = config.tls
    if tls is None:
        raise ValueError("no tls_server_config")
    path = config.path
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = TLS_VERSIONS[tls.min_version]
    if tls.max_version is not None:
        context.maximum_version = TLS_VERSIONS[tls.max_version]
    if tls.min_version in ("TLS10", "TLS11"):
        # OpenSSL 3 refuses TLS < 1.2 at its default security level.
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    except ssl.SSLError as exc:
        raise _err(
            path,
            "tls_server_config.key_file",
            f"cannot load certificate and key ({_ssl_reason(exc)}); "
            "are they PEM files that belong together?",
        ) from None
    except OSError as exc:
        raise _err(path, "tls_server_config.cert_file", f"cannot read: {exc.strerror}") from None
    if tls.client_auth_type in ("VerifyClientCertIfGiven", "RequireAndVerifyClientCert"):
        try:
            context.load_verify_locations(cafile=tls.client_ca_file)
        except (ssl.SSLError, OSError) as exc:
            reason = _ssl_reason(exc) if isinstance(exc, ssl.SSLError) else exc.strerror
            raise _err(
                path, "tls_server_config.client_ca_file", f"cannot load CA ({reason})"
            ) from None
        context.verify_mode = (
            ssl.CERT_REQUIRED
            if tls.client_auth_type == "RequireAndVerifyClientCert"
            else ssl.CERT_OPTIONAL
        )
    else:
        context.verify_mode = ssl.CERT_NONE
    wanted = [GO_TO_OPENSSL_CIPHERS[s] for s in tls.cipher_suites if s in GO_TO_OPENSSL_CIPHERS]
    if wanted:
        try:
            context.set_ciphers(":".join(wanted))
        except ssl.SSLError:
            raise _err(
                path,
                "tls_server_config.cipher_suites",
                f"none of {', '.join(tls.cipher_suites)} is available in {ssl.OPENSSL_VERSION}",
            ) from None
        available = {c["name"] for c in context.get_ciphers()}
        for go_name in tls.cipher_suites:
            name = GO_TO_OPENSSL_CIPHERS.get(go_name)
            if name is not None and name not in available:
                raise _err(
                    path,
                    "tls_server_config.cipher_suites",
                    f"{go_name} ({name}) is not available in {ssl.OPENSSL_VERSION}",
                )
    if tls.prefer_server_cipher_suites:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    return context


# --- basic auth -------------------------------------------------------------------


class AuthOverloaded(Exception):
    """Too many uncached password checks are waiting; answer 429, do not queue."""


class BcryptGate:
    """The only way to a bcrypt check: bounded, fair between clients, never shared.

    Checks run in ``workers`` dedicated threads (not the default executor
    the rest of the exporter uses). Waiting checks are kept per client and
    started round-robin, so one client with many connections gets no more
    turns than one with a single connection. ``submit`` refuses
    (``AuthOverloaded``) when the client already has ``per_client`` checks
    waiting or ``max_clients`` other clients are waiting: shedding, not
    queueing, is what keeps the wait of a new client bounded.

    A check whose request went away before its turn (client disconnected)
    is skipped, so abandoned floods cost nothing.
    """

    def __init__(
        self,
        workers: int = BCRYPT_WORKERS,
        per_client: int = MAX_WAITING_PER_CLIENT,
        max_clients: int = MAX_WAITING_CLIENTS,
    ) -> None:
        self.workers = workers
        self.per_client = per_client
        self.max_clients = max_clients
        self._waiting: OrderedDict[str, deque[tuple[Callable[[], bool], asyncio.Future[bool]]]]
        self._waiting = OrderedDict()
        self._running = 0
        self._executor: ThreadPoolExecutor | None = None
        self.shed = 0
        self.started = 0

    @property
    def waiting(self) -> int:
        return sum(len(queue) for queue in self._waiting.values())

    async def run(self, client: str, check: Callable[[], bool]) -> bool:
        queue = self._waiting.get(client)
        if queue is None:
            if len(self._waiting) >= self.max_clients:
                self.shed += 1
                raise AuthOverloaded(client)
            queue = self._waiting[client] = deque()
        if len(queue) >= self.per_client:
            self.shed += 1
            raise AuthOverloaded(client)
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        queue.append((check, future))
        self._pump()
        return await future

    def _pump(self) -> None:
        while self._running < self.workers and self._waiting:
            client, queue = next(iter(self._waiting.items()))
            check, future = queue.popleft()
            if queue:
                self._waiting.move_to_end(client)  # round-robin between clients
            else:
                del self._waiting[client]
            if future.done():  # the request was cancelled while waiting
                continue
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="bcrypt")
            self._running += 1
            self.started += 1
            work = asyncio.get_running_loop().run_in_executor(self._executor, check)
            work.add_done_callback(functools.partial(self._finished, future=future))

    def _finished(self, done: asyncio.Future[bool], *, future: asyncio.Future[bool]) -> None:
        self._running -= 1
        if not future.done():
            if done.cancelled():
                future.cancel()
            elif done.exception() is not None:
                future.set_exception(done.exception())  # type: ignore[arg-type]
            else:
                future.set_result(done.result())
        self._pump()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


def _hash_cost(hashed: str) -> int:
    match = BCRYPT_HASH.match(hashed)
    return int(match.group(1)) if match else 10


class BasicAuthChecker:
    """Checks ``Authorization: Basic`` credentials against bcrypt hashes.

    Cache: HMAC-SHA256(per-process random key, user + password) -> expiry,
    least recently used first, at most ``max_entries``. A hit moves the
    expiry ``ttl`` ahead, so a scraper that keeps coming never needs bcrypt
    again. A cached entry proves only that the pair was verified recently;
    the key never leaves the process, so the cache does not help anyone
    recover a password from memory faster than the bcrypt hash itself would.
    """

    def __init__(
        self,
        users: Mapping[str, str],
        ttl: float = CACHE_TTL_SECONDS,
        max_entries: int = CACHE_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
        gate: BcryptGate | None = None,
    ) -> None:
        self._users = {name: hashed.encode("ascii") for name, hashed in users.items()}
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._key = secrets.token_bytes(32)
        self._cache: OrderedDict[bytes, float] = OrderedDict()
        import bcrypt  # only with basic auth: keeps it out of every other process

        cost = max((_hash_cost(h) for h in users.values()), default=10)
        # Same cost as the real hashes, so unknown users take as long as known ones.
        self._dummy = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(rounds=cost))
        self.gate = gate or BcryptGate()
        self.bcrypt_checks = 0

    def _cache_key(self, user: bytes, password: bytes) -> bytes:
        message = len(user).to_bytes(4, "big") + user + password
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def _cached(self, key: bytes) -> bool:
        expiry = self._cache.get(key)
        if expiry is None:
            return False
        if expiry <= self.clock():
            del self._cache[key]
            return False
        self._remember(key)  # a hit keeps a scraper that keeps scraping cached
        return True

    def _remember(self, key: bytes) -> None:
        self._cache[key] = self.clock() + self.ttl
        self._cache.move_to_end(key)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)

    def _check_blocking(self, hashed: bytes | None, password: bytes) -> bool:
        import bcrypt

        self.bcrypt_checks += 1
        if hashed is None or len(password) > BCRYPT_MAX_PASSWORD_BYTES:
            # Burn the same time as a real check, then refuse.
            bcrypt.checkpw(password[:BCRYPT_MAX_PASSWORD_BYTES], self._dummy)
            return False
        try:
            return bcrypt.checkpw(password, hashed)
        except ValueError:
            return False

    async def check(self, user: str, password: bytes, client: str = "?") -> bool:
        """True if the credentials are right; ``AuthOverloaded`` if the check must wait too long.

        ``client`` (see ``client_key``) is whom an uncached check is charged to.
        """
        user_bytes = user.encode("utf-8", "surrogateescape")
        key = self._cache_key(user_bytes, password)
        if self._cached(key):
            return True
        hashed = self._users.get(user)
        ok = await self.gate.run(client, lambda: self._check_blocking(hashed, password))
        if ok:
            self._remember(key)
        return ok

    async def check_header(self, header: str | None, client: str = "?") -> str | None:
        """The authenticated user name, or ``None``; ``AuthOverloaded`` when shedding."""
        credentials = parse_basic_authorization(header)
        if credentials is None:
            return None
        user, password = credentials
        return user if await self.check(user, password, client) else None


def parse_basic_authorization(header: str | None) -> tuple[str, bytes] | None:
    """``(user, password bytes)`` from ``Basic base64(user:password)``; else ``None``."""
    if not header:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        raw = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user_bytes, sep, password = raw.partition(b":")
    if not sep or not user_bytes or len(user_bytes) > USERNAME_MAX_BYTES:
        return None
    try:
        user = user_bytes.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return user, password


def unauthorized() -> web.HTTPUnauthorized:
    return web.HTTPUnauthorized(
        text="401 Unauthorized\n",
        headers={"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'},
    )


def too_many_checks() -> web.HTTPTooManyRequests:
    return web.HTTPTooManyRequests(
        text="429 Too Many Requests: too many password checks waiting\n",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def make_auth_middleware(
    checker: BasicAuthChecker,
    open_paths: frozenset[str],
    refusal_delay: float = AUTH_REFUSAL_DELAY_SECONDS,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Any:
    """Basic auth on every path but ``open_paths``.

    A refusal (401 or 429) is answered after ``refusal_delay``: a client
    flooding bad credentials then gets one answer per connection per delay
    instead of as many as the event loop can write, which is what keeps the
    loop free for the users who got in. Waiting costs an idle coroutine; the
    number of connections doing it is capped (``web/connections.py``).
    """

    @web.middleware
    async def basic_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in open_paths:
            client = client_key(request.remote)
            try:
                user = await checker.check_header(request.headers.get("Authorization"), client)
            except AuthOverloaded:
                # Not logged per request: a flood would flood the log too
                # (the gate counts what it shed).
                await sleep(refusal_delay)
                raise too_many_checks() from None
            if user is None:
                peer = request.remote or "?"
                log.warning("basic auth failed for a request from %s to %s", peer, request.path)
                await sleep(refusal_delay)
                raise unauthorized()
        return await handler(request)

    return basic_auth


def make_headers_middleware(headers: Mapping[str, str]) -> Any:
    fixed = dict(headers)

    @web.middleware
    async def extra_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers.update(fixed)
            raise
        response.headers.update(fixed)
        return response

    return extra_headers


@dataclass(frozen=True)
class WebSecurity:
    """What the server needs from a web config: an SSL context and middlewares."""

    ssl_context: ssl.SSLContext | None
    middlewares: tuple[Any, ...]
    checker: BasicAuthChecker | None = None
    summary: str = "plain HTTP, no authentication"


def build_security(
    config: WebConfig | None,
    health_without_auth: bool = False,
    refusal_delay: float = AUTH_REFUSAL_DELAY_SECONDS,
) -> WebSecurity:
    """Everything ``ExporterServer`` takes, from a parsed web config (or none)."""
    if config is None:
        return WebSecurity(ssl_context=None, middlewares=())
    middlewares: list[Any] = []
    if config.headers:
        middlewares.append(make_headers_middleware(config.headers))
    checker = None
    if config.basic_auth_users:
        checker = BasicAuthChecker(config.basic_auth_users)
        open_paths = HEALTH_PATHS if health_without_auth else frozenset()
        middlewares.append(make_auth_middleware(checker, open_paths, refusal_delay))
    context = build_ssl_context(config) if config.tls is not None else None
    parts = []
    if config.tls is not None:
        parts.append(
            f"TLS (min {config.tls.min_version}, client certificates: "
            f"{config.tls.client_auth_type})"
        )
    else:
        parts.append("plain HTTP")
    if checker is not None:
        users = len(config.basic_auth_users)
        open_note = ", health endpoints open" if health_without_auth else ""
        parts.append(f"basic auth ({users} user{'s' if users != 1 else ''}{open_note})")
    else:
        parts.append("no authentication")
    return WebSecurity(
        ssl_context=context,
        middlewares=tuple(middlewares),
        checker=checker,
        summary=", ".join(parts),
    )


# --- request limits ---------------------------------------------------------------


@dataclass(frozen=True)
class RequestLimits:
    """Bounds on what one client can make the server hold or wait for.

    ``keepalive_timeout`` also closes a connection that has not completed a
    request line and headers in that time (aiohttp arms it when the
    connection opens), which is what stops a slow-loris client.
    ``max_connections`` caps open connections (``web/connections.py``).
    """

    client_max_size: int = 64 * 1024
    max_line_size: int = 8190
    max_field_size: int = 8190
    max_headers: int = 64
    keepalive_timeout: float = 15.0
    max_connections: int = DEFAULT_MAX_CONNECTIONS

    def handler_args(self) -> dict[str, Any]:
        return {
            "max_line_size": self.max_line_size,
            "max_field_size": self.max_field_size,
            "max_headers": self.max_headers,
            "keepalive_timeout": self.keepalive_timeout,
            # Never read the rest of an unwanted body "to keep the connection
            # alive": close it instead.
            "lingering_time": 0.0,
        }


def make_body_limit_middleware(max_size: int) -> Any:
    """413 before a byte of an oversized body is read, and the connection closed.

    No route reads more than ``max_size``; aiohttp would otherwise read and
    discard a declared 100 MB body to keep the connection alive. A chunked
    body has no declared size and is refused too when the route does not
    take one (only ``POST``/``PUT`` may carry a body here).
    """

    @web.middleware
    async def body_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        length = request.content_length
        chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        if (length is not None and length > max_size) or (
            chunked and request.method not in ("POST", "PUT")
        ):
            response = web.Response(
                status=413,
                text="413 Content Too Large\n",
                headers={"Connection": "close"},
            )
            response.force_close()
            return response
        return await handler(request)

    return body_limit
