"""Web config (exporter-toolkit format): parsing, TLS, mTLS and basic auth over real sockets."""

from __future__ import annotations

import asyncio
import base64
import ssl
import statistics
import threading
import time
from pathlib import Path

import aiohttp
import bcrypt
import pytest

from sunpower_pvs_exporter.cli import serve
from sunpower_pvs_exporter.config import ConfigError
from sunpower_pvs_exporter.web.auth import BasicAuthChecker, parse_basic_authorization
from sunpower_pvs_exporter.web.security import load_web_config
from support import target_for

PASSWORD = "correct horse battery staple"


def bcrypt_hash(password: str | bytes, cost: int = 4) -> str:
    raw = password.encode() if isinstance(password, str) else password
    return bcrypt.hashpw(raw, bcrypt.gensalt(rounds=cost)).decode()


def basic(user: str, password: str | bytes) -> dict[str, str]:
    raw = password.encode() if isinstance(password, str) else password
    token = base64.b64encode(user.encode() + b":" + raw).decode()
    return {"Authorization": f"Basic {token}"}


def write(tmp_path: Path, text: str, name: str = "web.yml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def config_error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_web_config(write(tmp_path, text))
    message = str(info.value)
    assert "\n" not in message
    return message


def client_context(tls_files, cert: bool = False, rogue: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(tls_files.ca_crt))
    if cert:
        context.load_cert_chain(str(tls_files.client_crt), str(tls_files.client_key))
    if rogue:
        context.load_cert_chain(str(tls_files.rogue_client_crt), str(tls_files.rogue_client_key))
    return context


def tls_config(tls_files, extra: str = "") -> str:
    return (
        "tls_server_config:\n"
        f"  cert_file: {tls_files.server_crt}\n"
        f"  key_file: {tls_files.server_key}\n" + extra
    )


async def get(url: str, context: ssl.SSLContext | bool, **kwargs) -> tuple[int, str]:
    connector = aiohttp.TCPConnector(ssl=context)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(url, **kwargs) as response,
    ):
        return response.status, await response.text()


# --- parsing ---------------------------------------------------------------------------


def test_empty_file_is_valid_and_means_no_security(tmp_path):
    config = load_web_config(write(tmp_path, ""))
    assert config.tls is None and not config.basic_auth_users and not config.headers


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("tls_config: {}\n", "tls_config"),
        ("basic_auth_users: {}\nhttp_server_config:\n  http3: true\n", "http_server_config.http3"),
        ("tls_server_config:\n  cert_fil: x\n", "tls_server_config.cert_fil"),
    ],
)
def test_unknown_keys_are_errors_naming_the_key(tmp_path, text, key):
    message = config_error(tmp_path, text)
    assert f": {key}: unknown key" in message


def test_a_near_miss_of_a_key_is_named_in_the_web_config(tmp_path):
    message = config_error(tmp_path, "tls_server_config:\n  cert_fil: x\n")
    assert (
        ": tls_server_config.cert_fil: unknown key, did you mean cert_file? (allowed: cert, "
        "cert_file, " in message
    )


def test_plain_text_password_is_refused_without_echoing_it(tmp_path):
    message = config_error(tmp_path, "basic_auth_users:\n  prometheus: hunter2hunter2\n")
    assert "basic_auth_users.prometheus" in message
    assert "bcrypt" in message
    assert "hunter2" not in message


def test_invalid_yaml_names_the_line(tmp_path):
    message = config_error(tmp_path, "basic_auth_users:\n  a: [\n")
    assert "invalid YAML at line" in message


def test_missing_and_mismatched_certificate_files(tmp_path, tls_files):
    message = config_error(tmp_path, f"tls_server_config:\n  cert_file: {tmp_path}/nope.crt\n")
    assert "tls_server_config.key_file: missing (required for TLS)" in message
    message = config_error(
        tmp_path,
        f"tls_server_config:\n  cert_file: {tmp_path}/nope.crt\n"
        f"  key_file: {tls_files.server_key}\n",
    )
    assert "tls_server_config.cert_file: file not found" in message
    # A certificate with someone else's key.
    message = config_error(
        tmp_path,
        f"tls_server_config:\n  cert_file: {tls_files.server_crt}\n"
        f"  key_file: {tls_files.client_key}\n",
    )
    assert "tls_server_config.key_file: cannot load certificate and key" in message


