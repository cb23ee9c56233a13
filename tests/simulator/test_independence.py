"""The simulator never borrows the exporter's parsing, formats or field maps.

A shared assumption (say, that DATATIME is local time) would be invisible to
every test that runs the exporter against the simulator.
"""

from __future__ import annotations

import ast
from pathlib import Path

import sunpower_pvs_exporter.simulator as simulator

FORBIDDEN = ("sunpower_pvs_exporter.pvs", "sunpower_pvs_exporter.metrics")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_simulator_module_imports_the_exporters_pvs_or_metrics_code() -> None:
    files = sorted(Path(simulator.__file__).parent.glob("*.py"))
    assert len(files) >= 8
    borrowed = {
        f"{path.name}: {module}"
        for path in files
        for module in imported_modules(path)
        if module.startswith(FORBIDDEN)
    }
    assert borrowed == set()
