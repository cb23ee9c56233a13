"""Exporter configuration: one frozen tree, from CLI flags or a YAML file.

Defaults and limits live here and only here. Validation is strict (unknown
keys are errors) and every error names the key path and the problem, e.g.
``targets[1].poll_interval: must be >= 60s for the legacy API, got 20s``.
"""

from __future__ import annotations

import ipaddress
import os
import re
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

# ConfigError and read_yaml_file are re-exported: callers know them as config's.
from sunpower_pvs_exporter.config_values import ConfigError as ConfigError
from sunpower_pvs_exporter.config_values import check_keys, choice, flag, string
from sunpower_pvs_exporter.config_values import read_yaml_file as read_yaml_file
from sunpower_pvs_exporter.pvs.hosts import host_port

Api = Literal["auto", "legacy", "varserver"]
PollMode = Literal["background", "scrape", "on_demand"]
LogFormat = Literal["plain", "logfmt", "json"]
LogLevel = Literal["ERROR", "WARNING", "INFO", "DEBUG"]

DEFAULT_HOSTNAME = "sunpowerconsole.com"
DEFAULT_LISTEN_PORT = 9110
# Open client connections (web_max_connections / --web.max-connections).
# Prometheus needs a handful; 512 idle TLS connections cost ~50 MB.
DEFAULT_MAX_CONNECTIONS = 512
MIN_CONNECTIONS = 8
MAX_CONNECTIONS = 65536
# New client connections a second from one address (web_max_connection_rate):
# Prometheus keeps its connections open and opens a few a minute; a thousand
# /probe targets whose connections all timed out would need well under 100.
DEFAULT_CONNECTION_RATE = 100
MAX_CONNECTION_RATE = 100_000
PASSWORD_ENV = "SUNPOWER_PVS_PASSWORD"
TELEMETRY_PORT = 9002

# Poll limits per API, from docs/protocol.md §P: DeviceList is slow and
# heavy polling has been tied to PVS crashes; varserver is cheaper.
DEFAULT_INTERVAL: dict[str, float] = {"legacy": 120.0, "varserver": 60.0, "auto": 120.0}
MIN_INTERVAL: dict[str, float] = {"legacy": 60.0, "varserver": 30.0, "auto": 60.0}
# Background polls can wait long for DeviceList; a scrape cannot.
DEFAULT_TIMEOUT: dict[str, float] = {"background": 120.0, "scrape": 10.0, "on_demand": 120.0}
MAX_AGE_FACTOR = 3.0
# on_demand: a target stops being polled this long after its last /probe --
# a few scrape intervals at the usual 60 s, so one failed scrape does not stop it.
DEFAULT_IDLE_AFTER = 300.0

# Long enough for a full-length DNS name: a flags-only target is named after its host.
TARGET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,252}$")
# One DNS label: letters, digits and inner hyphens (underscores, seen on home LANs, too).
_DNS_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")
MAX_DNS_NAME = 253
ARRAY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


@dataclass(frozen=True)
class TargetConfig:
    name: str
    host: str
    port: int
    use_tls: bool = False
    tls_ca_file: str | None = None
    api: Api = "auto"
    password_file: str | None = None
    password_env: str | None = None
    poll_interval: float = DEFAULT_INTERVAL["auto"]
    timeout: float = DEFAULT_TIMEOUT["background"]
    max_age: float = DEFAULT_INTERVAL["auto"] * MAX_AGE_FACTOR
    timezone: str | None = None
    # Port of the PVS telemetry WebSocket, used with ``live``.
    telemetry_port: int = TELEMETRY_PORT
    # Inverter serial -> array (roof face) name, sorted by serial: panels are
    # compared with the peers of their own array (docs/panel-health.md).
    inverter_arrays: tuple[tuple[str, str], ...] = ()
    # A PVS that reboots twice within a day is polled less often until it has
    # been quiet for 72 h (pvs/ease_off.py); false keeps the interval as set.
    ease_off_after_reboots: bool = True
    # The per-kind answer-time histogram (10 series per kind of request): off
    # for large fleets, where it would double the series of a small site.
    request_histograms: bool = True

    def password(self) -> str | None:
        """The PVS password from file or environment; never stored on the config."""
        if self.password_file:
            try:
                with open(self.password_file, encoding="utf-8") as handle:
                    return handle.read().strip()
            except OSError as exc:
                raise ConfigError(
                    f"password_file {self.password_file}: cannot read: {exc.strerror}"
                ) from exc
        if self.password_env:
            value = os.environ.get(self.password_env)
            return value.strip() if value else None
        return None


