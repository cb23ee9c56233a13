"""Every mistake a user made once, as a file, with the exact error it must produce.

An error message is an interface (blackbox_exporter's ``testdata/*.bad.yml``):
each file in tests/testdata/config/ is run through ``--check-config`` and the
whole error line is compared.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sunpower_pvs_exporter.cli.serve import main
from sunpower_pvs_exporter.config import DEFAULTS_KEYS, GLOBAL_KEYS, TARGET_KEYS

TESTDATA = Path(__file__).parent / "testdata" / "config"
ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "contrib" / "config" / "sunpower-pvs-exporter.yml"
PROG = "sunpower-pvs-exporter: error: "

BAD_FILES = {
    "password_file_missing.bad.yml": "targets[0].password_file: cannot read "
    "/nonexistent/sunpower-pvs-exporter/cabin.password: No such file or directory",
    "password_file_empty.bad.yml": f"targets[0].password_file: {TESTDATA}/empty.password is empty",
    "password_env_unset.bad.yml": "targets[0].password_env: environment variable "
    "SUNPOWER_PVS_TEST_UNSET_PASSWORD is not set (or empty)",
    "tls_ca_file_missing.bad.yml": "targets[0].tls_ca_file: cannot read "
    "/nonexistent/sunpower-pvs-exporter/pvs-ca.pem: No such file or directory",
    "tls_ca_file_not_pem.bad.yml": f"targets[0].tls_ca_file: {TESTDATA}/not-a-certificate.pem "
    "holds no PEM CA certificate",
    "host_with_scheme.bad.yml": "targets[0].host: give a host name or address without a "
    "scheme, got 'http://172.27.153.1' (for HTTPS set targets[0].use_tls)",
    "host_with_port.bad.yml": "targets[0].host: give the port separately (targets[0].port), "
    "not as HOST:PORT; got '172.27.153.1:8080'",
    "host_invalid.bad.yml": "targets[0].host: 'pvs lan' is not a host name or IP address",
    "push_to_not_url.bad.yml": "push_to: expected an http:// or https:// URL, got 'not-a-url'",
    "web_max_connection_rate_fraction.bad.yml": "web_max_connection_rate: expected a whole "
    "number of new connections a second from one address, 0 (no limit) to 100000, got 2.5",
    "varserver_port_without_tls.bad.yml": "targets[0].port: the varserver API is HTTPS only "
    "and uses port 443 unless targets[0].use_tls is set; port 8080 would be ignored",
    "password_credential_outside_systemd.bad.yml": "targets[0].password_file: "
    "${CREDENTIALS_DIRECTORY}/pvs-password needs $CREDENTIALS_DIRECTORY, which is not set: "
    "run under systemd with LoadCredential= (see docs/configuration.md, Secrets)",
    "password_file_and_env.bad.yml": "targets[0].password_file: give a password file or a "
    "password env var, not both",
    "arrays_serial_twice.bad.yml": "targets[0].arrays.west: inverter E00122000000001 is "
    "already in array south",
    "arrays_not_mapping.bad.yml": "targets[0].arrays: expected a mapping of array name to a "
    "list of inverter serial numbers",
    "arrays_empty_array.bad.yml": "targets[0].arrays.west: expected a non-empty list of "
    "inverter serial numbers",
    "arrays_bad_name.bad.yml": "targets[0].arrays: array name 'south roof' must be 1-63 "
    "letters, digits, '_', '.' or '-'",
    "arrays_in_defaults.bad.yml": "defaults.arrays: unknown key (allowed: api, "
    "ease_off_after_reboots, max_age, password_env, password_file, poll_interval, port, "
    "request_histograms, telemetry_port, timeout, timezone, tls_ca_file, use_tls)",
    "ease_off_not_boolean.bad.yml": "targets[0].ease_off_after_reboots: expected true or "
    "false, got 'no'",
    "request_histograms_not_boolean.bad.yml": "defaults.request_histograms: expected true "
    "or false, got 0",
    "arrays_serial_not_text.bad.yml": "targets[0].arrays.south: expected inverter serial "
    "numbers, got 122000000002 (quote a serial made of digits only)",
    # A near miss is named at every level (the allowed lists follow the code's key sets).
    "unknown_key_global.bad.yml": "poll_mod: unknown key, did you mean poll_mode? "
    f"(allowed: {', '.join(sorted(GLOBAL_KEYS))})",
    "unknown_key_defaults.bad.yml": "defaults.pol_interval: unknown key, did you mean "
    f"poll_interval? (allowed: {', '.join(sorted(DEFAULTS_KEYS))})",
    "unknown_key_target.bad.yml": "targets[0].pol_interval: unknown key, did you mean "
    f"poll_interval? (allowed: {', '.join(sorted(TARGET_KEYS))})",
}


def check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["--config", str(path), "--check-config"])
    out, err = capsys.readouterr()
    return code, out, err


def test_every_bad_file_is_in_the_table():
    assert sorted(BAD_FILES) == sorted(p.name for p in TESTDATA.glob("*.bad.yml"))


@pytest.mark.parametrize(("name", "message"), sorted(BAD_FILES.items()))
def test_bad_config_is_refused_with_exactly_this_error(
    name: str, message: str, capsys: pytest.CaptureFixture[str], monkeypatch
):
    monkeypatch.delenv("SUNPOWER_PVS_TEST_UNSET_PASSWORD", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    code, out, err = check(TESTDATA / name, capsys)
    assert (code, out, err) == (2, "", PROG + message + "\n")


def test_good_file_passes(capsys: pytest.CaptureFixture[str], monkeypatch):
    monkeypatch.setenv("SUNPOWER_PVS_TEST_PASSWORD", "X1Y2Z")
    code, out, err = check(TESTDATA / "good.yml", capsys)
    assert (code, err) == (0, "")
    assert out == "configuration OK: 3 targets: cabin, long, v6\n"


def test_good_file_targets_own_password_file_replaces_the_inherited_env(monkeypatch):
    from sunpower_pvs_exporter.config import load_config_file

    monkeypatch.setenv("SUNPOWER_PVS_TEST_PASSWORD", "X1Y2Z")
    cabin, long, _v6 = load_config_file(str(TESTDATA / "good.yml")).targets
    assert (cabin.password_file, cabin.password_env) == (str(TESTDATA / "cabin.password"), None)
    assert cabin.password() == "A1B2C"
    assert long.password_env == "SUNPOWER_PVS_TEST_PASSWORD"
    assert len(long.host) == 253


def header_commands(path: Path) -> list[str]:
    """The indented command lines of a file's opening comment block."""
    commands = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        if line.startswith("#   "):
            commands.append(line.removeprefix("#").strip())
    return commands