def test_relative_paths_resolve_next_to_the_web_config(tls_files):
    path = tls_files.directory / "relative.yml"
    path.write_text("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n")
    config = load_web_config(str(path))
    assert config.tls is not None
    assert config.tls.cert_file == str(tls_files.server_crt)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("  client_auth_type: RequireAnyClientCert\n", "not possible with Python's ssl"),
        ("  client_auth_type: Sometimes\n", "client_auth_type: must be one of"),
        ("  client_auth_type: RequireAndVerifyClientCert\n", "client_ca_file: required"),
        ("  client_ca_file: ca.crt\n", "client_ca_file: given, but client_auth_type"),
        ("  min_version: TLS13\n  max_version: TLS12\n", "max_version: TLS12 is below"),
        ("  min_version: SSL3\n", "min_version: must be one of"),
        ("  cipher_suites: [TLS_FAKE_WITH_NOTHING]\n", "unknown cipher suite 'TLS_FAKE"),
        ("  curve_preferences: [X25519]\n", "curve_preferences: not supported"),
        ("  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n", "none of TLS_RSA_WITH_RC4_128_SHA is"),
        (
            "  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_RSA_WITH_RC4_128_SHA]\n",
            "TLS_RSA_WITH_RC4_128_SHA (RC4-SHA) is not available",
        ),
    ],
)
def test_tls_settings_are_validated(tmp_path, tls_files, extra, expected):
    (tmp_path / "ca.crt").write_bytes(tls_files.ca_crt.read_bytes())
    message = config_error(tmp_path, tls_config(tls_files, extra))
    assert expected in message, message


def test_only_exporter_toolkit_headers_are_allowed(tmp_path):
    message = config_error(tmp_path, "http_server_config:\n  headers:\n    Set-Cookie: a=b\n")
    assert "http_server_config.headers.Set-Cookie: header not allowed" in message
    message = config_error(
        tmp_path, "http_server_config:\n  headers:\n    X-Frame-Options: allow-all\n"
    )
    assert "deny or sameorigin" in message


