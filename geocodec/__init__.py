"""geocodec: learned joint compression of co-registered SAR and optical imagery.

One joint neural encoder, one bitstream per chunk, independent optical and SAR decoders;
a γ prompt trades optical against SAR fidelity and λ sets the rate.

The public names are imported on first use (PEP 562), so reading a cube's metadata
(``geocodec info``, opening a store lazily, STAC) never imports torch.
"""

from geocodec.errors import GeocodecError

__version__ = "0.1.0"

__all__ = [
    "GeocodecError",
    "compress",
    "compress_batch",
    "decompress",
    "inspect",
    "load_model",
    "open_pair",
    "to_zarr",
]

#: public name -> module that defines it
_LAZY = {
    "compress": "geocodec.codec",
    "compress_batch": "geocodec.codec",
    "decompress": "geocodec.codec",
    "inspect": "geocodec.codec",
    "load_model": "geocodec.registry",
    "to_zarr": "geocodec.cube.writer",
    "open_pair": "geocodec.io",
}


def __getattr__(name):
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in ("stac", "cube"):
        return importlib.import_module(f"geocodec.{name}")
    raise AttributeError(f"module 'geocodec' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY, "stac", "cube"])
