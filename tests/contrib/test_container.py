"""Dockerfile (no image can be built here: no Docker engine on the CI machines, so
these are static checks; the compose stack is tests/contrib/test_stack.py)."""

from __future__ import annotations

import json
import re
import shlex

import yaml

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


MONITORING = REPO / "docs" / "monitoring.md"
STACK_COMPOSE = REPO / "contrib" / "stack" / "docker-compose.yml"
SIMULATOR = REPO / "src" / "sunpower_pvs_exporter" / "simulator"


def docker_runs(text: str) -> list[list[str]]:
    """Each ``docker run …`` line (comment markers and trailing comments dropped), split."""
    runs = []
    for line in text.splitlines():
        line = line.lstrip("# ").partition(" #")[0].strip()
        if line.startswith("docker run "):
            runs.append(shlex.split(line))
    return runs


def image_arguments(run: list[str], image: str) -> list[str]:
    return run[run.index(image) + 1 :]


def exposed_port() -> str:
    (port,) = [args for keyword, args in instructions() if keyword == "EXPOSE"]
    return port


def test_docs_and_dockerfile_run_the_image_the_same_way():
    """docs/monitoring.md and the Dockerfile's header show the same commands, each
    publishing the port the image exposes (one networking story: -p, as the stack)."""
    in_dockerfile = docker_runs(DOCKERFILE.read_text())
    documented = docker_runs(MONITORING.read_text())
    assert in_dockerfile and documented == in_dockerfile
    for run in documented:
        published = run[run.index("-p") + 1]
        assert published.split(":")[-1] == exposed_port(), run
        assert "--network" not in run, run
    # The stack's exporter publishes the same container port.
    exporter = yaml.safe_load(STACK_COMPOSE.read_text())["services"]["sunpower-pvs-exporter"]
    assert [port.rsplit(":", 1)[-1] for port in exporter["ports"]] == [exposed_port()]


def test_every_documented_run_parses_with_the_exporters_own_flags():
    from sunpower_pvs_exporter.cli.serve import build_parser

    (build,) = [
        shlex.split(line)
        for line in MONITORING.read_text().splitlines()
        if line.startswith("docker build ")
    ]
    image = build[build.index("-t") + 1]
    (default,) = [json.loads(args) for keyword, args in instructions() if keyword == "CMD"]
    seen = set()
    for run in docker_runs(MONITORING.read_text()):
        arguments = image_arguments(run, image) or default
        seen.update(arguments)
        build_parser().parse_args(arguments)  # exits 2 on an unknown flag or value
    # The demo (the image's default), the new-firmware demo and a real PVS are shown.
    assert {"--demo", "varserver", "--hostname"} <= seen


def test_the_image_carries_what_the_varserver_demo_needs():
    """The demo's simulated PVS, HTTPS certificate included, is Python alone: it
    runs no outside command, so the image installs no system package (an apt-get
    line here means the simulator grew a need; then install it before USER and
    say so in docs/monitoring.md)."""
    for module in sorted(SIMULATOR.glob("*.py")):
        source = module.read_text()
        assert "subprocess" not in source and "shutil.which" not in source, module.name
    runs = [args for keyword, args in instructions() if keyword == "RUN"]
    assert not [args for args in runs if "apt-get" in args or "apk " in args], runs
