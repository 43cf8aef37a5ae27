"""Argument types shared by the subcommands (argparse names the option in its error message)."""

from __future__ import annotations

import argparse


def float_list(text: str) -> tuple[float, ...]:
    """``"0.003,0.01"`` → ``(0.003, 0.01)``; empty items are skipped; anything else is a clean usage error."""
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes comma-separated numbers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"takes comma-separated numbers, got {text!r}")
    return values
