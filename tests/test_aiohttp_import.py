"""aiohttp imported without its import-time CA stores (``aiohttp_import.py``).

What makes skipping them safe is checked here: the serving process really
imports aiohttp that way; ``ssl`` is whole again afterwards (a Pushgateway
over HTTPS, a ``tls_ca_file``, get the CA store as usual); aiohttp's unused
default context fails closed; and the exporter's own client requests bring
their own SSL context or speak plain ``ws://``.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from sunpower_pvs_exporter.config import TargetConfig
from sunpower_pvs_exporter.pvs.transport import Endpoint, HttpTransport
from sunpower_pvs_exporter.runtime import make_live_stream, make_reader
from support import require_program, start_exporter, stop_process

# Reports, as JSON on stdout: the default CA store before and after importing
# aiohttp (argv[1]: through import_aiohttp, or plainly), and aiohttp's own
# default contexts.
REPORT = """
import json, ssl, sys
loaders = {n: ssl.SSLContext.__dict__.get(n) for n in
           ("load_default_certs", "set_default_verify_paths")}
before = ssl.create_default_context().cert_store_stats()["x509_ca"]
if sys.argv[1] == "lean":
    from sunpower_pvs_exporter.aiohttp_import import import_aiohttp
    import_aiohttp()
else:
    import aiohttp
import aiohttp.connector as connector
verified = connector._SSL_CONTEXT_VERIFIED
print(json.dumps({
    "before": before,
    "after": ssl.create_default_context().cert_store_stats()["x509_ca"],
    "loaders_restored": loaders == {n: ssl.SSLContext.__dict__.get(n) for n in loaders},
    "aiohttp_verified_cas": verified.cert_store_stats()["x509_ca"],
    "aiohttp_verified_mode": int(verified.verify_mode),
    "aiohttp_unverified_mode": int(connector._SSL_CONTEXT_UNVERIFIED.verify_mode),
}))
"""


@pytest.fixture(scope="module")
def one_ca_store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment whose default CA store is exactly one certificate of ours."""
    openssl = require_program(
        "openssl",
        not_tested="skipping aiohttp's CA store is not checked",
        fix="install openssl",
    )
    directory = tmp_path_factory.mktemp("ca")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(directory / "ca.key"), "-out", str(directory / "ca.crt"),
         "-days", "2", "-subj", "/CN=footprint test CA"],
        check=True, capture_output=True,
    )  # fmt: skip
    (directory / "certs").mkdir()
    env = dict(os.environ)
    env["SSL_CERT_FILE"] = str(directory / "ca.crt")
    env["SSL_CERT_DIR"] = str(directory / "certs")
    return env


def report(how: str, env: dict[str, str]) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", REPORT, how], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_aiohttp_is_imported_without_its_default_ca_store_and_ssl_is_whole_after(
    one_ca_store: dict[str, str],
):
    seen = report("lean", one_ca_store)
    assert seen["before"] == 1  # the store is ours: the numbers below mean something
    assert seen["aiohttp_verified_cas"] == 0
    # Fails closed: verification required, and no CA to verify against.
    assert seen["aiohttp_verified_mode"] == ssl.CERT_REQUIRED
    assert seen["aiohttp_unverified_mode"] == ssl.CERT_NONE
    # Every context made afterwards loads the default store as usual.
    assert seen["after"] == 1
    assert seen["loaders_restored"] is True


def test_a_plain_import_of_aiohttp_loads_the_store_the_lean_one_skips(
    one_ca_store: dict[str, str],
):
    """The check above can fail: imported plainly, aiohttp's context holds the CA."""
    seen = report("plain", one_ca_store)
    assert seen["aiohttp_verified_cas"] == 1
    assert seen["after"] == 1


# The real console entry point; at exit, the CA count of aiohttp's default context.
RUN_AND_COUNT = (
    "import atexit, sys\n"
    "def count():\n"
    "    import aiohttp.connector as c\n"
    "    cas = c._SSL_CONTEXT_VERIFIED.cert_store_stats()['x509_ca']\n"
    "    sys.stderr.write(f'AIOHTTP_CAS {cas}\\n')\n"
    "atexit.register(count)\n"
    "from sunpower_pvs_exporter.cli.entry import main\n"
    "raise SystemExit(main(sys.argv[1:]))\n"
)


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["--hostname", "127.0.0.1", "--port", "9", "--timeout", "2"], id="flags"),
        pytest.param(["--demo"], id="demo"),
    ],
)
def test_the_serving_process_imports_aiohttp_lean(
    argv: list[str], one_ca_store: dict[str, str], tmp_path: Path
):
    output = tmp_path / "output"
    command = (sys.executable, "-c", RUN_AND_COUNT)
    process, _port = start_exporter(*argv, output=output, command=command, env=one_ca_store)
    assert stop_process(process) == 0, output.read_text()
    counts = [line for line in output.read_text().splitlines() if line.startswith("AIOHTTP_CAS")]
    assert counts == ["AIOHTTP_CAS 0"], output.read_text()


# --- the exporter's clients never use aiohttp's default context -------------------


def target(**overrides: object) -> TargetConfig:
    settings: dict[str, object] = {"name": "site", "host": "127.0.0.1", "port": 443}
    settings.update(overrides)
    return TargetConfig(**settings)  # type: ignore[arg-type]


@pytest.mark.parametrize("ca_file", [None, "ca"], ids=["self-signed", "tls_ca_file"])
async def test_a_pvs_session_over_https_brings_its_own_ssl_context(
    ca_file: str | None, one_ca_store: dict[str, str]
):
    path = one_ca_store["SSL_CERT_FILE"] if ca_file else None
    transport = HttpTransport(Endpoint("127.0.0.1", 443, True, path), 5.0)
    try:
        connector = transport.session.connector
        assert connector is not None
        assert isinstance(connector._ssl, ssl.SSLContext)  # not aiohttp's default
    finally:
        await transport.close()


async def test_a_plain_http_pvs_session_uses_no_tls():
    transport = HttpTransport(Endpoint("127.0.0.1", 80, False), 5.0)
    try:
        connector = transport.session.connector
        assert connector is not None
        assert connector._ssl is False
    finally:
        await transport.close()


def test_the_live_stream_speaks_plain_websocket():
    target_config = target(api="varserver")
    stream = make_live_stream(target_config, make_reader(target_config))
    assert stream is not None
    assert stream.url.startswith("ws://")
