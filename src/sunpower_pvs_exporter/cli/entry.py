"""The console entry point: ``--version`` answers before anything else is imported.

A Raspberry Pi beside the PVS is the common install; asking the version (a
package manager, a config tool, a human) should cost the interpreter's start
and nothing more. ``init`` goes to ``cli.init_command``, ``check`` and ``capture``
to ``cli.subcommands``, everything
else to ``cli.serve.main``, which itself imports the web server, pollers and
simulator only when a run needs them.
"""

from __future__ import annotations

import sys

# Nothing else at import time: Ctrl-C during the imports main makes ends in one
# line, not a traceback (mypy knows this constant by name).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

PROG = "sunpower-pvs-exporter"
# The first word of the command line selects these (see subcommands.py).
SUBCOMMANDS = ("check", "capture")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; Ctrl-C at any moment (imports included) ends it with one line."""
    code = 1  # an exception escaping: Python's own exit code for it
    try:
        code = _main(argv)
        return code
    except SystemExit as exc:  # argparse's refusals, exit 2
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        raise
    finally:
        # After an interrupt: logging back on once the command's leftovers are
        # collected (interrupts.settle). Not imported here if it never was.
        interrupts = sys.modules.get("sunpower_pvs_exporter.interrupts")
        if interrupts is not None:
            interrupts.settle()
            if argv is None:  # the process's entry point: it exits next
                interrupts.end_quietly_on_interrupt(code)


def _main(argv: Sequence[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:
        return _dispatch(args)  # before anything else is imported, the guard included
    word = args[0] if args and args[0] in ("init", *SUBCOMMANDS) else ""
    line = f"{PROG}{' ' + word if word else ''}: interrupted"
    try:
        if argv is None:  # the process's entry point
            from sunpower_pvs_exporter import interrupt_redelivery

            interrupt_redelivery.install()
        from sunpower_pvs_exporter import interrupts

        previous = interrupts.install(line)
        try:
            return _dispatch(args)
        finally:
            interrupts.restore(previous)
    except KeyboardInterrupt:
        from sunpower_pvs_exporter.interrupts import report

        return report(line)
    except RuntimeError as exc:
        # Python 3.11 wraps what interrupts a class's creation (``__set_name__``,
        # e.g. a cached_property while a module is imported) in a RuntimeError.
        if not isinstance(exc.__cause__, KeyboardInterrupt):
            raise
        from sunpower_pvs_exporter.interrupts import report

        return report(line)


def _dispatch(args: list[str]) -> int:
    if args == ["--version"]:
        from sunpower_pvs_exporter import __version__

        print(f"{PROG} {__version__}")
        return 0
    if args and args[0] == "init":
        from sunpower_pvs_exporter.cli.init_command import main as init_main

        return init_main(args[1:])
    if args and args[0] in SUBCOMMANDS:
        # Dispatched here, not in serve: subcommands builds on serve's flags, so serve
        # must not import it back (tests/test_structure.py: no import cycles).
        from sunpower_pvs_exporter.cli.subcommands import run_subcommand

        return run_subcommand(args[0], args[1:])
    from sunpower_pvs_exporter.cli.serve import main as serve_main

    return serve_main(args)
