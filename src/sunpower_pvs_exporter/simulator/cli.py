"""``sunpower-pvs-simulator``: run the fake PVS on its own, e.g. for a local stack."""

from __future__ import annotations

import sys

# Everything else (argparse, asyncio, aiohttp, the simulator) is imported inside
# the functions that main calls, so that Ctrl-C during those imports ends the
# run with one line instead of a traceback. (mypy knows this constant by name;
# typing itself is one of the imports this avoids.)
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    import asyncio
    from collections.abc import Sequence

    from sunpower_pvs_exporter.simulator.site import InverterFault

# Ctrl-C: the shell's convention, 128 + SIGINT.
EXIT_INTERRUPTED = 130


def parse_start(text: str) -> float:
    """``now``, ``HH:MM`` (today, local time) or an ISO date-time."""
    import argparse
    import time
    from datetime import datetime

    if text == "now":
        return time.time()
    try:
        if len(text) <= 5 and ":" in text:
            hour, minute = (int(part) for part in text.split(":"))
            today = datetime.now().astimezone()
            return today.replace(hour=hour, minute=minute, second=0, microsecond=0).timestamp()
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected now, HH:MM or ISO time, got {text!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()
    return parsed.timestamp()


def parse_inverter_fault(text: str) -> tuple[int, InverterFault]:
    """``INDEX:KIND`` or ``INDEX:degraded:FACTOR``, e.g. ``3:dead``, ``0:degraded:0.7``."""
    import argparse

    from sunpower_pvs_exporter.simulator.site import (
        DEFAULT_DEGRADED_FACTOR,
        INVERTER_FAULTS,
        InverterFault,
    )

    parts = text.split(":")
    try:
        index = int(parts[0])
        kind = parts[1] if len(parts) > 1 else ""
        factor = float(parts[2]) if len(parts) > 2 else DEFAULT_DEGRADED_FACTOR
        if index < 0 or len(parts) > 3 or (len(parts) == 3 and kind != "degraded"):
            raise ValueError(text)
        return index, InverterFault(kind, factor=factor)
    except (ValueError, IndexError):
        raise argparse.ArgumentTypeError(
            f"expected INDEX:{'|'.join(INVERTER_FAULTS)} or INDEX:degraded:FACTOR, got {text!r}"
        ) from None


def build_parser() -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        prog="sunpower-pvs-simulator",
        description="A fake SunPower PVS serving the dl_cgi and varserver APIs on loopback.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 = any)")
    parser.add_argument("--inverters", type=int, default=20, help="micro-inverters (default 20)")
    parser.add_argument(
        "--error-inverters", type=int, default=1, help="inverters stuck in error state (default 1)"
    )
    parser.add_argument("--seed", type=int, default=1, help="site seed (serials, clouds)")
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="simulated seconds per real second"
    )
    parser.add_argument(
        "--start", type=parse_start, default="now", help="simulated start: now, HH:MM or ISO time"
    )
    parser.add_argument(
        "--error-style",
        choices=["strip", "keep"],
        default="strip",
        help="inverters in error state drop their readings (old firmware) or keep them",
    )
    parser.add_argument(
        "--api",
        choices=["legacy", "varserver", "both"],
        default="legacy",
        help="legacy: dl_cgi only (old firmware); varserver: new firmware (DeviceList 403, "
        "/auth + /vars over HTTPS); both: everything works (default: legacy)",
    )
    parser.add_argument(
        "--tls-port",
        type=int,
        default=8443,
        help="HTTPS port, served when the API includes varserver (default 8443; 0 = any)",
    )
    parser.add_argument(
        "--battery-modules",
        type=int,
        default=0,
        help="SunVault battery modules (default 0: no storage, Hub+ or battery data)",
    )
    parser.add_argument(
        "--inverter-fault",
        type=parse_inverter_fault,
        action="append",
        default=[],
        metavar="INDEX:KIND",
        help="named inverter fault, repeatable: INDEX:dead, INDEX:degraded[:FACTOR] "
        "(default factor 0.7), INDEX:intermittent",
    )
    parser.add_argument(
        "--west-inverters",
        type=int,
        default=0,
        help="split the site in two arrays: the last N inverters face west (default 0)",
    )
    parser.add_argument("--cloudy", action="store_true", help="an overcast day")
    parser.add_argument(
        "--grid-outage",
        action="store_true",
        help="the grid is down: the Hub+ islands the home (with --battery-modules)",
    )
    parser.add_argument(
        "--reboot-every",
        type=float,
        default=None,
        metavar="SECONDS",
        help="the PVS reboots every SECONDS of simulated time and answers nothing for a "
        "minute after each (a struggling unit; see the exporter's ease-off)",
    )
    parser.add_argument(
        "--replay",
        metavar="FILE",
        help="serve this capture (sunpower-pvs-exporter capture) instead of a simulated site; "
        "HTTPS too when it has varserver requests",
    )
    return parser


