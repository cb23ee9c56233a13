"""Which PVS variables belong to the owner, not to a bug report.

A PVS6 lists its Wi-Fi hotspot's key as ``/sys/info/wpa_key``, beside the
hotspot's name (``ssid``) and the system's ``finance_type``; ``match=/sys/info/``
returns them all. So the exporter reads ``/sys/info/`` only by the names in
``SUPERVISOR_VARIABLES`` (what it turns into metrics), drops any variable whose
name says it holds a secret from every answer, and ``capture`` writes the values
of ``SHAREABLE_INFO_VARIABLES`` only, replacing every other ``/sys/info/`` value.

The name test is deliberately broad (``wpa``, ``key``, ``psk``, ``token`` …
as a word of the last path segment): a false positive costs a value in a
capture, a false negative a Wi-Fi key on a public issue tracker.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import TypeVar

INFO_PREFIX = "/sys/info/"

# The /sys/info/ variables the exporter reads, each for a metric or a label
# (pvs/varserver_parse.py ``parse_supervisor``).
SUPERVISOR_VARIABLES: tuple[str, ...] = tuple(
    INFO_PREFIX + name
    for name in (
        "serialnum",
        "model",
        "sw_rev",
        "hwrev",
        "uptime",
        "cpu_usage",
        "ram_usage",
        "flash_usage",
    )
)

# /sys/info/ variables a capture may show with their values: the above, and
# descriptions of the hardware and firmware. MAC addresses and the serial are
# replaced by the anonymiser all the same.
SHAREABLE_INFO_VARIABLES = frozenset(
    {
        *SUPERVISOR_VARIABLES,
        INFO_PREFIX + "fwrev",
        INFO_PREFIX + "boardtype",
        INFO_PREFIX + "sys_type",
        INFO_PREFIX + "active_interface",
        INFO_PREFIX + "lmac",
        INFO_PREFIX + "active_interface_mac",
    }
)

# Words of a name that say its value is a credential.
SECRET_WORDS = frozenset(
    {
        "key",
        "wpa",
        "wep",
        "psk",
        "password",
        "passwd",
        "pwd",
        "pass",
        "passphrase",
        "passkey",
        "secret",
        "token",
        "credential",
        "credentials",
        "apikey",
        "privkey",
    }
)
V = TypeVar("V")
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


def name_words(name: str) -> list[str]:
    """``/sys/info/wpa_key`` -> ``["wpa", "key"]``; ``wifiPassKey`` -> ``wifi pass key``."""
    last = name.rstrip("/").rsplit("/", 1)[-1]
    return [word.lower() for word in _WORD.findall(last)]


# Every secret word, and every name ending, contains one of these: a name
# without any is not split into words at all (the common case, every poll).
_CANDIDATE = re.compile(r"key|wpa|wep|psk|pass|pwd|secret|token|credential", re.IGNORECASE)


@functools.lru_cache(maxsize=8192)
def looks_secret(name: str) -> bool:
    """Whether a variable or field called ``name`` holds a key, password or token.

    Cached: the same few hundred names come back at every poll.
    """
    if not _CANDIDATE.search(name.rstrip("/").rsplit("/", 1)[-1]):
        return False
    words = name_words(name)
    return any(word in SECRET_WORDS for word in words) or "".join(words).endswith(
        ("key", "password", "passphrase", "secret", "token", "psk")
    )


def is_private_variable(name: str) -> bool:
    """A value ``capture`` must not write: a secret, or ``/sys/info/`` not shareable."""
    if name.startswith(INFO_PREFIX) and name not in SHAREABLE_INFO_VARIABLES:
        return True
    return looks_secret(name)


def without_secrets(variables: Mapping[str, V]) -> dict[str, V]:
    """``variables`` less every one whose name says it is a secret."""
    return {name: value for name, value in variables.items() if not looks_secret(name)}
