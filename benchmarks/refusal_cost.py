"""The exporter's CPU per connection refused over its address's rate, two ways.

``asyncio``: the way before ``web/acceptor.py``: asyncio's accept loop makes a
task, a transport and a protocol, whose ``connection_made`` reads the peer
address and aborts. ``acceptor``: ``web/acceptor.py``: ``accept``, the
address, a reset. Each server runs in a process of its own on one CPU; the
client (this process) on another opens ``--connections`` plain TCP
connections from 127.0.0.2, 50 at a time, and the server's CPU time
(user + system, from /proc) is divided by the connections it refused. The
kernel's part (the TCP handshake before ``accept``) is in both.

    python benchmarks/refusal_cost.py [--connections 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from sunpower_pvs_exporter.web.acceptor import Acceptor
from sunpower_pvs_exporter.web.connections import client_key

CLIENT_HOST = "127.0.0.2"
AT_ONCE = 50


class Refused(asyncio.Protocol):
    """What the old path did with an over-rate connection."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        client_key(peer[0] if isinstance(peer, tuple) else None)
        assert isinstance(transport, asyncio.Transport)
        transport.abort()


async def serve(mode: str) -> None:
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    if mode == "asyncio":
        server = await loop.create_server(Refused, sock=sock, backlog=128)
    else:
        server = await loop.create_server(Refused, sock=sock, backlog=128, start_serving=False)
        acceptor = Acceptor(
            server.sockets[0], Refused, lambda address: not client_key(address), backlog=128
        )
        acceptor.start()
    print(sock.getsockname()[1], flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)
    server.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def flood(port: int, count: int) -> None:
    left = [count]

    async def one() -> None:
        while left[0] > 0:
            left[0] -= 1
            try:
                _, writer = await asyncio.open_connection(
                    "127.0.0.1", port, local_addr=(CLIENT_HOST, 0)
                )
                writer.transport.abort()
            except OSError:
                pass

    await asyncio.gather(*(one() for _ in range(AT_ONCE)))


def measure(mode: str, count: int, cpus: list[int]) -> tuple[float, float]:
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=(lambda: os.sched_setaffinity(0, {cpus[0]})) if len(cpus) > 1 else None,
    )
    try:
        assert server.stdout is not None and server.stdin is not None
        port = int(server.stdout.readline())
        before = cpu_seconds(server.pid)
        started = time.monotonic()
        asyncio.run(flood(port, count))
        elapsed = time.monotonic() - started
        time.sleep(0.2)  # the last resets
        used = cpu_seconds(server.pid) - before
        server.stdin.write("\n")
        server.stdin.flush()
    finally:
        server.wait(timeout=10)
    return used / count * 1e6, count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", choices=["asyncio", "acceptor"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
        return
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) > 1:
        os.sched_setaffinity(0, set(cpus[1:]))
    print(f"load average {os.getloadavg()[0]:.1f}; server on CPU {cpus[0]}, client on the rest")
    print("| round | asyncio: µs CPU per refusal (connections/s) | acceptor: µs (connections/s) |")
    print("|---|---|---|")
    for round_ in range(1, args.rounds + 1):
        cells = []
        for mode in ("asyncio", "acceptor"):
            cost, rate = measure(mode, args.connections, cpus)
            cells.append(f"{cost:.1f} ({rate:.0f})")
        print(f"| {round_} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
