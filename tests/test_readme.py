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


def markdown_links(path: Path) -> set[Path]:
    """The local files ``path`` links to (``[text](target)``), resolved."""
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text())
    return {
        (path.parent / target).resolve()
        for target in targets
        if "://" not in target and not target.startswith("mailto:")
    }


def test_every_doc_is_reachable_from_the_readme():
    """A newcomer finds every page of docs/ by following links from the README."""
    seen: set[Path] = set()
    todo = [(ROOT / "README.md").resolve()]
    while todo:
        page = todo.pop()
        if page in seen or not page.exists() or page.suffix != ".md":
            continue
        seen.add(page)
        todo.extend(markdown_links(page))
    docs = {page.resolve() for page in (ROOT / "docs").glob("*.md")}
    assert (ROOT / "docs" / "architecture.md").resolve() in docs  # the walk has work to do
    assert sorted(str(page.relative_to(ROOT)) for page in docs - seen) == []
