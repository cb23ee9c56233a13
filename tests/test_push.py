"""Pushgateway credentials come from a file or the environment, never a flag."""

from __future__ import annotations

from pathlib import Path

import pytest

from sunpower_pvs_exporter.push import PUSH_AUTH_ENV, PushAuthError, group_url, read_push_auth


def test_credentials_from_file_then_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(PUSH_AUTH_ENV, raising=False)
    assert read_push_auth(None) is None
    monkeypatch.setenv(PUSH_AUTH_ENV, "env-user:env:pass")
    assert read_push_auth(None) == ("env-user", "env:pass")
    secret = tmp_path / "push.auth"
    secret.write_text("file-user:s3cret\n")
    assert read_push_auth(str(secret)) == ("file-user", "s3cret")


@pytest.mark.parametrize("content", ["no-colon", ":password-without-user"])
def test_malformed_credentials_are_a_clear_error_without_the_secret(tmp_path: Path, content: str):
    secret = tmp_path / "push.auth"
    secret.write_text(content)
    with pytest.raises(PushAuthError) as exc:
        read_push_auth(str(secret))
    assert "user:password" in str(exc.value)
    assert content not in str(exc.value)


def test_unreadable_file(tmp_path: Path):
    with pytest.raises(PushAuthError) as exc:
        read_push_auth(str(tmp_path / "missing"))
    assert "cannot read" in str(exc.value)


@pytest.mark.parametrize(
    ("gateway", "job", "instance", "url"),
    [
        (
            "127.0.0.1:9091",
            "solar",
            "roof",
            "http://127.0.0.1:9091/metrics/job/solar/instance/roof",
        ),
        (
            "https://[::1]:9091/",
            "solar pv",
            "a/b",
            "https://[::1]:9091/metrics/job/solar+pv/instance@base64/YS9i",
        ),
        (
            "http://127.0.0.1:9091",
            "solar",
            "",
            "http://127.0.0.1:9091/metrics/job/solar/instance@base64/=",
        ),
    ],
)
def test_group_url_follows_the_pushgateway_path_rules(gateway, job, instance, url):
    assert group_url(gateway, job, instance) == url
