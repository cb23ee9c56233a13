"""The web config's ``rate_limit`` (``web/rate_limit.py``): exporter-toolkit's token bucket.

Parsing with the exact errors, the bucket on a fake clock, and a real
exporter answering 429 once the bucket is empty, before authentication.
"""

from __future__ import annotations

from pathlib import Path

import bcrypt
import pytest

from sunpower_pvs_exporter.config import ConfigError
from sunpower_pvs_exporter.web.rate_limit import RateLimit, TokenBucket, parse_rate_limit
from sunpower_pvs_exporter.web.security import build_security, load_web_config
from support import FakeClock, target_for


def load(tmp_path: Path, text: str) -> RateLimit | None:
    path = tmp_path / "web.yml"
    path.write_text(text)
    return load_web_config(str(path)).rate_limit


@pytest.mark.parametrize(
    ("interval", "seconds"),
    [("1s", 1.0), ("250ms", 0.25), ("1m30s", 90.0), ("1.5h", 5400.0), ("500us", 0.0005)],
)
def test_go_durations_are_read_as_exporter_toolkit_reads_them(tmp_path, interval, seconds):
    limit = load(tmp_path, f"rate_limit:\n  interval: {interval}\n  burst: 3\n")
    assert limit == RateLimit(pytest.approx(seconds), 3)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["", "rate_limit:\n", "rate_limit:\n  interval: 0\n  burst: 5\n",
                                  "rate_limit:\n  interval: 0s\n"])  # fmt: skip
def test_no_interval_means_no_limit(tmp_path, text):
    assert load(tmp_path, text) is None


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"interval": 5, "burst": 1},
         "rate_limit.interval: a duration needs a unit, e.g. 5s (Go reads a bare number as "
         "nanoseconds)"),
        ({"interval": "fast", "burst": 1},
         "rate_limit.interval: not a duration: 'fast' (examples: 1s, 250ms, 1m30s)"),
        ({"interval": "1d", "burst": 1},
         "rate_limit.interval: not a duration: '1d' (examples: 1s, 250ms, 1m30s)"),
        ({"interval": "-1s", "burst": 1}, "rate_limit.interval: must not be negative"),
        ({"interval": "1s"},
         "rate_limit.burst: must be at least 1 with an interval, got 0 (with 0, "
         "exporter-toolkit refuses every request)"),
        ({"interval": "1s", "burst": "10"},
         "rate_limit.burst: expected a whole number of requests"),
        ({"interval": "1s", "burst": True},
         "rate_limit.burst: expected a whole number of requests"),
        ({"interval": "1s", "burst": 1, "bursts": 2},
         "rate_limit.bursts: unknown key, did you mean burst? (allowed: burst, interval)"),
        ("1s", "rate_limit: expected a mapping"),
    ],
)  # fmt: skip
def test_bad_rate_limits_are_refused_naming_the_key(doc, message):
    with pytest.raises(ConfigError) as info:
        parse_rate_limit(doc)
    assert str(info.value).startswith(message), str(info.value)


def test_the_bucket_holds_burst_tokens_and_gets_one_back_per_interval():
    clock = FakeClock(1000.0)
    bucket = TokenBucket(RateLimit(interval=10.0, burst=2), clock=clock)
    assert [bucket.take() for _ in range(3)] == [True, True, False]
    assert bucket.seconds_to_next() == pytest.approx(10.0)
    clock.advance(5.0)
    assert not bucket.take()
    assert bucket.seconds_to_next() == pytest.approx(5.0)
    clock.advance(5.0)
    assert bucket.take() and not bucket.take()
    clock.advance(1000.0)  # a long quiet spell refills the bucket, never beyond burst
    assert [bucket.take() for _ in range(3)] == [True, True, False]


def test_the_startup_summary_names_the_limit(tmp_path):
    path = tmp_path / "web.yml"
    path.write_text("rate_limit:\n  interval: 2s\n  burst: 5\n")
    summary = build_security(load_web_config(str(path))).summary
    assert summary == "plain HTTP, no authentication, rate limit: 5 at once, then 1 per 2 s"


async def test_the_exporter_answers_429_when_the_bucket_is_empty_before_authentication(
    make_simulator, make_secure_exporter, http
):
    sim = await make_simulator(inverters=1)
    hashed = bcrypt.hashpw(b"secret", bcrypt.gensalt(rounds=4)).decode()
    web_config = (
        f"basic_auth_users:\n  prometheus: '{hashed}'\n"
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n"
        "rate_limit:\n  interval: 1h\n  burst: 2\n"
    )
    exporter = await make_secure_exporter([target_for(sim)], web_config=web_config)
    statuses = []
    for path in ("/-/healthy", "/metrics", "/metrics", "/-/healthy"):
        async with http.get(exporter.url + path) as response:
            statuses.append(response.status)
            headers = response.headers
            body = await response.text()
    # Two tokens: two answers (401: no credentials), then 429 on every path.
    assert statuses == [401, 401, 429, 429]
    assert body == "429 Too Many Requests\n"
    assert headers["Retry-After"] == "3600"
    assert headers["X-Frame-Options"] == "deny"
    # Good credentials do not get past an empty bucket: it is checked first.
    auth = {"Authorization": "Basic cHJvbWV0aGV1czpzZWNyZXQ="}  # prometheus:secret
    async with http.get(exporter.url + "/metrics", headers=auth) as response:
        assert response.status == 429
