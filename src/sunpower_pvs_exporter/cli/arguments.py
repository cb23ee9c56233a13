"""Every command's parser: one-line errors, and flag values checked as the config file's.

``init`` and the exporter both check a flag's value with the functions that
check the config file, which raise ``ConfigError("--flag: problem")``. Here
that becomes argparse's own error, so the line reads ``PROG: error: argument
--flag: problem`` (argparse names the flag; the prefix is not repeated). A
module of its own: ``init`` importing it from ``serve`` would load serving code.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import NoReturn, TypeVar

from sunpower_pvs_exporter.config_values import ConfigError

PROG = "sunpower-pvs-exporter"
T = TypeVar("T")


class OneLineParser(argparse.ArgumentParser):
    """argparse, but errors are one line (no usage dump) and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def flag_type(
    flag: str,
    convert: Callable[[str, str], T],
    *,
    errors: tuple[type[Exception], ...] = (ConfigError,),
) -> Callable[[str], T]:
    """An argparse ``type=`` calling ``convert(text, flag)``; ``errors`` become usage errors."""

    def parse(text: str) -> T:
        try:
            return convert(text, flag)
        except errors as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{flag}: ")) from None

    return parse
