"""Pushgateway credentials come from a file or the environment, never a flag."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from sunpower_pvs_exporter.push import (
    PUSH_AUTH_ENV,
    PushAuthError,
    Pusher,
    group_url,
    read_push_auth,
)
from support import HungGateway


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


async def test_shutdown_deletes_all_groups_at_once_within_one_deadline(caplog):
    """A hung Pushgateway cost 10 s per group, one after another: with two or
    more groups the systemd unit's TimeoutStopSec ended the exporter by SIGKILL."""
    gateway = HungGateway()
    server = await asyncio.start_server(gateway.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pusher = Pusher(f"http://127.0.0.1:{port}", "solar")
    groups = ["hung-a", "hung-b", "hung-c", "roof"]
    try:
        for group in groups:
            await pusher.push(group, b"sunpower_pvs_up 1\n")
        assert [line.split()[0] for line in gateway.requests] == ["PUT"] * 4
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="sunpower_pvs_exporter.push"):
            await pusher.delete_all(deadline=0.5)
        took = time.monotonic() - started
    finally:
        for writer in gateway.held:
            writer.close()
        server.close()
    # Every DELETE was sent (concurrently), and all of them together took one deadline.
    deletes = sorted(line.split()[1] for line in gateway.requests if line.startswith("DELETE"))
    assert deletes == [f"/metrics/job/solar/instance/{group}" for group in groups]
    assert took < 0.5 + 0.4, took
    # One line per group left behind, naming it; the answered one is not among them.
    left = [record for record in caplog.records if "not done within" in record.getMessage()]
    assert sorted(getattr(record, "target", "") for record in left) == groups[:3]
    assert all(
        record.getMessage()
        == f"delete from http://127.0.0.1:{port} not done within 0.5 s: the group stays on "
        "the Pushgateway"
        for record in left
    )
    # Nothing is left to delete a second time.
    await pusher.delete_all(deadline=0.5)
    assert len([line for line in gateway.requests if line.startswith("DELETE")]) == 4
