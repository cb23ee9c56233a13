"""The ``check`` and ``capture`` subcommands: ``sunpower-pvs-exporter check [flags]``.

They take the exporter's own target flags (``--hostname``, ``--port``,
``--use-tls``, ``--api``, ``--pvs-password-file``, ``--timeout``, …) or
``--config FILE`` with ``--target NAME``, and ``--demo`` (optionally with
``--replay FILE``) to try them on the simulator. The first word of the
command line selects them, so the original exporter's flags keep working
unchanged.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Awaitable, Sequence
from pathlib import Path

from sunpower_pvs_exporter import interrupts
from sunpower_pvs_exporter.cli.arguments import PROG
from sunpower_pvs_exporter.config import ConfigError, TargetConfig
from sunpower_pvs_exporter.logsetup import configure_logging
from sunpower_pvs_exporter.pvs.hosts import host_port
from sunpower_pvs_exporter.troubleshoot.capture import build_capture, capture_text
from sunpower_pvs_exporter.troubleshoot.capture_format import CaptureError
from sunpower_pvs_exporter.troubleshoot.check import (
    EXIT_FAILED,
    build_report,
    pvs_clock,
    report_json,
    report_text,
)
from sunpower_pvs_exporter.troubleshoot.recorded_poll import PollOutcome, poll_once
from sunpower_pvs_exporter.wording import counted


def build_parser(command: str) -> argparse.ArgumentParser:
    from sunpower_pvs_exporter.cli import serve  # the exporter's flags, one definition

    parser = serve.build_parser(serving=False)
    parser.prog = f"{PROG} {command}"
    parser.epilog = None
    if command == "check":
        parser.description = (
            "Read the PVS once and explain what it says: firmware, API, login, devices, "
            "clock, metrics, and known problems with their fix. Exit 0: all good; "
            "1: warnings; 2: the read failed."
        )
    else:
        parser.description = (
            "Record one poll's requests and answers, anonymised (serials, MACs, SSIDs, "
            "addresses and session tokens replaced; no password, no Wi-Fi key or other "
            "private value), to attach to an issue."
        )
    mine = parser.add_argument_group(command)
    mine.add_argument("--target", metavar="NAME", help="with --config: the target to use")
    if command == "check":
        mine.add_argument(
            "--format", choices=["text", "json"], default="text", help="report format"
        )
    else:
        mine.add_argument("--output", metavar="FILE", required=True, help="capture file to write")
    return parser


def check_writable(name: str, flag: str) -> None:
    """Refuse a file that cannot be written before anything is asked of the PVS.

    The capture is written after the poll; a typo in the directory found only
    then costs the owner a poll (minutes with a busy PVS) and the recording.
    """
    path = Path(name)
    directory = path.parent
    if path.is_dir():
        raise ConfigError(f"{flag}: {name} is a directory; name a file in it")
    if not directory.is_dir():
        raise ConfigError(f"{flag}: cannot write {name}: no directory {directory}")
    if path.exists() and not os.access(path, os.W_OK):
        raise ConfigError(f"{flag}: cannot write {name}: permission denied")
    if not path.exists() and not os.access(directory, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag}: cannot write {name}: directory {directory} is not writable")


def pick_target(targets: Sequence[TargetConfig], name: str | None) -> TargetConfig:
    if name is not None:
        for target in targets:
            if target.name == name:
                return target
        raise ConfigError(
            f"--target: no target named {name!r} (targets: {', '.join(t.name for t in targets)})"
        )
    if len(targets) != 1:
        raise ConfigError(
            f"--target: the config has {len(targets)} targets; name one "
            f"({', '.join(t.name for t in targets)})"
        )
    return targets[0]


async def _poll(args: argparse.Namespace, target: TargetConfig) -> tuple[PollOutcome, float]:
    """Poll ``target``, or the demo PVS with ``--demo``; and "now" to judge the answer by.

    The demo's clock is simulated and a replay's is the recording's: judged
    by this machine's clock, both would look wrong.
    """
    from sunpower_pvs_exporter.cli.serve import make_demo

    if not args.demo:
        outcome = await _with_progress(poll_once(target), target)
        return outcome, time.time()
    from sunpower_pvs_exporter.simulator.certificate import CertificateError

    demo = make_demo(args)
    try:
        await demo.start()
    except CertificateError as exc:
        raise ConfigError(f"--demo: {exc}") from exc
    try:
        outcome = await poll_once(demo.point_at_target(target))
    finally:
        await demo.stop()
    now = demo.simulated_now()
    if now is None:
        now = pvs_clock(outcome) or time.time()
    return outcome, now


# A read that takes longer than this says it is still waiting, this often.
PROGRESS_EVERY = 5.0


async def _with_progress(read: Awaitable[PollOutcome], target: TargetConfig) -> PollOutcome:
    """Await ``read``; every ``PROGRESS_EVERY`` s say on stderr that it is still waiting.

    A PVS that accepts and does not answer would otherwise leave the owner in
    front of a silent terminal for the whole timeout.
    """
    task = asyncio.ensure_future(read)
    started = time.monotonic()
    where = host_port(target.host, target.port)
    try:
        while not (await asyncio.wait({task}, timeout=PROGRESS_EVERY))[0]:
            waited = time.monotonic() - started
            print(
                f"waiting for the PVS at {where}: {waited:.0f} s of {target.timeout:g} s "
                "(Ctrl-C stops)",
                file=sys.stderr,
                flush=True,
            )
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return task.result()


def run_subcommand(command: str, argv: Sequence[str]) -> int:
    from sunpower_pvs_exporter.cli.serve import load_checked

    args = build_parser(command).parse_args(list(argv))
    try:
        config = load_checked(args)[0]
        target = pick_target(config.targets, args.target)
        if command == "capture":
            check_writable(args.output, "--output")
    except ConfigError as exc:
        print(f"sunpower-pvs-exporter {command}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if args.log_level is not None or args.log_file is not None:
        try:
            configure_logging(config.log_level, config.log_file, config.log_format)
        except OSError as exc:
            print(
                f"sunpower-pvs-exporter {command}: error: --log-file: cannot open "
                f"{config.log_file}: {exc.strerror}",
                file=sys.stderr,
            )
            return EXIT_FAILED
    try:
        outcome, now = asyncio.run(_poll(args, target))
    except CaptureError as exc:
        print(f"sunpower-pvs-exporter {command}: error: --replay: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ConfigError as exc:  # --demo: the simulator could not start
        print(f"sunpower-pvs-exporter {command}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return interrupts.report(f"sunpower-pvs-exporter {command}: interrupted")
    if command == "check":
        report = build_report(outcome, now)
        text = report_json(report) if args.format == "json" else report_text(report)
        sys.stdout.write(text)
        return report.exit_code
    doc, _anonymiser = build_capture(outcome)
    path = Path(args.output)
    try:
        path.write_text(capture_text(doc), encoding="utf-8")
    except OSError as exc:
        print(f"sunpower-pvs-exporter capture: error: --output: {exc.strerror}", file=sys.stderr)
        return EXIT_FAILED
    replaced = ", ".join(f"{n} {kind}" for kind, n in doc["anonymised"].items()) or "nothing"
    # The file is anonymised; the terminal is the owner's: their own address, as typed.
    error = outcome.error.message if outcome.error else ""
    state = "poll OK" if outcome.ok else f"poll FAILED: {error}"
    sent = sum(1 for exchange in outcome.exchanges if exchange.connected)
    print(
        f"wrote {path}: {counted(sent, 'request')} sent ({state}); replaced {replaced}; "
        "no password or Authorization header is in the file. Please read it before attaching it."
    )
    return 0 if outcome.ok else 1
