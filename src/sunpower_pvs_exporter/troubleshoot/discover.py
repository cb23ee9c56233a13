"""Finding a PVS for ``init``: where to look, one cheap request per address, what answered.

A PVS tells who it is without a login: ``GET /cgi-bin/dl_cgi/supervisor/info``
names its model, serial and firmware build (docs/protocol.md, detection). That
one request is all ``init`` sends to an address while looking: to the usual
places first (the installer port's fixed address and the name the PVS's own
DNS gives itself), and only when the owner names a range (``--scan CIDR``),
to each address of that range and no other, a bounded number at a time.

An address that refuses HTTP is asked once over HTTPS instead (new firmware on
the home network may listen only there): a refused connection carries no
request, so no address is ever sent two.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import aiohttp

from sunpower_pvs_exporter.pvs.detect import SupervisorInfo, backend_for, parse_supervisor_info
from sunpower_pvs_exporter.pvs.errors import PvsError
from sunpower_pvs_exporter.pvs.hosts import host_port
from sunpower_pvs_exporter.pvs.transport import decode_json, make_ssl_context
from sunpower_pvs_exporter.pvs.varserver import SUPERVISOR_INFO_PATH

# Where a PVS usually is: its installer port (LAN1) has this fixed address,
# and its own DNS there answers this name with it.
DEFAULT_CANDIDATES = ("172.27.153.1", "sunpowerconsole.com")
HTTP_PORT, HTTPS_PORT = 80, 443
# A home network is a /24; past a /22 a scan is a mistake, not a search.
MAX_SCAN_ADDRESSES = 1024
DEFAULT_CONCURRENCY = 32
# supervisor/info is a small static answer: a PVS that does not give it
# within this is not one to set up now.
DEFAULT_PROBE_TIMEOUT = 3.0
MAX_ANSWER_BYTES = 64 * 1024

Verdict = Literal["pvs", "not_pvs", "no_answer", "refused"]


@dataclass(frozen=True)
class Probe:
    """What one address said to the one request it got."""

    host: str
    verdict: Verdict
    detail: str
    # Where it answered (``port``; ``use_tls`` when over HTTPS).
    port: int = 0
    use_tls: bool = False
    info: SupervisorInfo | None = None

    @property
    def address(self) -> str:
        return host_port(self.host, self.port) if self.port else self.host

    @property
    def api(self) -> str:
        """``varserver`` or ``legacy`` by the build (docs/protocol.md §C); ``""`` if unknown."""
        if self.info is None or self.info.build is None:
            return ""
        return backend_for(self.info)[0]


class ScanRangeError(ValueError):
    """A ``--scan`` range that is not one, or too big to be meant."""


def scan_addresses(cidr: str, limit: int = MAX_SCAN_ADDRESSES) -> list[str]:
    """Every host address of ``cidr`` (a /32 or /128 is its one address), in order."""
    try:
        network = ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        raise ScanRangeError(
            f"--scan: expected an address range like 192.168.1.0/24, got {cidr!r}"
        ) from None
    if network.num_addresses > limit + 2:
        raise ScanRangeError(
            f"--scan: {network} has {network.num_addresses} addresses; name a range of at "
            f"most {limit} (a /{network.max_prefixlen - (limit.bit_length() - 1)}), the "
            "network your PVS is on"
        )
    return [str(address) for address in network.hosts()]


def identify(status: int, body: bytes) -> SupervisorInfo | str:
    """A PVS's identity from its supervisor/info answer, else why it is not one."""
    if status != 200:
        return f"answered HTTP {status}, not a PVS"
    try:
        doc = decode_json(body, "supervisor/info")
    except PvsError:
        return "answered, but not with JSON: not a PVS"
    info = parse_supervisor_info(doc)
    if info is None or not info.serial:
        return "answered JSON without a PVS serial: not a PVS"
    return info


def describe(info: SupervisorInfo) -> str:
    """``PVS6 (firmware 2025.10, Build 61846)``; the serial is left to the caller."""
    firmware = info.software_version or (f"build {info.build}" if info.build else "unknown")
    return f"{info.model or 'PVS'} (firmware {firmware})"


