"""A gzip body made of pieces compressed earlier, around a few bytes that change.

Between two polls a target's ``/probe`` answer changes in one place only, the
snapshot-age sample. Compressing the whole answer on every scrape was a
large part of a scrape's CPU (benchmarks/RESULTS.md, "Probe cost"); here the
text before and after that place is compressed once, each piece ending on a
byte boundary (``Z_SYNC_FLUSH``), and each scrape adds only the changing
bytes as a stored (uncompressed) deflate block between them. The result is
one ordinary gzip member: any gzip reader gets the same text as from
compressing it whole.

The trailer's CRC-32 of the whole text is combined from the pieces' CRCs
(zlib's ``crc32_combine``, which Python's ``zlib`` lacks), so a scrape never
reads the large piece again.
"""

from __future__ import annotations

import dataclasses
import struct
import zlib

# RFC 1952: magic, deflate, no flags, no modification time, "fastest"
# compression (XFL 4, as level 1 writes), unknown OS.
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x04\xff"
LEVEL = 1  # as ``web/exposition.gzip_if_accepted``
# A stored deflate block holds at most this many bytes.
STORED_MAX = 0xFFFF
_POLY = 0xEDB88320  # CRC-32, reflected


def _multiply(a: int, b: int) -> int:
    """a(x) * b(x) modulo the CRC-32 polynomial (reflected bit order)."""
    m = 1 << 31
    p = 0
    while True:
        if a & m:
            p ^= b
            if a & (m - 1) == 0:
                return p
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1


def _powers() -> list[int]:
    """x^(2^k) modulo the polynomial, for k = 0..31."""
    table = [1 << 30]  # x^1
    for _ in range(31):
        table.append(_multiply(table[-1], table[-1]))
    return table


_X2N = _powers()


def crc_shift(length: int) -> int:
    """The operator that moves a CRC over ``length`` bytes: x^(8 * length)."""
    p = 1 << 31  # x^0
    k = 3  # 8 bits a byte: x^(length * 2^3)
    while length:
        if length & 1:
            p = _multiply(_X2N[k & 31], p)
        length >>= 1
        k += 1
    return p


def crc_combine(crc1: int, crc2: int, shift2: int) -> int:
    """CRC-32 of ``a + b`` from ``crc32(a)``, ``crc32(b)`` and ``crc_shift(len(b))``."""
    return _multiply(shift2, crc1) ^ crc2


def deflate(data: bytes, *, final: bool) -> bytes:
    """Raw deflate of ``data`` alone, ending byte-aligned (``final``: the last block)."""
    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(
        zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH
    )


def stored(data: bytes) -> bytes:
    """``data`` as stored deflate blocks (not the last), starting byte-aligned."""
    out = []
    for start in range(0, len(data), STORED_MAX):
        chunk = data[start : start + STORED_MAX]
        out.append(b"\x00" + struct.pack("<HH", len(chunk), len(chunk) ^ 0xFFFF) + chunk)
    return b"".join(out)


@dataclasses.dataclass(frozen=True, slots=True)
class Spliced:
    """``head + middle + tail`` as gzip, with ``head`` and ``tail`` compressed once."""

    head_deflated: bytes
    head_crc: int
    head_size: int
    tail_deflated: bytes
    tail_crc: int
    tail_size: int
    tail_shift: int

    @classmethod
    def of(cls, head: bytes, tail: bytes) -> Spliced:
        return cls(
            deflate(head, final=False),
            zlib.crc32(head),
            len(head),
            deflate(tail, final=True),
            zlib.crc32(tail),
            len(tail),
            crc_shift(len(tail)),
        )

    def gzip(self, middle: bytes) -> bytes:
        """The gzip member of ``head + middle + tail``."""
        crc = crc_combine(zlib.crc32(middle, self.head_crc), self.tail_crc, self.tail_shift)
        size = (self.head_size + len(middle) + self.tail_size) & 0xFFFFFFFF
        return b"".join(
            (
                GZIP_HEADER,
                self.head_deflated,
                stored(middle),
                self.tail_deflated,
                struct.pack("<II", crc, size),
            )
        )
