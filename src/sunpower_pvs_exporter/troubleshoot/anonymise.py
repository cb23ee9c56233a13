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

**Private values** are not identifiers but must not be shown at all: every
``/sys/info/`` variable outside ``pvs.privacy.SHAREABLE_INFO_VARIABLES`` (the
hotspot's Wi-Fi key ``wpa_key``, ``finance_type``, whatever a new firmware
adds) and any variable or field whose name says it holds a key, password or
token. Their values become ``private-1``, ``private-2`` … (a stand-in that
keeps neither length nor characters), where they sit and, from 4 characters
on, wherever else they appear. Found in JSON bodies (both ``/vars`` shapes)
and in bodies that are not valid JSON (an unescaped quote in a value).

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

from sunpower_pvs_exporter.pvs.privacy import is_private_variable

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
# A "name": "value" pair (fmt=obj) or a {"name": …, "value": …} entry in text
# that is not valid JSON; the value may hold an unescaped quote, so it ends
# at the quote that is followed by "," or "}" or the end of a line.
PAIR_IN_TEXT_RE = re.compile(
    r'"(?P<name>[^"\n]+)"\s*:\s*"(?P<value>[^\n]*?)"(?=\s*(?:[,}]|$))', re.MULTILINE
)
# ``set=/name=value`` in a /vars query or POST body (tuples separated by ",").
SET_IN_QUERY_RE = re.compile(r"(?P<name>/[\w/.-]+)=(?P<value>[^&,\s]+)")
ENTRY_IN_TEXT_RE = re.compile(
    r'"name"\s*:\s*"(?P<name>[^"\n]+)"\s*,\s*"value"\s*:\s*"(?P<value>[^\n]*?)"'
    r"(?=\s*(?:[,}]|$))",
    re.MULTILINE,
)
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
        # Private values (any length) -> "private-N"; those of 4 characters
        # or more are in ``stand_ins`` too, to be replaced wherever they are.
        self.private: dict[str, str] = {}
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

    def learn_private(self, value: str) -> None:
        """A value never to be shown (a Wi-Fi key, a finance type), whatever its shape."""
        if not value or value in self.private:
            return
        stand_in = f"private-{len(self.private) + 1}"
        self.private[value] = stand_in
        if len(value.strip()) >= MIN_SUBSTRING_LENGTH and value not in self.stand_ins:
            self.stand_ins[value] = stand_in
            self._pattern = None

    def learn_text(self, text: str) -> None:
        """MAC and IPv4 addresses anywhere, ``session=`` cookies, and private
        values: ``"name": "value"`` pairs in text that is not valid JSON, and
        ``/name=value`` (a ``set=``) in a request's query or body."""
        for match in MAC_RE.finditer(text):
            self.learn(match.group(0), "mac")
        for match in IPV4_RE.finditer(text):
            self.learn(match.group(0), "ip")
        for match in SET_COOKIE_RE.finditer(text):
            self.learn(match.group(2), "session")
        regexes = (PAIR_IN_TEXT_RE, ENTRY_IN_TEXT_RE) if '"' in text else ()
        for regex in (*regexes, SET_IN_QUERY_RE):
            for match in regex.finditer(text):
                if is_private_variable(match["name"]):
                    self.learn_private(match["value"])

    def _learn_field(self, key: str, value: Any) -> None:
        self.learn_text(key)
        if not isinstance(value, str | int) or isinstance(value, bool) or value == "":
            return
        kind = field_kind(key)
        if kind is not None:
            self.learn(str(value), kind)
        elif is_private_variable(key):
            self.learn_private(str(value))

    def learn_json(self, doc: Any) -> None:
        """Identifiers by the field they are in, and address-shaped strings anywhere."""
        if isinstance(doc, dict):
            entry = _entry_name(doc)
            if entry is not None:  # {"name": "/sys/info/…", "value": …}
                self._learn_field(entry, doc.get("value"))
            for key, value in doc.items():
                if isinstance(key, str):
                    self._learn_field(key, value)
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
        that way) stays a number: its stand-in is all digits as well. A
        private value is replaced where it sits, however short.
        """
        if isinstance(doc, dict):
            entry = _entry_name(doc)
            out: dict[Any, Any] = {}
            for k, v in doc.items():
                name = entry if entry is not None and k == "value" else k
                private = isinstance(name, str) and self._private_value(name, v)
                out[self.text(k) if isinstance(k, str) else k] = (
                    private if private is not None else self.json(v)
                )
            return out
        if isinstance(doc, list):
            return [self.json(item) for item in doc]
        if isinstance(doc, str):
            return self.text(doc)
        if isinstance(doc, int) and not isinstance(doc, bool) and str(doc) in self.stand_ins:
            return int(self.stand_ins[str(doc)])
        return doc

    def text_body(self, text: str) -> str:
        """A body that is not valid JSON: private pairs replaced where they sit, then ``text``."""
        if '"' in text and self.private:

            def replace(match: re.Match[str]) -> str:
                stand_in = self.private.get(match["value"])
                if stand_in is None or not is_private_variable(match["name"]):
                    return match[0]
                start, end = match.span("value")
                base = match.start()
                return match[0][: start - base] + stand_in + match[0][end - base :]

            for regex in (PAIR_IN_TEXT_RE, ENTRY_IN_TEXT_RE):
                text = regex.sub(replace, text)
        return self.text(text)

    def _private_value(self, name: str, value: Any) -> str | None:
        """The stand-in for ``value`` when the field ``name`` holds a private value."""
        if field_kind(name) is not None or not is_private_variable(name):
            return None
        if not isinstance(value, str | int) or isinstance(value, bool):
            return None
        return self.private.get(str(value))

    def counts(self) -> dict[str, int]:
        """How many distinct originals of each kind were replaced."""
        out: dict[str, int] = {}
        for kind in self.kinds.values():
            out[kind] = out.get(kind, 0) + 1
        if self.private:
            out["private"] = len(self.private)
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


def _entry_name(doc: dict[Any, Any]) -> str | None:
    """The variable an entry of the ``{"values": [{"name", "value"}]}`` shape holds."""
    name = doc.get("name")
    return name if isinstance(name, str) and "value" in doc else None


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
