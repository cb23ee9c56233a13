"""The server's TLS, from the ``tls_server_config`` of a web config file.

The context is built once, when the web config is read (so a certificate
that does not load stops the start with a clear error), and that same
context is what the server listens with.

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
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from sunpower_pvs_exporter.config_values import (
    check_keys,
    choice,
    error,
    flag,
    mapping,
    readable_file,
)

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


def parse_tls(raw: object, base_dir: str) -> TlsServerConfig | None:
    """``tls_server_config``; files are relative to ``base_dir`` (the web config's)."""
    doc = mapping(raw, "tls_server_config")
    if not doc:
        return None
    check_keys(doc, TLS_KEYS, "tls_server_config.")
    for key, reason in TLS_UNSUPPORTED.items():
        if key in doc:
            raise error(f"tls_server_config.{key}", reason)
    for required in ("cert_file", "key_file"):
        if required not in doc:
            raise error(f"tls_server_config.{required}", "missing (required for TLS)")
    key_prefix = "tls_server_config."
    auth = choice(
        doc.get("client_auth_type") or "NoClientCert",
        key_prefix + "client_auth_type",
        CLIENT_AUTH_TYPES,
    )
    if auth == "RequireAnyClientCert":
        raise error(
            key_prefix + "client_auth_type",
            "RequireAnyClientCert (require but do not verify) is not possible with "
            "Python's ssl; use RequireAndVerifyClientCert with client_ca_file",
        )
    ca_file = (
        readable_file(doc["client_ca_file"], key_prefix + "client_ca_file", base_dir)
        if doc.get("client_ca_file") is not None
        else None
    )
    verifying = auth in ("VerifyClientCertIfGiven", "RequireAndVerifyClientCert")
    if verifying and ca_file is None:
        raise error(key_prefix + "client_ca_file", f"required with client_auth_type {auth}")
    if ca_file is not None and not verifying:
        raise error(
            key_prefix + "client_ca_file",
            f"given, but client_auth_type is {auth}: set VerifyClientCertIfGiven or "
            "RequireAndVerifyClientCert",
        )
    versions: dict[str, str | None] = {}
    for key, default in (("min_version", "TLS12"), ("max_version", None)):
        value = doc.get(key, default)
        if value is not None and value not in TLS_VERSIONS:
            raise error(
                key_prefix + key, f"must be one of {', '.join(TLS_VERSIONS)}; got {value!r}"
            )
        versions[key] = value
    low, high = versions["min_version"] or "TLS12", versions["max_version"]
    if high is not None and TLS_VERSIONS[high] < TLS_VERSIONS[low]:
        raise error(key_prefix + "max_version", f"{high} is below min_version {low}")
    raw_suites = doc.get("cipher_suites") or []
    if not isinstance(raw_suites, list) or not all(isinstance(s, str) for s in raw_suites):
        raise error(key_prefix + "cipher_suites", "expected a list of cipher suite names")
    for suite in raw_suites:
        if suite not in GO_TO_OPENSSL_CIPHERS and suite not in TLS13_SUITES:
            raise error(
                key_prefix + "cipher_suites",
                f"unknown cipher suite {suite!r} (use Go names such as "
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)",
            )
    prefer = flag(
        doc.get("prefer_server_cipher_suites", True), key_prefix + "prefer_server_cipher_suites"
    )
    return TlsServerConfig(
        cert_file=readable_file(doc["cert_file"], key_prefix + "cert_file", base_dir),
        key_file=readable_file(doc["key_file"], key_prefix + "key_file", base_dir),
        client_auth_type=auth,
        client_ca_file=ca_file,
        min_version=low,
        max_version=high,
        cipher_suites=tuple(raw_suites),
        prefer_server_cipher_suites=prefer,
    )


def _ssl_reason(exc: ssl.SSLError) -> str:
    return str(exc.reason or exc.strerror or exc).lower().replace("_", " ")


def build_ssl_context(tls: TlsServerConfig) -> ssl.SSLContext:
    """The server's one SSL context; a certificate that does not load is a ``ConfigError``."""
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
        raise error(
            "tls_server_config.key_file",
            f"cannot load certificate and key ({_ssl_reason(exc)}); "
            "are they PEM files that belong together?",
        ) from None
    except OSError as exc:
        raise error("tls_server_config.cert_file", f"cannot read: {exc.strerror}") from None
    if tls.client_auth_type in ("VerifyClientCertIfGiven", "RequireAndVerifyClientCert"):
        try:
            context.load_verify_locations(cafile=tls.client_ca_file)
        except (ssl.SSLError, OSError) as exc:
            reason = _ssl_reason(exc) if isinstance(exc, ssl.SSLError) else exc.strerror
            raise error("tls_server_config.client_ca_file", f"cannot load CA ({reason})") from None
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
            raise error(
                "tls_server_config.cipher_suites",
                f"none of {', '.join(tls.cipher_suites)} is available in {ssl.OPENSSL_VERSION}",
            ) from None
        available = {c["name"] for c in context.get_ciphers()}
        for go_name in tls.cipher_suites:
            name = GO_TO_OPENSSL_CIPHERS.get(go_name)
            if name is not None and name not in available:
                raise error(
                    "tls_server_config.cipher_suites",
                    f"{go_name} ({name}) is not available in {ssl.OPENSSL_VERSION}",
                )
    if tls.prefer_server_cipher_suites:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    return context
