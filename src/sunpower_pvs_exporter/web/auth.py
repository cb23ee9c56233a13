"""Basic auth from the ``basic_auth_users`` of a web config file.

Basic auth: a correct check is remembered under an HMAC of the username and
password with a per-process random key — never the password itself — for
``CACHE_TTL_SECONDS`` after its last use (every hit refreshes it), so a
scraper that keeps scraping never pays for bcrypt again. Credentials that
are not in the cache (new, wrong, unknown) go through ``BcryptGate``: one
worker thread, a short queue per client address served round-robin, and a
bound on how many addresses may wait. When that is full the request is
answered 429 at once instead of queueing, so a flood of wrong passwords
costs the flooder, never a cached user, and a new client waits for at most
``MAX_WAITING_CLIENTS`` checks. An unknown user is checked against a dummy
hash of the same cost, so the answer takes as long as for a known user with
a wrong password. bcrypt only ever looks at 72 bytes; bcrypt 5 refuses
longer passwords, and so do we: a password over 72 bytes is rejected (after
the same dummy work), never silently truncated.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hashlib
import hmac
import logging
import random
import re
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web

from sunpower_pvs_exporter.config_values import error, mapping
from sunpower_pvs_exporter.web.connections import client_key

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

BCRYPT_MAX_PASSWORD_BYTES = 72
CACHE_TTL_SECONDS = 300.0
CACHE_MAX_ENTRIES = 256
# bcrypt is CPU-bound: one check at a time, in one dedicated thread, so a
# flood of bad passwords takes at most one core of a Raspberry Pi.
BCRYPT_WORKERS = 1
# Uncached checks waiting per client address (an IPv6 /64 counts as one)...
MAX_WAITING_PER_CLIENT = 2
# ...and how many addresses may wait at once. Served round-robin, a new client
# waits for at most this many checks (~60 ms each at cost 10): well under 1 s.
MAX_WAITING_CLIENTS = 8
RETRY_AFTER_SECONDS = 2
# Every 401/429 is answered this late (see make_auth_middleware): a client
# then gets at most one refusal per connection per 2 s, so max_connections
# connections can make at most max_connections / 2 refusals a second.
AUTH_REFUSAL_DELAY_SECONDS = 2.0
# ...give or take this fraction of it, at random: a flood's connections,
# opened together, would otherwise be answered together, every 2 s, in bursts
# of hundreds that a cached user's scrape waits behind (benchmarks/attack.py).
AUTH_REFUSAL_SPREAD = 0.5
HEALTH_PATHS = frozenset({"/-/healthy", "/-/ready"})
REALM = "sunpower-pvs-exporter"
BCRYPT_HASH = re.compile(r"^\$2[abxy]?\$(\d\d)\$[./A-Za-z0-9]{53}$")
USERNAME_MAX_BYTES = 256


def parse_users(raw: object) -> dict[str, str]:
    doc = mapping(raw, "basic_auth_users")
    users: dict[str, str] = {}
    for name, hashed in doc.items():
        # Never echo the value: it is a password hash.
        key = f"basic_auth_users.{name}"
        if not name or ":" in name or len(name.encode("utf-8", "replace")) > USERNAME_MAX_BYTES:
            raise error(key, "user names must be non-empty, without ':'")
        if not isinstance(hashed, str) or not BCRYPT_HASH.match(hashed.strip()):
            raise error(
                key,
                "expected a bcrypt hash ($2a$/$2b$/$2y$, e.g. from htpasswd -nBC 12 USER); "
                "plain-text passwords are not accepted",
            )
        users[name] = hashed.strip()
    return users


class AuthOverloaded(Exception):
    """Too many uncached password checks are waiting; answer 429, do not queue."""


class BcryptGate:
    """The only way to a bcrypt check: bounded, fair between clients, never shared.

    Checks run in ``workers`` dedicated threads (not the default executor
    the rest of the exporter uses). Waiting checks are kept per client and
    started round-robin, so one client with many connections gets no more
    turns than one with a single connection. ``submit`` refuses
    (``AuthOverloaded``) when the client already has ``per_client`` checks
    waiting or ``max_clients`` other clients are waiting: shedding, not
    queueing, is what keeps the wait of a new client bounded.

    A check whose request went away before its turn (client disconnected)
    is skipped, so abandoned floods cost nothing.
    """

    def __init__(
        self,
        workers: int = BCRYPT_WORKERS,
        per_client: int = MAX_WAITING_PER_CLIENT,
        max_clients: int = MAX_WAITING_CLIENTS,
    ) -> None:
        self.workers = workers
        self.per_client = per_client
        self.max_clients = max_clients
        self._waiting: OrderedDict[str, deque[tuple[Callable[[], bool], asyncio.Future[bool]]]]
        self._waiting = OrderedDict()
        self._running = 0
        self._executor: ThreadPoolExecutor | None = None
        self.shed = 0
        self.started = 0

    @property
    def waiting(self) -> int:
        return sum(len(queue) for queue in self._waiting.values())

    async def run(self, client: str, check: Callable[[], bool]) -> bool:
        queue = self._waiting.get(client)
        if queue is None:
            if len(self._waiting) >= self.max_clients:
                self.shed += 1
                raise AuthOverloaded(client)
            queue = self._waiting[client] = deque()
        if len(queue) >= self.per_client:
            self.shed += 1
            raise AuthOverloaded(client)
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        queue.append((check, future))
        self._pump()
        return await future

    def _pump(self) -> None:
        while self._running < self.workers and self._waiting:
            client, queue = next(iter(self._waiting.items()))
            check, future = queue.popleft()
            if queue:
                self._waiting.move_to_end(client)  # round-robin between clients
            else:
                del self._waiting[client]
            if future.done():  # the request was cancelled while waiting
                continue
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="bcrypt")
            self._running += 1
            self.started += 1
            work = asyncio.get_running_loop().run_in_executor(self._executor, check)
            work.add_done_callback(functools.partial(self._finished, future=future))

    def _finished(self, done: asyncio.Future[bool], *, future: asyncio.Future[bool]) -> None:
        self._running -= 1
        if not future.done():
            if done.cancelled():
                future.cancel()
            elif done.exception() is not None:
                future.set_exception(done.exception())  # type: ignore[arg-type]
            else:
                future.set_result(done.result())
        self._pump()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


def _hash_cost(hashed: str) -> int:
    match = BCRYPT_HASH.match(hashed)
    return int(match.group(1)) if match else 10


class BasicAuthChecker:
    """Checks ``Authorization: Basic`` credentials against bcrypt hashes.

    Cache: HMAC-SHA256(per-process random key, user + password) -> expiry,
    least recently used first, at most ``max_entries``. A hit moves the
    expiry ``ttl`` ahead, so a scraper that keeps coming never needs bcrypt
    again. A cached entry proves only that the pair was verified recently;
    the key never leaves the process, so the cache does not help anyone
    recover a password from memory faster than the bcrypt hash itself would.
    """

    def __init__(
        self,
        users: Mapping[str, str],
        ttl: float = CACHE_TTL_SECONDS,
        max_entries: int = CACHE_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
        gate: BcryptGate | None = None,
    ) -> None:
        self._users = {name: hashed.encode("ascii") for name, hashed in users.items()}
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._key = secrets.token_bytes(32)
        self._cache: OrderedDict[bytes, float] = OrderedDict()
        import bcrypt  # only with basic auth: keeps it out of every other process

        cost = max((_hash_cost(h) for h in users.values()), default=10)
        # Same cost as the real hashes, so unknown users take as long as known ones.
        self._dummy = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(rounds=cost))
        self.gate = gate or BcryptGate()
        self.bcrypt_checks = 0

    def _cache_key(self, user: bytes, password: bytes) -> bytes:
        message = len(user).to_bytes(4, "big") + user + password
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def _cached(self, key: bytes) -> bool:
        expiry = self._cache.get(key)
        if expiry is None:
            return False
        if expiry <= self.clock():
            del self._cache[key]
            return False
        self._remember(key)  # a hit keeps a scraper that keeps scraping cached
        return True

    def _remember(self, key: bytes) -> None:
        self._cache[key] = self.clock() + self.ttl
        self._cache.move_to_end(key)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)

    def _check_blocking(self, hashed: bytes | None, password: bytes) -> bool:
        import bcrypt

        self.bcrypt_checks += 1
        if hashed is None or len(password) > BCRYPT_MAX_PASSWORD_BYTES:
            # Burn the same time as a real check, then refuse.
            bcrypt.checkpw(password[:BCRYPT_MAX_PASSWORD_BYTES], self._dummy)
            return False
        try:
            return bcrypt.checkpw(password, hashed)
        except ValueError:
            return False

    async def check(self, user: str, password: bytes, client: str = "?") -> bool:
        """True if the credentials are right; ``AuthOverloaded`` if the check must wait too long.

        ``client`` (see ``client_key``) is whom an uncached check is charged to.
        """
        user_bytes = user.encode("utf-8", "surrogateescape")
        key = self._cache_key(user_bytes, password)
        if self._cached(key):
            return True
        hashed = self._users.get(user)
        ok = await self.gate.run(client, lambda: self._check_blocking(hashed, password))
        if ok:
            self._remember(key)
        return ok

    async def check_header(self, header: str | None, client: str = "?") -> str | None:
        """The authenticated user name, or ``None``; ``AuthOverloaded`` when shedding."""
        credentials = parse_basic_authorization(header)
        if credentials is None:
            return None
        user, password = credentials
        return user if await self.check(user, password, client) else None


def parse_basic_authorization(header: str | None) -> tuple[str, bytes] | None:
    """``(user, password bytes)`` from ``Basic base64(user:password)``; else ``None``."""
    if not header:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        raw = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user_bytes, sep, password = raw.partition(b":")
    if not sep or not user_bytes or len(user_bytes) > USERNAME_MAX_BYTES:
        return None
    try:
        user = user_bytes.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return user, password


# Refusals are returned, never raised: a raised HTTPException keeps its
# traceback, whose frames refer back to it, so each one is garbage only the
# cyclic collector frees. A flood of refusals made enough of it for gen-2
# collections of 150-370 ms, which a cached user's scrape waited behind
# (benchmarks/RESULTS.md, attack).


def unauthorized() -> web.Response:
    return web.Response(
        status=401,
        text="401 Unauthorized\n",
        headers={"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'},
    )


def too_many_checks() -> web.Response:
    return web.Response(
        status=429,
        text="429 Too Many Requests: too many password checks waiting\n",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def make_auth_middleware(
    checker: BasicAuthChecker,
    open_paths: frozenset[str],
    refusal_delay: float = AUTH_REFUSAL_DELAY_SECONDS,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    *,
    spread: float = AUTH_REFUSAL_SPREAD,
    uniform: Callable[[float, float], float] = random.uniform,
) -> Any:
    """Basic auth on every path but ``open_paths``.

    A refusal (401 or 429) is answered after ``refusal_delay`` (± ``spread``
    of it, at random; on average ``refusal_delay``): a client flooding bad
    credentials then gets one answer per connection per delay instead of as
    many as the event loop can write, which is what keeps the loop free for
    the users who got in. The spread keeps the answers to a flood's
    connections from coming in one burst. Waiting costs an idle coroutine;
    the number of connections doing it is capped (``web/connections.py``).
    """
    low, high = refusal_delay * (1 - spread), refusal_delay * (1 + spread)

    def delay() -> float:
        return uniform(low, high) if spread else refusal_delay

    @web.middleware
    async def basic_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in open_paths:
            client = client_key(request.remote)
            try:
                user = await checker.check_header(request.headers.get("Authorization"), client)
            except AuthOverloaded:
                # Not logged per request: a flood would flood the log too
                # (the gate counts what it shed).
                overloaded = True
            else:
                overloaded = False
            if overloaded:
                await sleep(delay())
                return too_many_checks()
            if user is None:
                peer = request.remote or "?"
                log.warning("basic auth failed for a request from %s to %s", peer, request.path)
                await sleep(delay())
                return unauthorized()
        return await handler(request)

    return basic_auth
