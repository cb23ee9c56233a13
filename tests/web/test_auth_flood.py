"""Wrong-password floods cannot starve real users (issue: "Hardened under hostile load").

Cached credentials never touch bcrypt, and a hit keeps them cached; every
other check goes through ``BcryptGate``: one worker, a short queue per client
address served round-robin, and a 429 when that is full instead of a wait.
Behaviour only — status codes, check counts, order — no wall-clock limits;
the latency figures are in ``benchmarks/attack.py``.
"""

from __future__ import annotations

import asyncio
import base64
import threading

import bcrypt
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from sunpower_pvs_exporter.web.auth import (
    AUTH_REFUSAL_DELAY_SECONDS,
    AUTH_REFUSAL_SPREAD,
    RETRY_AFTER_SECONDS,
    AuthOverloaded,
    BasicAuthChecker,
    BcryptGate,
    make_auth_middleware,
)
from sunpower_pvs_exporter.web.connections import client_key
from support import target_for

PASSWORD = "correct horse battery staple"


def bcrypt_hash(password: str, cost: int = 4) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=cost)).decode()


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def auth_config(users: dict[str, str]) -> str:
    lines = "".join(f"  {name}: '{hashed}'\n" for name, hashed in users.items())
    return "basic_auth_users:\n" + lines


