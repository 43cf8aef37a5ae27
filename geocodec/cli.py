"""The ``geocodec`` command line. Each subcommand lives in ``geocodec/commands/<name>.py`` and
defines ``register(subparsers)``; this module only wires them together."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from geocodec.errors import GeocodecError

COMMANDS = ("demo", "encode", "decode", "info", "train", "finetune-task", "evaluate", "stac")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="geocodec", description="Learned joint SAR–optical compression")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"geocodec.commands.{name.replace('-', '_')}").register(sub)
    return parser


#: Set to 1 to get the full traceback of an error instead of its one-line message.
DEBUG_ENV = "GEOCODEC_DEBUG"


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 600 else text[:600] + "…"


def main(argv=None) -> int:
    """Run one subcommand. Every error is one line on stderr and exit code 2 (no traceback,
    unless ``$GEOCODEC_DEBUG=1``); argparse's own usage errors exit 2 as well."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("geocodec: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the CLI's contract: one line, exit 2
        if os.environ.get(DEBUG_ENV) == "1":
            raise
        if isinstance(e, GeocodecError):
            msg = _one_line(e)
        elif isinstance(e, OSError):
            msg = f"{_one_line(e)} ({type(e).__name__})"
        else:
            msg = (f"unexpected {type(e).__name__}: {_one_line(e)} (a bug in geocodec: please report it; "
                   f"{DEBUG_ENV}=1 shows the traceback)")
        print(f"geocodec: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
