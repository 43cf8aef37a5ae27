"""geocodec as a storage codec: two thin adapters over ``geocodec.cube.chunks``.

``GeocodecCodec`` (numcodecs, the zarr v2 compressor) and ``GeocodecZarrCodec`` (the native Zarr v3
array→bytes codec), both named "geocodec" and registered through entry points. Nothing in
geocodec imports this package: the chunk coding, frames and settings live in ``geocodec.cube``
and ``geocodec.settings``.
"""

from numcodecs_plugin.numcodecs_codec import GeocodecCodec

__all__ = ["GeocodecCodec", "GeocodecZarrCodec"]


def __getattr__(name):  # the Zarr v3 codec imports zarr; load it only when asked for
    if name == "GeocodecZarrCodec":
        from numcodecs_plugin.zarr_codec import GeocodecZarrCodec

        return GeocodecZarrCodec
    raise AttributeError(f"module 'numcodecs_plugin' has no attribute {name!r}")
