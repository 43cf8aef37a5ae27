"""geocodec: learned joint compression of co-registered SAR and optical imagery.

One joint neural encoder, one bitstream per chunk, independent optical and SAR decoders;
a γ prompt trades optical against SAR fidelity and λ sets the rate.

Importing geocodec does not import torch (11–16 s on a busy machine): the public names are
resolved lazily, and torch loads only when something encodes or decodes. ``inspect``, reading a
store's metadata (``geocodec info``) and STAC work without it (see ``geocodec.threads`` too).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from geocodec.errors import GeocodecError
from geocodec.threads import default_environment

default_environment()  # OMP_WAIT_POLICY=PASSIVE unless the user chose (before torch loads)

__version__ = "0.10.0"  # the only place the version is set (pyproject.toml reads it)

#: public name → module that defines it (imported on first access)
_LAZY = {
    "compress": "geocodec.codec",
    "compress_batch": "geocodec.codec",
    "decompress": "geocodec.codec",
    "inspect": "geocodec.chunk_info",
    "load_model": "geocodec.registry",
    "to_zarr": "geocodec.cube.writer",
    "open_pair": "geocodec.io",
}
_SUBMODULES = ("stac", "cube")

__all__ = ["GeocodecError", *_LAZY]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from geocodec.chunk_info import inspect
    from geocodec.codec import compress, compress_batch, decompress
    from geocodec.io import open_pair
    from geocodec.registry import load_model
    from geocodec.cube.writer import to_zarr


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"geocodec.{name}")
    else:
        raise AttributeError(f"module 'geocodec' has no attribute {name!r}")
    globals()[name] = value  # resolve once
    return value


def __dir__():
    return sorted([*globals(), *_LAZY, *_SUBMODULES])
