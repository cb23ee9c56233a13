"""``sunpower-pvs-simulator`` flags for the named site faults."""

from __future__ import annotations

import argparse
import re

import pytest

from sunpower_pvs_exporter.simulator import cli
from sunpower_pvs_exporter.simulator.site import InverterFault


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3:dead", (3, InverterFault("dead"))),
        ("0:degraded", (0, InverterFault("degraded", factor=0.7))),
        ("1:degraded:0.5", (1, InverterFault("degraded", factor=0.5))),
        ("2:intermittent", (2, InverterFault("intermittent"))),
    ],
)
def test_inverter_fault_flag(text, expected):
    assert cli.parse_inverter_fault(text) == expected


@pytest.mark.parametrize("text", ["dead", "1", "1:melted", "1:dead:0.5", "-1:dead", "1:degraded:2"])
def test_bad_inverter_fault_flag_says_what_is_expected(text):
    with pytest.raises(
        argparse.ArgumentTypeError, match=re.escape("expected INDEX:dead|degraded|intermittent")
    ):
        cli.parse_inverter_fault(text)


def test_fault_flags_reach_the_site():
    args = cli.build_parser().parse_args(
        [
            "--inverter-fault",
            "1:dead",
            "--inverter-fault",
            "0:degraded:0.6",
            "--west-inverters",
            "2",
        ]
    )
    assert args.inverter_fault == [
        (1, InverterFault("dead")),
        (0, InverterFault("degraded", factor=0.6)),
    ]
    assert args.west_inverters == 2


def test_fault_on_an_inverter_that_does_not_exist_is_refused(capsys):
    assert cli.main(["--inverters", "2", "--inverter-fault", "2:dead", "--port", "0"]) == 2
    assert (
        "--inverter-fault: no such inverter (there are 2, numbered from 0)"
        in capsys.readouterr().err
    )


def test_reboot_every_must_be_positive(capsys):
    assert cli.build_parser().parse_args(["--reboot-every", "14400"]).reboot_every == 14400.0
    assert cli.main(["--reboot-every", "0", "--port", "0"]) == 2
    assert "--reboot-every must be > 0" in capsys.readouterr().err


def test_an_interrupt_inside_a_class_creation_is_still_one_line(monkeypatch, capsys):
    """As the exporter's entry: Python 3.11 wraps a Ctrl-C in ``__set_name__``
    (ipaddress imported by the certificate code) in a RuntimeError; it was a traceback."""
    import logging

    from sunpower_pvs_exporter.simulator import cli

    def interrupted_import(_argv: object) -> int:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise RuntimeError("Error calling __set_name__") from exc

    monkeypatch.setattr(cli, "_parse_and_run", interrupted_import)
    assert cli.main([]) == 130
    # Logging is back on for whatever runs next in this process (it was off
    # for good, and in-process tests had to turn it back on).
    assert logging.root.manager.disable == logging.NOTSET
    assert capsys.readouterr().err == "sunpower-pvs-simulator: interrupted\n"

    def broken(_argv: object) -> int:
        raise RuntimeError("a real bug")

    monkeypatch.setattr(cli, "_parse_and_run", broken)
    with pytest.raises(RuntimeError, match="a real bug"):
        cli.main([])