def test_cli_reports_an_invalid_web_config_in_one_line(tmp_path, capsys):
    path = write(tmp_path, "basic_auth_users:\n  prometheus: not-a-hash\nextra: 1\n")
    code = serve.main(["--demo", "--web.config.file", path, "--check-config"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1, err
    assert err.startswith("sunpower-pvs-exporter: error: web config ")
    assert "extra: unknown key" in err


def test_cli_check_config_accepts_a_valid_web_config(tmp_path, capsys, tls_files):
    path = write(tmp_path, tls_config(tls_files) + f"basic_auth_users:\n  p: {bcrypt_hash('x')}\n")
    assert serve.main(["--demo", "--web.config.file", path, "--check-config"]) == 0
    assert "configuration OK" in capsys.readouterr().out


def test_web_config_repr_hides_hashes(tmp_path):
    hashed = bcrypt_hash("x")
    config = load_web_config(write(tmp_path, f"basic_auth_users:\n  p: {hashed}\n"))
    assert hashed not in repr(config)
    assert hashed[7:] not in str(config)


def test_parse_basic_authorization():
    assert parse_basic_authorization(basic("u", "p:w")["Authorization"]) == ("u", b"p:w")
    assert parse_basic_authorization("Basic !!!") is None
    assert parse_basic_authorization("Bearer abc") is None
    assert parse_basic_authorization("Basic " + base64.b64encode(b"nocolon").decode()) is None
    assert parse_basic_authorization(None) is None


# --- TLS and mTLS over real sockets -----------------------------------------------------


async def test_tls_server_serves_https_and_refuses_plain_http(
    make_simulator, make_secure_exporter, tls_files
):
    sim = await make_simulator(inverters=1)
    exporter = await make_secure_exporter([target_for(sim)], web_config=tls_config(tls_files))
    assert exporter.url.startswith("https://127.0.0.1:")
    status, body = await get(exporter.url + "/metrics", client_context(tls_files))
    assert status == 200
    assert "sunpower_pvs_exporter_build_info" in body or "sunpower_pvs_up" in body
    with pytest.raises(aiohttp.ClientError):
        await get(exporter.url.replace("https", "http") + "/metrics", False)
    # A client that does not trust the CA refuses the server.
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        await get(exporter.url + "/metrics", ssl.create_default_context())


async def test_tls_min_version_is_enforced(make_simulator, make_secure_exporter, tls_files):
    sim = await make_simulator(inverters=1)
    exporter = await make_secure_exporter(
        [target_for(sim)], web_config=tls_config(tls_files, "  min_version: TLS13\n")
    )
    old_client = client_context(tls_files)
    old_client.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(aiohttp.ClientError):
        await get(exporter.url + "/-/healthy", old_client)
    status, _ = await get(exporter.url + "/-/healthy", client_context(tls_files))
    assert status == 200


async def test_cipher_suites_restrict_tls12(make_simulator, make_secure_exporter, tls_files):
    sim = await make_simulator(inverters=1)
    extra = "  max_version: TLS12\n  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]\n"
    exporter = await make_secure_exporter(
        [target_for(sim)], web_config=tls_config(tls_files, extra)
    )
    context = client_context(tls_files)
    context.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
    with pytest.raises(aiohttp.ClientError):
        await get(exporter.url + "/-/healthy", context)
    _reader, writer = await asyncio.open_connection(
        "127.0.0.1", exporter.port, ssl=client_context(tls_files)
    )
    try:
        assert writer.get_extra_info("ssl_object").cipher()[0] == "ECDHE-ECDSA-AES256-GCM-SHA384"
    finally:
        writer.close()


async def test_mtls_require_and_verify(make_simulator, make_secure_exporter, tls_files):
    sim = await make_simulator(inverters=1)
    extra = (
        "  client_auth_type: RequireAndVerifyClientCert\n"
        f"  client_ca_file: {tls_files.client_ca_crt}\n"
    )
    exporter = await make_secure_exporter(
        [target_for(sim)], web_config=tls_config(tls_files, extra)
    )
    status, _ = await get(exporter.url + "/metrics", client_context(tls_files, cert=True))
    assert status == 200
    # TLS 1.3 reports a missing/rejected client certificate after the handshake,
    # so the failure may surface as a connection or a read error.
    for context in (client_context(tls_files), client_context(tls_files, rogue=True)):
        with pytest.raises((aiohttp.ClientError, ssl.SSLError, ConnectionError)):
            await get(exporter.url + "/metrics", context)


async def test_mtls_verify_if_given(make_simulator, make_secure_exporter, tls_files):
    sim = await make_simulator(inverters=1)
    extra = (
        "  client_auth_type: VerifyClientCertIfGiven\n"
        f"  client_ca_file: {tls_files.client_ca_crt}\n"
    )
    exporter = await make_secure_exporter(
        [target_for(sim)], web_config=tls_config(tls_files, extra)
    )
    assert (await get(exporter.url + "/-/healthy", client_context(tls_files)))[0] == 200
    assert (await get(exporter.url + "/-/healthy", client_context(tls_files, cert=True)))[0] == 200
    with pytest.raises((aiohttp.ClientError, ssl.SSLError, ConnectionError)):
        await get(exporter.url + "/-/healthy", client_context(tls_files, rogue=True))


# --- basic auth over real sockets --------------------------------------------------------


def auth_config(users: dict[str, str]) -> str:
    lines = "".join(f"  {name}: '{hashed}'\n" for name, hashed in users.items())
    return (
        "basic_auth_users:\n" + lines + "http_server_config:\n  headers:\n"
        "    X-Frame-Options: deny\n    Content-Security-Policy: default-src 'self'\n"
    )


async def test_basic_auth_success_and_failures(make_simulator, make_secure_exporter, http):
    sim = await make_simulator(inverters=1)
    exporter = await make_secure_exporter(
        [target_for(sim)], web_config=auth_config({"prometheus": bcrypt_hash(PASSWORD)})
    )
    cases = [
        ({}, 401),
        (basic("prometheus", "wrong"), 401),
        (basic("nobody", PASSWORD), 401),
        ({"Authorization": "Basic %%%"}, 401),
        ({"Authorization": "Bearer " + PASSWORD}, 401),
        (basic("prometheus", PASSWORD), 200),
    ]
    for headers, expected in cases:
        for path in ("/metrics", "/", "/probe?target=site", "/-/healthy", "/no/such/path"):
            async with http.get(exporter.url + path, headers=headers) as response:
                body = await response.text()
                want = 404 if expected == 200 and path == "/no/such/path" else expected
                assert response.status == want, (headers, path)
                assert response.headers["X-Frame-Options"] == "deny"
                assert response.headers["Content-Security-Policy"] == "default-src 'self'"
                if want == 401:
                    assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
                    assert "sunpower_pvs" not in body
                assert PASSWORD not in body


async def test_health_without_auth_is_opt_in(make_simulator, make_secure_exporter, http):
    sim = await make_simulator(inverters=1)
    config = auth_config({"prometheus": bcrypt_hash(PASSWORD)})
    closed = await make_secure_exporter([target_for(sim)], web_config=config)
    opened = await make_secure_exporter(
        [target_for(sim)], web_config=config, health_without_auth=True
    )
    for path in ("/-/healthy", "/-/ready"):
        async with http.get(closed.url + path) as response:
            assert response.status == 401
        async with http.get(opened.url + path) as response:
            assert response.status == 200
    for path in ("/metrics", "/"):
        async with http.get(opened.url + path) as response:
            assert response.status == 401, path


async def test_passwords_over_72_bytes_are_refused_not_truncated(
    make_simulator, make_secure_exporter, http
):
    sim = await make_simulator(inverters=1)
    prefix = "p" * 72
    exporter = await make_secure_exporter(
        [target_for(sim)], web_config=auth_config({"prometheus": bcrypt_hash(prefix)})
    )
    async with http.get(exporter.url + "/metrics", headers=basic("prometheus", prefix)) as r:
        assert r.status == 200
    # bcrypt would see only the first 72 bytes and accept this; we do not.
    long = prefix + "-and-more"
    async with http.get(exporter.url + "/metrics", headers=basic("prometheus", long)) as r:
        assert r.status == 401
    # Multi-byte characters count in bytes: 24 x 3-byte characters = 72 bytes is fine.
    checker = BasicAuthChecker({"u": bcrypt_hash("€" * 24)})
    assert await checker.check("u", ("€" * 24).encode())
    assert not await checker.check("u", ("€" * 25).encode())


async def test_auth_cache_is_keyed_by_hmac_and_expires():
    now = [1000.0]
    checker = BasicAuthChecker({"u": bcrypt_hash(PASSWORD)}, ttl=60.0, clock=lambda: now[0])
    assert await checker.check("u", PASSWORD.encode())
    assert checker.bcrypt_checks == 1
    assert await checker.check("u", PASSWORD.encode())
    assert checker.bcrypt_checks == 1, "second check must come from the cache"
    for key in checker._cache:
        assert PASSWORD.encode() not in key and len(key) == 32
    # Failures are never cached: each one pays for bcrypt.
    assert not await checker.check("u", b"wrong")
    assert not await checker.check("u", b"wrong")
    assert checker.bcrypt_checks == 3
    now[0] += 61.0
    assert await checker.check("u", PASSWORD.encode())
    assert checker.bcrypt_checks == 4, "expired entry must be checked again"
    # A different checker (another process) cannot use these cache keys.
    other = BasicAuthChecker({"u": bcrypt_hash(PASSWORD)})
    assert other._cache_key(b"u", PASSWORD.encode()) != checker._cache_key(b"u", PASSWORD.encode())


async def test_unknown_user_and_long_password_cost_the_same_as_a_wrong_password(monkeypatch):
    """Timing-safe path: every failure runs exactly one bcrypt of the configured cost.

    Asserted on what runs (each ``checkpw`` call and the cost of its hash), not
    on a stopwatch: equal work is what makes the times equal, and a count
    cannot flake on a loaded machine.
    """
    checker = BasicAuthChecker({"prometheus": bcrypt_hash(PASSWORD, cost=8)})
    real_checkpw = bcrypt.checkpw
    costs: list[int] = []

    def counting_checkpw(password: bytes, hashed: bytes) -> bool:
        costs.append(int(hashed.split(b"$")[2]))
        return real_checkpw(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting_checkpw)
    failures = {
        "wrong": ("prometheus", b"wrong password"),
        "unknown": ("nobody", b"wrong password"),
        "too long": ("prometheus", b"x" * 100),
        "too long, right prefix": ("prometheus", PASSWORD.encode() + b"x" * 100),
    }
    for what, (user, password) in failures.items():
        costs.clear()
        assert not await checker.check(user, password), what
        assert costs == [8], (what, costs)
    assert checker.bcrypt_checks == len(failures)
    # The right password also costs one bcrypt (then comes from the cache).
    costs.clear()
    assert await checker.check("prometheus", PASSWORD.encode())
    assert costs == [8]


async def test_cached_basic_auth_keeps_metrics_fast(make_simulator, make_secure_exporter, http):
    """With a realistic cost (10), a cached credential skips bcrypt (timings printed)."""
    sim = await make_simulator(inverters=20)
    exporter = await make_secure_exporter(
        [target_for(sim)], web_config=auth_config({"prometheus": bcrypt_hash(PASSWORD, cost=10)})
    )
    checker = exporter.security.checker  # type: ignore[attr-defined]

    async def scrape_time() -> float:
        started = time.perf_counter()
        async with http.get(exporter.url + "/metrics", headers=basic("prometheus", PASSWORD)) as r:
            assert r.status == 200
            await r.read()
        return time.perf_counter() - started

    # Auth is on: without the credential there is nothing to scrape.
    for headers in ({}, basic("prometheus", "wrong")):
        async with http.get(exporter.url + "/metrics", headers=headers) as r:
            assert r.status == 401
    uncached = []
    for _ in range(3):
        checker._cache.clear()
        checks_before = checker.bcrypt_checks
        uncached.append(await scrape_time())
        assert checker.bcrypt_checks == checks_before + 1, "an uncached credential runs bcrypt"
    checks_before = checker.bcrypt_checks
    cached = [await scrape_time() for _ in range(10)]
    # The cache is what keeps scrapes fast: no bcrypt at all on a cached credential.
    assert checker.bcrypt_checks == checks_before
    ratio = statistics.median(uncached) / statistics.median(cached)
    print(
        f"\n/metrics with basic auth (bcrypt cost 10): uncached median "
        f"{statistics.median(uncached) * 1000:.1f} ms, cached median "
        f"{statistics.median(cached) * 1000:.1f} ms, ratio {ratio:.1f}x"
    )


async def test_concurrent_scrapes_with_bad_passwords_do_not_block_the_loop(
    make_simulator, make_secure_exporter, http, monkeypatch
):
    """bcrypt runs in threads: a healthy client is served while bad ones are checked.

    Every bcrypt is held on a gate the test opens only after the healthy
    request was answered: an exporter that ran bcrypt on its event loop could
    answer nothing meanwhile, whatever the machine's speed (no stopwatch).
    """
    sim = await make_simulator(inverters=1)
    exporter = await make_secure_exporter(
        [target_for(sim)], web_config=auth_config({"prometheus": bcrypt_hash(PASSWORD, cost=10)})
    )
    checker = exporter.security.checker  # type: ignore[attr-defined]
    async with http.get(exporter.url + "/-/healthy", headers=basic("prometheus", PASSWORD)) as r:
        assert r.status == 200  # now cached: the healthy client needs no bcrypt
    gate = threading.Event()
    held = threading.Event()
    real_checkpw = bcrypt.checkpw

    def gated_checkpw(password: bytes, hashed: bytes) -> bool:
        held.set()
        if not gate.wait(timeout=30):
            raise AssertionError("the test never opened the bcrypt gate")
        return real_checkpw(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", gated_checkpw)

    async def bad() -> int:
        async with http.get(exporter.url + "/metrics", headers=basic("x", "y")) as response:
            return response.status

    flood = [asyncio.create_task(bad()) for _ in range(6)]
    try:
        for _ in range(400):  # bounded: 20 s
            if held.is_set():
                break
            await asyncio.sleep(0.05)
        assert held.is_set(), "no bad password reached bcrypt"
        async with (
            asyncio.timeout(20),
            http.get(exporter.url + "/-/healthy", headers=basic("prometheus", PASSWORD)) as r,
        ):
            assert r.status == 200
        assert not all(task.done() for task in flood), "the bad ones were not still waiting"
    finally:
        gate.set()
    statuses = await asyncio.gather(*flood)
    # One client gets a bounded share of the bcrypt worker; the rest is shed (429).
    assert 401 in statuses and set(statuses) <= {401, 429}
    assert checker.bcrypt_checks == 1 + statuses.count(401)


def test_web_config_from_the_config_file_is_validated(tmp_path, capsys):
    web = write(tmp_path, "basic_auth_users:\n  p: plain\n", "web.yml")
    config = write(
        tmp_path,
        f"web_config_file: {web}\nweb_health_without_auth: true\n"
        "targets:\n  - name: a\n    host: 127.0.0.1\n",
        "config.yml",
    )
    assert serve.main(["--config", config, "--check-config"]) == 2
    err = capsys.readouterr().err
    assert "basic_auth_users.p" in err and err.count("\n") == 1
    bad = write(
        tmp_path,
        "web_health_without_auth: maybe\ntargets:\n  - name: a\n    host: 127.0.0.1\n",
        "bad.yml",
    )
    assert serve.main(["--config", bad, "--check-config"]) == 2
    assert "web_health_without_auth: expected true or false" in capsys.readouterr().err


def test_cli_flags_and_config_keys_reach_the_exporter_config(tmp_path):
    args = serve.build_parser().parse_args(
        ["--demo", "--web.config.file", "w.yml", "--web.health-without-auth"]
    )
    config = serve.config_from_args(args)
    assert config.web_config_file == "w.yml"
    assert config.web_health_without_auth is True
    path = write(
        tmp_path,
        "web_config_file: w.yml\ntargets:\n  - name: a\n    host: 127.0.0.1\n",
        "config.yml",
    )
    args = serve.build_parser().parse_args(["--config", path])
    config = serve.config_from_args(args)
    # In a config file, relative paths are relative to the file (flags: to the cwd).
    assert config.web_config_file == str(tmp_path / "w.yml")
    assert config.web_health_without_auth is False


def test_security_summary_for_the_startup_log(tmp_path, tls_files):
    from sunpower_pvs_exporter.web.security import build_security

    assert build_security(None).summary == "plain HTTP, no authentication"
    config = load_web_config(
        write(tmp_path, tls_config(tls_files) + f"basic_auth_users:\n  p: '{bcrypt_hash('x')}'\n")
    )
    summary = build_security(config, health_without_auth=True).summary
    assert summary == (
        "TLS (min TLS12, client certificates: NoClientCert), "
        "basic auth (1 user, health endpoints open)"
    )


def test_the_ssl_context_is_built_once_and_served(tmp_path, tls_files, monkeypatch):
    """Reading the file builds the context (so a bad certificate fails the start);
    the server then listens with that very context, not a second one."""
    from sunpower_pvs_exporter.web import security, tls

    built: list[ssl.SSLContext] = []
    real_build = tls.build_ssl_context

    def counting_build(config):
        built.append(real_build(config))
        return built[-1]

    # security imports it from tls when a web config is read (not at start).
    monkeypatch.setattr(tls, "build_ssl_context", counting_build)
    config = load_web_config(write(tmp_path, tls_config(tls_files)))
    served = security.build_security(config)
    assert len(built) == 1
    assert served.ssl_context is built[0]
