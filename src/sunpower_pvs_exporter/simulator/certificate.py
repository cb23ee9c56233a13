"""The simulator's self-signed certificate, made in Python: no ``openssl`` command needed.

The varserver side of the simulator is HTTPS only, as a real PVS is. Making
its certificate with the ``openssl`` command left ``--demo-api varserver``,
``check --demo`` and a varserver ``--replay`` failing on a machine (or a
slim container) without it, and the runtime dependencies hold no crypto
package. An ECDSA P-256 certificate needs only big-integer arithmetic, a
hash and DER, all in the standard library, and takes a few milliseconds.

The key protects nothing: a throwaway certificate for a simulator on a
loopback address, which the exporter accepts as it accepts the PVS's own
self-signed one. It is still made properly (a random nonce per signature, a
fresh key per process), so ``--tls-ca-file`` with this certificate verifies.
Shaped as ``openssl req -x509`` shapes one (CA:TRUE, key identifiers,
subjectAltName for 127.0.0.1, ::1 and localhost).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import secrets
from datetime import UTC, datetime, timedelta


class CertificateError(RuntimeError):
    """No way to make the simulator's self-signed certificate on this machine."""


# NIST P-256 (secp256r1), SEC 2 section 2.4.2.
_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
_A = _P - 3
_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_G = (
    0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
)

Point = tuple[int, int] | None  # None: the point at infinity

OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
OID_PRIME256V1 = "1.2.840.10045.3.1.7"
OID_ECDSA_SHA256 = "1.2.840.10045.4.3.2"
OID_COMMON_NAME = "2.5.4.3"
OID_SUBJECT_KEY_ID = "2.5.29.14"
OID_SUBJECT_ALT_NAME = "2.5.29.17"
OID_BASIC_CONSTRAINTS = "2.5.29.19"
OID_AUTHORITY_KEY_ID = "2.5.29.35"

COMMON_NAME = "pvs-simulator"
ADDRESSES = ("127.0.0.1", "::1")
DNS_NAMES = ("localhost",)
VALID_DAYS = 30
# notBefore a little in the past: a client clock slightly behind still accepts it.
BACKDATE = timedelta(minutes=5)


def on_curve(point: Point) -> bool:
    if point is None:
        return True
    x, y = point
    return (y * y - (x * x * x + _A * x + _B)) % _P == 0


def _add(first: Point, second: Point) -> Point:
    if first is None:
        return second
    if second is None:
        return first
    (x1, y1), (x2, y2) = first, second
    if x1 == x2:
        if (y1 + y2) % _P == 0:
            return None
        slope = (3 * x1 * x1 + _A) * pow(2 * y1, -1, _P) % _P
    else:
        slope = (y2 - y1) * pow(x2 - x1, -1, _P) % _P
    x3 = (slope * slope - x1 - x2) % _P
    return x3, (slope * (x1 - x3) - y1) % _P


def multiply(scalar: int, point: Point = _G) -> Point:
    """``scalar`` times ``point`` (double and add; timing does not matter here)."""
    result: Point = None
    addend = point
    while scalar:
        if scalar & 1:
            result = _add(result, addend)
        addend = _add(addend, addend)
        scalar >>= 1
    return result


def sign(private: int, message: bytes) -> tuple[int, int]:
    """ECDSA over SHA-256 with a fresh random nonce (FIPS 186-4 section 6.4)."""
    digest = int.from_bytes(hashlib.sha256(message).digest(), "big")
    while True:
        nonce = secrets.randbelow(_N - 1) + 1
        point = multiply(nonce)
        assert point is not None  # a nonce below the order is never the identity
        r = point[0] % _N
        s = pow(nonce, -1, _N) * (digest + r * private) % _N
        if r and s:
            return r, s


def verify(public: Point, message: bytes, signature: tuple[int, int]) -> bool:
    """ECDSA verification, for tests of ``sign``."""
    r, s = signature
    if not (0 < r < _N and 0 < s < _N) or public is None or not on_curve(public):
        return False
    digest = int.from_bytes(hashlib.sha256(message).digest(), "big")
    inverse = pow(s, -1, _N)
    point = _add(multiply(digest * inverse % _N), multiply(r * inverse % _N, public))
    return point is not None and point[0] % _N == r