@dataclass(frozen=True)
class ExporterConfig:
    targets: tuple[TargetConfig, ...]
    listen_host: str = ""
    listen_port: int = DEFAULT_LISTEN_PORT
    poll_mode: PollMode = "background"
    # on_demand poll mode: stop polling a target not probed for this long.
    idle_after: float = DEFAULT_IDLE_AFTER
    use_device_data_timestamp: bool = False
    # Opt-in: follow each varserver PVS's telemetry WebSocket for live site power.
    live: bool = False
    # CLI-only mode: device metrics of the one target appear on /metrics too,
    # as with the original exporter.
    single_target: bool = True
    log_level: LogLevel = "INFO"
    log_file: str | None = None
    log_format: LogFormat = "plain"
    web_config_file: str | None = None
    # Opt-in: /-/healthy and /-/ready answer without basic auth.
    web_health_without_auth: bool = False
    # Open client connections at most; the longest idle is closed for a new one.
    web_max_connections: int = DEFAULT_MAX_CONNECTIONS
    # New connections a second from one client address (an IPv6 /64 as one); 0: no limit.
    web_max_connection_rate: int = DEFAULT_CONNECTION_RATE
    push_to: str | None = None
    push_job: str = "sunpower_pvs"
    push_auth_file: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def target(self, name: str) -> TargetConfig | None:
        for target in self.targets:
            if target.name == name:
                return target
        return None


