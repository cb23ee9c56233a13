"""The console entry point: declared where it lives, and ``--version`` before any import."""

from __future__ import annotations

import importlib
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from sunpower_pvs_exporter import __version__

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "sunpower_pvs_exporter"

# Runs the console entry point with --version; prints what it imported.
VERSION_AND_MODULES = (
    "import sys\n"
    "from sunpower_pvs_exporter.cli.entry import main\n"
    "code = main(['--version'])\n"
    "print(' '.join(sorted(sys.modules)))\n"
    "raise SystemExit(code)\n"
)


def test_every_console_script_names_a_function_that_exists():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["sunpower-pvs-exporter"] == f"{PACKAGE}.cli.entry:main"
    for name, target in scripts.items():
        module, _, attribute = target.partition(":")
        assert callable(getattr(importlib.import_module(module), attribute)), name


def test_version_answers_before_the_exporter_is_imported():
    result = subprocess.run(
        [sys.executable, "-c", VERSION_AND_MODULES],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    version_line, modules_line = result.stdout.splitlines()
    assert version_line == f"sunpower-pvs-exporter {__version__}"
    modules = set(modules_line.split())
    ours = {m for m in modules if m == PACKAGE or m.startswith(PACKAGE + ".")}
    assert ours == {PACKAGE, f"{PACKAGE}.cli", f"{PACKAGE}.cli.entry"}
    assert not {"aiohttp", "prometheus_client", "yaml", "asyncio"} & modules


def test_an_interrupt_inside_a_class_creation_is_still_one_line(monkeypatch, capsys):
    """Python 3.11 wraps a KeyboardInterrupt raised in ``__set_name__`` (a module
    being imported defines a class) in a RuntimeError: it was a traceback."""
    import logging

    from sunpower_pvs_exporter.cli import entry

    def interrupted_import(_args: list[str]) -> int:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise RuntimeError("Error calling __set_name__") from exc

    monkeypatch.setattr(entry, "_dispatch", interrupted_import)
    assert entry.main(["check"]) == 130
    # Logging is back on for whatever runs next in this process (it was off
    # for good, and in-process tests had to turn it back on).
    assert logging.root.manager.disable == logging.NOTSET
    assert capsys.readouterr().err == "sunpower-pvs-exporter check: interrupted\n"

    def broken(_args: list[str]) -> int:
        raise RuntimeError("a real bug")

    monkeypatch.setattr(entry, "_dispatch", broken)
    with pytest.raises(RuntimeError, match="a real bug"):
        entry.main(["check"])
