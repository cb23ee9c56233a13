"""The shipped Alertmanager configuration, as the tests turn it into a runnable one.

contrib/alertmanager/alertmanager.yml ships its receivers as commented-out
blocks under the ``owner`` receiver, one per channel (``# ---- email ---``).
An owner removes the ``# `` in front of a block's lines and fills it in; the
tests do exactly that (``uncommented``), then replace only the placeholder
addresses, so what they check is the text an owner uncomments.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from contrib.promql_names import REPO

ALERTMANAGER_DIR = REPO / "contrib" / "alertmanager"
ALERTMANAGER_YML = ALERTMANAGER_DIR / "alertmanager.yml"
TEMPLATES = tuple(sorted((ALERTMANAGER_DIR / "templates").glob("*.tmpl")))

# The indentation of the owner receiver's keys: commented lines start with it
# followed by "# ".
_BLOCK_PREFIX = "    # "
_HEADER = re.compile(r"^    # ---- (?P<name>[A-Za-z]+)\b")


def receiver_blocks(text: str | None = None) -> dict[str, str]:
    """Channel name (lower case) -> the YAML of its block, uncommented."""
    text = ALERTMANAGER_YML.read_text() if text is None else text
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        header = _HEADER.match(line)
        if header:
            current = blocks.setdefault(header["name"].lower(), [])
            continue
        if current is None:
            continue
        if not line.startswith(_BLOCK_PREFIX):
            current = None  # the end of the commented receivers
            continue
        current.append(line[len(_BLOCK_PREFIX) :])
    return {name: "\n".join(lines) + "\n" for name, lines in blocks.items()}


def uncommented(*channels: str) -> dict[str, Any]:
    """The shipped configuration with these channels' blocks uncommented.

    Two channels of the same kind (ntfy and the generic webhook are both
    ``webhook_configs``) are merged into one list, as an owner would write them.
    """
    config: dict[str, Any] = yaml.safe_load(ALERTMANAGER_YML.read_text())
    (owner,) = [r for r in config["receivers"] if r["name"] == config["route"]["receiver"]]
    blocks = receiver_blocks()
    for channel in channels:
        for kind, entries in yaml.safe_load(blocks[channel]).items():
            owner.setdefault(kind, []).extend(entries)
    return config


def with_timings(config: dict[str, Any], seconds: float) -> dict[str, Any]:
    """The routes' group_wait and group_interval set to ``seconds``; nothing else changes."""

    def visit(route: dict[str, Any]) -> None:
        for key in ("group_wait", "group_interval"):
            if key in route:
                route[key] = f"{seconds:g}s"
        for child in route.get("routes", []):
            visit(child)

    visit(config["route"])
    return config


def write_config(config: dict[str, Any], directory: Path) -> Path:
    """The config in ``directory`` with the shipped templates beside it (as shipped)."""
    templates = directory / "templates"
    templates.mkdir(parents=True, exist_ok=True)
    for path in TEMPLATES:
        (templates / path.name).write_text(path.read_text())
    target = directory / "alertmanager.yml"
    target.write_text(yaml.safe_dump(config, sort_keys=False))
    return target
