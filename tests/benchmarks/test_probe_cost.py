"""benchmarks/probe_cost.py's profile summary: py-spy's collapsed stacks sorted
into the categories the results name (only the pure part; the harness runs
real processes for minutes)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def pc() -> ModuleType:
    sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("probe_cost", BENCHMARKS / "probe_cost.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_samples_are_shared_out_by_the_first_category_that_matches(pc: ModuleType, tmp_path):
    raw = tmp_path / "after.txt"
    raw.write_text(
        "run (asyncio/runners.py:1);handle_probe (sunpower_pvs_exporter/web/app.py:2);"
        "gzip_if_accepted (sunpower_pvs_exporter/web/exposition.py:3) 30\n"
        "run (asyncio/runners.py:1);Poller._poll_once (sunpower_pvs_exporter/poller.py:4);"
        "do_handshake (ssl.py:5) 50\n"
        "run (asyncio/runners.py:1);select (selectors.py:6) 20\n"
    )
    text = pc.summarise(raw)
    assert "100 samples" in text
    assert " 30.0 %  probe: compressing" in text
    assert " 50.0 %  poll: TLS" in text
    assert " 20.0 %  event loop, other" in text
    assert "100.0 %  run (asyncio/runners.py:1)" in text  # inclusive
