"""The capture file's name and version, and the error of a file that is not one.

``capture.py`` writes the format; the simulator's ``--replay``
(``simulator/replay.py``) reads it with its own code and shares only what is
here, so a mistake in one side's handling of the fields is not hidden by the
other's. This module imports nothing: ``check`` and ``capture`` report a bad
``--replay`` file without loading the simulator first.
"""

from __future__ import annotations

FORMAT = "sunpower-pvs-capture"
FORMAT_VERSION = 1


class CaptureError(ValueError):
    """The file is not a capture that can be replayed."""
