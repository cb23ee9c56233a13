"""What ``init`` writes reads back through the exporter's own loader."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sunpower_pvs_exporter.config import load_config_file
from sunpower_pvs_exporter.troubleshoot.init_files import (
    PlannedTarget,
    render_config,
    write_file,
)


def _target(name: str, host: str, port: int, *, use_tls: bool, api: str) -> PlannedTarget:
    return PlannedTarget(
        name=name,
        host=host,
        port=port,
        use_tls=use_tls,
        api=api,
        description=f"PVS6 at {host}",
        password_file=f"{name}.password",
        password_note="the factory password",
    )


def test_the_config_reads_back_as_the_targets_it_describes(tmp_path: Path) -> None:
    targets = [
        _target("home", "172.27.153.1", 80, use_tls=False, api="legacy"),
        _target("v6", "fd00::5", 443, use_tls=True, api="varserver"),
        _target("odd", "pvs.lan", 8443, use_tls=True, api=""),
        _target("yes", "yes", 8080, use_tls=False, api="legacy"),
    ]
    text = render_config(targets, command="sunpower-pvs-exporter")
    path = tmp_path / "c.yml"
    path.write_text(text)
    for target in targets:
        (tmp_path / target.password_file).write_text("A0621\n")
    loaded = load_config_file(str(path))
    assert [(t.name, t.host, t.port, t.use_tls, t.api) for t in loaded.targets] == [
        ("home", "172.27.153.1", 80, False, "auto"),
        ("v6", "fd00::5", 443, True, "auto"),
        ("odd", "pvs.lan", 8443, True, "auto"),
        ("yes", "yes", 8080, False, "auto"),
    ]
    assert [t.password_file for t in loaded.targets] == [
        str(tmp_path / f"{t.name}.password") for t in targets
    ]
    # Defaults are left to the exporter: only what differs from them is written.
    assert "port: 80\n" not in text and "port: 443\n" not in text
    assert "# detected: legacy" in text and "# not detected" in text


def test_a_password_file_is_never_readable_by_others_even_with_a_lax_umask(
    tmp_path: Path,
) -> None:
    old = os.umask(0)
    try:
        write_file(tmp_path / "p", "secret\n", secret=True)
        write_file(tmp_path / "c.yml", "targets: []\n", secret=False)
        # Replacing keeps the rule (the new file's mode, not the old one's).
        (tmp_path / "q").write_text("old\n")
        (tmp_path / "q").chmod(0o666)
        write_file(tmp_path / "q", "new\n", secret=True)
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == {"p": 0o600, "c.yml": 0o644, "q": 0o600}
    assert (tmp_path / "q").read_text() == "new\n"


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text("old\n")
    with pytest.raises(UnicodeEncodeError):
        write_file(path, "\udcff not encodable", secret=False)
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["c.yml"]
