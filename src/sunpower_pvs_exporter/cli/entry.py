"""The console entry point: ``--version`` answers before anything else is imported.

A Raspberry Pi beside the PVS is the common install; asking the version (a
package manager, a config tool, a human) should cost the interpreter's start
and nothing more. ``check`` and ``capture`` go to ``cli.subcommands``, everything
else to ``cli.serve.main``, which itself imports the web server, pollers and
simulator only when a run needs them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

PROG = "sunpower-pvs-exporter"
# The first word of the command line selects these (see subcommands.py).
SUBCOMMANDS = ("check", "capture")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:
        from sunpower_pvs_exporter import __version__

        print(f"{PROG} {__version__}")
        return 0
    if args and args[0] in SUBCOMMANDS:
        # Dispatched here, not in serve: subcommands builds on serve's flags, so serve
        # must not import it back (tests/test_structure.py: no import cycles).
        from sunpower_pvs_exporter.cli.subcommands import run_subcommand

        return run_subcommand(args[0], args[1:])
    from sunpower_pvs_exporter.cli.serve import main as serve_main

    return serve_main(args)
