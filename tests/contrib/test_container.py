"""Dockerfile (no image can be built here: no Docker engine on the CI machines, so
these are static checks; the compose stack is tests/contrib/test_stack.py)."""

from __future__ import annotations

import re

from contrib.promql_names import REPO

DOCKERFILE = REPO / "Dockerfile"
README_RUN = " && .venv/bin/sunpower-pvs-exporter --demo"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def readme_install_line() -> str:
    """The install part of the README's first command (the one that runs --demo)."""
    for line in (REPO / "README.md").read_text().splitlines():
        if line.startswith("python3 -m venv") and line.endswith(README_RUN):
            return line.removesuffix(README_RUN)
    raise AssertionError(f"README.md has no first command ending in {README_RUN!r}")


def test_dockerfile_installs_exactly_as_the_readme_does():
    install = readme_install_line()
    assert "pip install" in install
    runs = [args for keyword, args in instructions() if keyword == "RUN"]
    assert install in runs, f"Dockerfile RUN lines {runs} do not include {install!r}"


def test_dockerfile_compiles_the_source_its_user_cannot_write_bytecode_for():
    runs = [args for keyword, args in instructions() if keyword == "RUN"]
    install = runs.index(readme_install_line())
    compiles = [i for i, args in enumerate(runs) if "-m compileall" in args and "src" in args]
    assert compiles and compiles[0] > install, runs


def test_dockerfile_is_slim_non_root_and_healthchecked():
    steps = instructions()
    keywords = [keyword for keyword, _ in steps]
    base = next(args for keyword, args in steps if keyword == "FROM")
    assert re.fullmatch(r"python:3\.1[1-9]-slim", base), base
    users = [args for keyword, args in steps if keyword == "USER"]
    assert users and users[-1] not in {"root", "0"}
    # The user switch comes after the install and before the process starts.
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k == "RUN")
    assert ("EXPOSE", "9110") in steps
    (healthcheck,) = [args for keyword, args in steps if keyword == "HEALTHCHECK"]
    assert "http://127.0.0.1:9110/-/healthy" in healthcheck
    (entrypoint,) = [args for keyword, args in steps if keyword == "ENTRYPOINT"]
    assert entrypoint.endswith('.venv/bin/sunpower-pvs-exporter"]')
    # Everything the install needs is copied in (pyproject names README.md as readme).
    copies = " ".join(args for keyword, args in steps if keyword == "COPY")
    for needed in ("pyproject.toml", "README.md", "src"):
        assert needed in copies
