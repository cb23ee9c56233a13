"""The package's boundaries (docs/architecture.md), checked on the source itself.

* ``pvs/`` imports nothing from the rest of the package: it gets plain values
  (host, port, a password source), never the config or the poller;
* the package has no import cycle, not even through imports made only for
  type checking or inside functions;
* a normal start does not import the simulator; ``--demo`` does.
"""

from __future__ import annotations

import ast
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import sunpower_pvs_exporter
from sunpower_pvs_exporter.simulator.server import free_port
from support import start_exporter, stop_process

PACKAGE = "sunpower_pvs_exporter"
SRC = Path(sunpower_pvs_exporter.__file__).resolve().parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in SRC.rglob("*.py")}


def imported_modules(module: str) -> Iterator[tuple[int, str]]:
    """(line, module) for every import of this package's modules in ``module``.

    Every import statement counts, wherever it is: at the top, under
    ``if TYPE_CHECKING:``, or inside a function. Relative imports are resolved.
    ``from a.b import c`` names module ``a.b.c`` when that is a module, else ``a.b``.
    """
    path = MODULES[module]
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")
                parent = parent[: len(parent) - node.level + (1 if is_package else 0)]
                base = ".".join(parent + ([base] if base else []))
            if base != PACKAGE and not base.startswith(PACKAGE + "."):
                continue
            for alias in node.names:
                child = f"{base}.{alias.name}"
                yield node.lineno, child if child in MODULES else base


def import_graph() -> dict[str, set[str]]:
    return {
        module: {name for _line, name in imported_modules(module) if name != module}
        for module in MODULES
    }


def test_the_walk_sees_the_imports_it_must_judge():
    """The checks below are only as good as this walk: it must see imports at
    the top, inside functions and under TYPE_CHECKING, and resolve modules."""
    graph = import_graph()
    assert f"{PACKAGE}.pvs.model" in graph[f"{PACKAGE}.pvs.legacy"]  # top level
    assert f"{PACKAGE}.runtime" in graph[f"{PACKAGE}.cli"]  # inside main()
    assert f"{PACKAGE}.simulator.demo" in graph[f"{PACKAGE}.cli"]  # TYPE_CHECKING
    assert f"{PACKAGE}.pvs.reader" in graph[f"{PACKAGE}.poller"]
    assert len([m for m in MODULES if m.startswith(f"{PACKAGE}.pvs.")]) >= 10


def test_pvs_imports_nothing_from_the_rest_of_the_package():
    outside = [
        f"{MODULES[module].relative_to(SRC.parent)}:{line} imports {name}"
        for module in MODULES
        if module.startswith(f"{PACKAGE}.pvs.")
        for line, name in imported_modules(module)
        if name != f"{PACKAGE}.pvs" and not name.startswith(f"{PACKAGE}.pvs.")
    ]
    assert outside == []


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (its modules in order, the first repeated), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for name in sorted(graph.get(module, ())):
            if state.get(name) == 1:
                return [*path[path.index(name) :], name]
            if name not in state:
                found = visit(name)
                if found:
                    return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state:
            found = visit(module)
            if found:
                return found
    return None


def test_find_cycle_finds_a_cycle_through_three_modules():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_package_has_no_import_cycle_not_even_a_type_only_one():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle or ())


# --- the simulator loads only when asked --------------------------------------

# Runs the real console entry point and, at exit, names the modules it loaded.
RUN_AND_LIST_MODULES = (
    "import atexit, sys\n"
    "atexit.register(lambda: sys.stderr.write("
    "'LOADED ' + ' '.join(sorted(sys.modules)) + '\\n'))\n"
    "from sunpower_pvs_exporter.entry import main\n"
    "raise SystemExit(main(sys.argv[1:]))\n"
)


def loaded_modules(argv: list[str], output: Path) -> set[str]:
    """Start the exporter with ``argv``, wait until it serves, stop it: what it imported."""
    command = (sys.executable, "-c", RUN_AND_LIST_MODULES)
    proc, port = start_exporter(*argv, output=output, command=command)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, output.read_text()
            assert time.monotonic() < deadline, "the exporter did not serve /metrics in time"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2):
                    break
            except OSError:
                time.sleep(0.1)
    finally:
        code = stop_process(proc)
    err = output.read_text()
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.startswith("LOADED ")]
    assert len(lines) == 1, err
    return set(lines[0].split()[1:])


def simulator_modules(modules: set[str]) -> set[str]:
    return {m for m in modules if m.startswith(f"{PACKAGE}.simulator")}


def test_a_normal_start_does_not_import_the_simulator(tmp_path: Path):
    # A PVS address where nothing listens: the start, the poller and its
    # client are the real ones; the poll fails, which changes no import.
    config = tmp_path / "config.yml"
    config.write_text(
        f"targets:\n  - name: house\n    host: 127.0.0.1\n    port: {free_port()}\n"
        "    api: auto\n    timeout: 2\n",
        encoding="utf-8",
    )
    modules = loaded_modules(["--config", str(config)], tmp_path / "output")
    assert f"{PACKAGE}.runtime" in modules  # the run really started
    assert f"{PACKAGE}.pvs.varserver" in modules
    assert simulator_modules(modules) == set()


def test_demo_does_import_the_simulator(tmp_path: Path):
    """The check above can fail: --demo loads the simulator, and it is seen."""
    modules = loaded_modules(["--demo"], tmp_path / "output")
    assert f"{PACKAGE}.simulator.state" in simulator_modules(modules)
