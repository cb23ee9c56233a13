"""contrib/systemd: the unit verifies, is hardened, and starts what we install.

``systemd-analyze verify`` checks that ExecStart's binary exists and is
executable. The unit names the documented install path
(/opt/sunpower-pvs-exporter/.venv/bin/...), which does not exist on a test
machine, so the test verifies a copy whose ExecStart points at the console
script of the Python running the tests; everything else is byte for byte the
shipped unit.
"""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
from pathlib import Path

import pytest

from contrib.promql_names import REPO
from e2e.monitoring_stack import require_binaries

SYSTEMD_DIR = REPO / "contrib" / "systemd"
UNIT = SYSTEMD_DIR / "sunpower-pvs-exporter.service"
INSTALLED_BINARY = "/opt/sunpower-pvs-exporter/.venv/bin/sunpower-pvs-exporter"


def unit_options() -> dict[str, list[str]]:
    """[Service] options; repeated keys keep every value."""
    options: dict[str, list[str]] = {}
    section = ""
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        options.setdefault(f"{section}.{key}", []).append(value)
    return options


@pytest.fixture
def testable_unit(tmp_path: Path) -> Path:
    binary = Path(sys.executable).parent / "sunpower-pvs-exporter"
    assert binary.exists(), f"console script missing: {binary} (pip install -e .)"
    text = UNIT.read_text()
    assert f"ExecStart={INSTALLED_BINARY} " in text
    copy = tmp_path / UNIT.name
    copy.write_text(text.replace(f"ExecStart={INSTALLED_BINARY} ", f"ExecStart={binary} "))
    return copy


