"""The simulator's certificate, made in Python: no ``openssl`` command on PATH needed."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sunpower_pvs_exporter.pvs.errors import PvsConnectionError
from sunpower_pvs_exporter.simulator import certificate, server
from support import read_once, target_for


def test_signature_verifies_and_a_changed_message_does_not():
    private = 0x1234567890ABCDEF
    public = certificate.multiply(private)
    assert certificate.on_curve(public)
    signature = certificate.sign(private, b"tbs")
    assert certificate.verify(public, b"tbs", signature)
    assert not certificate.verify(public, b"tbt", signature)
    assert not certificate.verify(certificate.multiply(private + 1), b"tbs", signature)


def test_the_curve_order_times_the_generator_is_the_identity():
    """Wrong curve constants would pass a sign/verify round trip but not this."""
    assert certificate.multiply(certificate._N) is None
    assert certificate.on_curve(certificate.multiply(certificate._N - 1))


def test_certificate_is_what_the_ssl_module_reads():
    now = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    cert_pem, key_pem = certificate.make_certificate(now)
    context = ssl.create_default_context(cadata=cert_pem)
    (decoded,) = context.get_ca_certs()
    assert decoded["subject"] == ((("commonName", "pvs-simulator"),),)
    assert decoded["notBefore"] == "May  6 07:03:09 2031 GMT"
    assert decoded["notAfter"] == "Jun  5 07:08:09 2031 GMT"
    assert decoded["subjectAltName"] == (
        ("IP Address", "127.0.0.1"),
        ("IP Address", "0:0:0:0:0:0:0:1"),
        ("DNS", "localhost"),
    )
    assert "BEGIN EC PRIVATE KEY" in key_pem


def test_dates_from_2050_are_generalized_time():
    cert_pem, _key = certificate.make_certificate(datetime(2060, 1, 2, tzinfo=UTC))
    (decoded,) = ssl.create_default_context(cadata=cert_pem).get_ca_certs()
    assert decoded["notAfter"] == "Feb  1 00:00:00 2060 GMT"


async def test_simulator_serves_https_without_openssl_on_path(
    make_simulator, tmp_path: Path, monkeypatch
):
    monkeypatch.setenv("PATH", str(tmp_path))  # no openssl (nor anything else)
    monkeypatch.setattr(server, "_CERT_DIR", None)
    sim = await make_simulator(api="legacy", tls=True, inverters=2)
    cert, key = server.self_signed_certificate()
    assert key.stat().st_mode & 0o777 == 0o600
    # The client verifies against the certificate itself: the key is the one served.
    trusted = target_for(sim, port=sim.tls_port, use_tls=True, tls_ca_file=str(cert))
    assert len((await read_once(trusted)).inverters) == 2
    other_pem, _ = certificate.make_certificate()
    other = tmp_path / "other.pem"
    other.write_text(other_pem)
    untrusted = target_for(sim, port=sim.tls_port, use_tls=True, tls_ca_file=str(other))
    with pytest.raises(PvsConnectionError):
        await read_once(untrusted)
