"""Writing a host and port into an address or URL.

An IPv6 address needs brackets there (``[::1]:9110``), or its colons would
be read as the port's. Every address the exporter writes goes through this,
so a PVS, a listener or a link on the status page is never half-bracketed.
"""

from __future__ import annotations


def host_port(host: str, port: int) -> str:
    """``host:port``, with an IPv6 ``host`` in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
