"""TLS, basic auth, response headers and a rate limit from an exporter-toolkit ``web-config.yml``.

The file format is the one Go exporters read (``--web.config.file``)::

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
    rate_limit:
      interval: 1s
      burst: 10

Every top-level key of exporter-toolkit is accepted (``TOP_KEYS``), and so
is every key below them except five ``tls_server_config`` keys Python's
``ssl`` cannot honour, which are refused with the reason (``web/tls.py``:
inline ``cert``, ``key``, ``client_ca``; ``curve_preferences``;
``client_allowed_sans``), as are ``client_auth_type: RequireAnyClientCert``,
a bare number as ``rate_limit.interval`` and ``rate_limit.burst`` below 1
with an interval (``web/rate_limit.py``). SECURITY.md lists the same.

Parsing is strict: an unknown key, a wrong type, a file that cannot be read
or a certificate that does not load is a ``ConfigError`` naming the key.
Relative paths are resolved against the directory of the web config file,
as exporter-toolkit does.

What each part becomes lives beside it: TLS in ``web/tls.py`` (its context
is built once, here, while the file is read), basic auth in ``web/auth.py``,
the rate limit in ``web/rate_limit.py``. This module reads the file, adds
the response headers, and hands the server what it needs (``WebSecurity``),
plus the request limits every server has.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from sunpower_pvs_exporter.config import DEFAULT_CONNECTION_RATE, DEFAULT_MAX_CONNECTIONS
from sunpower_pvs_exporter.config_values import (
    ConfigError,
    check_keys,
    error,
    flag,
    mapping,
    read_yaml_file,
    string,
)
from sunpower_pvs_exporter.web.connections import closing_response

# TLS and basic auth load with a web config file that uses them, not at every
# start (benchmarks/footprint.py; tests/test_structure.py imports both).
if TYPE_CHECKING:
    from sunpower_pvs_exporter.web.auth import BasicAuthChecker, Handler
    from sunpower_pvs_exporter.web.rate_limit import RateLimit
    from sunpower_pvs_exporter.web.tls import TlsServerConfig

TOP_KEYS = frozenset({"tls_server_config", "http_server_config", "basic_auth_users", "rate_limit"})
HTTP_KEYS = frozenset({"headers", "http2"})
# The headers exporter-toolkit allows, with its value checks.
ALLOWED_HEADERS = {
    "strict-transport-security": "Strict-Transport-Security",
    "x-content-type-options": "X-Content-Type-Options",
    "x-frame-options": "X-Frame-Options",
    "x-xss-protection": "X-XSS-Protection",
    "content-security-policy": "Content-Security-Policy",
}


@dataclass(frozen=True)
class WebConfig:
    """A parsed web config file. ``basic_auth_users`` maps user -> bcrypt hash."""

    path: str
    tls: TlsServerConfig | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    basic_auth_users: Mapping[str, str] = field(default_factory=dict)
    rate_limit: RateLimit | None = None
    # Built once while the file is read (a bad certificate fails the start
    # there), then served with: never built a second time.
    ssl_context: ssl.SSLContext | None = field(default=None, compare=False)

    def __repr__(self) -> str:
        # The hashes are secrets too (offline brute force): keep them out of reprs.
        users = ", ".join(sorted(self.basic_auth_users))
        return (
            f"WebConfig(path={self.path!r}, tls={self.tls!r}, users=[{users}], "
            f"rate_limit={self.rate_limit!r})"
        )


# --- parsing ----------------------------------------------------------------------


def _parse_headers(raw: object) -> dict[str, str]:
    doc = mapping(raw, "http_server_config")
    check_keys(doc, HTTP_KEYS, "http_server_config.")
    if "http2" in doc:
        flag(doc["http2"], "http_server_config.http2")
    headers: dict[str, str] = {}
    for name, value in mapping(doc.get("headers"), "http_server_config.headers").items():
        key = f"http_server_config.headers.{name}"
        canonical = ALLOWED_HEADERS.get(name.lower())
        if canonical is None:
            allowed = ", ".join(ALLOWED_HEADERS.values())
            raise error(key, f"header not allowed (allowed: {allowed})")
        text = string(value, key)
        if any(ch in text for ch in "\r\n\0"):
            raise error(key, "value must be one line")
        if canonical == "X-Content-Type-Options" and text.lower() != "nosniff":
            raise error(key, "the only valid value is nosniff")
        if canonical == "X-Frame-Options" and text.lower() not in ("deny", "sameorigin"):
            raise error(key, "must be deny or sameorigin")
        headers[canonical] = text
    return headers


def parse_web_config(doc: object, path: str) -> WebConfig:
    """A web config document; every problem is a ``ConfigError`` naming the file and key."""
    if doc is None:
        return WebConfig(path=path)
    try:
        if not isinstance(doc, dict):
            raise ConfigError("expected a mapping at the top level")
        check_keys(doc, TOP_KEYS, "")
        from sunpower_pvs_exporter.web.auth import parse_users
        from sunpower_pvs_exporter.web.rate_limit import parse_rate_limit
        from sunpower_pvs_exporter.web.tls import build_ssl_context, parse_tls

        tls = parse_tls(doc.get("tls_server_config"), os.path.dirname(path))
        return WebConfig(
            path=path,
            tls=tls,
            headers=_parse_headers(doc.get("http_server_config")),
            basic_auth_users=parse_users(doc.get("basic_auth_users")),
            rate_limit=parse_rate_limit(doc.get("rate_limit")),
            ssl_context=build_ssl_context(tls) if tls is not None else None,
        )
    except ConfigError as exc:
        raise ConfigError(f"web config {path}: {exc}") from None


def load_web_config(path: str) -> WebConfig:
    """Read and validate ``--web.config.file``; ``ConfigError`` says what is wrong."""
    return parse_web_config(read_yaml_file(path, f"web config {path}"), path)


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
    *,
    health_without_auth: bool = False,
    refusal_delay: float | None = None,
) -> WebSecurity:
    """Everything ``ExporterServer`` takes, from a parsed web config (or none).

    ``refusal_delay``: how late a 401/429 is answered
    (default ``web.auth.AUTH_REFUSAL_DELAY_SECONDS``).
    """
    if config is None:
        return WebSecurity(ssl_context=None, middlewares=())
    from sunpower_pvs_exporter.web.auth import (
        AUTH_REFUSAL_DELAY_SECONDS,
        HEALTH_PATHS,
        BasicAuthChecker,
        make_auth_middleware,
    )

    if refusal_delay is None:
        refusal_delay = AUTH_REFUSAL_DELAY_SECONDS
    middlewares: list[Any] = []
    if config.headers:
        middlewares.append(make_headers_middleware(config.headers))
    if config.rate_limit is not None:
        from sunpower_pvs_exporter.web.rate_limit import TokenBucket, make_rate_limit_middleware

        middlewares.append(make_rate_limit_middleware(TokenBucket(config.rate_limit)))
    checker = None
    if config.basic_auth_users:
        checker = BasicAuthChecker(config.basic_auth_users)
        open_paths = HEALTH_PATHS if health_without_auth else frozenset()
        middlewares.append(make_auth_middleware(checker, open_paths, refusal_delay))
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
    if config.rate_limit is not None:
        parts.append(str(config.rate_limit))
    return WebSecurity(
        ssl_context=config.ssl_context,
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
    ``max_connections`` caps open connections (``web/connections.py``);
    ``max_connection_rate`` the new ones a second from one client address
    (``web/connection_rate.py``; 0: no limit).
    """

    client_max_size: int = 64 * 1024
    max_line_size: int = 8190
    max_field_size: int = 8190
    max_headers: int = 64
    keepalive_timeout: float = 15.0
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_connection_rate: int = DEFAULT_CONNECTION_RATE

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
            return closing_response(413, "413 Content Too Large\n")
        return await handler(request)

    return body_limit
