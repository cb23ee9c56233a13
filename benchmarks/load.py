"""Scrape latency and PVS load: background polling vs on-demand (scrape) mode.

A child process runs the simulated PVS (2 meters, 300 inverters) and the
exporter, both on 127.0.0.1; this process plays Prometheus with 1 or 5
concurrent scrapers. Printed side by side:

* scrape latency p50/p99 with the PVS answering in 0 s and in 30 s;
* PVS DeviceList requests per poll interval with 1 and 5 scrapers, and what
  that means per minute at the default 120 s interval; plus what the original
  exporter's per-scrape polling would have cost for the same scrapes.

Intervals are shortened (2 s) so the run takes about a minute; the ratios
carry over to real intervals. Targets (benchmarks/RESULTS.md): scrape p99 under
20 ms for a 300-inverter site whatever the PVS latency; DeviceList requests per
minute = 60 / interval whatever the number of scrapers.

    python benchmarks/load.py
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import aiohttp

INVERTERS = 300
INTERVAL = 2.0
REAL_INTERVAL = 120.0
ORIGINAL_REQUESTS_PER_SCRAPE = 5  # Start, Get_Comm, GridProfileGet, DeviceList, Stop


def run_simulator(conn: Connection) -> None:
    """Child process 1: the simulated PVS, so its own CPU use is not charged to us."""
    from datetime import UTC, datetime

    from sunpower_pvs_exporter.simulator.server import SimulatedPvs, SimulatorServer
    from sunpower_pvs_exporter.simulator.site import SimClock, SiteConfig

    async def main() -> None:
        noon = datetime(2026, 6, 21, 12, tzinfo=UTC).timestamp()
        pvs = SimulatedPvs(
            config=SiteConfig(seed=5, inverters=INVERTERS, tz=UTC), clock=SimClock(start=noon)
        )
        sim = SimulatorServer(pvs)
        await sim.start()
        done = asyncio.Event()

        def handle(name: str, arg: Any) -> None:
            if name == "latency":
                pvs.faults.latency = arg
                conn.send("ok")
            elif name == "reset":
                pvs.log.clear()
                conn.send("ok")
            elif name == "count":
                conn.send(pvs.log.count("DeviceList"))
            elif name == "stop":
                done.set()

        await command_loop(conn, sim.port, handle, done)
        await sim.stop()

    asyncio.run(main())


def run_exporter(conn: Connection, sim_port: int, mode: str, timeout: float) -> None:
    """Child process 2: the exporter, polling the simulator every INTERVAL s."""
    import sys

    from sunpower_pvs_exporter.cli.serve import GIL_SWITCH_INTERVAL

    sys.setswitchinterval(GIL_SWITCH_INTERVAL)  # as the real process does
    from sunpower_pvs_exporter.config import ExporterConfig, TargetConfig
    from sunpower_pvs_exporter.poller import Poller, PollSchedule
    from sunpower_pvs_exporter.runtime import ExporterState, make_reader
    from sunpower_pvs_exporter.web.server import ExporterServer

    async def main() -> None:
        target = TargetConfig(
            name="bench",
            host="127.0.0.1",
            port=sim_port,
            api="legacy",
            poll_interval=INTERVAL,
            timeout=timeout,
            max_age=120.0,
            timezone="UTC",
        )
        config = ExporterConfig(
            targets=(target,),
            listen_host="127.0.0.1",
            listen_port=0,
            poll_mode=mode,  # type: ignore[arg-type]
        )
        poller = Poller(
            "bench",
            target.host,
            "legacy",
            make_reader(target),
            PollSchedule(interval=INTERVAL, max_age=120.0, timeout=timeout),
            mode=mode,  # type: ignore[arg-type]
        )
        exporter = ExporterServer(ExporterState(config, [poller]))
        await exporter.start()
        done = asyncio.Event()
        await command_loop(conn, exporter.url, lambda name, _arg: done.set(), done)
        await exporter.stop()

    asyncio.run(main())


async def command_loop(
    conn: Connection, hello: Any, handle: Callable[[str, Any], None], done: asyncio.Event
) -> None:
    """Answer the parent's commands (on a thread) until it says stop."""
    loop = asyncio.get_running_loop()

    def reader() -> None:
        conn.send(hello)
        while True:
            name, arg = conn.recv()
            loop.call_soon_threadsafe(handle, name, arg)
            if name == "stop":
                return

    threading.Thread(target=reader, daemon=True).start()
    await done.wait()


