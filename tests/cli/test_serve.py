"""Command line: the original's flags and defaults, one-line errors, lifecycle."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sunpower_pvs_exporter import __version__
from sunpower_pvs_exporter.cli.serve import build_parser, config_from_args, main
from support import (
    parse_samples,
    probe_up,
    series,
    start_exporter,
    start_exporter_async,
    stop_process,
    target_line,
)


def config_for(*argv: str):
    return config_from_args(build_parser().parse_args(list(argv)))


def exit_code(argv: list[str]) -> int | str | None:
    """main()'s exit status, whether it returns it or argparse raises it."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def test_defaults_are_the_original_exporters():
    config = config_for()
    (target,) = config.targets
    assert target.host == "sunpowerconsole.com"
    assert target.port == 80
    assert target.use_tls is False
    assert config.listen_port == 9110
    assert config.listen_host == ""
    assert config.log_level == "INFO"
    assert config.use_device_data_timestamp is False
    assert config.single_target is True
    # Background polling waits longer than a scrape could (DeviceList is slow).
    assert target.timeout == 120
    assert target.poll_interval == 120
    assert target.max_age == 360


def test_original_flags_are_honoured():
    config = config_for(
        "--hostname",
        "172.27.153.1",
        "--port",
        "8443",
        "--use-tls",
        "--listen-on",
        "9999",
        "--log-level",
        "debug",
        "--timeout",
        "15",
        "--use-device-data-timestamp",
        "--log-file",
        "/tmp/x.log",
    )
    (target,) = config.targets
    assert (target.host, target.port, target.use_tls, target.timeout) == (
        "172.27.153.1",
        8443,
        True,
        15.0,
    )
    assert config.listen_port == 9999
    assert config.log_level == "DEBUG"
    assert config.use_device_data_timestamp is True
    assert config.log_file == "/tmp/x.log"


def test_tls_without_port_uses_443_and_scrape_mode_keeps_10s_timeout():
    assert config_for("--use-tls").targets[0].port == 443
    assert config_for("--poll-mode", "scrape").targets[0].timeout == 10


@pytest.mark.parametrize(
    ("value", "host", "port"),
    [
        ("9110", "", 9110),
        (":9200", "", 9200),
        ("127.0.0.1:9110", "127.0.0.1", 9110),
        ("[::1]:9111", "::1", 9111),
        ("localhost:80", "localhost", 80),
        ("127.0.0.1:0", "127.0.0.1", 0),  # any free port, named in the start-up log
    ],
)
def test_listen_on_accepts_port_and_host_port(value: str, host: str, port: int):
    config = config_for("--listen-on", value)
    assert (config.listen_host, config.listen_port) == (host, port)


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--port", "x"], "--port"),
        (["--port", "70000"], "--port"),
        (["--port", "0"], "--port"),  # 0 means "any" only for a listen address
        (["--listen-on", "65536"], "--listen-on"),
        (["--listen-on", "::1:9110"], "--listen-on"),
        (["--listen-on", "host:"], "--listen-on"),
        (["--timeout", "-1"], "--timeout"),
        (["--timeout", "soon"], "--timeout"),
        (["--log-level", "LOUD"], "--log-level"),
        (["--poll-interval", "20"], "--poll-interval"),
        (["--max-age", "10"], "--max-age"),
        (["--pvs-timezone", "Mars/Olympus"], "--pvs-timezone"),
        (["--web.max-connection-rate", "-1"], "--web.max-connection-rate"),
        (["--web.max-connection-rate", "fast"], "--web.max-connection-rate"),
        (["--bogus"], "--bogus"),
    ],
)
def test_invalid_values_exit_nonzero_with_one_line_naming_the_flag(
    argv: list[str], flag: str, capsys: pytest.CaptureFixture[str]
):
    assert exit_code([*argv, "--check-config"]) == 2
    err = capsys.readouterr().err
    assert flag in err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


