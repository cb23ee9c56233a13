"""The package's boundaries (docs/architecture.md), checked on the source itself.

* ``pvs/`` imports nothing from the rest of the package: it gets plain values
  (host, port, a password source), never the config or the poller;
* the package has no import cycle, not even through imports made only for
  type checking or inside functions;
* no module outside ``simulator/`` imports the simulator when it is imported,
  and a normal start does not import the simulator; ``--demo`` does;
* what only some configurations use is imported inside the function that
  needs it (benchmarks/footprint.py), and every such deferred import names a
  module and names that exist, so a typo cannot wait for the odd moment a
  status page is first viewed or a web config first read.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
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


def resolved(module: str, node: ast.Import | ast.ImportFrom) -> Iterator[tuple[int, str]]:
    """(line, module) for each of this package's modules that ``node`` imports.

    Relative imports are resolved. ``from a.b import c`` names module ``a.b.c``
    when that is a module, else ``a.b``.
    """
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                yield node.lineno, alias.name
        return
    base = node.module or ""
    if node.level:
        parent = module.split(".")
        keep = len(parent) - node.level + (1 if MODULES[module].name == "__init__.py" else 0)
        base = ".".join(parent[:keep] + ([base] if base else []))
    if base != PACKAGE and not base.startswith(PACKAGE + "."):
        return
    for alias in node.names:
        child = f"{base}.{alias.name}"
        yield node.lineno, child if child in MODULES else base


def parsed(module: str) -> ast.Module:
    path = MODULES[module]
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def imported_modules(module: str) -> Iterator[tuple[int, str]]:
    """(line, module) for every import of this package's modules in ``module``.

    Every import statement counts, wherever it is: at the top, under
    ``if TYPE_CHECKING:``, or inside a function.
    """
    for node in ast.walk(parsed(module)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield from resolved(module, node)


def is_type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_time_imports(module: str) -> Iterator[tuple[int, str]]:
    """(line, module) for the imports that run when ``module`` is imported.

    Statements at the top level and in class bodies, under ``if``/``try``/
    ``with`` too; not inside functions, and not under ``if TYPE_CHECKING:``.
    """
    pending: list[ast.AST] = list(parsed(module).body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield from resolved(module, node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        elif is_type_checking(node):
            assert isinstance(node, ast.If)
            pending.extend(node.orelse)
        else:
            pending.extend(ast.iter_child_nodes(node))


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
    assert f"{PACKAGE}.runtime" in graph[f"{PACKAGE}.cli.serve"]  # inside main()
    assert f"{PACKAGE}.simulator.demo" in graph[f"{PACKAGE}.cli.serve"]  # TYPE_CHECKING
    assert f"{PACKAGE}.pvs.reader" in graph[f"{PACKAGE}.poller"]
    assert len([m for m in MODULES if m.startswith(f"{PACKAGE}.pvs.")]) >= 10


def test_the_import_time_walk_leaves_out_functions_and_type_checking():
    at_import = {name for _line, name in import_time_imports(f"{PACKAGE}.cli.serve")}
    assert f"{PACKAGE}.config" in at_import  # top level
    assert f"{PACKAGE}.runtime" not in at_import  # inside main()
    assert f"{PACKAGE}.simulator.demo" not in at_import  # TYPE_CHECKING
    demo = {name for _line, name in import_time_imports(f"{PACKAGE}.simulator.demo")}
    assert f"{PACKAGE}.simulator.replay" in demo


def test_pvs_imports_nothing_from_the_rest_of_the_package():
    outside = [
        f"{MODULES[module].relative_to(SRC.parent)}:{line} imports {name}"
        for module in MODULES
        if module.startswith(f"{PACKAGE}.pvs.")
        for line, name in imported_modules(module)
        if name != f"{PACKAGE}.pvs" and not name.startswith(f"{PACKAGE}.pvs.")
    ]
    assert outside == []


def test_only_the_simulator_imports_the_simulator_when_it_is_imported():
    """The simulator is for --demo, --replay and tests: a module outside it that
    imports it at the top would load it on every start (and the check and capture
    subcommands report a bad --replay file without it: troubleshoot/capture_format)."""
    simulator = f"{PACKAGE}.simulator"
    outside = [
        f"{MODULES[module].relative_to(SRC.parent)}:{line} imports {name}"
        for module in sorted(MODULES)
        if module != simulator and not module.startswith(simulator + ".")
        for line, name in import_time_imports(module)
        if name == simulator or name.startswith(simulator + ".")
    ]
    assert outside == []


def test_importing_every_module_outside_the_simulator_does_not_load_it():
    """The same, as Python sees it: import them all in a fresh interpreter."""
    simulator = f"{PACKAGE}.simulator"
    names = sorted(
        m
        for m in MODULES
        # __main__ runs the exporter when imported.
        if m != f"{PACKAGE}.__main__" and m != simulator and not m.startswith(simulator + ".")
    )
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(sorted(m for m in sys.modules if m.startswith({simulator!r})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
    assert len(names) > 50


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
    "from sunpower_pvs_exporter.cli.entry import main\n"
    "raise SystemExit(main(sys.argv[1:]))\n"
)


def loaded_modules(argv: list[str], output: Path, fetch: tuple[str, ...] = ()) -> set[str]:
    """Start the exporter with ``argv``, wait until it serves, GET each path in
    ``fetch``, stop it: what it imported."""
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
        for path in fetch:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as page:
                assert page.status == 200
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


# --- only what the configuration uses ------------------------------------------

# Loaded by a start only when its configuration (or a request) needs them.
OPTIONAL_MODULES = (
    f"{PACKAGE}.web.status",  # the first view of /
    f"{PACKAGE}.web.auth",  # a web config with basic_auth_users
    f"{PACKAGE}.web.tls",  # a web config with tls_server_config
    f"{PACKAGE}.web.rate_limit",  # a web config with rate_limit
    f"{PACKAGE}.push",  # --push-to
    f"{PACKAGE}.pvs.telemetry",  # --live
    "yaml",  # --config, --web.config.file
    "bcrypt",  # basic auth
    "zoneinfo",  # --pvs-timezone
    "importlib.metadata",  # the status page's project link
)


def test_a_flags_only_start_loads_nothing_its_configuration_does_not_use(tmp_path: Path):
    # The single-site start benchmarks/footprint.py measures; nothing listens
    # at the PVS address, which changes no import (the poll fails).
    argv = ["--hostname", "127.0.0.1", "--port", str(free_port()), "--timeout", "2"]
    modules = loaded_modules(argv, tmp_path / "output", fetch=("/metrics",))
    assert f"{PACKAGE}.web.server" in modules  # it really served
    assert f"{PACKAGE}.pvs.legacy" in modules
    assert sorted(m for m in OPTIONAL_MODULES if m in modules) == []
    assert simulator_modules(modules) == set()


def test_the_status_page_loads_its_module_when_first_viewed(tmp_path: Path):
    """The check above can fail: the same start, with / viewed, has it loaded."""
    argv = ["--hostname", "127.0.0.1", "--port", str(free_port()), "--timeout", "2"]
    modules = loaded_modules(argv, tmp_path / "output", fetch=("/",))
    assert f"{PACKAGE}.web.status" in modules
    assert "importlib.metadata" in modules


def deferred_imports(module: str) -> Iterator[tuple[int, str, tuple[str, ...]]]:
    """(line, module, names) of every import made inside a function of ``module``.

    ``names`` is empty for ``import x``. Relative imports are resolved.
    """
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    functions = [
        node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]
    for function in functions:
        for node in ast.walk(function):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield node.lineno, alias.name, ()
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = module.split(".")
                    keep = len(parent) - node.level + (1 if path.name == "__init__.py" else 0)
                    base = ".".join(parent[:keep] + ([base] if base else []))
                yield node.lineno, base, tuple(alias.name for alias in node.names)


def test_the_deferred_import_walk_sees_the_deferred_imports():
    seen = {
        (module, imported, names)
        for module in MODULES
        for _line, imported, names in deferred_imports(module)
    }
    assert (
        f"{PACKAGE}.web.app",
        f"{PACKAGE}.web.status",
        ("render_status_page",),
    ) in seen
    assert (f"{PACKAGE}.runtime", f"{PACKAGE}.push", ("Pusher", "read_push_auth")) in seen
    assert (f"{PACKAGE}.config", "zoneinfo", ("ZoneInfo", "ZoneInfoNotFoundError")) in seen
    # A top-level import is not deferred.
    assert not any(
        imported == f"{PACKAGE}.pvs.model"
        for _l, imported, _n in deferred_imports(f"{PACKAGE}.pvs.legacy")
    )


def test_every_deferred_import_imports_and_names_what_exists():
    broken = []
    for module in sorted(MODULES):
        for line, imported, names in deferred_imports(module):
            where = f"{MODULES[module].relative_to(SRC.parent)}:{line}"
            try:
                target = importlib.import_module(imported)
            except ImportError as exc:
                broken.append(f"{where}: {imported}: {exc}")
                continue
            for name in names:
                if not hasattr(target, name):
                    try:
                        importlib.import_module(f"{imported}.{name}")
                    except ImportError:
                        broken.append(f"{where}: {imported} has no {name}")
    assert broken == []