def verify_cleanly(analyze: str, unit: Path) -> None:
    """``systemd-analyze verify`` passes and has nothing to say."""
    run = subprocess.run(
        [analyze, "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stderr.strip() == "", run.stderr


@pytest.mark.e2e
def test_systemd_analyze_verify(testable_unit):
    analyze = require_binaries("systemd-analyze")["systemd-analyze"]
    verify_cleanly(analyze, testable_unit)


@pytest.mark.e2e
def test_systemd_analyze_security_rates_it_ok(testable_unit):
    analyze = require_binaries("systemd-analyze")["systemd-analyze"]
    run = subprocess.run(
        [analyze, "security", "--offline=yes", "--no-pager", str(testable_unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", run.stdout)
    assert match, run.stdout + run.stderr
    # 0 = fully locked down, 10 = unprotected; "OK" is below 4.5 in systemd's scale.
    assert float(match.group(1)) <= 2.0, run.stdout


def test_unit_is_hardened_and_restarts():
    options = unit_options()
    expected = {
        "Service.DynamicUser": "yes",
        "Service.NoNewPrivileges": "yes",
        "Service.ProtectSystem": "strict",
        "Service.ProtectHome": "yes",
        "Service.PrivateTmp": "yes",
        "Service.RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "Service.Restart": "on-failure",
        "Service.CapabilityBoundingSet": "",
        "Install.WantedBy": "multi-user.target",
    }
    for key, value in expected.items():
        assert options.get(key) == [value], key
    # Optional environment file ("-"), whose variable feeds the command line.
    assert options["Service.EnvironmentFile"] == ["-/etc/default/sunpower-pvs-exporter"]
    assert options["Service.ExecStart"][0].endswith(" $SUNPOWER_PVS_EXPORTER_ARGS")
    assert options["Service.ConfigurationDirectory"] == ["sunpower-pvs-exporter"]


def test_example_environment_file_sets_the_arguments():
    parser = configparser.ConfigParser()
    text = (SYSTEMD_DIR / "sunpower-pvs-exporter.default").read_text()
    parser.read_string("[env]\n" + text)
    args = parser["env"]["SUNPOWER_PVS_EXPORTER_ARGS"].strip('"')
    assert args.startswith("--hostname 172.27.153.1")
    # The flags parse with the exporter's own parser.
    from sunpower_pvs_exporter.cli.serve import build_parser

    parsed = build_parser().parse_args(args.split())
    assert parsed.hostname == "172.27.153.1"


DROP_IN = SYSTEMD_DIR / "password.conf"
CREDENTIAL = "pvs-password"


def test_config_errors_stop_the_restart_loop():
    """Exit 2 (a config error) is not restarted; other failures still are."""
    options = unit_options()
    assert options["Service.Restart"] == ["on-failure"]
    assert options["Service.RestartPreventExitStatus"] == ["2"]


def test_the_whole_shutdown_fits_the_stop_timeout_with_margin():
    """Open scrapes' grace, the pollers' deadline and the Pushgateway DELETEs
    (all at once, under one deadline) end before systemd's SIGKILL, with room
    to spare on a loaded Raspberry Pi."""
    from sunpower_pvs_exporter.push import DELETE_DEADLINE
    from sunpower_pvs_exporter.runtime import STOP_DEADLINE
    from sunpower_pvs_exporter.web.server import OPEN_SCRAPES_GRACE

    (stop_timeout,) = unit_options()["Service.TimeoutStopSec"]
    seconds = float(stop_timeout.removesuffix("s"))
    assert seconds / 2 >= OPEN_SCRAPES_GRACE + STOP_DEADLINE + DELETE_DEADLINE


@pytest.mark.e2e
def test_unit_with_the_password_drop_in_verifies(testable_unit: Path):
    """The unit plus password.conf as installed (a ``.d`` directory beside it)."""
    analyze = require_binaries("systemd-analyze")["systemd-analyze"]
    drop_ins = testable_unit.parent / (testable_unit.name + ".d")
    drop_ins.mkdir()
    (drop_ins / DROP_IN.name).write_text(DROP_IN.read_text())
    verify_cleanly(analyze, testable_unit)
    assert re.search(
        rf"^LoadCredential={CREDENTIAL}:/etc/sunpower-pvs-exporter/{CREDENTIAL}$",
        DROP_IN.read_text(),
        re.MULTILINE,
    )


def _config(tmp_path: Path, sim_port: int) -> Path:
    config = tmp_path / "config.yml"
    config.write_text(
        "targets:\n"
        f"  - name: cabin\n    host: 127.0.0.1\n    port: {sim_port}\n    use_tls: true\n"
        "    api: varserver\n"
        f"    password_file: ${{CREDENTIALS_DIRECTORY}}/{CREDENTIAL}\n"
    )
    return config


async def test_password_reaches_the_exporter_as_a_systemd_credential(tmp_path: Path):
    """What systemd does with LoadCredential=: a private 0400 copy of the password in
    $CREDENTIALS_DIRECTORY. The documented config line finds it and logs in; without
    the credential the same config is an exit-2 config error (no restart loop)."""
    import asyncio
    import os
    import signal
    from datetime import UTC

    import aiohttp

    from sunpower_pvs_exporter.simulator.server import SimulatedPvs, SimulatorServer
    from sunpower_pvs_exporter.simulator.site import SimClock, SiteConfig
    from support import NOON_UTC, probe_up, start_exporter_async

    secret = "Cred-Secret-9d1"
    pvs = SimulatedPvs(
        config=SiteConfig(inverters=2, tz=UTC),
        clock=SimClock(start=NOON_UTC),
        api="varserver",
        password_override=secret,
    )
    sim = SimulatorServer(pvs, host="127.0.0.1")
    await sim.start()
    config = _config(tmp_path, sim.tls_port)
    env = {k: v for k, v in os.environ.items() if k != "CREDENTIALS_DIRECTORY"}
    try:
        missing = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sunpower_pvs_exporter", "--config", str(config),
            env=env, stderr=subprocess.PIPE,
        )  # fmt: skip
        _, stderr = await asyncio.wait_for(missing.communicate(), timeout=30)
        assert missing.returncode == 2  # RestartPreventExitStatus=2: no loop
        assert stderr.decode() == (
            "sunpower-pvs-exporter: error: targets[0].password_file: "
            f"${{CREDENTIALS_DIRECTORY}}/{CREDENTIAL} needs $CREDENTIALS_DIRECTORY, which is not "
            "set: run under systemd with LoadCredential= (see docs/configuration.md, Secrets)\n"
        )

        credentials = tmp_path / "credentials"
        credentials.mkdir(mode=0o500)
        (credentials / CREDENTIAL).write_text(secret + "\n")
        (credentials / CREDENTIAL).chmod(0o400)
        log = tmp_path / "exporter.log"
        proc, port = await start_exporter_async(
            "--config", str(config), output=tmp_path / "output", log_file=log,
            env={**env, "CREDENTIALS_DIRECTORY": str(credentials)},
        )  # fmt: skip
        try:
            async with aiohttp.ClientSession() as http:
                await probe_up(http, f"http://127.0.0.1:{port}", "cabin")
            assert pvs.failed_logins == 0
        finally:
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), timeout=10) == 0
    finally:
        await sim.stop()