def test_poll_interval_minimum_message(capsys: pytest.CaptureFixture[str]):
    assert exit_code(["--poll-interval", "20", "--check-config"]) == 2
    err = capsys.readouterr().err
    assert "--poll-interval: must be >= 60s for the auto-detected API, got 20s" in err


def test_version(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_check_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    good = tmp_path / "good.yml"
    good.write_text("targets:\n  - name: home\n    host: 172.27.153.1\n")
    assert main(["--config", str(good), "--check-config"]) == 0
    assert "configuration OK: 1 target: home" in capsys.readouterr().out
    bad = tmp_path / "bad.yml"
    bad.write_text("targets:\n  - name: home\n    host: pvs\n    poll_intervall: 90\n")
    assert main(["--config", str(bad), "--check-config"]) == 2
    err = capsys.readouterr().err
    assert "targets[0].poll_intervall: unknown key" in err


def wait_for_metrics(port: int, proc: subprocess.Popen[bytes], output: Path) -> str:
    """``/metrics`` once the target is up."""
    deadline = time.monotonic() + 20
    text = ""
    while time.monotonic() < deadline:
        assert proc.poll() is None, output.read_text()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            time.sleep(0.1)
            continue
        up = series(parse_samples(text), "sunpower_pvs_up")
        if up and up[0][1] == 1.0:
            return text
        time.sleep(0.1)
    raise AssertionError(f"no metrics in time:\n{text[-1500:]}")


def test_demo_exports_daytime_production_and_exits_cleanly_on_sigterm(tmp_path: Path):
    output = tmp_path / "output"
    proc, port = start_exporter("--demo", "--demo-inverters", "5", output=output)
    try:
        text = wait_for_metrics(port, proc, output)
        samples = parse_samples(text)
        power = series(samples, "sunpower_pvs_inverter_ac_power_watts")
        # The demo's simulated sun is at late morning: real production.
        assert sum(value for _, value in power if value == value) > 100, power
        assert len(power) == 5
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=5)
        assert code == 0
        assert time.monotonic() - started < 2.0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_sighup_reloads_targets_and_survives_a_bad_file(tmp_path: Path, make_simulator):
    """A real process: SIGHUP adds a target; a broken file is refused, the old one kept."""
    import asyncio

    import aiohttp

    sim_a = await make_simulator(inverters=1, seed=1)
    sim_b = await make_simulator(inverters=2, seed=2, host="::1")  # another PVS

    config = tmp_path / "config.yml"
    config.write_text("targets:\n" + target_line("a", sim_a.port))
    log_file = tmp_path / "exporter.log"
    proc, port = await start_exporter_async(
        "--config", str(config), output=tmp_path / "output", log_file=log_file
    )
    base = f"http://127.0.0.1:{port}"

    try:
        async with aiohttp.ClientSession() as http:
            await probe_up(http, base, "a")
            polls_of_a = sim_a.pvs.log.count("DeviceList")
            config.write_text(
                "targets:\n"
                + target_line("a", sim_a.port)
                + target_line("b", sim_b.port, host="::1")
            )
            proc.send_signal(signal.SIGHUP)
            await probe_up(http, base, "b")
            # The unchanged target kept its poller: no early poll of its PVS.
            assert sim_a.pvs.log.count("DeviceList") == polls_of_a

            config.write_text("targets:\n  - {name: a, host: h, poll_intervall: 1}\n")
            proc.send_signal(signal.SIGHUP)
            for _ in range(100):
                if "reload failed" in log_file.read_text():
                    break
                await asyncio.sleep(0.05)
            assert "targets[0].poll_intervall: unknown key" in log_file.read_text()
            await probe_up(http, base, "b")  # still served
            assert proc.returncode is None
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=10) == 0


