"""Fixtures for tests of the web layer (tests/web/, tests/fuzz/): generated certificates and
exporters with a web config. Loaded for every test by tests/conftest.py (``pytest_plugins``)."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sunpower_pvs_exporter.config import ExporterConfig, TargetConfig
from sunpower_pvs_exporter.runtime import ExporterState
from sunpower_pvs_exporter.web.security import RequestLimits, build_security, load_web_config
from sunpower_pvs_exporter.web.server import ExporterServer
from support import pollers_for, require_program


@dataclass(frozen=True)
class TlsFiles:
    """A CA, a server certificate for 127.0.0.1, and client certificates."""

    directory: Path
    ca_crt: Path
    server_crt: Path
    server_key: Path
    client_ca_crt: Path
    client_crt: Path
    client_key: Path
    # Signed by a CA the exporter does not trust.
    rogue_client_crt: Path
    rogue_client_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30, stdin=None
    )


def _make_ca(directory: Path, name: str) -> None:
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-addext", "subjectKeyIdentifier=hash",
        cwd=directory,
    )  # fmt: skip


def _make_leaf(directory: Path, name: str, ca: str, usage: str, san: str | None) -> None:
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}",
        cwd=directory,
    )  # fmt: skip
    ext = [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature",
        f"extendedKeyUsage={usage}",
        "subjectKeyIdentifier=hash",
        "authorityKeyIdentifier=keyid",
    ]
    if san:
        ext.append(f"subjectAltName={san}")
    (directory / f"{name}.ext").write_text("\n".join(ext) + "\n")
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
        "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext",
        cwd=directory,
    )  # fmt: skip


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    require_program(
        "openssl",
        not_tested="no test certificates: TLS tests did not run",
        fix="apt-get install openssl",
    )
    directory = tmp_path_factory.mktemp("tls")
    _make_ca(directory, "ca")
    _make_ca(directory, "client-ca")
    _make_ca(directory, "rogue-ca")
    _make_leaf(directory, "server", "ca", "serverAuth", "IP:127.0.0.1,DNS:localhost")
    _make_leaf(directory, "client", "client-ca", "clientAuth", None)
    _make_leaf(directory, "rogue-client", "rogue-ca", "clientAuth", None)
    return TlsFiles(
        directory=directory,
        ca_crt=directory / "ca.crt",
        server_crt=directory / "server.crt",
        server_key=directory / "server.key",
        client_ca_crt=directory / "client-ca.crt",
        client_crt=directory / "client.crt",
        client_key=directory / "client.key",
        rogue_client_crt=directory / "rogue-client.crt",
        rogue_client_key=directory / "rogue-client.key",
    )


SecureExporterFactory = Callable[..., Awaitable[ExporterServer]]


@pytest.fixture
async def make_secure_exporter(tmp_path: Path) -> AsyncIterator[SecureExporterFactory]:
    """Exporters on 127.0.0.1 built the way ``cli.serve`` builds them from a web config."""
    servers: list[ExporterServer] = []

    async def factory(
        targets: list[TargetConfig],
        web_config: str | None = None,
        health_without_auth: bool = False,
        limits: RequestLimits | None = None,
        refusal_delay: float = 0.0,
        clock: Callable[[], float] | None = None,
        **config: Any,
    ) -> ExporterServer:
        """``clock``: every poller's wall clock (a ``support.FakeClock``)."""
        cfg = ExporterConfig(
            targets=tuple(targets),
            listen_host="127.0.0.1",
            listen_port=0,
            single_target=len(targets) == 1,
            web_health_without_auth=health_without_auth,
            **config,
        )
        parsed = None
        if web_config is not None:
            path = tmp_path / f"web-config-{len(servers)}.yml"
            path.write_text(web_config)
            parsed = load_web_config(str(path))
        # 401/429 are answered late in production (a tarpit); tests not about
        # that delay skip it (tests/web/test_auth_flood.py checks it).
        security = build_security(
            parsed, health_without_auth=cfg.web_health_without_auth, refusal_delay=refusal_delay
        )
        pollers = pollers_for(cfg)
        if clock is not None:
            for poller in pollers:
                poller.clock = clock
        server = ExporterServer(
            ExporterState(cfg, pollers),
            ssl_context=security.ssl_context,
            middlewares=security.middlewares,
            limits=limits,
        )
        server.security = security  # type: ignore[attr-defined]
        await server.start()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        await server.stop()
