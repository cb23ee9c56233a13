"""``sunpower-pvs-exporter init``: find the PVS, check its password, write the config.

The first hour of an owner decides whether they keep the exporter, and the two
things every owner struggles with are where the PVS is and what its password
is. ``init`` answers both from what the PVS says without a login: its serial
gives the factory password (the last five characters, upper-cased), its build
gives the API. It then proves the password with one varserver login, and only
then writes the config (no password in it) and a password file per PVS,
readable by its owner alone.

It never replaces a file without a yes from the owner (``--force`` for
scripts), and says what it did not do as plainly as what it did.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TextIO

from sunpower_pvs_exporter.config import DEFAULT_LISTEN_PORT
from sunpower_pvs_exporter.pvs.errors import PvsAuthError, PvsError
from sunpower_pvs_exporter.pvs.hosts import host_port
from sunpower_pvs_exporter.pvs.transport import Endpoint, HttpTransport
from sunpower_pvs_exporter.pvs.varserver import USER, VarserverClient, default_password
from sunpower_pvs_exporter.site_facts import mask_serial
from sunpower_pvs_exporter.troubleshoot.discover import (
    DEFAULT_CANDIDATES,
    DEFAULT_CONCURRENCY,
    DEFAULT_PROBE_TIMEOUT,
    HTTP_PORT,
    HTTPS_PORT,
    Probe,
    distinct_pvses,
    find,
    scan_addresses,
    summary,
)
from sunpower_pvs_exporter.troubleshoot.init_files import (
    PlannedTarget,
    read_existing,
    render_config,
    write_file,
)
from sunpower_pvs_exporter.web.status import scrape_config

COMMAND = "sunpower-pvs-exporter"
EXIT_WRITTEN, EXIT_NOT_WRITTEN, EXIT_USAGE = 0, 1, 2
# Passwords asked for after the factory one was refused.
PASSWORD_TRIES = 3
LOGIN_TIMEOUT = 10.0

LoginResult = Literal["ok", "rejected", "failed", "not_needed"]


@dataclass(frozen=True)
class InitOptions:
    hosts: tuple[str, ...] = ()
    scan: str | None = None
    port: int = HTTP_PORT
    tls_port: int = HTTPS_PORT
    config: str = "sunpower-pvs-exporter.yml"
    password_file: str | None = None
    name: str = "pvs"
    timeout: float = DEFAULT_PROBE_TIMEOUT
    concurrency: int = DEFAULT_CONCURRENCY
    assume_yes: bool = False
    force: bool = False
    exporter_host: str = "localhost"
    # Where to look when neither --host nor --scan says: injectable so tests
    # never reach for a real PVS address.
    candidates: tuple[str, ...] = DEFAULT_CANDIDATES


class Console:
    """The owner at the terminal, or a script with ``--yes``.

    Questions read a line from ``stdin`` (a closed stdin takes the default);
    with ``assume_yes`` every question takes its default without asking.
    """

    def __init__(
        self,
        *,
        assume_yes: bool,
        stdin: TextIO = sys.stdin,
        stdout: TextIO = sys.stdout,
        stderr: TextIO = sys.stderr,
        read_secret: Callable[[str], str] | None = None,
    ) -> None:
        self.assume_yes = assume_yes
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self._read_secret = read_secret
        # Files written so far: what an interruption leaves behind.
        self.written: list[str] = []

    def say(self, text: str = "") -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def _line(self, prompt: str) -> str | None:
        self.stdout.write(prompt)
        self.stdout.flush()
        line = self.stdin.readline()
        if not self.stdin.isatty():
            # Answers piped in are not echoed: show them, so the transcript reads right.
            self.stdout.write(line if line.endswith("\n") else line + "\n")
        return line.strip() if line else None

    def confirm(self, question: str, *, default: bool) -> bool:
        if self.assume_yes:
            return default
        hint = "[Y/n]" if default else "[y/N]"
        while True:
            answer = self._line(f"{question} {hint} ")
            if answer is None or answer == "":
                return default
            if answer.lower() in ("y", "yes"):
                return True
            if answer.lower() in ("n", "no"):
                return False
            self.say("Please answer y or n.")

    def text(self, question: str) -> str:
        """A free answer; ``""`` with ``--yes`` or a closed stdin."""
        if self.assume_yes:
            return ""
        return self._line(question) or ""

    def secret(self, question: str) -> str:
        if self.assume_yes:
            return ""
        if self._read_secret is not None:
            return self._read_secret(question).strip()
        return self._line(question) or ""

    def progress(self, text: str, *, final: bool) -> None:
        """A progress line on stderr: rewritten in place on a terminal."""
        if self.stderr.isatty():
            self.stderr.write("\r" + text + ("\n" if final else ""))
        else:
            self.stderr.write(text + "\n")
        self.stderr.flush()


@dataclass
class Found:
    """A PVS ``init`` will set up, and how its login went."""

    probe: Probe
    name: str = ""
    password: str = ""
    password_note: str = ""
    login: LoginResult = "not_needed"
    login_detail: str = ""
    files: list[str] = field(default_factory=list)

    @property
    def serial(self) -> str:
        assert self.probe.info is not None
        return self.probe.info.serial


def _scan_progress(console: Console, cidr: str) -> Callable[[int, int, int], None]:
    step = 0

    def report(done: int, total: int, found: int) -> None:
        nonlocal step
        # On a terminal every address; in a log about ten lines per scan.
        every = 1 if console.stderr.isatty() else max(1, total // 10)
        if done == total or done // every > step:
            step = done // every
            noun = "PVS" if found == 1 else "PVSes"
            console.progress(
                f"scanning {cidr}: {done}/{total} addresses, {found} {noun} found",
                final=done == total,
            )

    return report


async def _look(options: InitOptions, hosts: Sequence[str], console: Console) -> list[Probe]:
    return await find(
        hosts,
        port=options.port,
        tls_port=options.tls_port,
        within=options.timeout,
        concurrency=options.concurrency,
        progress=_scan_progress(console, options.scan or "") if options.scan else None,
    )


async def verify_login(
    probe: Probe, password: str, *, tls_port: int, within: float = LOGIN_TIMEOUT
) -> tuple[LoginResult, str]:
    """One varserver login with ``password``: what the exporter's first poll will do."""
    transport = HttpTransport(Endpoint(probe.host, tls_port, True), within)
    assert probe.info is not None
    client = VarserverClient(transport, password, serial=probe.info.serial)
    where = f"https://{host_port(probe.host, tls_port)}"
    try:
        await client.login()
    except PvsAuthError:
        return "rejected", f"{where} refused the login as {USER}"
    except PvsError as exc:
        return "failed", f"{where}: {exc.message}"
    finally:
        await transport.close()
    return "ok", f"logged in to {where} as {USER}"