FLAG_MISTAKES = [
    (
        ["--hostname", "127.0.0.1:8080"],
        "--hostname: give the port separately (--port), not as HOST:PORT; got '127.0.0.1:8080'",
    ),
    (
        ["--hostname", "https://pvs.lan"],
        "--hostname: give a host name or address without a scheme, got 'https://pvs.lan' "
        "(for HTTPS set --use-tls)",
    ),
    (
        ["--push-to", "not-a-url"],
        "argument --push-to: expected an http:// or https:// URL, got 'not-a-url'",
    ),
    (["--demo-inverters", "-5"], "argument --demo-inverters: expected 1-1000 inverters, got '-5'"),
    (
        ["--pvs-password-file", "/nonexistent/pvs.password"],
        "--pvs-password-file: cannot read /nonexistent/pvs.password: No such file or directory",
    ),
    (
        ["--api", "varserver", "--port", "8080"],
        "--port: the varserver API is HTTPS only and uses port 443 unless --use-tls is set; "
        "port 8080 would be ignored",
    ),
    # Issue 22: an empty host silently meant the default one.
    (
        ["--hostname", ""],
        "--hostname: empty; give the PVS's host name or address, or leave the flag out for "
        "the default (sunpowerconsole.com)",
    ),
    # Issue 22: the IPv4 form got the port hint, the IPv6 one did not.
    (
        ["--hostname", "[::1]:18080"],
        "--hostname: give the port separately (--port), not as [HOST]:PORT, and the IPv6 "
        "address without brackets; got '[::1]:18080'",
    ),
    # Issue 22: a URL was answered with a hint about IPv6 brackets.
    (
        ["--listen-on", "http://127.0.0.1:9110"],
        "argument --listen-on: give PORT or HOST:PORT without a scheme, e.g. 127.0.0.1:9110; "
        "got 'http://127.0.0.1:9110'",
    ),
]


@pytest.mark.parametrize(("argv", "message"), FLAG_MISTAKES)
def test_flag_mistakes_are_refused_with_exactly_this_error(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
):
    assert exit_code([*argv, "--check-config"]) == 2
    assert capsys.readouterr().err == f"sunpower-pvs-exporter: error: {message}\n"


def test_full_length_dns_name_is_a_valid_hostname():
    host = ".".join(["a" * 63] * 3 + ["b" * 61])
    (target,) = config_for("--hostname", host).targets
    assert (target.host, target.name) == (host, host)


