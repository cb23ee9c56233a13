"""Fault injection and a request log for the simulated PVS.

Tests flip fields on a ``FaultPlan`` while the simulator runs; the next
matching request misbehaves accordingly. The ``RequestLog`` lets tests count
exactly what the exporter asked the PVS for.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields

# ``FaultPlan.unauthorized_status`` value: the expired-session answer of some
# builds, ``200`` with an empty body instead of 401.
EXPIRED_EMPTY_200 = 200
# The variable some builds never answer for.
FLASHWEAR_VARIABLE = "/sys/pvs/flashwear_type_b"


@dataclass
class FaultPlan:
    """What the next requests should suffer. Empty plan: a healthy PVS.

    Faults that are about sessions rather than single requests (expiring
    every session now, a PVS reboot that forgets ``cache=`` sets) are methods
    on ``SimulatedPvs``.

    ``only`` restricts faults to requests whose name (dl_cgi command, or path)
    is listed; ``remaining`` bounds how many requests are affected (``None``:
    all of them until cleared).
    """

    latency: float = 0.0
    status: int | None = None
    reset: bool = False
    truncate: bool = False
    invalid_json: bool = False
    huge_bytes: int = 0
    # Replace the first value of this field in a JSON answer (a DeviceList key
    # such as ``p_3phsum_kw``, or the last part of a varserver name such as
    # ``p3phsumKw``) by the JSON integer 10**400, which fits no double.
    huge_number_field: str = ""
    only: frozenset[str] = frozenset()
    remaining: int | None = None
    # varserver: what a request with a missing/expired session gets (a real
    # PVS has been seen answering 401, 403 and 500; EXPIRED_EMPTY_200: some
    # builds answer 200 with an empty body).
    unauthorized_status: int = 401
    # varserver: reject every login, even with the right password (the
    # owner changed it, or the exporter was given the wrong one).
    reject_logins: bool = False
    # varserver: a /vars request that reads any of these variables never
    # answers (seen on some builds for /sys/pvs/flashwear_type_b).
    hanging_variables: frozenset[str] = frozenset()

    def applies_to(self, name: str) -> bool:
        if self.only and name not in self.only:
            return False
        return self.remaining is None or self.remaining > 0

    def consume(self) -> None:
        if self.remaining is not None:
            self.remaining -= 1

    def clear(self) -> None:
        healthy = FaultPlan()
        for spec in fields(self):
            setattr(self, spec.name, getattr(healthy, spec.name))


@dataclass(frozen=True)
class LoggedRequest:
    at: float
    method: str
    path: str
    name: str
    # The request target exactly as it arrived (path and undecoded query).
    raw_target: str = ""


@dataclass
class RequestLog:
    entries: list[LoggedRequest] = field(default_factory=list)

    def add(self, method: str, path: str, name: str, raw_target: str = "") -> None:
        self.entries.append(LoggedRequest(time.monotonic(), method, path, name, raw_target))

    def count(self, name: str) -> int:
        return sum(1 for entry in self.entries if entry.name == name)

    def times(self, name: str) -> list[float]:
        return [entry.at for entry in self.entries if entry.name == name]

    def clear(self) -> None:
        self.entries.clear()
