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


def sh_blocks() -> list[str]:
    return re.findall(r"```sh\n(.+?)\n```", (ROOT / "README.md").read_text(), flags=re.DOTALL)


def test_init_is_what_an_owner_with_a_real_pvs_runs_first():
    """Right after the demo and the tests, the first command aimed at a real PVS
    is ``init`` (issue 22): no other exporter command comes before it."""
    third = sh_blocks()[2]
    assert third == ".venv/bin/sunpower-pvs-exporter init", third
    text = (ROOT / "README.md").read_text()
    before = text[: text.index(third)]
    assert before.count("sunpower-pvs-exporter --demo") == 1  # only the first command
    assert "sunpower-pvs-exporter check" not in before
    assert "--hostname" not in before


def test_something_looks_wrong_starts_with_check():
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Something looks wrong?\n") :]
    section = section[: section.index("\n## ", 1)]
    first_paragraph = section.split("\n\n")[1]
    assert first_paragraph.startswith("Run `check`"), first_paragraph
    (first_block, *_rest) = re.findall(r"```sh\n(.+?)\n```", section, flags=re.DOTALL)
    assert first_block.startswith(".venv/bin/sunpower-pvs-exporter check "), first_block
