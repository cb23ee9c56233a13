"""Counts in messages."""

from __future__ import annotations

import pytest

from sunpower_pvs_exporter.wording import counted


@pytest.mark.parametrize(("count", "text"), [(0, "0 targets"), (1, "1 target"), (2, "2 targets")])
def test_one_is_singular_and_every_other_count_plural(count: int, text: str):
    assert counted(count, "target") == text
