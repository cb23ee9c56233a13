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
import os
from collections.abc import Sequence
from pathlib import Path

LISTEN_STATE = "0A"  # TCP_LISTEN in /proc/net/tcp's "st" column
PROC = Path("/proc")

HINTS = {
    errno.EACCES: "ports below 1024 need root or CAP_NET_BIND_SERVICE; pick a port above 1023",
    errno.EADDRNOTAVAIL: "no network interface of this machine has that address",
}


def listening_inodes(port: int, proc: Path = PROC) -> set[str]:
    """The socket inodes listening on TCP ``port`` (IPv4 and IPv6)."""
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
            _address, _, hex_port = fields[1].rpartition(":")
            try:
                if int(hex_port, 16) == port and fields[9] != "0":
                    inodes.add(fields[9])
            except ValueError:
                continue
    return inodes


def port_holder(port: int, proc: Path = PROC) -> str | None:
    """``pid 1234 (sunpower-pvs-exporter)``: the process listening on ``port``, if known."""
    inodes = listening_inodes(port, proc)
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


def listen_problem(exc: OSError, ports: Sequence[int], *, flag: str = "--listen-on") -> str:
    """What went wrong and the fix, for a bind of one of ``ports`` (0: any free port).

    Without the address: the caller's line names it.
    """
    if exc.errno == errno.EADDRINUSE:
        fixed = [port for port in ports if port]
        busy = next((port for port in fixed if listening_inodes(port)), None)
        if busy is None and len(fixed) == 1:
            busy = fixed[0]
        holder = port_holder(busy) if busy is not None else None
        what = f"port {busy}" if busy is not None else "the port"
        by = f" by {holder}" if holder else ""
        return (
            f"{what} is in use{by} (another instance?); stop it, or pick another port with {flag}"
        )
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    hint = HINTS.get(exc.errno or 0)
    return f"{reason}; {hint}" if hint else reason
