"""Argument types shared by the subcommands (argparse names the option in its error message)."""

from __future__ import annotations

import argparse


def float_list(text: str) -> tuple[float, ...]:
    """``"0.003,0.01"`` → ``(0.003, 0.01)``; empty items are skipped (``""`` is the empty list, which
    some options read as "none"); anything else is a clean usage error."""
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes comma-separated numbers, got {text!r}") from None
