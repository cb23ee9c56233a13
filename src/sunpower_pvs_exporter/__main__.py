"""Allows ``python -m sunpower_pvs_exporter``.

Ctrl-C while the entry point itself is imported (before ``main`` can take
over SIGINT) still ends in one line and exit 130, not a traceback.
"""

import sys

try:
    from sunpower_pvs_exporter.cli.entry import main
except KeyboardInterrupt:
    sys.stderr.write("sunpower-pvs-exporter: interrupted\n")
    raise SystemExit(130) from None

raise SystemExit(main())
