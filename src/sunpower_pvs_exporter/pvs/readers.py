"""Builds the PVS client a target's configuration asks for."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sunpower_pvs_exporter.config import TargetConfig
from sunpower_pvs_exporter.poller import PvsReader
from sunpower_pvs_exporter.pvs.legacy import LegacyClient
from sunpower_pvs_exporter.pvs.transport import Endpoint, HttpTransport


def endpoint_of(target: TargetConfig) -> Endpoint:
    return Endpoint(target.host, target.port, target.use_tls, target.tls_ca_file)


def make_reader(target: TargetConfig) -> PvsReader:
    tz = ZoneInfo(target.timezone) if target.timezone else None
    transport = HttpTransport(endpoint_of(target), target.timeout)
    return LegacyClient(transport, tz, target_name=target.name)
