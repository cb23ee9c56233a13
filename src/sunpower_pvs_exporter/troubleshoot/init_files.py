"""What ``init`` writes: the config file and one password file per PVS.

Rendering is pure (the found PVSes in, text out) so the tests can read it
back through the exporter's own config loader. Writing never leaves a half
file and never lets a password be readable by others for a moment: a password
file is created 0600 under a temporary name and renamed into place.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sunpower_pvs_exporter.troubleshoot.discover import HTTP_PORT, HTTPS_PORT

PASSWORD_MODE = 0o600
CONFIG_MODE = 0o644


@dataclass(frozen=True)
class PlannedTarget:
    """One PVS as the config will name it."""

    name: str
    host: str
    # Where the exporter reaches it: plain HTTP (the legacy API and detection;
    # varserver then goes to 443), or everything over HTTPS on ``port``.
    port: int
    use_tls: bool
    # The API its build speaks ("" when it did not say), and the firmware line.
    api: str
    description: str
    password_file: str
    # Why the password is what it is, for a comment beside it.
    password_note: str


def _quoted(text: str) -> str:
    """A YAML scalar that stays a string (JSON strings are YAML)."""
    return json.dumps(text)


def render_config(targets: list[PlannedTarget], *, command: str) -> str:
    """The config file: every key explained where it is, nothing secret in it."""
    lines = [
        f"# Written by `{command} init`. Every key: docs/configuration.md.",
        f"# Check it:  {command} --config <this file> --check-config",
        "# The PVS passwords are not in this file: each target names its password file.",
        "",
        "targets:",
    ]
    for target in targets:
        lines.append(f"  # {target.description}")
        lines.append(f"  - name: {_quoted(target.name)}")
        lines.append(f"    host: {_quoted(target.host)}")
        if target.port != (HTTPS_PORT if target.use_tls else HTTP_PORT):
            lines.append(f"    port: {target.port}")
        if target.use_tls:
            lines.append("    use_tls: true")
        detected = f"detected: {target.api}" if target.api else "not detected"
        lines.append(f"    api: auto  # {detected}; auto follows a firmware update")
        lines.append(
            f"    password_file: {_quoted(target.password_file)}  # {target.password_note}"
        )
    return "\n".join(lines) + "\n"


def read_existing(path: Path) -> bytes | None:
    """The file's bytes, ``None`` if there is none (anything else unreadable raises)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def write_file(path: Path, text: str, *, secret: bool) -> None:
    """Write ``text`` to ``path`` whole; a ``secret`` is mode 0600 from its first byte on.

    A temporary file in the same directory, made 0600 before anything is
    written to it (0644 afterwards for a config), is renamed over ``path``:
    a reader sees the old file or the new one, and a password is never
    readable by others, not even while it is being written.
    """
    directory = path.parent if str(path.parent) else Path(".")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fchmod(out.fileno(), PASSWORD_MODE if secret else CONFIG_MODE)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
