"""Counts in messages read right: ``1 target``, ``2 targets``, ``0 polls``.

One function for every layer (logs, the status page, ``check``), so a
message that counts never says "1 targets" again.
"""

from __future__ import annotations


def counted(count: int, noun: str) -> str:
    """``1 request``, ``2 requests``, ``0 requests`` (nouns with a plain -s plural)."""
    return f"{count} {noun}" + ("" if count == 1 else "s")
