"""Allows ``python -m sunpower_pvs_exporter``."""

from sunpower_pvs_exporter.cli.entry import main

raise SystemExit(main())
