"""Ctrl-C ends a command with one line and exit 130, wherever it lands.

Python turns SIGINT into a ``KeyboardInterrupt`` raised in whatever code runs
at that moment, and when that is a weakref callback or a ``__del__`` (the
import machinery runs such callbacks), the exception is printed as "ignored"
and the program goes on as if nothing happened: a command waiting for a PVS
that never answers would then wait out its whole timeout. So the first Ctrl-C
also starts a timer: if the command has not ended ``GRACE_SECONDS`` later, it
is ended then, with the same one line.

The line is printed once, by whichever comes first: the command's own
``except KeyboardInterrupt`` (through ``report``) or the timer.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import sys
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import FrameType

# Ctrl-C: the shell's convention, 128 + SIGINT.
EXIT_INTERRUPTED = 130
# Long enough for an orderly stop (sessions closed, nothing half-written).
GRACE_SECONDS = 5.0

_line = ""
_reported = False
_armed = False
# logging.disable's level before report() turned logging off; None while on.
_silenced_from: int | None = None


def _on_sigint(_signum: int, _frame: FrameType | None) -> None:
    global _armed
    if not _armed:
        _armed = True
        timer = threading.Timer(GRACE_SECONDS, _end_now)
        timer.daemon = True
        timer.start()
    raise KeyboardInterrupt


def _end_now() -> None:
    if not _reported:
        with contextlib.suppress(OSError):
            os.write(2, (_line + "\n").encode())
    os._exit(EXIT_INTERRUPTED)


def install(line: str) -> object:
    """Take over SIGINT for this command (main thread only); returns what to
    ``restore``. ``line`` is what a Ctrl-C prints unless ``report`` says more."""
    global _line, _reported, _armed
    _line, _reported, _armed = line, False, False
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, _on_sigint)
    return previous


def restore(previous: object) -> None:
    if previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, previous)  # type: ignore[arg-type]


def report(line: str | None = None) -> int:
    """Print the one line of an interrupted command (once) and return its exit code.

    Logging is off from then on until ``settle``: nothing may follow the line,
    and a connection the interrupt caught half-open is collected once the
    ``except`` that caught it ends, where asyncio would log "Unclosed client
    session".
    """
    global _reported, _silenced_from
    if not _reported:
        _reported = True
        print(line or _line, file=sys.stderr, flush=True)
        if _silenced_from is None:
            _silenced_from = logging.root.manager.disable
            logging.disable(logging.CRITICAL)
    return EXIT_INTERRUPTED


def settle() -> None:
    """End of the command (its outermost ``finally``): collect what the interrupt
    left half-open while logging is still off, then turn logging back on.

    The process exits next when run as a command; a caller in the same process
    (a test, an embedding program) gets its logging back as it was.
    """
    global _silenced_from
    if _silenced_from is None:
        return
    gc.collect()
    logging.disable(_silenced_from)
    _silenced_from = None


def end_quietly_on_interrupt(code: int) -> None:
    """The command has ended with ``code``: a Ctrl-C from now on ends the
    process at once with that code.

    What is left is the interpreter's own shutdown (atexit handlers, threads,
    collecting modules), which on a loaded machine can take seconds. A
    ``KeyboardInterrupt`` raised into it is printed as a traceback (or
    "Exception ignored"), after the command has already said everything,
    and the exit code it had decided is lost. Only for a process's entry
    point: a caller in the same process keeps its own SIGINT handling.
    """
    if threading.current_thread() is not threading.main_thread():
        return

    def _end(_signum: int, _frame: FrameType | None) -> None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)

    signal.signal(signal.SIGINT, _end)
