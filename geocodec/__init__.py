"""geocodec: learned joint compression of co-registered SAR and optical imagery.

One joint neural encoder, one bitstream per chunk, independent optical and SAR decoders;
a γ prompt trades optical against SAR fidelity and λ sets the rate.
"""

from geocodec.codec import compress, compress_batch, decompress, inspect
from geocodec.errors import GeocodecError
from geocodec.registry import load_model

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


def __getattr__(name):  # the xarray/Zarr side is imported only when used
    if name == "to_zarr":
        from geocodec.cube.writer import to_zarr

        return to_zarr
    if name in ("stac", "cube"):
        import importlib

        return importlib.import_module(f"geocodec.{name}")
    if name == "open_pair":
        from geocodec.io import open_pair

        return open_pair
    raise AttributeError(f"module 'geocodec' has no attribute {name!r}")
