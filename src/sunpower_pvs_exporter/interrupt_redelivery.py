"""A Ctrl-C that lands in a weakref callback or a ``__del__`` is raised again, in the program.

CPython cannot raise an exception out of such a callback: it prints it as
"Exception ignored in ..." with a traceback and carries on, so the user sees
a traceback and the Ctrl-C is lost. The import system runs such callbacks
(its per-module locks are weakly referenced), so a Ctrl-C during the imports
of a command's start lands in one now and then. This module imports only
built-in modules: it is installed before anything else is imported.
"""

from __future__ import annotations

import _thread
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_previous: Callable[[Any], object] | None = None


def _hook(unraisable: Any) -> None:
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        # Raised again in the main thread where the command's own ``except
        # KeyboardInterrupt`` can see it. Not from here: the main thread would
        # raise it before this hook returns, inside the hook, and CPython would
        # print that one as ignored instead. Another thread asks for it, once
        # this hook has returned and the main thread runs the program again.
        _thread.start_new_thread(_thread.interrupt_main, ())
        return
    (_previous or sys.__unraisablehook__)(unraisable)


def install() -> None:
    """For a process's entry point: the hook stays until the process ends."""
    global _previous
    if sys.unraisablehook is not _hook:
        _previous = sys.unraisablehook
        sys.unraisablehook = _hook


def uninstall() -> None:
    global _previous
    if sys.unraisablehook is _hook:
        sys.unraisablehook = _previous or sys.__unraisablehook__
        _previous = None
