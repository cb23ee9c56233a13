"""How the process starts: the console entry point (``--version`` before any import),
the flags of a normal run, and the ``check`` and ``capture`` subcommands."""