# --- parsing helpers ------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: object, key: str) -> float:
    """Seconds from ``90``, ``90.5``, ``"90s"``, ``"2m"``, ``"1h"``, ``"500ms"``."""
    if isinstance(value, bool):
        raise ConfigError(f"{key}: expected a duration like 120 or '2m', got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNIT[match.group(2)]
    else:
        raise ConfigError(f"{key}: expected a duration like 120 or '2m', got {value!r}")
    if seconds <= 0:
        raise ConfigError(f"{key}: must be positive, got {value!r}")
    return seconds


def parse_port(value: object, key: str, lowest: int = 1) -> int:
    """A TCP port; ``lowest=0`` where 0 means "any free port" (a listen address)."""
    expected = f"{key}: expected a port number {lowest}-65535, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigError(expected)
    try:
        port = int(value)
    except ValueError:
        raise ConfigError(expected) from None
    if not lowest <= port <= 65535:
        raise ConfigError(expected)
    return port


def listen_address(host: str, port: int) -> str:
    """``*:9110``, ``127.0.0.1:9110``, ``[::1]:9110``: the form --listen-on accepts."""
    if not host:
        return f"*:{port}"
    return host_port(host, port)


def parse_listen(value: str, key: str) -> tuple[str, int]:
    """``9110``, ``:9110``, ``127.0.0.1:9110`` or ``[::1]:9110`` -> (host, port).

    Port 0 binds any free port; the "listening on" line at start names it (so
    a test, or a second instance, never races another process for a port).
    """
    text = str(value).strip()
    if "://" in text:
        raise ConfigError(
            f"{key}: give PORT or HOST:PORT without a scheme, e.g. 127.0.0.1:9110; got {value!r}"
        )
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep or not host:
            raise ConfigError(f"{key}: expected PORT, HOST:PORT or [IPV6]:PORT, got {value!r}")
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    elif ":" in text:
        raise ConfigError(f"{key}: IPv6 addresses need brackets, e.g. [::1]:9110; got {value!r}")
    else:
        host, port = "", text
    return host, parse_port(port, key, lowest=0)


def parse_host(value: str, key: str, port_key: str, tls_key: str) -> str:
    """A PVS host name or IP address, as the user would mistype it.

    ``http://pvs`` and ``pvs:8080`` are the usual slips: both are refused with
    the key to use instead (``port_key``/``tls_key`` are the flag or key names
    of the caller, so the CLI and the file give the same advice in their terms).
    """
    text = value.strip()
    if "://" in text:
        raise ConfigError(
            f"{key}: give a host name or address without a scheme, got {value!r} "
            f"(for HTTPS set {tls_key})"
        )
    if text.startswith("[") and text.endswith("]"):
        raise ConfigError(f"{key}: give an IPv6 address without brackets, got {value!r}")
    if text.startswith("[") and "]:" in text:
        raise ConfigError(
            f"{key}: give the port separately ({port_key}), not as [HOST]:PORT, and the "
            f"IPv6 address without brackets; got {value!r}"
        )
    try:
        ipaddress.ip_address(text)
        return text
    except ValueError:
        pass
    if text.count(":") == 1:
        raise ConfigError(
            f"{key}: give the port separately ({port_key}), not as HOST:PORT; got {value!r}"
        )
    name = text.removesuffix(".")
    if (
        not name
        or len(name) > MAX_DNS_NAME
        or not all(_DNS_LABEL.match(label) for label in name.split("."))
    ):
        raise ConfigError(f"{key}: {value!r} is not a host name or IP address")
    return text


CREDENTIALS_VARIABLE = "CREDENTIALS_DIRECTORY"
_CREDENTIALS_REFERENCE = re.compile(r"\$(?:\{CREDENTIALS_DIRECTORY\}|CREDENTIALS_DIRECTORY\b)")


def expand_credentials(path: str, key: str) -> str:
    """``${CREDENTIALS_DIRECTORY}/pvs-password`` -> the file systemd's
    ``LoadCredential=`` made for this service (docs/configuration.md, "Secrets").

    Only this one variable is expanded: a password path never depends on
    anything else in the environment.
    """
    if not _CREDENTIALS_REFERENCE.search(path):
        return path
    directory = os.environ.get(CREDENTIALS_VARIABLE, "")
    if not directory:
        raise ConfigError(
            f"{key}: {path} needs ${CREDENTIALS_VARIABLE}, which is not set: run under "
            "systemd with LoadCredential= (see docs/configuration.md, Secrets)"
        )
    return _CREDENTIALS_REFERENCE.sub(lambda _match: directory, path)


def parse_url(value: object, key: str) -> str:
    """An ``http://`` or ``https://`` URL with a host (the Pushgateway)."""
    url = string(value, key)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{key}: expected an http:// or https:// URL, got {value!r}")
    return url


def parse_max_connections(value: object, key: str) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not (MIN_CONNECTIONS <= value <= MAX_CONNECTIONS)
    ):
        raise ConfigError(
            f"{key}: expected a whole number from {MIN_CONNECTIONS} to {MAX_CONNECTIONS}, "
            f"got {value!r}"
        )
    return value


def parse_connection_rate(value: object, key: str) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not (0 <= value <= MAX_CONNECTION_RATE)
    ):
        raise ConfigError(
            f"{key}: expected a whole number of new connections a second from one "
            f"address, 0 (no limit) to {MAX_CONNECTION_RATE}, got {value!r}"
        )
    return value


def check_timezone(value: str | None, key: str) -> str | None:
    if value is None:
        return None
    # zoneinfo (and the sysconfig it reads its search path from) only when a
    # time zone is configured: most PVS clocks run UTC (benchmarks/footprint.py).
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{key}: unknown time zone {value!r} (use an IANA name)") from None
    return value


def parse_arrays(value: object, key: str) -> tuple[tuple[str, str], ...]:
    """``arrays: {south: [serial, ...], west: [...]}`` as sorted (serial, array) pairs."""
    if not isinstance(value, dict) or not value:
        raise ConfigError(
            f"{key}: expected a mapping of array name to a list of inverter serial numbers"
        )
    assigned: dict[str, str] = {}
    for name, serials in value.items():
        if not isinstance(name, str) or not ARRAY_NAME.match(name):
            raise ConfigError(
                f"{key}: array name {name!r} must be 1-63 letters, digits, '_', '.' or '-'"
            )
        where = f"{key}.{name}"
        if not isinstance(serials, list) or not serials:
            raise ConfigError(f"{where}: expected a non-empty list of inverter serial numbers")
        for serial in serials:
            if isinstance(serial, int | float):
                raise ConfigError(
                    f"{where}: expected inverter serial numbers, got {serial!r} "
                    "(quote a serial made of digits only)"
                )
            text = serial if isinstance(serial, str) else None
            if text is None or not text.strip():
                raise ConfigError(f"{where}: expected inverter serial numbers, got {serial!r}")
            text = text.strip()
            if text in assigned:
                raise ConfigError(f"{where}: inverter {text} is already in array {assigned[text]}")
            assigned[text] = name
    return tuple(sorted(assigned.items()))


