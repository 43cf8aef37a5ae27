"""The ``geocodec`` command line. Each subcommand lives in ``geocodec/commands/<name>.py`` and
defines ``register(subparsers)``; this module only wires them together."""

from __future__ import annotations

import argparse
import importlib
import sys

from geocodec.errors import GeocodecError

COMMANDS = ("demo", "encode", "decode", "info", "train", "evaluate", "stac")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="geocodec", description="Learned joint SAR–optical compression")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"geocodec.commands.{name}").register(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except GeocodecError as e:
        print(f"geocodec: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
