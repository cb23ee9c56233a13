"""The one helper through which tests give up for want of a tool: loud, and fatal in CI."""

from __future__ import annotations

import pytest

from support import REQUIRE_E2E_ENV, require_program

MISSING = "sunpower-pvs-no-such-program-7f3a"


def test_a_missing_tool_fails_the_test_in_ci(monkeypatch):
    monkeypatch.setenv(REQUIRE_E2E_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="this test must run"):
        require_program(MISSING, not_tested="nothing was checked", fix="install it")


def test_a_missing_tool_skips_loudly_elsewhere(monkeypatch):
    monkeypatch.delenv(REQUIRE_E2E_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        require_program(MISSING, not_tested="nothing was checked", fix="install it")
    message = str(skipped.value)
    assert message.startswith("SKIPPED LOUDLY:")
    assert MISSING in message and "nothing was checked" in message and "install it" in message


def test_a_present_tool_is_found(monkeypatch):
    monkeypatch.setenv(REQUIRE_E2E_ENV, "1")
    path = require_program(MISSING, "sh", not_tested="nothing", fix="nothing")
    assert path.endswith("/sh")
