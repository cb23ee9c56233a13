"""web/gzip_splice.py: pieces compressed once, spliced around changing bytes,
must be one gzip member that every reader decompresses to the whole text."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import zlib

import pytest

from sunpower_pvs_exporter.web.gzip_splice import Spliced, crc_combine, crc_shift

HEAD = b"# HELP sunpower_pvs_up Whether the PVS answered.\n" * 40 + b'age{target="a"} '
TAIL = b"\n" + b'sunpower_pvs_inverter_ac_power_watts{serial="E0012"} 251.5\n' * 900


@pytest.mark.parametrize("length", [0, 1, 7, 4096, 65535, 65536, 200_001])
def test_combined_crc_is_the_crc_of_the_concatenation(length: int):
    first, second = os.urandom(33), os.urandom(length)
    combined = crc_combine(zlib.crc32(first), zlib.crc32(second), crc_shift(len(second)))
    assert combined == zlib.crc32(first + second)


@pytest.mark.parametrize("middle", [b"", b"12.5", b"0.001953125", b"x" * 70_000])
def test_a_spliced_body_decompresses_to_the_whole_text(middle: bytes):
    spliced = Spliced.of(HEAD, TAIL)
    body = spliced.gzip(middle)
    assert body[:2] == b"\x1f\x8b"
    assert gzip.decompress(body) == HEAD + middle + TAIL
    # A strict single-member reader: no trailing garbage, the trailer checked.
    reader = zlib.decompressobj(wbits=31)
    assert reader.decompress(body) == HEAD + middle + TAIL
    assert reader.eof and reader.unused_data == b""


def test_the_gzip_tool_reads_a_spliced_body():
    tool = shutil.which("gzip")
    assert tool is not None, "the gzip tool (Debian's gzip package) is needed"
    body = Spliced.of(HEAD, TAIL).gzip(b"3.25")
    result = subprocess.run([tool, "-dc"], input=body, capture_output=True, check=True)
    assert result.stdout == HEAD + b"3.25" + TAIL


def test_a_spliced_body_is_about_as_small_as_compressing_it_whole():
    whole = gzip.compress(HEAD + b"3.25" + TAIL, compresslevel=1)
    assert len(Spliced.of(HEAD, TAIL).gzip(b"3.25")) <= len(whole) + 64
