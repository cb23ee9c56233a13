"""Import aiohttp without the two CA stores it builds at import and this exporter never uses.

aiohttp's client module builds two default SSL contexts when it is imported
(``aiohttp.connector._SSL_CONTEXT_VERIFIED`` and ``_UNVERIFIED``). Each loads
the system's CA bundle, ~140 certificates: ~100 ms of a start and ~2 MiB of
RSS on a Raspberry Pi-sized budget (benchmarks/RESULTS.md, footprint). They
are used only by a client request to an ``https://`` URL that brings no SSL
context of its own. The exporter makes none: its PVS requests carry their own
(``pvs/transport.py``: the PVS's self-signed certificate accepted, or
``tls_ca_file``), the ``--live`` stream speaks ``ws://``, and the Pushgateway
client is prometheus_client's urllib (its contexts are built per request,
after this import, with the CA store as usual). tests/test_aiohttp_import.py
checks each of these.

So while aiohttp is imported, loading the default CA store is skipped; it is
restored before anything else runs. Should a future client request rely on
aiohttp's default context after all, it fails closed: a context with
``CERT_REQUIRED`` and no CA verifies no certificate.
"""

from __future__ import annotations

import ssl
import sys
from typing import Any

# The ssl.SSLContext methods that read the default CA store.
_LOADERS = ("load_default_certs", "set_default_verify_paths")


def _skip(_context: ssl.SSLContext, *_args: Any) -> None:
    return None


def import_aiohttp() -> None:
    """Import aiohttp (once) with the CA store unread by its import-time contexts."""
    if "aiohttp" in sys.modules:
        return
    cls = ssl.SSLContext
    own = {name: cls.__dict__[name] for name in _LOADERS if name in cls.__dict__}
    for name in _LOADERS:
        setattr(cls, name, _skip)
    try:
        import aiohttp  # noqa: F401
    finally:
        for name in _LOADERS:
            if name in own:
                setattr(cls, name, own[name])
            else:
                delattr(cls, name)
