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


@pytest.mark.e2e
def test_systemd_analyze_verify(testable_unit):
    analyze = require_binaries("systemd-analyze")["systemd-analyze"]
    run = subprocess.run(
        [analyze, "verify", str(testable_unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stderr.strip() == "", run.stderr


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
    from sunpower_pvs_exporter.cli import build_parser

    parsed = build_parser().parse_args(args.split())
    assert parsed.hostname == "172.27.153.1"
