"""Why a listening socket could not be opened, in one line, and who holds the port.

The usual cause is a second instance (or the service already running while
the owner tries the command by hand). asyncio's own text repeats the address
("error while attempting to bind on address (...): address already in use");
this names the process holding the port when Linux's /proc tells, which it
does for the owner's own processes (all of them as root). Everything here is
best effort: whatever cannot be read is left out, nothing raises.
"""

from __future__ import annotations

import errno
import ipaddress
import os
from collections.abc import Sequence
from pathlib import Path

LISTEN_STATE = "0A"  # TCP_LISTEN in /proc/net/tcp's "st" column
PROC = Path("/proc")

HINTS = {
    errno.EACCES: "ports below 1024 need root or CAP_NET_BIND_SERVICE; pick a port above 1023",
    errno.EADDRNOTAVAIL: "no network interface of this machine has that address",
}


def listening_inodes(port: int, proc: Path = PROC, host: str | None = None) -> set[str]:
    """The socket inodes listening on TCP ``port`` (IPv4 and IPv6).

    With ``host`` (an address literal), only those a bind of ``host:port`` runs
    into: the same address or a wildcard. Another program may listen on the same
    port number at another address (a simulated fleet on ::1, say) and is not
    the one in the way.
    """
    wanted = _address(host) if host else None
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text(encoding="ascii").splitlines()[1:]
        except (OSError, UnicodeDecodeError):
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != LISTEN_STATE:
                continue
            hex_address, _, hex_port = fields[1].rpartition(":")
            try:
                if int(hex_port, 16) != port or fields[9] == "0":
                    continue
            except ValueError:
                continue
            if wanted is None or _in_the_way(_proc_address(hex_address), wanted):
                inodes.add(fields[9])
    return inodes


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None  # a host name: every listener on the port may be in the way


def _proc_address(hex_address: str) -> Address | None:
    """/proc/net/tcp's address: 32-bit words in the host's byte order."""
    try:
        raw = bytes.fromhex(hex_address)
    except ValueError:
        return None
    if len(raw) not in (4, 16):
        return None
    words = b"".join(
        int.from_bytes(raw[i : i + 4], "little").to_bytes(4, "big") for i in range(0, len(raw), 4)
    )
    return ipaddress.ip_address(words)


def _in_the_way(listening: Address | None, wanted: Address) -> bool:
    if listening is None or listening.is_unspecified or wanted.is_unspecified:
        return True
    if isinstance(listening, ipaddress.IPv6Address) and listening.ipv4_mapped is not None:
        listening = listening.ipv4_mapped
    return listening == wanted


def port_holder(port: int, proc: Path = PROC, host: str | None = None) -> str | None:
    """``pid 1234 (sunpower-pvs-exporter)``: the process listening on ``port``
    (at ``host``, or a wildcard address), if known."""
    inodes = listening_inodes(port, proc, host) or listening_inodes(port, proc)
    if not inodes:
        return None
    wanted = {f"socket:[{inode}]" for inode in inodes}
    try:
        pids = sorted((p for p in os.listdir(proc) if p.isdigit()), key=int)
    except OSError:
        return None
    for pid in pids:
        try:
            fds = os.listdir(proc / pid / "fd")
        except OSError:
            continue  # gone, or another user's
        for fd in fds:
            try:
                link = os.readlink(proc / pid / "fd" / fd)
            except OSError:
                continue
            if link in wanted:
                name = program_name(proc / pid)
                return f"pid {pid} ({name})" if name else f"pid {pid}"
    return None


def program_name(process: Path) -> str:
    """The program's file name: argv[0], or the script or module Python runs.

    Never the rest of the command line: it may hold a secret someone typed.
    """
    try:
        argv = (process / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return ""
    names = [os.path.basename(arg.decode(errors="replace")) for arg in argv[:3]]
    if names and names[0].startswith("python") and len(names) > 1:
        if names[1] == "-m" and len(names) > 2:
            return names[2]
        if not names[1].startswith("-"):
            return names[1]
    return names[0] if names else ""


def listen_problem(
    exc: OSError, ports: Sequence[int], *, flag: str = "--listen-on", host: str | None = None
) -> str:
    """What went wrong and the fix, for a bind of one of ``ports`` (0: any free port)
    at ``host`` (None or "": every address).

    Without the address: the caller's line names it.
    """
    if exc.errno == errno.EADDRINUSE:
        fixed = [port for port in ports if port]
        busy = next((port for port in fixed if listening_inodes(port, host=host)), None)
        if busy is None:
            busy = next((port for port in fixed if listening_inodes(port)), None)
        if busy is None and len(fixed) == 1:
            busy = fixed[0]
        holder = port_holder(busy, host=host) if busy is not None else None
        what = f"port {busy}" if busy is not None else "the port"
        by = f" by {holder}" if holder else ""
        return (
            f"{what} is in use{by} (another instance?); stop it, or pick another port with {flag}"
        )
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    hint = HINTS.get(exc.errno or 0)
    return f"{reason}; {hint}" if hint else reason
