"""Every checked option of every command refuses nonsense with exit 2 and its own line.

In-process and quick: argparse stops at the first bad value, before any of a
command's work (tests/e2e/test_no_traceback.py runs the commands themselves).
The options come from the parsers, so a new one is tried without a change here.
"""

from __future__ import annotations

import argparse

import pytest

from sunpower_pvs_exporter.cli import init_command, serve, subcommands
from sunpower_pvs_exporter.cli.arguments import flag_type
from sunpower_pvs_exporter.config import ConfigError, parse_port
from sunpower_pvs_exporter.simulator import cli as simulator_cli

PARSERS = {
    "sunpower-pvs-exporter": serve.build_parser,
    "sunpower-pvs-exporter check": lambda: subcommands.build_parser("check"),
    "sunpower-pvs-exporter capture": lambda: subcommands.build_parser("capture"),
    "sunpower-pvs-exporter init": init_command.build_parser,
    "sunpower-pvs-simulator": simulator_cli.build_parser,
}


def checked_options() -> list[tuple[str, str]]:
    found = []
    for name, build in PARSERS.items():
        for action in build()._actions:
            long = [o for o in action.option_strings if o.startswith("--")]
            checked = action.choices is not None or action.type not in (None, str)
            if long and action.nargs != 0 and checked:
                found.append((name, long[0]))
    return found


@pytest.mark.parametrize(("name", "option"), checked_options())
def test_nonsense_is_one_line_and_exit_2(name: str, option: str, capsys):
    parser = PARSERS[name]()
    required = ["--output", "x.json"] if name.endswith("capture") else []
    with pytest.raises(SystemExit) as exc:
        parser.parse_args([*required, option, "?nonsense?"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"{name}: error: argument {option}" in err


def test_flag_type_drops_the_flag_argparse_already_names():
    port = flag_type("--port", parse_port)
    assert port("8080") == 8080
    with pytest.raises(argparse.ArgumentTypeError) as exc:
        port("http")
    assert str(exc.value) == "expected a port number 1-65535, got 'http'"


def test_flag_type_keeps_a_prefix_it_does_not_own():
    def broken(_text: str, _flag: str) -> int:
        raise ConfigError("--other: not this flag's")

    with pytest.raises(argparse.ArgumentTypeError) as exc:
        flag_type("--port", broken)("1")
    assert str(exc.value) == "--other: not this flag's"
