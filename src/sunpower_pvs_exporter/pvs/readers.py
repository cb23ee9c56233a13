"""Builds the PVS client a target's configuration asks for."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from zoneinfo import ZoneInfo

from sunpower_pvs_exporter.config import PASSWORD_ENV, ConfigError, TargetConfig
from sunpower_pvs_exporter.poller import PvsReader, pvs_gate
from sunpower_pvs_exporter.pvs.detect import AutoReader
from sunpower_pvs_exporter.pvs.hosts import host_port
from sunpower_pvs_exporter.pvs.legacy import LegacyClient
from sunpower_pvs_exporter.pvs.telemetry import TelemetryStream
from sunpower_pvs_exporter.pvs.transport import Endpoint, HttpTransport
from sunpower_pvs_exporter.pvs.varserver import VarserverClient

VARSERVER_PORT = 443

log = logging.getLogger(__name__)


def endpoint_of(target: TargetConfig) -> Endpoint:
    return Endpoint(target.host, target.port, target.use_tls, target.tls_ca_file)


def endpoint_key(target: TargetConfig) -> str:
    """What identifies one PVS for the process-wide request gate."""
    return f"{target.host}:{target.port}"


def varserver_endpoint_of(target: TargetConfig) -> Endpoint:
    """varserver is HTTPS only: the target's own port with ``use_tls``, else 443."""
    if target.use_tls:
        return endpoint_of(target)
    return Endpoint(target.host, VARSERVER_PORT, True, target.tls_ca_file)


def password_of(target: TargetConfig) -> str | None:
    """Target's password_file/password_env, else $SUNPOWER_PVS_PASSWORD, else None
    (the client then derives the default from the serial)."""
    password = target.password()
    if password:
        return password
    value = os.environ.get(PASSWORD_ENV, "").strip()
    return value or None


def make_varserver(target: TargetConfig) -> VarserverClient:
    transport = HttpTransport(varserver_endpoint_of(target), target.timeout)
    password: str | Callable[[], str] | None = password_of(target)
    if target.password_file:
        # Checked now (startup, reload) and read again at every login.
        path = target.password_file

        def password_from_file() -> str:
            value = target.password()
            if not value:
                raise ConfigError(f"password_file {path}: is empty")
            return value

        password = password_from_file
    return VarserverClient(transport, password, target_name=target.name)


def make_reader(target: TargetConfig) -> PvsReader:
    tz = ZoneInfo(target.timezone) if target.timezone else None
    if target.api == "varserver":
        return make_varserver(target)
    legacy = LegacyClient(
        HttpTransport(endpoint_of(target), target.timeout), tz, target_name=target.name
    )
    if target.api == "legacy":
        return legacy
    return AutoReader(legacy, make_varserver(target), target_name=target.name)


def make_live_stream(target: TargetConfig, reader: PvsReader) -> TelemetryStream | None:
    """The telemetry stream for ``--live``, or ``None`` when the target has no varserver.

    The stream is enabled through the varserver session the poller already
    holds, so following it costs no extra login.
    """
    varserver: VarserverClient | None = None
    if isinstance(reader, VarserverClient):
        varserver = reader
    elif isinstance(reader, AutoReader):
        varserver = reader.varserver
    if varserver is None:
        return None
    enable_telemetry = varserver.enable_telemetry
    key = endpoint_key(target)

    async def enable() -> None:
        # A request to the PVS like any poll: it waits its turn at the gate.
        async with pvs_gate(key):
            await enable_telemetry()

    return TelemetryStream(
        f"ws://{host_port(target.host, target.telemetry_port)}/",
        enable=enable,
        target_name=target.name,
    )
