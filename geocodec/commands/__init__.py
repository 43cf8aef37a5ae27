"""Subcommands of the ``geocodec`` CLI, one module each."""