def test_shipped_example_passes_the_check_its_header_asks_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    """Exactly the header's lines, run where it says (the example's directory; a
    copy of it here): the shell line makes the password file, the exporter line
    then passes. The check line alone fails on the missing file, so the first
    line is not decoration."""
    make_password, validate = header_commands(EXAMPLE)
    argv = shlex.split(validate)
    assert argv[0] == "sunpower-pvs-exporter" and "--check-config" in argv
    shutil.copy(EXAMPLE, tmp_path / EXAMPLE.name)
    monkeypatch.chdir(tmp_path)

    assert main(argv[1:]) == 2
    password = tmp_path / "cabin.password"
    assert capsys.readouterr().err == (
        f"{PROG}targets[1].password_file: cannot read {password}: No such file or directory\n"
    )

    subprocess.run(["sh", "-c", make_password], cwd=tmp_path, check=True, timeout=10)
    assert password.stat().st_mode & 0o777 == 0o600
    assert main(argv[1:]) == 0
    out, err = capsys.readouterr()
    assert (out, err) == ("configuration OK: 2 targets: home, cabin\n", "")
    # The file it made holds the placeholder, which the target would send as typed.
    from sunpower_pvs_exporter.config import load_config_file

    cabin = load_config_file(str(tmp_path / EXAMPLE.name)).targets[1]
    assert cabin.password() == "the-PVS-password"


def test_the_stack_config_passes_the_check_its_header_asks_for(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    stack = ROOT / "contrib" / "stack"
    (line,) = [text for text in stack.joinpath("exporter.yml").read_text().splitlines()
               if "--check-config" in text]  # fmt: skip
    argv = shlex.split(line.partition("Check it:")[2])
    assert argv[0] == "sunpower-pvs-exporter"
    monkeypatch.chdir(stack)
    assert main(argv[1:]) == 0
    assert capsys.readouterr() == ("configuration OK: 1 target: home\n", "")


def test_the_real_process_exits_2_with_one_line_and_no_traceback():
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "sunpower_pvs_exporter",
            "--config",
            str(TESTDATA / "password_file_missing.bad.yml"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert run.returncode == 2
    assert run.stderr == PROG + BAD_FILES["password_file_missing.bad.yml"] + "\n"