class Blocker:
    """A stand-in for bcrypt that holds the gate's worker until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.ran: list[str] = []

    def check(self, name: str) -> bool:
        self.ran.append(name)
        return self.release.wait(timeout=30)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_hit_keeps_the_entry_cached_and_the_cache_is_bounded():
    now = [0.0]
    checker = BasicAuthChecker(
        {"u": bcrypt_hash(PASSWORD), "v": bcrypt_hash("other")},
        ttl=60.0,
        max_entries=2,
        clock=lambda: now[0],
    )
    assert await checker.check("u", PASSWORD.encode())
    for _ in range(10):  # scraped every 50 s for 500 s: never re-verified
        now[0] += 50.0
        assert await checker.check("u", PASSWORD.encode())
    assert checker.bcrypt_checks == 1
    # Bounded: the least recently used entry goes first.
    assert await checker.check("v", b"other")
    assert await checker.check("u", PASSWORD.encode())  # u is now the most recent
    assert checker.bcrypt_checks == 2
    await checker.check("u", b"wrong")  # failures are never cached
    assert len(checker._cache) == 2
    now[0] += 61.0
    assert await checker.check("u", PASSWORD.encode())
    assert checker.bcrypt_checks == 4


async def test_the_gate_sheds_per_client_and_when_too_many_clients_wait():
    gate = BcryptGate(workers=1, per_client=2, max_clients=3)
    blocker = Blocker()
    running = asyncio.create_task(gate.run("a", lambda: blocker.check("a0")))
    await settle()
    queued = [
        asyncio.create_task(gate.run("a", lambda: blocker.check("a1"))),
        asyncio.create_task(gate.run("a", lambda: blocker.check("a2"))),
    ]
    await settle()
    with pytest.raises(AuthOverloaded):
        await gate.run("a", lambda: blocker.check("a3"))
    queued += [
        asyncio.create_task(gate.run(name, lambda name=name: blocker.check(name)))
        for name in ("b", "c")
    ]
    await settle()
    with pytest.raises(AuthOverloaded):
        await gate.run("d", lambda: blocker.check("d"))
    assert gate.shed == 2
    assert gate.waiting == 4
    blocker.release.set()
    assert await running
    assert all(await asyncio.gather(*queued))
    # Round-robin between clients: "a" had three connections, it got no more turns.
    assert blocker.ran == ["a0", "a1", "b", "c", "a2"]
    gate.close()


async def test_a_request_that_left_while_waiting_costs_no_check():
    gate = BcryptGate(workers=1, per_client=2, max_clients=4)
    blocker = Blocker()
    first = asyncio.create_task(gate.run("a", lambda: blocker.check("first")))
    await settle()
    abandoned = asyncio.create_task(gate.run("b", lambda: blocker.check("abandoned")))
    await settle()
    abandoned.cancel()
    await settle()
    blocker.release.set()
    assert await first
    assert await gate.run("c", lambda: blocker.check("next"))
    assert blocker.ran == ["first", "next"]
    gate.close()


def test_client_key_groups_an_ipv6_64_and_unwraps_mapped_ipv4():
    assert client_key("192.0.2.7") == "192.0.2.7"
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:ffff::9")
    assert client_key("2001:db8:1:2::1") != client_key("2001:db8:1:3::1")
    assert client_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert client_key(None) == "?"


async def test_a_flood_is_shed_with_429_and_never_delays_a_cached_user(
    make_simulator, make_secure_exporter, http
):
    sim = await make_simulator(inverters=1)
    exporter = await make_secure_exporter(
        [target_for(sim)],
        web_config=auth_config({"prometheus": bcrypt_hash(PASSWORD), "grafana": bcrypt_hash("g")}),
        health_without_auth=True,
    )
    checker = exporter.security.checker  # type: ignore[attr-defined]
    gate = checker.gate
    async with http.get(exporter.url + "/metrics", headers=basic("prometheus", PASSWORD)) as r:
        assert r.status == 200
    checks = checker.bcrypt_checks

    # Fill the gate: its worker busy, every client slot taken by other addresses.
    blocker = Blocker()
    held = [
        asyncio.create_task(gate.run(f"198.51.100.{i}", lambda i=i: blocker.check(str(i))))
        for i in range(gate.max_clients + 1)
    ]
    await settle()
    try:
        assert gate.waiting == gate.max_clients
        # Wrong passwords, unknown users and even a right but uncached password: 429 now.
        for headers in (basic("prometheus", "wrong"), basic("nobody", "x"), basic("grafana", "g")):
            async with http.get(exporter.url + "/metrics", headers=headers) as r:
                assert r.status == 429
                assert r.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
                assert "WWW-Authenticate" not in r.headers
        # No credentials at all needs no check: still a plain 401.
        async with http.get(exporter.url + "/metrics") as r:
            assert r.status == 401
        # The cached user is served, without bcrypt, while the gate is full.
        for _ in range(5):
            async with http.get(
                exporter.url + "/metrics", headers=basic("prometheus", PASSWORD)
            ) as r:
                assert r.status == 200
        async with http.get(exporter.url + "/-/healthy") as r:
            assert r.status == 200
        async with http.get(exporter.url + "/-/ready") as r:
            assert r.status == 200
        assert checker.bcrypt_checks == checks
    finally:
        blocker.release.set()
        await asyncio.gather(*held)
    # Once the flood drains, a new user is verified.
    async with http.get(exporter.url + "/metrics", headers=basic("grafana", "g")) as r:
        assert r.status == 200
    assert checker.bcrypt_checks == checks + 1


async def test_many_wrong_passwords_from_one_client_get_401_or_429_quickly(
    make_simulator, make_secure_exporter, http
):
    sim = await make_simulator(inverters=1)
    exporter = await make_secure_exporter(
        [target_for(sim)], web_config=auth_config({"prometheus": bcrypt_hash(PASSWORD)})
    )
    checker = exporter.security.checker  # type: ignore[attr-defined]

    async def bad() -> int:
        async with http.get(exporter.url + "/metrics", headers=basic("x", "y")) as response:
            return response.status

    statuses = await asyncio.gather(*(bad() for _ in range(20)))
    assert set(statuses) == {401, 429}
    # One client never has more than its share running or waiting.
    assert checker.bcrypt_checks <= 20 - statuses.count(429)
    assert checker.gate.shed == statuses.count(429)


async def test_refusals_are_answered_late_and_successes_at_once():
    """The tarpit: every 401/429 waits, so a flood gets few answers per connection."""
    checker = BasicAuthChecker({"u": bcrypt_hash(PASSWORD)})
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    middleware = make_auth_middleware(checker, frozenset(), 7.0, fake_sleep, spread=0.0)

    async def ok(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def status(headers: dict[str, str]) -> int:
        request = make_mocked_request("GET", "/metrics", headers=headers)
        try:
            response = await middleware(request, ok)
        except web.HTTPException as exc:
            return exc.status
        return response.status

    assert await status(basic("u", PASSWORD)) == 200
    assert slept == []
    assert await status(basic("u", "wrong")) == 401
    assert await status({}) == 401
    assert slept == [7.0, 7.0]
    checker.gate.max_clients = 0  # nothing may wait: shed
    assert await status(basic("u", "other")) == 429
    assert slept == [7.0, 7.0, 7.0]
    assert await status(basic("u", PASSWORD)) == 200  # cached: no gate, no delay
    assert len(slept) == 3
    assert AUTH_REFUSAL_DELAY_SECONDS >= 0.5


async def test_refusal_delays_are_spread_around_the_delay():
    """A flood's connections opened together must not be answered together."""
    checker = BasicAuthChecker({"u": bcrypt_hash(PASSWORD)})
    slept: list[float] = []
    asked: list[tuple[float, float]] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    def fake_uniform(low: float, high: float) -> float:
        asked.append((low, high))
        return [low, high, (low + high) / 2][len(asked) % 3]

    middleware = make_auth_middleware(
        checker, frozenset(), 2.0, fake_sleep, spread=0.5, uniform=fake_uniform
    )

    async def ok(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    for _ in range(3):
        response = await middleware(make_mocked_request("GET", "/metrics", headers={}), ok)
        assert response.status == 401
    assert asked == [(1.0, 3.0)] * 3
    assert slept == [3.0, 2.0, 1.0]
    assert AUTH_REFUSAL_SPREAD < 1  # never a zero delay
