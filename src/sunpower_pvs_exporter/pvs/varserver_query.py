"""The one place that writes a ``/vars`` request, byte for byte as the PVS reads it.

The PVS's ``fcgi_vars`` handler splits the query string (GET) or the body
(POST) on ``&``, recognises each part by its prefix (``name=``, ``match=``,
``set=``, ``fmt=``, ``cache=``, ``clearcache=``) and, for ``set=``, splits the
value on its first ``=``. It never percent-decodes. HTTP client libraries
percent-encode ``=`` inside a value by default, turning
``set=/sys/telemetryws/enable=1`` into a request for a variable literally
named ``…enable%3D1`` (HTTP 400). So the text is built here, unencoded, and
sent as is (``yarl.URL(..., encoded=True)``).

Because nothing is decoded on the other side, a character that would need
encoding cannot be sent at all: such a value is refused here with
``ValueError`` rather than silently mangled on the wire.
"""

from __future__ import annotations

import string
from collections.abc import Sequence

VARS_PATH = "/vars"

# Everything a variable name, pattern, cache id or set value of ours is made
# of; "&" would split the request and "#"/space/non-ASCII cannot go on the
# request line unencoded.
_ALLOWED = frozenset(string.ascii_letters + string.digits + "/_-.,=:")
_KEYS = frozenset({"name", "match", "set", "fmt", "cache", "clearcache"})

Params = Sequence[tuple[str, str]]


def vars_query(params: Params) -> str:
    """``[("match", "/sys/livedata/"), ("fmt", "obj")]`` -> ``match=/sys/livedata/&fmt=obj``."""
    parts: list[str] = []
    for key, value in params:
        if key not in _KEYS:
            raise ValueError(f"/vars has no parameter {key!r}")
        if not value or not set(value) <= _ALLOWED:
            raise ValueError(f"/vars {key}= value {value!r} cannot be sent unencoded")
        parts.append(f"{key}={value}")
    if not parts:
        raise ValueError("a /vars request needs at least one parameter")
    return "&".join(parts)


def vars_target(params: Params) -> str:
    """The request target (path and raw query) of a GET ``/vars`` request."""
    return f"{VARS_PATH}?{vars_query(params)}"
