"""``sunpower-pvs-exporter init`` over loopback: a small network of its own on 127.0.0.0/28.

Linux routes all of 127.0.0.0/8 to the loopback interface, so each address
can be a different machine: a varserver PVS at .2, a legacy PVS at .3, a web
server that is not a PVS at .4 (HTML 404) and .5 (JSON of its own), one that
accepts connections and never answers at .6, and nothing at the others. All
listen on the same port, as every PVS listens on 80. Nothing outside
127.0.0.0/8 is ever contacted: the usual PVS addresses are replaced by
loopback ones in the in-process tests, and the subprocess tests always say
where to look.
"""

from __future__ import annotations

import asyncio
import io
import stat
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from aiohttp import web

from sunpower_pvs_exporter.cli import init_command
from sunpower_pvs_exporter.config import load_config_file
from sunpower_pvs_exporter.simulator.server import SimulatedPvs, SimulatorServer, free_port
from sunpower_pvs_exporter.simulator.site import SimClock, SiteConfig
from sunpower_pvs_exporter.troubleshoot.init import Console
from support import NOON_UTC

SCAN = "127.0.0.0/28"
VARSERVER_HOST, LEGACY_HOST = "127.0.0.2", "127.0.0.3"
NOT_PVS_HTML, NOT_PVS_JSON, HUNG = "127.0.0.4", "127.0.0.5", "127.0.0.6"
SUBPROCESS_LIMIT = 60.0


@dataclass
class LoopbackSite:
    port: int
    tls_port: int
    varserver: SimulatorServer
    legacy: SimulatorServer
    # Requests each non-PVS web server got, and connections the hung one accepted.
    seen: dict[str, list[str]] = field(default_factory=dict)
    hung_connections: int = 0
    cleanups: list[object] = field(default_factory=list)

    def args(self, *more: str) -> list[str]:
        return ["--port", str(self.port), "--tls-port", str(self.tls_port), "--timeout", "2", *more]


def _simulated(api: str, seed: int) -> SimulatedPvs:
    return SimulatedPvs(
        config=SiteConfig(seed=seed, inverters=3, error_inverters=0),
        clock=SimClock(start=NOON_UTC),
        api=api,
    )