@dataclass
class Child:
    process: Any
    conn: Connection
    hello: Any

    def ask(self, name: str, arg: Any = None) -> Any:
        self.conn.send((name, arg))
        return self.conn.recv()

    def stop(self) -> None:
        self.conn.send(("stop", None))
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()


def spawn(target: Callable[..., None], *args: Any) -> Child:
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=target, args=(child, *args), daemon=True
    )
    process.start()
    return Child(process, parent, parent.recv())


@dataclass
class Setup:
    sim: Child
    exporter: Child

    @property
    def url(self) -> str:
        return str(self.exporter.hello)

    def stop(self) -> None:
        self.exporter.stop()
        self.sim.stop()


def start(mode: str, timeout: float) -> Setup:
    sim = spawn(run_simulator)
    return Setup(sim, spawn(run_exporter, sim.hello, mode, timeout))


async def scrapers(url: str, clients: int, scrapes: int, pause: float) -> list[float]:
    latencies: list[float] = []
    # Prometheus asks for gzip; so do we.
    headers = {"Accept-Encoding": "gzip"}
    # auto_decompress off: time the exporter, not this process's gunzip.
    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=60), auto_decompress=False
    ) as http:

        async def one_client() -> None:
            for _ in range(scrapes):
                started = time.perf_counter()
                async with http.get(url + "/metrics", headers=headers) as response:
                    await response.read()
                    assert response.status == 200
                latencies.append(time.perf_counter() - started)
                await asyncio.sleep(pause)

        await asyncio.gather(*(one_client() for _ in range(clients)))
    return latencies


async def wait_until_up(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            async with http.get(url + "/metrics") as response:
                if 'sunpower_pvs_up{target="bench"} 1.0' in await response.text():
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError("exporter never came up")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def latency_case(mode: str, pvs_latency: float, clients: int) -> str:
    timeout = 3.0 if mode == "scrape" else 60.0
    exporter = start(mode, timeout)
    try:
        await wait_until_up(exporter.url)
        exporter.sim.ask("latency", pvs_latency)
        if pvs_latency:
            await asyncio.sleep(INTERVAL + 0.5)  # the next poll is due: it will be slow
        scrapes = 10 if (mode == "scrape" and pvs_latency) else 40
        lat = await scrapers(exporter.url, clients, scrapes=scrapes * 5 // clients, pause=0.05)
        return (
            f"{mode:<10} PVS latency {pvs_latency:>4.0f} s  {clients} client(s)  scrape p50 "
            f"{pct(lat, 0.5):8.2f} ms   p99 {pct(lat, 0.99):8.2f} ms   ({len(lat)} scrapes)"
        )
    finally:
        exporter.stop()


async def load_case(mode: str, clients: int, seconds: float) -> str:
    exporter = start(mode, 10.0)
    try:
        await wait_until_up(exporter.url)
        exporter.sim.ask("reset")
        started = time.monotonic()
        pause = 0.2
        scrapes_each = int(seconds / pause)
        lat = await scrapers(exporter.url, clients, scrapes_each, pause)
        elapsed = time.monotonic() - started
        calls = exporter.sim.ask("count")
        per_interval = calls / (elapsed / INTERVAL)
        per_minute_real = per_interval * 60 / REAL_INTERVAL
        original_per_minute = len(lat) / elapsed * 60 * ORIGINAL_REQUESTS_PER_SCRAPE
        return (
            f"{mode:<10} {clients} scraper(s): {len(lat):4d} scrapes in {elapsed:4.1f} s -> "
            f"{calls:3d} DeviceList = {per_interval:4.2f} per interval "
            f"(= {per_minute_real:4.2f}/min at {REAL_INTERVAL:.0f} s; target "
            f"{60 / REAL_INTERVAL:.2f}) | original exporter: "
            f"{original_per_minute:6.0f} requests/min for the same scrapes"
        )
    finally:
        exporter.stop()


async def main() -> None:
    print(f"scrape latency, {INVERTERS}-inverter site (target: p99 < 20 ms whatever the PVS does)")
    for mode in ("background", "scrape"):
        for pvs_latency in (0.0, 30.0):
            for clients in (1, 5):
                print("  " + await latency_case(mode, pvs_latency, clients))
    print(f"PVS load, poll interval {INTERVAL:.0f} s (shortened), scrapes every 0.2 s per scraper")
    for mode in ("background", "scrape"):
        for clients in (1, 5):
            print("  " + await load_case(mode, clients, seconds=10.0))


if __name__ == "__main__":
    started = time.monotonic()
    asyncio.run(main())
    print(f"(benchmark took {time.monotonic() - started:.0f} s)")