def make_target(
    keys: Callable[[str], str],
    *,
    name: str,
    host: str,
    port: int | None,
    use_tls: bool,
    tls_ca_file: str | None,
    api: Api,
    poll_mode: PollMode,
    poll_interval: float | None,
    timeout: float | None,
    max_age: float | None,
    password_file: str | None,
    password_env: str | None,
    timezone: str | None,
    telemetry_port: int | None = None,
    inverter_arrays: tuple[tuple[str, str], ...] = (),
    ease_off_after_reboots: bool = True,
    request_histograms: bool = True,
) -> TargetConfig:
    """Apply defaults and limits; the one place both CLI and file targets pass."""
    host = parse_host(host, keys("host"), keys("port"), keys("use_tls"))
    if not TARGET_NAME.match(name):
        raise ConfigError(
            f"{keys('name')}: {name!r} must be 1-253 letters, digits, '_', '.', ':' or '-'"
        )
    if api == "varserver" and port is not None and not use_tls:
        raise ConfigError(
            f"{keys('port')}: the varserver API is HTTPS only and uses port 443 unless "
            f"{keys('use_tls')} is set; port {port} would be ignored"
        )
    if password_file is not None:
        password_file = expand_credentials(password_file, keys("password_file"))
    if tls_ca_file is not None:
        tls_ca_file = expand_credentials(tls_ca_file, keys("tls_ca_file"))
    interval = DEFAULT_INTERVAL[api] if poll_interval is None else poll_interval
    minimum = MIN_INTERVAL[api]
    if interval < minimum:
        api_text = {"auto": "auto-detected", "legacy": "legacy", "varserver": "varserver"}[api]
        raise ConfigError(
            f"{keys('poll_interval')}: must be >= {minimum:g}s for the {api_text} API, "
            f"got {interval:g}s"
        )
    resolved_timeout = DEFAULT_TIMEOUT[poll_mode] if timeout is None else timeout
    age = interval * MAX_AGE_FACTOR if max_age is None else max_age
    if age < interval:
        raise ConfigError(
            f"{keys('max_age')}: must be >= poll_interval ({interval:g}s), got {age:g}s"
        )
    if password_file is not None and password_env is not None:
        raise ConfigError(
            f"{keys('password_file')}: give a password file or a password env var, not both"
        )
    return TargetConfig(
        name=name,
        host=host,
        port=port if port is not None else (443 if use_tls else 80),
        use_tls=use_tls,
        tls_ca_file=tls_ca_file,
        api=api,
        password_file=password_file,
        password_env=password_env,
        poll_interval=interval,
        timeout=resolved_timeout,
        max_age=age,
        timezone=check_timezone(timezone, keys("timezone")),
        telemetry_port=TELEMETRY_PORT if telemetry_port is None else telemetry_port,
        inverter_arrays=inverter_arrays,
        ease_off_after_reboots=ease_off_after_reboots,
        request_histograms=request_histograms,
    )


# --- the YAML file ----------------------------------------------------------------

TARGET_KEYS = {
    "name",
    "host",
    "port",
    "use_tls",
    "tls_ca_file",
    "api",
    "password_file",
    "password_env",
    "poll_interval",
    "timeout",
    "max_age",
    "timezone",
    "telemetry_port",
    "arrays",
    "ease_off_after_reboots",
    "request_histograms",
}
GLOBAL_KEYS = {
    "live",
    "listen_on",
    "poll_mode",
    "idle_after",
    "use_device_data_timestamp",
    "log_level",
    "log_file",
    "log_format",
    "web_config_file",
    "web_health_without_auth",
    "web_max_connections",
    "web_max_connection_rate",
    "push_to",
    "push_job",
    "push_auth_file",
    "targets",
    "defaults",
}
# A site's arrays are its own: no default for them.
DEFAULTS_KEYS = TARGET_KEYS - {"name", "host", "arrays"}


