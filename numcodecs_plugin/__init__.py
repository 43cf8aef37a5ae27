"""geocodec as a storage codec: numcodecs codec (zarr v2) and native Zarr v3 codec, both "geocodec".

Both are registered through entry points (``numcodecs.codecs`` / ``zarr.codecs``) and share
``CodecSettings`` (the pinned model and rate settings), ``ChunkCoder`` (chunks ↔ frames,
batched) and the chunk frame layout (``frame``), documented in docs/zarr-layout.md.
"""

from numcodecs_plugin.numcodecs_codec import GeocodecCodec
from numcodecs_plugin.settings import CodecSettings

__all__ = ["CodecSettings", "GeocodecCodec", "GeocodecZarrCodec"]


def __getattr__(name):  # the Zarr v3 codec imports zarr; load it only when asked for
    if name == "GeocodecZarrCodec":
        from numcodecs_plugin.zarr_codec import GeocodecZarrCodec

        return GeocodecZarrCodec
    raise AttributeError(f"module 'numcodecs_plugin' has no attribute {name!r}")
