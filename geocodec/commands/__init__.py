"""Subcommands of the ``geocodec`` CLI, one module each, and the output-path checks they share."""

from __future__ import annotations

from pathlib import Path

from geocodec.errors import InvalidInputError


def output_file(path, what: str = "output", *, creates_folders: bool = False) -> Path:
    """A file the command will write: not a folder, and (unless the command creates folders) in one."""
    p = Path(path)
    if p.is_dir():
        raise InvalidInputError(f"{what} {p} is a folder; give a file name")
    parent = next((q for q in p.parents if q.exists()), Path("."))
    if not parent.is_dir():
        raise InvalidInputError(f"{what} {p}: {parent} is a file, not a folder")
    if not creates_folders and not p.parent.is_dir():
        raise InvalidInputError(f"{what} {p}: folder {p.parent} does not exist; create it first")
    return p


def output_store(path, what: str = "output store"):
    """A Zarr store (a folder) the command will write: not an existing file, inside an existing folder."""
    if "://" in str(path):
        return path  # remote stores are checked by fsspec / zarr
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InvalidInputError(f"{what} {p} is a file, not a Zarr store (a folder); choose another path")
    if not p.parent.is_dir():
        raise InvalidInputError(f"{what} {p}: folder {p.parent} does not exist; create it first")
    return p


def input_store(path, what: str = "store"):
    """An existing Zarr store (a folder)."""
    if "://" in str(path):
        return path
    p = Path(path)
    if not p.exists():
        raise InvalidInputError(f"{what} {p} does not exist")
    if not p.is_dir():
        raise InvalidInputError(f"{what} {p} is a file, not a Zarr store (a folder)")
    return p