async def _not_pvs_server(host: str, port: int, seen: list[str], *, html: bool) -> web.AppRunner:
    async def answer(request: web.Request) -> web.Response:
        seen.append(request.path)
        if html:
            return web.Response(
                status=404, text="<html>router login</html>", content_type="text/html"
            )
        return web.json_response({"status": "ok", "device": "a printer"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


async def _start_site(port: int, tls_port: int) -> LoopbackSite:
    varserver = SimulatorServer(
        _simulated("varserver", 11), host=VARSERVER_HOST, port=port, tls_port=tls_port
    )
    legacy = SimulatorServer(_simulated("legacy", 12), host=LEGACY_HOST, port=port)
    site = LoopbackSite(port, tls_port, varserver, legacy)
    try:
        await varserver.start()
        site.cleanups.append(varserver.stop)
        await legacy.start()
        site.cleanups.append(legacy.stop)
        for host, html in ((NOT_PVS_HTML, True), (NOT_PVS_JSON, False)):
            site.seen[host] = []
            runner = await _not_pvs_server(host, port, site.seen[host], html=html)
            site.cleanups.append(runner.cleanup)
        held: list[asyncio.StreamWriter] = []

        async def never_answer(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            site.hung_connections += 1
            held.append(writer)

        hung = await asyncio.start_server(never_answer, HUNG, port)

        async def stop_hung() -> None:
            for writer in held:
                writer.close()
            hung.close()

        site.cleanups.append(stop_hung)
    except OSError:
        await _stop_site(site)
        raise
    return site


async def _stop_site(site: LoopbackSite) -> None:
    for cleanup in reversed(site.cleanups):
        await cleanup()  # type: ignore[operator]


@pytest.fixture
async def loopback_site() -> AsyncIterator[LoopbackSite]:
    """The little network; ports are free on .2 and tried on the rest (retried if taken)."""
    last: OSError | None = None
    for _attempt in range(5):
        port, tls_port = free_port(VARSERVER_HOST), free_port(VARSERVER_HOST)
        try:
            site = await _start_site(port, tls_port)
        except OSError as exc:
            last = exc
            continue
        try:
            yield site
        finally:
            await _stop_site(site)
        return
    raise AssertionError(f"could not bind the loopback site: {last}")


@dataclass
class Run:
    code: int
    out: str
    err: str


async def run_cli(*args: str, cwd: Path, stdin: str = "") -> Run:
    """The real command in a subprocess, while this test's event loop serves the site."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sunpower_pvs_exporter",
        *args,
        cwd=cwd,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), SUBPROCESS_LIMIT)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


def names_in(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_scan_finds_both_simulated_pvses_and_writes_a_config_that_works(
    loopback_site: LoopbackSite, tmp_path: Path
) -> None:
    site = loopback_site
    run = await run_cli(
        "init", "--scan", SCAN, *site.args("--yes", "--exporter-host", "prom-host"), cwd=tmp_path
    )
    assert run.code == 0, run.out + run.err
    assert f"found PVS6 (firmware 2025.09, Build 61845) at http://{VARSERVER_HOST}:" in run.out
    assert f"at http://{LEGACY_HOST}:{site.port}" in run.out
    assert "14 addresses: 2 PVS, 2 other HTTP servers, 10 no answer or refused" in run.out
    assert "pvs-1: login OK: logged in to https://127.0.0.2" in run.out
    assert "pvs-2: login not needed" in run.out
    assert f"scanning {SCAN}: 14/14 addresses, 2 PVSes found" in run.err
    assert "Traceback" not in run.err

    # One request to each address that is not a PVS, and none beyond the range.
    assert site.seen == {
        NOT_PVS_HTML: ["/cgi-bin/dl_cgi/supervisor/info"],
        NOT_PVS_JSON: ["/cgi-bin/dl_cgi/supervisor/info"],
    }
    assert site.hung_connections == 1
    # The PVSes: who are you, and (varserver only) one login.
    assert site.varserver.pvs.log.count("/cgi-bin/dl_cgi/supervisor/info") == 1
    assert site.varserver.pvs.logins == 1
    assert site.legacy.pvs.log.count("/cgi-bin/dl_cgi/supervisor/info") == 1
    assert site.legacy.pvs.log.count("DeviceList") == 0

    config_path = tmp_path / "sunpower-pvs-exporter.yml"
    config = load_config_file(str(config_path))
    by_name = {target.name: target for target in config.targets}
    assert set(by_name) == {"pvs-1", "pvs-2"}
    assert (by_name["pvs-1"].host, by_name["pvs-1"].port, by_name["pvs-1"].use_tls) == (
        VARSERVER_HOST,
        site.tls_port,
        True,
    )
    assert (by_name["pvs-2"].host, by_name["pvs-2"].port) == (LEGACY_HOST, site.port)
    for name, server in (("pvs-1", site.varserver), ("pvs-2", site.legacy)):
        password_file = tmp_path / f"{name}.password"
        assert by_name[name].password_file == str(password_file)
        assert mode_of(password_file) == 0o600
        assert password_file.read_text() == server.pvs.password + "\n"
        assert server.pvs.password not in config_path.read_text()
        assert server.pvs.password not in run.out

    # The scrape config printed is valid YAML naming both targets through /probe.
    scrape = yaml.safe_load(
        "\n".join(
            line[2:]
            for line in run.out.split("(scrape_configs):\n\n", 1)[1]
            .split("\n\nNext:")[0]
            .splitlines()
        )
    )
    own, probe_job = scrape["scrape_configs"]
    assert own["static_configs"][0]["targets"] == ["prom-host:9110"]
    assert probe_job["metrics_path"] == "/probe"
    assert probe_job["static_configs"][0]["targets"] == ["pvs-1", "pvs-2"]
    assert probe_job["relabel_configs"][-1]["replacement"] == "prom-host:9110"

    checked = await run_cli("--config", str(config_path), "--check-config", cwd=tmp_path)
    assert checked.code == 0, checked.err
    assert "configuration OK: 2 targets" in checked.out
    # And the exporter's own check logs in with what init wrote.
    check = await run_cli("check", "--config", str(config_path), "--target", "pvs-1", cwd=tmp_path)
    assert check.code in (0, 1), check.out + check.err
    assert "Login       OK as ssm_owner with the configured password" in check.out


async def test_a_second_run_replaces_nothing_without_consent(
    loopback_site: LoopbackSite, tmp_path: Path
) -> None:
    config = tmp_path / "sunpower-pvs-exporter.yml"
    password = tmp_path / "pvs.password"

    async def init(*more: str, answers: str = "") -> tuple[int, str]:
        console, out = _console(answers)
        argv = ["--host", LEGACY_HOST, "--config", str(config), *loopback_site.args(*more)]
        code = await asyncio.to_thread(init_command.main, argv, console=console)
        return code, out.getvalue()

    code, _ = await init("--yes")
    assert code == 0
    assert mode_of(password) == 0o600

    # The same answer again: nothing to replace, nothing asked.
    code, text = await init("--yes")
    assert code == 0
    assert f"{config}: unchanged" in text and f"{password}: unchanged" in text

    mine = config.read_text() + "# the owner's own note\n"
    config.write_text(mine)
    password.write_text("changed\n")

    code, text = await init("--yes")
    assert code == 1
    assert "exists and differs: not replaced (--force replaces it)" in text
    assert "Nothing written: every file stays as it was." in text
    code, text = await init(answers="n\n")
    assert code == 1
    assert f"{password} exists and differs. Replace it? [y/N] n" in text
    code, text = await init(answers="")  # stdin closed: the default, no
    assert code == 1
    assert (config.read_text(), password.read_text()) == (mine, "changed\n")

    code, text = await init(answers="y\ny\n")
    assert code == 0, text
    assert "# the owner's own note" not in config.read_text()
    assert password.read_text() == loopback_site.legacy.pvs.password + "\n"
    assert mode_of(password) == 0o600
    config.write_text(mine)
    code, text = await init("--yes", "--force")
    assert code == 0
    assert "# the owner's own note" not in config.read_text()


async def test_a_range_with_no_pvs_ends_with_a_clear_message(
    loopback_site: LoopbackSite, tmp_path: Path
) -> None:
    run = await run_cli(
        "init", "--scan", "127.0.0.240/29", *loopback_site.args("--yes"), cwd=tmp_path
    )
    assert run.code == 1
    assert (
        "No PVS found in 127.0.0.240/29 (6 addresses: 0 PVS, 0 other HTTP servers, "
        "6 no answer or refused)." in run.out
    )
    assert "--scan" in run.out.split("No PVS found", 1)[1]
    assert names_in(tmp_path) == []
    assert "Traceback" not in run.err


def test_a_range_too_big_or_not_a_range_is_refused_before_anything_is_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for scan, says in (
        ("10.0.0.0/8", "10.0.0.0/8 has 16777216 addresses; name a range of at most 1024"),
        ("192.168.1.300/24", "expected an address range like 192.168.1.0/24"),
    ):
        with pytest.raises(SystemExit) as exited:
            init_command.main(["--scan", scan, "--config", str(tmp_path / "c.yml")])
        assert exited.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and says in err, err
    assert names_in(tmp_path) == []


def _console(answers: str, secret: str = "") -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    console = Console(
        assume_yes=False,
        stdin=io.StringIO(answers),
        stdout=out,
        stderr=io.StringIO(),
        read_secret=lambda _prompt: secret,
    )
    return console, out


async def test_the_usual_addresses_come_first_then_the_owner_names_a_range(
    loopback_site: LoopbackSite, tmp_path: Path
) -> None:
    """Interactive: nothing at the (injected) usual addresses; the owner types a range,
    takes the varserver PVS and leaves the legacy one."""
    console, out = _console(f"{SCAN}\ny\nn\n")
    config = tmp_path / "site.yml"
    code = await asyncio.to_thread(
        init_command.main,
        ["--config", str(config), *loopback_site.args()],
        candidates=("127.0.0.9", "127.0.0.10"),
        console=console,
    )
    text = out.getvalue()
    assert code == 0, text
    assert text.startswith("Looking for a PVS at 127.0.0.9 and 127.0.0.10 ...")
    assert "127.0.0.9:" in text and "connection refused" in text
    assert [t.host for t in load_config_file(str(config)).targets] == [VARSERVER_HOST]
    assert mode_of(tmp_path / "pvs.password") == 0o600
    assert names_in(tmp_path) == ["pvs.password", "site.yml"]


async def test_a_changed_password_is_asked_for_and_proven_before_it_is_written(
    tmp_path: Path,
) -> None:
    pvs = _simulated("varserver", 21)
    pvs.password_override = "S3CRT"
    server = SimulatorServer(pvs, host="127.0.0.21", port=0, tls_port=0)
    await server.start()
    try:
        args = [
            "--host",
            "127.0.0.21",
            "--port",
            str(server.port),
            "--tls-port",
            str(server.tls_port),
        ]
        scripted = await run_cli("init", *args, "--yes", cwd=tmp_path)
        assert scripted.code == 1
        assert "LOGIN FAILED" in scripted.out and "--pvs-password-file FILE" in scripted.out
        assert names_in(tmp_path) == []

        console, out = _console("", secret="S3CRT")
        code = await asyncio.to_thread(
            init_command.main, ["--config", str(tmp_path / "x.yml"), *args], console=console
        )
        assert code == 0, out.getvalue()
        assert "refused the login as ssm_owner" in out.getvalue()
        assert (tmp_path / "pvs.password").read_text() == "S3CRT\n"
        assert "S3CRT" not in (tmp_path / "x.yml").read_text()

        given = tmp_path / "given"
        given.mkdir()
        secret = given / "secret"
        secret.write_text("S3CRT\n")
        with_file = await run_cli(
            "init",
            *args,
            "--yes",
            "--pvs-password-file",
            str(secret),
            "--config",
            "c.yml",
            cwd=given,
        )
        assert with_file.code == 0, with_file.out
        assert load_config_file(str(given / "c.yml")).targets[0].password_file == str(secret)
        assert names_in(given) == ["c.yml", "secret"]
    finally:
        await server.stop()


def test_every_flag_of_init_check_and_capture_is_in_docs_configuration_md():
    import re

    from sunpower_pvs_exporter.cli.subcommands import build_parser as subcommand_parser

    docs = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()

    def section(title: str) -> set[str]:
        text = docs.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
        return set(re.findall(r"^\| `(--[a-z][a-z-]*)", text, flags=re.MULTILINE)) | set(
            re.findall(r"`(--[a-z][a-z-]*)`, `-y`", text)
        )

    init_flags = {
        option
        for action in init_command.build_parser()._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    }
    assert init_flags == section("`init`: write the config for you")
    own = {"check": {"--target", "--format"}, "capture": {"--target", "--output"}}
    for command, flags in own.items():
        group = next(g for g in subcommand_parser(command)._action_groups if g.title == command)
        assert {o for a in group._group_actions for o in a.option_strings} == flags
        assert flags <= section("`check` and `capture`")
