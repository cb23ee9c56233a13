"""Replace what identifies a site in a capture, keeping everything a parser looks at.

A capture is meant to be attached to a public issue, so serial numbers, MAC
addresses, Wi-Fi names (SSIDs), host names, IP addresses and session tokens
are replaced. The replacement is

* **consistent**: one original always gets the same stand-in within a
  capture, so a serial that appears in ``SERIAL``, in a ``DESCR`` and in
  the ESS report still ties those together;
* **format-keeping**: the stand-in has the same length and the same kind of
  character at every position (digit for digit, upper-case for upper-case,
  a hex letter for a hex letter; separators kept), and a serial keeps its leading
  letters (``ZT``, ``PVS6M``, ``E``) and a meter serial its trailing ``p``/``c``,
  so the exporter parses a capture exactly as it parsed the original;
* **keyed per capture**: stand-ins come from a random key that is never
  written, so they cannot be reversed by hashing candidate serials.

Which values are identifiers is decided from the field they sit in
(``SERIAL``, ``sn``, ``MOD_SN``, ``ssid``, ``ipaddr``, …) and, for MAC and IPv4
addresses, from their shape wherever they appear. Every string of the capture
then has every known original replaced (longest first), so an identifier
also disappears from descriptions, paths and headers.

Pure: no I/O. ``docs/troubleshooting.md`` lists what is kept and what is replaced.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Iterable
from typing import Any, Literal

Kind = Literal["serial", "mac", "ssid", "host", "ip", "session"]

# Field names (the last path segment for varserver names), lower-cased.
SERIAL_FIELDS = frozenset(
    {
        "serial",
        "sn",
        "serialnum",
        "serial_number",
        "serialnumber",
        "mod_sn",
        "module_serial",
        "module_sn",
        "hub_serial",
    }
)
SSID_FIELDS = frozenset({"ssid", "essid", "wifi_ssid"})
MAC_FIELDS = frozenset({"mac", "lmac", "wmac", "mac_address", "macaddr", "hwaddr"})
IP_FIELDS = frozenset({"ipaddr", "ip", "ip_address", "gateway", "dns", "ipv4"})
HOST_FIELDS = frozenset({"hostname", "host", "fqdn"})
SESSION_FIELDS = frozenset({"session", "token", "sessionid"})

MAC_RE = re.compile(r"(?<![0-9A-Fa-f:-])(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}(?![0-9A-Fa-f:-])")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
IPV4_RE = re.compile(rf"(?<![\d.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\d.])")
SET_COOKIE_RE = re.compile(r"(?i)\b(session)=([^;\s]+)")
# Shorter originals are replaced only where a whole string equals them: as a
# substring they would hit unrelated text.
MIN_SUBSTRING_LENGTH = 4
HEX_UPPER = "0123456789ABCDEF"


def field_kind(key: str) -> Kind | None:
    """What an identifier held in a field called ``key`` is, if it is one."""
    name = key.rsplit("/", 1)[-1].lower()
    if name in SERIAL_FIELDS:
        return "serial"
    if name in SSID_FIELDS:
        return "ssid"
    if name in MAC_FIELDS:
        return "mac"
    if name in IP_FIELDS:
        return "ip"
    if name in HOST_FIELDS:
        return "host"
    if name in SESSION_FIELDS:
        return "session"
    return None


class Anonymiser:
    """Learns identifiers, then rewrites strings with their stand-ins."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key if key is not None else secrets.token_bytes(32)
        self.stand_ins: dict[str, str] = {}
        self.kinds: dict[str, Kind] = {}
        self._pattern: re.Pattern[str] | None = None

    # --- learning ------------------------------------------------------------

    def learn(self, value: str, kind: Kind) -> None:
        value = value.strip()
        if not value or value in self.stand_ins:
            return
        if kind == "ip" and not IPV4_RE.fullmatch(value):
            kind = "host"  # an ``ipaddr`` holding a name, or an IPv6 address
        taken = set(self.stand_ins.values()) | set(self.stand_ins)
        for attempt in range(100):
            stand_in = self._stand_in(value, kind, attempt)
            if stand_in != value and stand_in not in taken:
                break
        else:  # pragma: no cover - 100 collisions in a row do not happen
            raise ValueError("cannot find a distinct stand-in")
        self.stand_ins[value] = stand_in
        self.kinds[value] = kind
        self._pattern = None

    def learn_text(self, text: str) -> None:
        """MAC and IPv4 addresses anywhere, and ``session=`` cookies."""
        for match in MAC_RE.finditer(text):
            self.learn(match.group(0), "mac")
        for match in IPV4_RE.finditer(text):
            self.learn(match.group(0), "ip")
        for match in SET_COOKIE_RE.finditer(text):
            self.learn(match.group(2), "session")

    def learn_json(self, doc: Any) -> None:
        """Identifiers by the field they are in, and address-shaped strings anywhere."""
        if isinstance(doc, dict):
            for key, value in doc.items():
                if isinstance(key, str):
                    self.learn_text(key)
                    kind = field_kind(key)
                    if (
                        kind is not None
                        and isinstance(value, str | int)
                        and not isinstance(value, bool)
                        and value != ""
                    ):
                        self.learn(str(value), kind)
                self.learn_json(value)
        elif isinstance(doc, list):
            for item in doc:
                self.learn_json(item)
        elif isinstance(doc, str):
            self.learn_text(doc)

    # --- applying ------------------------------------------------------------

    def text(self, value: str) -> str:
        """``value`` with every known identifier replaced by its stand-in."""
        if not self.stand_ins:
            return value
        whole = self.stand_ins.get(value.strip())
        if whole is not None:
            return value.replace(value.strip(), whole)
        pattern = self._substring_pattern()
        if pattern is None:
            return value
        return pattern.sub(lambda m: self.stand_ins[m.group(0)], value)

    def json(self, doc: Any) -> Any:
        """A copy of ``doc`` with keys and string values rewritten.

        An identifier stored as a JSON number (some firmware writes serials
        that way) stays a number: its stand-in is all digits as well.
        """
        if isinstance(doc, dict):
            return {
                (self.text(k) if isinstance(k, str) else k): self.json(v) for k, v in doc.items()
            }
        if isinstance(doc, list):
            return [self.json(item) for item in doc]
        if isinstance(doc, str):
            return self.text(doc)
        if isinstance(doc, int) and not isinstance(doc, bool) and str(doc) in self.stand_ins:
            return int(self.stand_ins[str(doc)])
        return doc

    def counts(self) -> dict[str, int]:
        """How many distinct originals of each kind were replaced."""
        out: dict[str, int] = {}
        for kind in self.kinds.values():
            out[kind] = out.get(kind, 0) + 1
        return dict(sorted(out.items()))

    def _substring_pattern(self) -> re.Pattern[str] | None:
        if self._pattern is None:
            originals = sorted(
                (o for o in self.stand_ins if len(o) >= MIN_SUBSTRING_LENGTH),
                key=lambda o: (-len(o), o),
            )
            if not originals:
                return None
            self._pattern = re.compile("|".join(re.escape(o) for o in originals))
        return self._pattern

    # --- making stand-ins -------------------------------------------------------

    def _stream(self, value: str, kind: Kind, attempt: int) -> Iterable[int]:
        counter = 0
        while True:
            digest = hmac.new(
                self._key, f"{kind}\0{attempt}\0{counter}\0{value}".encode(), hashlib.sha256
            ).digest()
            yield from digest
            counter += 1

    def _stand_in(self, value: str, kind: Kind, attempt: int) -> str:
        stream = iter(self._stream(value, kind, attempt))
        if kind == "ip":
            return ".".join(_octet_like(part, stream) for part in value.split("."))
        keep_head = keep_tail = 0
        if kind == "serial":
            keep_head = len(value) - len(value.lstrip(string.ascii_letters))
            if keep_head == len(value):
                keep_head = 0  # all letters: nothing would change
            if len(value) > 1 and value[-1].islower() and not value[:-1].islower():
                keep_tail = 1  # meter serials end in p (production) / c (consumption)
        elif kind == "mac":
            keep_head = 8  # the vendor prefix (OUI): SunPower's, not the site's
        middle = value[keep_head : len(value) - keep_tail]
        hexlike = kind in ("mac", "session") or all(
            c in HEX_UPPER or not c.isalnum() for c in middle
        )
        chars = []
        for index, char in enumerate(value):
            if index < keep_head or index >= len(value) - keep_tail:
                chars.append(char)
            else:
                chars.append(_like(char, next(stream), hexlike))
        return "".join(chars)


def _like(char: str, byte: int, hexlike: bool) -> str:
    """A character of the same class as ``char``, chosen by ``byte``."""
    if char.isdigit() and char.isascii():
        return string.digits[byte % 10]
    if hexlike and char in "ABCDEF":
        return "ABCDEF"[byte % 6]
    if hexlike and char in "abcdef":
        return "abcdef"[byte % 6]
    if char.isascii() and char.isupper():
        return string.ascii_uppercase[byte % 26]
    if char.isascii() and char.islower():
        return string.ascii_lowercase[byte % 26]
    if char.isalpha():
        return string.ascii_lowercase[byte % 26]
    return char


def _octet_like(part: str, stream: Iterable[int]) -> str:
    """An octet with as many digits as ``part`` (so the text keeps its length)."""
    it = iter(stream)
    byte = next(it) | (next(it) << 8)
    if len(part) == 1:
        return str(1 + byte % 9)
    if len(part) == 2:
        return str(10 + byte % 90)
    return str(100 + byte % 156)