def _parse_target(
    raw: object, index: int, defaults: Mapping[str, Any], poll_mode: PollMode
) -> TargetConfig:
    key = f"targets[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{key}: expected a mapping with at least name and host")
    check_keys(raw, TARGET_KEYS, f"{key}.")
    merged = {**defaults, **raw}
    # A target's own password source replaces the inherited one (not "both").
    for own, inherited in (("password_file", "password_env"), ("password_env", "password_file")):
        if own in raw and inherited not in raw:
            merged.pop(inherited, None)
    for required in ("name", "host"):
        if required not in merged:
            raise ConfigError(f"{key}.{required}: missing (required)")

    def where(name: str) -> str:
        """The key an error names: the defaults' own when the value came from there."""
        return f"defaults.{name}" if name in defaults and name not in raw else f"{key}.{name}"

    def opt(name: str) -> Any:
        return merged.get(name)

    use_tls = flag(opt("use_tls"), where("use_tls")) if "use_tls" in merged else False
    return make_target(
        where,
        name=string(merged["name"], where("name")),
        host=string(merged["host"], where("host")),
        port=parse_port(opt("port"), where("port")) if "port" in merged else None,
        use_tls=use_tls,
        tls_ca_file=string(opt("tls_ca_file"), where("tls_ca_file"))
        if opt("tls_ca_file")
        else None,
        api=choice(opt("api") or "auto", where("api"), get_args(Api)),  # type: ignore[arg-type]
        poll_mode=poll_mode,
        poll_interval=parse_duration(opt("poll_interval"), where("poll_interval"))
        if "poll_interval" in merged
        else None,
        timeout=parse_duration(opt("timeout"), where("timeout")) if "timeout" in merged else None,
        max_age=parse_duration(opt("max_age"), where("max_age")) if "max_age" in merged else None,
        password_file=string(opt("password_file"), where("password_file"))
        if "password_file" in merged
        else None,
        password_env=string(opt("password_env"), where("password_env"))
        if "password_env" in merged
        else None,
        timezone=string(opt("timezone"), where("timezone")) if "timezone" in merged else None,
        telemetry_port=parse_port(opt("telemetry_port"), where("telemetry_port"))
        if "telemetry_port" in merged
        else None,
        inverter_arrays=parse_arrays(opt("arrays"), where("arrays")) if "arrays" in merged else (),
        ease_off_after_reboots=flag(opt("ease_off_after_reboots"), where("ease_off_after_reboots"))
        if "ease_off_after_reboots" in merged
        else True,
        request_histograms=flag(opt("request_histograms"), where("request_histograms"))
        if "request_histograms" in merged
        else True,
    )


def load_config_file(path: str) -> ExporterConfig:
    """Read and validate a YAML config file; ``ConfigError`` says what is wrong.

    Relative paths of the files it refers to (password, CA, web config,
    Pushgateway credentials) are relative to the config file's directory, as
    in the web config file, so the meaning does not depend on the working
    directory of whoever starts the exporter.
    """
    config = parse_config(read_yaml_file(path, path))
    base = os.path.dirname(os.path.abspath(path))

    def resolve(value: str | None) -> str | None:
        return value if value is None else os.path.join(base, os.path.expanduser(value))

    targets = tuple(
        replace(t, password_file=resolve(t.password_file), tls_ca_file=resolve(t.tls_ca_file))
        for t in config.targets
    )
    return replace(
        config,
        targets=targets,
        web_config_file=resolve(config.web_config_file),
        push_auth_file=resolve(config.push_auth_file),
    )


