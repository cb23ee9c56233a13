"""Every metric in docs/metrics.md shows up in at least one demo mode.

The demo is how most people first meet the exporter, and the generated
reference is what they read next: a metric that no demo ever shows is one
nobody can try before trusting it. Each mode runs the real command line
(``python -m sunpower_pvs_exporter --demo …``) and is scraped over HTTP until
everything it can show has appeared (bounded).
"""

from __future__ import annotations

import re
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from support import start_exporter, stop_process

ROOT = Path(__file__).resolve().parents[2]
# The demo modes, together, must cover the whole reference.
DEMO_MODES: tuple[tuple[str, ...], ...] = (
    ("--demo",),  # legacy firmware, with a SunVault
    ("--demo", "--demo-api", "varserver", "--live"),  # new firmware, SunVault, live stream
)
DEADLINE_SECONDS = 60.0
# A mode is done once a scrape has shown nothing new for this long.
QUIET_SECONDS = 8.0


def documented_metrics() -> set[str]:
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    names = set(re.findall(r"^\| `(sunpower_pvs_[a-z0-9_]+)` \|", text, re.MULTILINE))
    assert len(names) > 50, "docs/metrics.md has changed shape; fix this parser"
    return names


def sample_names(text: str) -> set[str]:
    """Each sample's name; a histogram's too, which docs/metrics.md lists by its
    family name (its samples are ``_bucket``, ``_count`` and ``_sum``)."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        if family.type == "histogram" and family.samples:
            names.add(family.name)
        names.update(s.name for s in family.samples if not s.name.endswith("_created"))
    return names


def shown_by(argv: tuple[str, ...], wanted: set[str], output: Path) -> set[str]:
    """The documented metrics one demo mode exports (scraped until ``wanted`` or the deadline)."""
    proc, port = start_exporter(*argv, output=output)
    seen: set[str] = set()
    try:
        now = time.monotonic()
        deadline, last_new = now + DEADLINE_SECONDS, None
        while now < deadline and not wanted <= seen:
            if last_new is not None and now - last_new > QUIET_SECONDS:
                break
            assert proc.poll() is None, output.read_text()[-2000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    names = sample_names(r.read().decode())
            except OSError:
                names = set()
            if names - seen:
                seen |= names
                last_new = time.monotonic()
            time.sleep(0.5)
            now = time.monotonic()
    finally:
        stop_process(proc)
    return seen & wanted


def test_every_documented_metric_appears_in_some_demo_mode(tmp_path: Path):
    documented = documented_metrics()
    shown: dict[tuple[str, ...], set[str]] = {}
    missing = set(documented)
    for argv in DEMO_MODES:
        shown[argv] = shown_by(argv, missing, tmp_path / "output")
        missing -= shown[argv]
    assert not missing, f"in no demo mode ({[' '.join(m) for m in DEMO_MODES]}): {sorted(missing)}"
    # Each mode contributes: none of them is dead weight (or silently broken).
    for argv, names in shown.items():
        assert names, f"{' '.join(argv)} showed no documented metric"