@pytest.mark.parametrize(
    ("flag", "value", "key"),
    [
        ("--hostname", "pvs.lan", "host"),
        ("--poll-interval", "90", "poll_interval"),
        ("--poll-mode", "scrape", "poll_mode"),
        ("--port", "80", "port"),
        ("--pvs-password-file", "/x", "password_file"),
        ("--demo", None, ""),
    ],
)
def test_target_flags_with_config_are_refused_not_ignored(
    flag: str, value: str | None, key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    config = tmp_path / "config.yml"
    config.write_text("targets:\n  - {name: home, host: 172.27.153.1}\n")
    argv = ["--config", str(config), flag, *([value] if value else []), "--check-config"]
    assert exit_code(argv) == 2
    instead = f"; set {key} in the config file instead" if key else ""
    assert capsys.readouterr().err == (
        f"sunpower-pvs-exporter: error: {flag}: cannot be combined with --config{instead}\n"
    )


@pytest.mark.parametrize(
    ("host", "port", "shown"),
    [("", 9110, "*:9110"), ("127.0.0.1", 80, "127.0.0.1:80"), ("::1", 9111, "[::1]:9111")],
)
def test_listen_address_is_logged_as_listen_on_accepts_it(host: str, port: int, shown: str):
    from sunpower_pvs_exporter.cli.serve import listen_address
    from sunpower_pvs_exporter.config import parse_listen

    assert listen_address(host, port) == shown
    assert parse_listen(shown.removeprefix("*"), "--listen-on") == (host, port)


def test_demo_certificate_directory_problem_names_the_certificate_not_the_port(monkeypatch):
    """A read-only /tmp made the varserver demo fail as "cannot listen on port"."""
    import errno

    from sunpower_pvs_exporter.simulator import server

    def read_only(*_args: object, **_kwargs: object) -> str:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(server, "_CERT_DIR", None)
    monkeypatch.setattr(server.tempfile, "mkdtemp", read_only)
    with pytest.raises(server.CertificateError) as exc:
        server.self_signed_certificate()
    assert "cannot make a directory for the simulator's certificate" in str(exc.value)
    assert "Read-only file system" in str(exc.value)
    # main() reports it as the certificate problem, not as a port in use.
    assert not isinstance(exc.value, OSError)


@pytest.mark.parametrize(
    ("argv", "prog"),
    [
        (["--listen-on", "127.0.0.1:0"], "sunpower-pvs-exporter"),
        (["check"], "sunpower-pvs-exporter check"),
        (["capture", "--output", "{tmp}/c.json"], "sunpower-pvs-exporter capture"),
    ],
)
def test_a_demo_certificate_that_cannot_be_made_is_one_line_and_exit_2(
    argv: list[str], prog: str, monkeypatch, tmp_path: Path, capsys
):
    """Issue 22: check and capture printed a CertificateError traceback, and the
    exporter's message blamed a --demo-api flag the user had not given."""
    import errno

    from sunpower_pvs_exporter.cli.entry import main as entry_main
    from sunpower_pvs_exporter.simulator import server

    def read_only(*_args: object, **_kwargs: object) -> str:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(server, "_CERT_DIR", None)
    monkeypatch.setattr(server.tempfile, "mkdtemp", read_only)
    args = [a.format(tmp=tmp_path) for a in argv]
    assert entry_main([*args, "--demo", "--demo-api", "varserver"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(
        f"{prog}: error: --demo: cannot make a directory for the simulator's certificate in "
    )
    assert err.endswith(": Read-only file system (set TMPDIR to a writable directory)\n")
    assert err.count("\n") == 1


# --- docs/configuration.md lists every flag ----------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def parser_flags() -> set[str]:
    """Every long option of the argument parser, read from its --help text."""
    return set(re.findall(r"(?<![\w-])--[a-z][a-z0-9.-]*[a-z]", build_parser().format_help()))


def documented_flag_rows() -> dict[str, str]:
    """docs/configuration.md's "Flags" table: each flag of a row -> its last column."""
    text = (ROOT / "docs" / "configuration.md").read_text()
    section = text.split("\n## Flags\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split(" | ")]
        if line.startswith("| `--"):
            for flag in re.findall(r"`(--[a-z][a-z0-9.-]*)", cells[0]):
                rows[flag] = cells[-1]
    return rows


def test_every_flag_of_the_parser_is_in_docs_configuration_md():
    flags = parser_flags()
    assert {"--web.max-connections", "--hostname", "--version", "--help"} <= flags  # found
    rows = documented_flag_rows()
    assert sorted(flags - set(rows)) == []
    assert sorted(set(rows) - flags) == []  # no flag documented that does not exist


def test_the_flags_table_says_which_flags_config_refuses():
    from sunpower_pvs_exporter.cli.serve import TARGET_FLAGS

    refused = {flag for flag, effect in documented_flag_rows().items() if effect == "refused"}
    assert refused == {"--" + dest.replace("_", "-") for dest, _key in TARGET_FLAGS}


def test_help_names_every_subcommand_and_check_help_does_not_repeat_it():
    from sunpower_pvs_exporter.cli.entry import SUBCOMMANDS
    from sunpower_pvs_exporter.cli.subcommands import build_parser as subcommand_parser

    text = " ".join(build_parser().format_help().split())
    for command in ("init", *SUBCOMMANDS):
        assert f"; {command}" in text or f": {command}: " in text
    assert "Subcommands" not in subcommand_parser("check").format_help()


SERVING_ONLY = {
    "--listen-on",
    "--check-config",
    "--use-device-data-timestamp",
    "--max-age",
    "--live",
    "--push-to",
    "--push-job",
    "--push-auth-file",
    "--web.config.file",
    "--web.health-without-auth",
    "--web.max-connections",
    "--web.max-connection-rate",
    "--no-ease-off-after-reboots",
}


@pytest.mark.parametrize("command", ["check", "capture"])
def test_check_and_capture_offer_only_the_flags_a_single_read_uses(command: str, capsys):
    """Issue 22: ``check --help`` listed --listen-on, --push-to, --web.* ... which it ignores."""
    from sunpower_pvs_exporter.cli.subcommands import build_parser as subcommand_parser

    parser = subcommand_parser(command)
    offered = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9.-]*[a-z]", parser.format_help()))
    assert offered & SERVING_ONLY == set()
    assert offered >= parser_flags() - SERVING_ONLY - {"--help"}
    own = ["--output", "x.json"] if command == "capture" else []
    with pytest.raises(SystemExit) as exc:
        parser.parse_args([*own, "--listen-on", "9110"])
    assert exc.value.code == 2
    assert "unrecognized arguments: --listen-on 9110" in capsys.readouterr().err
    # What is not offered reads as unset, as the exporter's own defaults expect.
    args = parser.parse_args(own)
    assert (args.listen_on, args.push_to, args.web_config_file, args.live) == (None,) * 4


def test_a_second_instance_is_one_line_naming_the_first(tmp_path: Path):
    """Issue 22: exit 1 and "bind on address (...): address already in use" repeated.

    Another program listening on the same port number at another address (here
    this test, on ::1; in CI a benchmark's simulated fleet) is not the one in
    the way, even with a lower pid: it was named instead of the first instance.
    """
    first, port = start_exporter("--demo", "--demo-inverters", "1", output=tmp_path / "first")
    elsewhere = socket.socket(socket.AF_INET6)
    try:
        elsewhere.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        elsewhere.bind(("::1", port))
        elsewhere.listen(1)
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "sunpower_pvs_exporter",
                "--demo",
                "--listen-on",
                f"127.0.0.1:{port}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        elsewhere.close()
        stop_process(first)
    assert (second.returncode, second.stdout) == (2, "")
    assert second.stderr == (
        f"sunpower-pvs-exporter: error: cannot listen on 127.0.0.1:{port}: port {port} is in "
        f"use by pid {first.pid} (sunpower_pvs_exporter) (another instance?); stop it, or pick "
        "another port with --listen-on\n"
    )
    # The first one counted its one target right.
    assert f"listening on 127.0.0.1:{port} (1 target; " in (tmp_path / "first").read_text()


def test_the_connection_rate_flag_reaches_the_config():
    assert config_for().web_max_connection_rate == 100
    assert config_for("--web.max-connection-rate", "0").web_max_connection_rate == 0
    assert config_for("--web.max-connection-rate", "20").web_max_connection_rate == 20


def test_no_ease_off_after_reboots_flag_turns_it_off_and_is_refused_with_a_config(tmp_path):
    from sunpower_pvs_exporter.cli.serve import config_from_args
    from sunpower_pvs_exporter.config import ConfigError

    parser = build_parser()
    (on,) = config_from_args(parser.parse_args(["--hostname", "127.0.0.1"])).targets
    (off,) = config_from_args(
        parser.parse_args(["--hostname", "127.0.0.1", "--no-ease-off-after-reboots"])
    ).targets
    assert (on.ease_off_after_reboots, off.ease_off_after_reboots) == (True, False)
    config = tmp_path / "c.yml"
    config.write_text("targets: [{name: a, host: 127.0.0.1}]\n")
    args = parser.parse_args(["--config", str(config), "--no-ease-off-after-reboots"])
    with pytest.raises(ConfigError, match="set ease_off_after_reboots in the config file"):
        config_from_args(args)