def _read_password_file(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise InitError(f"--pvs-password-file: cannot read {path}: {exc.strerror}") from exc


class InitError(Exception):
    """A usage problem: one line, exit 2."""


def _found_line(found: Found) -> str:
    probe = found.probe
    assert probe.info is not None
    api = probe.api or "API not told by its build"
    scheme = "https" if probe.use_tls else "http"
    return (
        f"found {probe.detail} at {scheme}://{probe.address}, serial "
        f"{mask_serial(found.serial)}, {api}"
    )


async def _settle_password(found: Found, options: InitOptions, console: Console) -> None:
    """Pick the password and, on varserver, prove it with a login."""
    if options.password_file is not None:
        found.password = _read_password_file(options.password_file)
        found.password_note = "the password given with --pvs-password-file"
    else:
        found.password = default_password(found.serial)
        found.password_note = "the factory password: last 5 characters of the serial"
    if found.probe.api != "varserver":
        found.login = "not_needed"
        found.login_detail = (
            "no login on the legacy API; the password file is for when a firmware "
            "update brings the varserver API"
        )
        return
    found.login, found.login_detail = await verify_login(
        found.probe, found.password, tls_port=options.tls_port
    )
    tries = 0
    while found.login == "rejected" and tries < PASSWORD_TRIES and not console.assume_yes:
        tries += 1
        console.say(f"  {found.login_detail} with {found.password_note}.")
        typed = console.secret(f"  The PVS password (empty to give up on {found.probe.host}): ")
        if not typed:
            break
        found.password, found.password_note = typed, "the password typed at init"
        found.login, found.login_detail = await verify_login(
            found.probe, found.password, tls_port=options.tls_port
        )


def _names(found: list[Found], base: str) -> None:
    if len(found) == 1:
        found[0].name = base
        return
    for index, one in enumerate(found, start=1):
        one.name = f"{base}-{index}"


def _planned(found: Found, options: InitOptions, config_dir: Path) -> PlannedTarget:
    probe = found.probe
    if options.password_file is not None:
        password_file = str(Path(options.password_file).resolve())
    else:
        password_file = f"{found.name}.password"
        found.files.append(str(config_dir / password_file))
    # varserver is HTTPS only and goes to 443 beside plain HTTP; on another
    # HTTPS port, or a PVS that refused plain HTTP, the whole target goes there
    # (a PVS serves supervisor/info on both).
    https_only = probe.use_tls or (probe.api == "varserver" and options.tls_port != HTTPS_PORT)
    return PlannedTarget(
        name=found.name,
        host=probe.host,
        port=options.tls_port if https_only else probe.port,
        use_tls=https_only,
        api=probe.api,
        description=f"{probe.detail}, serial {mask_serial(found.serial)}",
        password_file=password_file,
        password_note=found.password_note,
    )


def _may_write(path: Path, text: str, options: InitOptions, console: Console) -> bool | None:
    """True: write; None: already so; False: the owner (or a script without --force) said no."""
    existing = read_existing(path)
    if existing is None:
        return True
    if existing == text.encode("utf-8"):
        return None
    if options.force:
        return True
    if console.assume_yes:
        console.say(f"{path} exists and differs: not replaced (--force replaces it).")
        return False
    return console.confirm(f"{path} exists and differs. Replace it?", default=False)


def _write_all(
    found: list[Found], config_text: str, options: InitOptions, console: Console
) -> bool:
    config_path = Path(options.config)
    # (path, text, secret): password files first, so the config never names a missing one.
    files: list[tuple[Path, str, bool]] = []
    if options.password_file is None:
        for one in found:
            files.append((config_path.parent / f"{one.name}.password", one.password + "\n", True))
    files.append((config_path, config_text, False))
    decisions = [_may_write(path, text, options, console) for path, text, _secret in files]
    if False in decisions:
        console.say("Nothing written: every file stays as it was.")
        return False
    for (path, text, secret), decision in zip(files, decisions, strict=True):
        what = "password file, mode 0600" if secret else "config"
        if decision is None:
            if secret and path.stat().st_mode & 0o077:
                path.chmod(0o600)
                console.say(f"  {path}: same password; made readable by its owner only")
            else:
                console.say(f"  {path}: unchanged ({what})")
            continue
        write_file(path, text, secret=secret)
        console.written.append(str(path))
        console.say(f"  wrote {path} ({what})")
    return True


def _next_steps(found: list[Found], options: InitOptions, console: Console) -> None:
    config = options.config
    names = [one.name for one in found]
    console.say()
    console.say("Add this to prometheus.yml (scrape_configs):")
    console.say()
    listen = f"{options.exporter_host}:{DEFAULT_LISTEN_PORT}"
    # The same block the status page offers once the exporter runs.
    for line in scrape_config(
        names, single_target=False, listen=listen, scheme="http"
    ).splitlines():
        console.say("  " + line)
    console.say()
    console.say("Next:")
    console.say(f"  1. {COMMAND} --config {config} --check-config")
    console.say(
        f"  2. {COMMAND} check --config {config}"
        + (f" --target {names[0]}" if len(names) > 1 else "")
    )
    console.say(f"  3. {COMMAND} --config {config}   (then http://localhost:9110/)")
    console.say(
        "     as a service: contrib/systemd/ and docs/monitoring.md; under systemd the "
        "password file is handed over as a credential (docs/configuration.md, Secrets)"
    )


def run_init(options: InitOptions, console: Console) -> int:
    """The whole first-run conversation; returns the exit code."""
    hosts = list(options.hosts)
    if options.scan is not None:
        hosts += scan_addresses(options.scan)
    looked_at_defaults = not hosts
    if looked_at_defaults:
        hosts = list(options.candidates)
        console.say(f"Looking for a PVS at {' and '.join(hosts)} ...")
    elif options.hosts:
        console.say(f"Looking for a PVS at {', '.join(options.hosts)} ...")
    probes = asyncio.run(_look(options, hosts, console))
    pvses = distinct_pvses(probes)
    if not options.scan:
        for probe in probes:
            if probe.verdict != "pvs":
                console.say(f"  {probe.address}: {probe.detail}")
    if not pvses and looked_at_defaults:
        cidr = console.text(
            "No PVS at the usual addresses. If it is on your home network, the address "
            "range to scan (e.g. 192.168.1.0/24; empty to stop): "
        )
        if cidr:
            options = _with_scan(options, cidr)
            probes = asyncio.run(_look(options, scan_addresses(cidr), console))
            pvses = distinct_pvses(probes)
    if not pvses:
        where = f"in {options.scan} ({summary(probes)})" if options.scan else "there"
        console.say(f"No PVS found {where}.")
        console.say(
            "Is the computer on the PVS's network? The installer port (LAN1) gives it "
            f"an address by DHCP and the PVS is {DEFAULT_CANDIDATES[0]}; on the home "
            "network, scan its range with --scan (e.g. --scan 192.168.1.0/24) or name "
            "the PVS with --host."
        )
        return EXIT_NOT_WRITTEN
    if options.scan:
        console.say(f"Scanned {options.scan}: {summary(probes)}.")
    found = [Found(probe) for probe in pvses]
    for one in found:
        console.say(_found_line(one))
    chosen = [
        one
        for one in found
        if len(found) == 1 or console.confirm(f"Set up {one.probe.address}?", default=True)
    ]
    if not chosen:
        console.say("Nothing chosen; nothing written.")
        return EXIT_NOT_WRITTEN
    _names(chosen, options.name)
    for one in chosen:
        asyncio.run(_settle_password(one, options, console))
        mark = {"ok": "login OK", "not_needed": "login not needed"}.get(one.login, "LOGIN FAILED")
        console.say(f"  {one.name}: {mark}: {one.login_detail}")
    failed = [one for one in chosen if one.login in ("rejected", "failed")]
    if failed:
        console.say(
            "Nothing written: the login did not work for "
            + ", ".join(one.probe.host for one in failed)
            + ". Put the PVS password in a file and run again with --pvs-password-file FILE "
            "(the factory password is on the PVS's label: the last 5 characters of its serial)."
        )
        return EXIT_NOT_WRITTEN
    config_dir = Path(options.config).parent
    planned = [_planned(one, options, config_dir) for one in chosen]
    text = render_config(planned, command=COMMAND)
    if not _write_all(chosen, text, options, console):
        return EXIT_NOT_WRITTEN
    _next_steps(chosen, options, console)
    return EXIT_WRITTEN


def _with_scan(options: InitOptions, cidr: str) -> InitOptions:
    from dataclasses import replace

    return replace(options, scan=cidr)
