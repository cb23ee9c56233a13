"""The README's first two commands are the ones CI and users actually run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```sh\n(.+?)\n```", text, flags=re.DOTALL)[:2]


def test_first_command_installs_and_runs_the_demo():
    demo, _ = readme_commands()
    assert demo.startswith("python3 -m venv .venv && .venv/bin/pip install -e . && ")
    assert demo.endswith("sunpower-pvs-exporter --demo")


def test_ci_runs_exactly_the_readme_test_command():
    _, test_command = readme_commands()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in ci, f"{test_command!r} must be a line of .ci/run"
    assert "pytest" in test_command


def test_readme_states_the_python_version_pyproject_requires():
    pyproject = (ROOT / "pyproject.toml").read_text()
    (minimum,) = re.findall(r'^requires-python = ">=(\d+\.\d+)"$', pyproject, flags=re.MULTILINE)
    readme = (ROOT / "README.md").read_text()
    first_lines = "\n".join(readme.splitlines()[:5])
    assert f"Python {minimum} or newer" in first_lines