async def _ask(
    session: aiohttp.ClientSession, host: str, port: int, *, use_tls: bool
) -> tuple[int, bytes]:
    scheme = "https" if use_tls else "http"
    url = f"{scheme}://{host_port(host, port)}{SUPERVISOR_INFO_PATH}"
    async with session.get(url, allow_redirects=False) as response:
        body = await response.content.read(MAX_ANSWER_BYTES)
        return response.status, body


async def probe(
    session: aiohttp.ClientSession,
    host: str,
    *,
    port: int = HTTP_PORT,
    tls_port: int = HTTPS_PORT,
    within: float = DEFAULT_PROBE_TIMEOUT,
) -> Probe:
    """Ask ``host`` who it is: HTTP first; HTTPS only if HTTP refused the connection.

    Never raises: every way an address can fail to be a PVS is a verdict.
    """
    refused = ""
    for use_tls, where in ((False, port), (True, tls_port)):
        try:
            async with asyncio.timeout(within):
                status, body = await _ask(session, host, where, use_tls=use_tls)
        except aiohttp.ClientConnectorDNSError:
            return Probe(host, "refused", "no such host name here")
        except aiohttp.ClientConnectorError as exc:
            # No connection, so no request: the other scheme may be tried.
            refused = f"{refused}; " if refused else ""
            refused += f"{'https' if use_tls else 'http'} port {where}: {_no_connection(exc)}"
            continue
        except TimeoutError:
            return Probe(host, "no_answer", f"no answer within {within:g} s", where, use_tls)
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return Probe(host, "not_pvs", f"{type(exc).__name__}: not a PVS", where, use_tls)
        found = identify(status, body)
        if isinstance(found, str):
            return Probe(host, "not_pvs", found, where, use_tls)
        return Probe(host, "pvs", describe(found), where, use_tls, found)
    return Probe(host, "refused", refused or "no connection")


def _no_connection(exc: aiohttp.ClientConnectorError) -> str:
    if isinstance(exc.os_error, ConnectionRefusedError):
        return "connection refused"
    return exc.os_error.strerror or type(exc.os_error).__name__


Progress = Callable[[int, int, int], None]


async def find(
    hosts: Sequence[str],
    *,
    port: int = HTTP_PORT,
    tls_port: int = HTTPS_PORT,
    within: float = DEFAULT_PROBE_TIMEOUT,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress | None = None,
) -> list[Probe]:
    """Probe each of ``hosts`` once, at most ``concurrency`` at a time, in order.

    ``progress(done, total, found)`` is called after each address.
    """
    gate = asyncio.Semaphore(max(1, concurrency))
    done = found = 0
    connector = aiohttp.TCPConnector(
        ssl=make_ssl_context(None), limit=max(1, concurrency), force_close=True
    )
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as s:

        async def one(host: str) -> Probe:
            nonlocal done, found
            async with gate:
                result = await probe(s, host, port=port, tls_port=tls_port, within=within)
            done += 1
            found += result.verdict == "pvs"
            if progress is not None:
                progress(done, len(hosts), found)
            return result

        return list(await asyncio.gather(*(one(host) for host in hosts)))


def distinct_pvses(probes: Iterable[Probe]) -> list[Probe]:
    """The PVSes found, each once: 172.27.153.1 and sunpowerconsole.com are one box."""
    seen: set[str] = set()
    unique: list[Probe] = []
    for result in probes:
        if result.verdict != "pvs" or result.info is None or result.info.serial in seen:
            continue
        seen.add(result.info.serial)
        unique.append(result)
    return unique


def summary(probes: Sequence[Probe]) -> str:
    """``254 addresses: 2 PVS, 3 other HTTP servers, 249 no answer or refused``."""
    counts = {verdict: 0 for verdict in ("pvs", "not_pvs", "no_answer", "refused")}
    for result in probes:
        counts[result.verdict] += 1
    parts = [
        f"{counts['pvs']} PVS",
        f"{counts['not_pvs']} other HTTP " + ("server" if counts["not_pvs"] == 1 else "servers"),
        f"{counts['no_answer'] + counts['refused']} no answer or refused",
    ]
    noun = "address" if len(probes) == 1 else "addresses"
    return f"{len(probes)} {noun}: " + ", ".join(parts)
