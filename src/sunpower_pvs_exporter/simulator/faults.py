"""Fault injection and a request log for the simulated PVS.

Tests flip fields on a ``FaultPlan`` while the simulator runs; the next
matching request misbehaves accordingly. The ``RequestLog`` lets tests count
exactly what the exporter asked the PVS for.
"""

from __future__ import annotations

import dataclasses
import struct
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields

from sunpower_pvs_exporter.simulator.site import SiteState

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
    # With EXPIRED_EMPTY_200: the body of that answer (empty; ``b"{}"`` is
    # the variant a client can only recognise by the missing serial number).
    expired_session_body: bytes = b""
    # varserver: reject every login, even with the right password (the
    # owner changed it, or the exporter was given the wrong one).
    reject_logins: bool = False
    # varserver: a /vars request that reads any of these variables never
    # answers (seen on some builds for /sys/pvs/flashwear_type_b).
    hanging_variables: frozenset[str] = frozenset()
    # varserver: variables this firmware does not have (a build without
    # ``/sys/info/cpu_usage``, say): not listed, and a ``name=`` read of one is 400.
    absent_variables: frozenset[str] = frozenset()
    # Named fault "slow_group": a /vars request that reads any variable under
    # one of these prefixes takes that many seconds more (a real PVS answers a
    # large family slowly). Like a real one, the simulated PVS finishes the
    # request even if the client gave up on it: ``RequestLog.in_flight``
    # keeps counting it until it is answered.
    slow_variables: Mapping[str, float] = field(default_factory=dict)
    # Named fault "query_error": a /vars read of any variable under one of
    # these prefixes answers fcgi_vars' 400 with this errorcode (a query
    # error such as "0x0200", a set the PVS could not add to), not the
    # "0x0040" of a query that matched nothing.
    query_error_variables: Mapping[str, str] = field(default_factory=dict)
    # Named fault "unescaped_quote": these variables' values hold a '"',
    # printed unescaped as fcgi_vars prints every string: the whole /vars
    # body that carries one is invalid JSON.
    unescaped_quote_variables: frozenset[str] = frozenset()

    def slowness(self, names: Iterable[str]) -> float:
        """Extra seconds a /vars read of ``names`` takes under "slow_group"."""
        if not self.slow_variables:
            return 0.0
        return max(
            (
                seconds
                for prefix, seconds in self.slow_variables.items()
                if any(name.startswith(prefix) for name in names)
            ),
            default=0.0,
        )

    def query_error(self, names: Iterable[str]) -> str | None:
        """The errorcode a /vars read of ``names`` fails with under "query_error"."""
        for prefix, code in self.query_error_variables.items():
            if any(name.startswith(prefix) for name in names):
                return code
        return None

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


@dataclass(frozen=True)
class ServedAnswer:
    """An answer the simulated PVS sent: its request's name and target, status, body size."""

    name: str
    raw_target: str
    status: int
    body_bytes: int


@dataclass
class RequestLog:
    entries: list[LoggedRequest] = field(default_factory=list)
    # Every answer sent, in order (a request reset or never answered has none).
    answers: list[ServedAnswer] = field(default_factory=list)
    # Requests being answered right now, and the most there ever were at once:
    # a PVS works on a request to the end even if the client gave up on it.
    in_flight: int = 0
    max_in_flight: int = 0

    def started(self) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def finished(self) -> None:
        self.in_flight -= 1

    def add(self, method: str, path: str, name: str, raw_target: str = "") -> None:
        self.entries.append(LoggedRequest(time.monotonic(), method, path, name, raw_target))

    def answered(self, name: str, raw_target: str, status: int, body_bytes: int) -> None:
        self.answers.append(ServedAnswer(name, raw_target, status, body_bytes))

    def count(self, name: str) -> int:
        return sum(1 for entry in self.entries if entry.name == name)

    def times(self, name: str) -> list[float]:
        return [entry.at for entry in self.entries if entry.name == name]

    def clear(self) -> None:
        self.entries.clear()
        self.answers.clear()
        self.max_in_flight = self.in_flight


ENERGY_GLITCHES = ("float_step", "zero")


def float32_step_down(value: float) -> float:
    """The float32 just below ``value``'s float32: what a PVS's lifetime kWh falls by.

    The PVS keeps lifetime energy in single precision; real units have been
    seen going 1665.559204 -> 1665.559082 kWh, one such step.
    """
    (bits,) = struct.unpack("<I", struct.pack("<f", value))
    if value > 0:
        bits -= 1
    (lower,) = struct.unpack("<f", struct.pack("<I", bits))
    return float(lower)


# Which devices' lifetime energy a glitch hits; the PVS serves each kind in
# its own varserver read, so each kind glitches on its own next read.
ENERGY_KINDS = ("inverter", "meter", "storage")


def glitch_energy(state: SiteState, kind: str, devices: str) -> SiteState:
    """``state`` with the lifetime energy of every ``devices`` device glitched as ``kind`` says."""

    def bad(value: float) -> float:
        return 0.0 if kind == "zero" else float32_step_down(value)

    if devices == "inverter":
        inverters = tuple(
            dataclasses.replace(inv, energy_kwh=bad(inv.energy_kwh)) for inv in state.inverters
        )
        return dataclasses.replace(state, inverters=inverters)
    if devices == "meter":
        meters = tuple(
            dataclasses.replace(m, pos_kwh=bad(m.pos_kwh), neg_kwh=bad(m.neg_kwh))
            for m in state.meters
        )
        return dataclasses.replace(state, meters=meters)
    if state.storage is None:
        return state
    storage = dataclasses.replace(
        state.storage,
        charged_kwh=bad(state.storage.charged_kwh),
        discharged_kwh=bad(state.storage.discharged_kwh),
    )
    return dataclasses.replace(state, storage=storage)