def parse_config(doc: object) -> ExporterConfig:
    if not isinstance(doc, dict):
        raise ConfigError("config: expected a mapping at the top level with a 'targets' list")
    check_keys(doc, GLOBAL_KEYS, "")
    poll_mode: PollMode = choice(  # type: ignore[assignment]
        doc.get("poll_mode", "background"), "poll_mode", get_args(PollMode)
    )
    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ConfigError("defaults: expected a mapping of target settings")
    check_keys(defaults, DEFAULTS_KEYS, "defaults.")
    raw_targets = doc.get("targets")
    if not isinstance(raw_targets, list) or not raw_targets:
        raise ConfigError("targets: expected a non-empty list of targets")
    targets = tuple(
        _parse_target(raw, index, defaults, poll_mode) for index, raw in enumerate(raw_targets)
    )
    names: set[str] = set()
    for index, target in enumerate(targets):
        if target.name in names:
            raise ConfigError(f"targets[{index}].name: duplicate target name {target.name!r}")
        names.add(target.name)
    host, port = ("", DEFAULT_LISTEN_PORT)
    if "listen_on" in doc:
        host, port = parse_listen(str(doc["listen_on"]), "listen_on")
    level = str(doc.get("log_level", "INFO")).upper()
    return ExporterConfig(
        targets=targets,
        listen_host=host,
        listen_port=port,
        poll_mode=poll_mode,
        idle_after=parse_duration(doc["idle_after"], "idle_after")
        if "idle_after" in doc
        else DEFAULT_IDLE_AFTER,
        use_device_data_timestamp=flag(
            doc.get("use_device_data_timestamp", False), "use_device_data_timestamp"
        ),
        live=flag(doc.get("live", False), "live"),
        single_target=False,
        log_level=choice(level, "log_level", get_args(LogLevel)),  # type: ignore[arg-type]
        log_file=string(doc["log_file"], "log_file") if "log_file" in doc else None,
        log_format=choice(  # type: ignore[arg-type]
            doc.get("log_format", "plain"), "log_format", get_args(LogFormat)
        ),
        web_config_file=string(doc["web_config_file"], "web_config_file")
        if "web_config_file" in doc
        else None,
        web_health_without_auth=flag(
            doc.get("web_health_without_auth", False), "web_health_without_auth"
        ),
        web_max_connections=parse_max_connections(
            doc.get("web_max_connections", DEFAULT_MAX_CONNECTIONS), "web_max_connections"
        ),
        web_max_connection_rate=parse_connection_rate(
            doc.get("web_max_connection_rate", DEFAULT_CONNECTION_RATE), "web_max_connection_rate"
        ),
        push_to=parse_url(doc["push_to"], "push_to") if "push_to" in doc else None,
        push_job=string(doc.get("push_job", "sunpower_pvs"), "push_job"),
        push_auth_file=string(doc["push_auth_file"], "push_auth_file")
        if "push_auth_file" in doc
        else None,
    )


# --- what the config refers to ------------------------------------------------------


def _file_problem(path: str) -> str | None:
    """Why ``path`` cannot be read as a non-empty file, or ``None``."""
    try:
        with open(path, "rb") as handle:
            if not handle.read(1):
                return f"{path} is empty"
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    return None


def check_references(
    config: ExporterConfig, key_of: Callable[[int, str], str] | None = None
) -> None:
    """Check what the config points at, as startup and every poll would need it.

    Password files and CA bundles must be readable (and not empty), a
    ``password_env`` variable must be set: each problem is a ``ConfigError``
    naming the key and the path, the same at ``--check-config``, at startup
    and on reload. ``key_of(index, key)`` names a target key (default: the
    config file's ``targets[i].key``).
    """
    name = key_of or (lambda index, key: f"targets[{index}].{key}")
    for index, target in enumerate(config.targets):
        if target.password_file is not None:
            problem = _file_problem(target.password_file)
            if problem:
                raise ConfigError(f"{name(index, 'password_file')}: {problem}")
        if target.password_env is not None and not os.environ.get(target.password_env, "").strip():
            raise ConfigError(
                f"{name(index, 'password_env')}: environment variable {target.password_env} "
                "is not set (or empty)"
            )
        if target.tls_ca_file is not None:
            problem = _file_problem(target.tls_ca_file)
            if problem is None:
                try:
                    ssl.create_default_context(cafile=target.tls_ca_file)
                except (ssl.SSLError, ValueError):
                    problem = f"{target.tls_ca_file} holds no PEM CA certificate"
            if problem:
                raise ConfigError(f"{name(index, 'tls_ca_file')}: {problem}")
