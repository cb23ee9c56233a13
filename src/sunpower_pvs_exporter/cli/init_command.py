"""``sunpower-pvs-exporter init [flags]``: the first-run command's flags and exit codes.

The conversation itself is ``troubleshoot.init``; here the command line
becomes ``InitOptions``, and whatever ends the run (a bad flag, Ctrl-C, a
file that cannot be written) ends it with one line.
"""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Sequence

from sunpower_pvs_exporter.cli.arguments import PROG, OneLineParser, flag_type
from sunpower_pvs_exporter.config import (
    TARGET_NAME,
    ConfigError,
    parse_duration,
    parse_host,
    parse_port,
)
from sunpower_pvs_exporter.config_values import whole_number_in
from sunpower_pvs_exporter.interrupts import report
from sunpower_pvs_exporter.troubleshoot.discover import (
    DEFAULT_CANDIDATES,
    DEFAULT_CONCURRENCY,
    DEFAULT_PROBE_TIMEOUT,
    HTTP_PORT,
    HTTPS_PORT,
    MAX_SCAN_ADDRESSES,
    ScanRangeError,
    scan_addresses,
)
from sunpower_pvs_exporter.troubleshoot.init import (
    EXIT_NOT_WRITTEN,
    EXIT_USAGE,
    Console,
    InitError,
    InitOptions,
    run_init,
)

MAX_CONCURRENCY = 256


def _host(text: str, flag: str) -> str:
    return parse_host(text, flag, "--port", "--tls-port")


def _scan(text: str, _flag: str) -> str:
    scan_addresses(text)  # refuses what is not a range, or too big a one
    return text.strip()


def _name(text: str, flag: str) -> str:
    if not TARGET_NAME.match(text):
        raise ConfigError(f"{flag}: {text!r} must be letters, digits, '_', '.', ':' or '-'")
    return text


def _concurrency(text: str, flag: str) -> int:
    return whole_number_in(text, flag, 1, MAX_CONCURRENCY)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog=f"{PROG} init",
        description=(
            "Find the PVS, identify it (model, serial, firmware), check its password with "
            "one login, and write a config file and a password file (mode 0600; the "
            "password is never in the config). Looks at "
            f"{' and '.join(DEFAULT_CANDIDATES)} unless --host or --scan says where. "
            "Exit 0: written; 1: nothing written (no PVS found, login failed, a file kept); "
            "2: a bad flag."
        ),
    )
    where = parser.add_argument_group("where to look")
    where.add_argument(
        "--host",
        action="append",
        default=[],
        type=flag_type("--host", _host),
        metavar="HOST",
        help="the PVS's address or name (repeatable); replaces the usual places",
    )
    where.add_argument(
        "--scan",
        metavar="CIDR",
        type=flag_type("--scan", _scan, errors=(ScanRangeError,)),
        help=f"ask each address of this range, e.g. 192.168.1.0/24 (at most "
        f"{MAX_SCAN_ADDRESSES} addresses; one request each, nothing outside it); "
        "replaces the usual places, adds to --host",
    )
    where.add_argument(
        "--port",
        metavar="PORT",
        type=flag_type("--port", parse_port),
        default=HTTP_PORT,
        help=f"the PVS's HTTP port (default {HTTP_PORT})",
    )
    where.add_argument(
        "--tls-port",
        metavar="PORT",
        type=flag_type("--tls-port", parse_port),
        default=HTTPS_PORT,
        help=f"its HTTPS (varserver) port (default {HTTPS_PORT})",
    )
    where.add_argument(
        "--timeout",
        type=flag_type("--timeout", parse_duration),
        default=DEFAULT_PROBE_TIMEOUT,
        metavar="SECONDS",
        help=f"how long one address may take to answer (default {DEFAULT_PROBE_TIMEOUT:g})",
    )
    where.add_argument(
        "--concurrency",
        type=flag_type("--concurrency", _concurrency),
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"addresses asked at once while scanning (default {DEFAULT_CONCURRENCY})",
    )
    what = parser.add_argument_group("what to write")
    what.add_argument(
        "--config",
        metavar="FILE",
        default="sunpower-pvs-exporter.yml",
        help="the config file to write (default sunpower-pvs-exporter.yml); password "
        "files go beside it as NAME.password",
    )
    what.add_argument(
        "--pvs-password-file",
        metavar="FILE",
        help="the PVS password, when it is not the factory one; the config then names "
        "this file and no password file is written",
    )
    what.add_argument(
        "--name",
        type=flag_type("--name", _name),
        default="pvs",
        help="target name (default pvs; several PVSes: NAME-1, NAME-2, ...)",
    )
    what.add_argument(
        "--exporter-host",
        metavar="HOST",
        help="this machine's name as Prometheus reaches it, for the scrape config "
        "(default: its host name)",
    )
    answers = parser.add_argument_group("answers, for scripts")
    answers.add_argument(
        "--yes", "-y", action="store_true", help="take every default without asking"
    )
    answers.add_argument(
        "--force",
        action="store_true",
        help="replace existing files that differ (without it init asks, and with --yes keeps them)",
    )
    return parser


def main(
    argv: Sequence[str],
    *,
    candidates: tuple[str, ...] = DEFAULT_CANDIDATES,
    console: Console | None = None,
) -> int:
    """``candidates``: where to look without --host/--scan (tests pass loopback ones);
    ``console``: the terminal (tests pass their own; ``--yes`` still applies)."""
    args = build_parser().parse_args(list(argv))
    options = InitOptions(
        hosts=tuple(args.host),
        scan=args.scan,
        port=args.port,
        tls_port=args.tls_port,
        config=args.config,
        password_file=args.pvs_password_file,
        name=args.name,
        timeout=args.timeout,
        concurrency=args.concurrency,
        assume_yes=args.yes,
        force=args.force,
        exporter_host=args.exporter_host or socket.gethostname() or "localhost",
        candidates=candidates,
    )
    if console is not None:
        console.assume_yes = args.yes
    else:
        read_secret = None
        if sys.stdin.isatty():
            import getpass

            read_secret = getpass.getpass
        console = Console(assume_yes=args.yes, read_secret=read_secret)
    try:
        return run_init(options, console)
    except InitError as exc:
        print(f"{PROG} init: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        print(f"{PROG} init: error:{where}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_NOT_WRITTEN
    except KeyboardInterrupt:
        done = ", ".join(console.written) if console.written else "no file was changed"
        return report(f"\n{PROG} init: interrupted ({done})")
