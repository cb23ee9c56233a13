"""Troubleshooting a site: ``check`` (one poll, explained) and ``capture`` (one poll,
recorded and anonymised, to attach to an issue)."""