async def run_replay(args: argparse.Namespace) -> int:
    from sunpower_pvs_exporter.simulator.replay import ReplayPvs, ReplayServer

    server = ReplayServer(
        ReplayPvs.load(args.replay), host=args.host, port=args.port, tls_port=args.tls_port
    )
    await server.start()
    try:
        print(f"replaying {args.replay} on {server.url}", flush=True)
        if server.tls:
            print(f"and on {server.tls_url} (any varserver password is accepted)", flush=True)
        return await _wait_for_signal()
    finally:
        await server.stop()


async def _wait_for_signal() -> int:
    """Until SIGTERM (exit 0, a service stopped) or SIGINT (Ctrl-C: exit 130)."""
    import asyncio
    import signal

    stopped_by: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    loop = asyncio.get_running_loop()
    for sig, code in ((signal.SIGTERM, 0), (signal.SIGINT, EXIT_INTERRUPTED)):
        try:
            loop.add_signal_handler(sig, _settle, stopped_by, code)
        except NotImplementedError:  # no signal handlers on this platform's loop
            continue
    return await stopped_by


def _settle(future: asyncio.Future[int], code: int) -> None:
    if not future.done():
        future.set_result(code)


async def run(args: argparse.Namespace) -> int:
    if args.replay:
        return await run_replay(args)
    from sunpower_pvs_exporter.simulator.server import SimulatedPvs, SimulatorServer
    from sunpower_pvs_exporter.simulator.site import SimClock, SiteConfig

    start = args.start if isinstance(args.start, float) else parse_start(args.start)
    pvs = SimulatedPvs(
        config=SiteConfig(
            seed=args.seed,
            inverters=args.inverters,
            error_inverters=min(args.error_inverters, args.inverters),
            error_style=args.error_style,
            battery_modules=max(0, args.battery_modules),
            west_inverters=min(max(0, args.west_inverters), args.inverters),
        ),
        clock=SimClock(start=start, scale=args.time_scale),
        api=args.api,
    )
    for index, fault in args.inverter_fault:
        pvs.inverter_fault(index, fault.kind, factor=fault.factor)
    if args.cloudy:
        pvs.cloudy_day()
    if args.grid_outage:
        pvs.grid_outage()
    if args.reboot_every is not None:
        pvs.reboot_every(args.reboot_every, down_for=min(60.0, args.reboot_every / 2))
    server = SimulatorServer(pvs, host=args.host, port=args.port, tls_port=args.tls_port)
    await server.start()
    try:
        print(f"simulated PVS on {server.url}/cgi-bin/dl_cgi?Command=DeviceList", flush=True)
        if server.tls:
            # The password is the simulator's own, for a fake PVS; safe to show.
            print(
                f"varserver on {server.tls_url}/vars (user ssm_owner, password {pvs.password})",
                flush=True,
            )
        return await _wait_for_signal()
    finally:
        await server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Ctrl-C at any moment, the imports of the simulator included, ends with one line."""
    line = "sunpower-pvs-simulator: interrupted"
    try:
        if argv is None:  # the process's entry point
            from sunpower_pvs_exporter import interrupt_redelivery

            interrupt_redelivery.install()
        from sunpower_pvs_exporter import interrupts

        previous = interrupts.install(line)
        try:
            code = _parse_and_run(argv)
        finally:
            interrupts.restore(previous)
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    except RuntimeError as exc:
        # Python 3.11 wraps what interrupts a class's creation (``__set_name__``,
        # e.g. ipaddress's cached_property while it is imported) in a RuntimeError.
        if not isinstance(exc.__cause__, KeyboardInterrupt):
            raise
        code = EXIT_INTERRUPTED
    if code == EXIT_INTERRUPTED:
        from sunpower_pvs_exporter.interrupts import report, settle

        report(line)
        settle()
    if argv is None:  # the process's entry point: it exits next
        from sunpower_pvs_exporter.interrupts import end_quietly_on_interrupt

        end_quietly_on_interrupt(code)
    return code


def _parse_and_run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if any(index >= args.inverters for index, _ in args.inverter_fault):
        print(
            "sunpower-pvs-simulator: error: --inverter-fault: no such inverter "
            f"(there are {args.inverters}, numbered from 0)",
            file=sys.stderr,
        )
        return 2
    if args.reboot_every is not None and args.reboot_every <= 0:
        print("sunpower-pvs-simulator: error: --reboot-every must be > 0", file=sys.stderr)
        return 2
    if args.inverters < 0 or args.time_scale <= 0:
        print(
            "sunpower-pvs-simulator: error: --inverters must be >= 0 and --time-scale > 0",
            file=sys.stderr,
        )
        return 2
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    import asyncio

    from sunpower_pvs_exporter.simulator.certificate import CertificateError
    from sunpower_pvs_exporter.troubleshoot.capture_format import CaptureError

    try:
        return asyncio.run(run(args))
    except CaptureError as exc:
        print(f"sunpower-pvs-simulator: error: --replay: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        from sunpower_pvs_exporter.listen_errors import listen_problem

        problem = listen_problem(
            exc, (args.port, args.tls_port), flag="--port/--tls-port", host=args.host
        )
        print(
            f"sunpower-pvs-simulator: error: cannot listen on {args.host}: {problem}",
            file=sys.stderr,
        )
        return 2
    except CertificateError as exc:
        print(f"sunpower-pvs-simulator: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