# --- DER (X.690), only the parts a certificate needs --------------------------------


def _tlv(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        length = bytes([size])
    else:
        octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(octets)]) + octets
    return bytes([tag]) + length + content


def _sequence(*items: bytes) -> bytes:
    return _tlv(0x30, b"".join(items))


def _integer(value: int) -> bytes:
    # Two's complement: a leading zero byte keeps a set top bit from meaning negative.
    return _tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _oid(dotted: str) -> bytes:
    first, second, *rest = (int(part) for part in dotted.split("."))
    body = bytearray([40 * first + second])
    for arc in rest:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return _tlv(0x06, bytes(body))


def _bit_string(data: bytes) -> bytes:
    return _tlv(0x03, b"\x00" + data)


def _octet_string(data: bytes) -> bytes:
    return _tlv(0x04, data)


def _time(moment: datetime) -> bytes:
    # RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
    if moment.year < 2050:
        return _tlv(0x17, moment.strftime("%y%m%d%H%M%SZ").encode())
    return _tlv(0x18, moment.strftime("%Y%m%d%H%M%SZ").encode())


def _name(common_name: str) -> bytes:
    attribute = _sequence(_oid(OID_COMMON_NAME), _tlv(0x0C, common_name.encode()))
    return _sequence(_tlv(0x31, attribute))


def _extension(oid: str, value: bytes, *, critical: bool = False) -> bytes:
    flag = _tlv(0x01, b"\xff") if critical else b""
    return _sequence(_oid(oid), flag, _octet_string(value))


def _point_bytes(point: Point) -> bytes:
    assert point is not None
    return b"\x04" + point[0].to_bytes(32, "big") + point[1].to_bytes(32, "big")


def _pem(label: str, der: bytes) -> str:
    text = base64.b64encode(der).decode()
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


def make_certificate(now: datetime | None = None) -> tuple[str, str]:
    """(certificate PEM, private key PEM) for the simulator, valid from ``now``."""
    start = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0) - BACKDATE
    private = secrets.randbelow(_N - 1) + 1
    public = _point_bytes(multiply(private))
    key_id = hashlib.sha1(public, usedforsecurity=False).digest()
    algorithm = _sequence(_oid(OID_ECDSA_SHA256))
    names = b"".join(_tlv(0x87, ipaddress.ip_address(a).packed) for a in ADDRESSES) + b"".join(
        _tlv(0x82, name.encode()) for name in DNS_NAMES
    )
    extensions = _sequence(
        _extension(OID_SUBJECT_KEY_ID, _octet_string(key_id)),
        _extension(OID_AUTHORITY_KEY_ID, _sequence(_tlv(0x80, key_id))),
        _extension(OID_BASIC_CONSTRAINTS, _sequence(_tlv(0x01, b"\xff")), critical=True),
        _extension(OID_SUBJECT_ALT_NAME, _sequence(names)),
    )
    tbs = _sequence(
        _tlv(0xA0, _integer(2)),  # X.509 v3
        _integer(secrets.randbits(127) | 1 << 126),  # positive, 16 bytes
        algorithm,
        _name(COMMON_NAME),
        _sequence(_time(start), _time(start + timedelta(days=VALID_DAYS) + BACKDATE)),
        _name(COMMON_NAME),
        _sequence(_sequence(_oid(OID_EC_PUBLIC_KEY), _oid(OID_PRIME256V1)), _bit_string(public)),
        _tlv(0xA3, extensions),
    )
    r, s = sign(private, tbs)
    certificate = _sequence(tbs, algorithm, _bit_string(_sequence(_integer(r), _integer(s))))
    key = _sequence(  # SEC 1 ECPrivateKey
        _integer(1),
        _octet_string(private.to_bytes(32, "big")),
        _tlv(0xA0, _oid(OID_PRIME256V1)),
        _tlv(0xA1, _bit_string(public)),
    )
    return _pem("CERTIFICATE", certificate), _pem("EC PRIVATE KEY", key)
