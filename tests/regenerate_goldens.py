"""Regenerate every golden exposition in one go; then review the diff like code.

    python tests/regenerate_goldens.py

- tests/golden/http/*.prom: what ``/metrics`` serves (tests/test_golden_http.py)
  for each simulated scenario, each capture in tests/captures/ and each
  DeviceList fixture in tests/fixtures/: one golden file per input.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SCRIPTS = ("test_golden_http.py",)

if __name__ == "__main__":
    sys.path.insert(0, str(TESTS))  # ``support`` is importable, as under pytest
    for script in SCRIPTS:
        runpy.run_path(str(TESTS / script), run_name="__main__")
