"""``GeocodecCodec``: the numcodecs codec (id "geocodec"), the compressor of zarr v2 arrays.

A thin adapter: configuration is ``geocodec.settings.CodecSettings``, coding is
``geocodec.cube.chunks.ChunkCoder``. Zarr v2 calls it chunk by chunk.
"""

from __future__ import annotations

import numpy as np
from numcodecs.abc import Codec

from geocodec.cube.chunks import ChunkCoder
from geocodec.cube.record import refuse_incomplete
from geocodec.settings import CodecSettings


class GeocodecCodec(Codec):
    """Learned joint SAR–optical compression of float chunks shaped (..., C, H, W).

    Config: the fields of ``CodecSettings`` (``model``, ``model_version``, ``model_sha256``,
    ``lmbda`` or ``target_bpp``, ``gamma``, ``optical_bands``, ``optical_dtype``, ``sar_scale``,
    ``optical_nodata``, ``sar_nodata``, ``refine_steps`` (encoding only; absent = 0), ``cube_id``).
    ``device`` is a runtime choice, not config.
    """

    codec_id = "geocodec"

    def __init__(self, device: str | None = None, **config):
        self.settings = CodecSettings(device=device, **config)
        self.coder = ChunkCoder(self.settings)

    def get_config(self) -> dict:
        return {"id": self.codec_id, **self.settings.to_config()}

    @classmethod
    def from_config(cls, config: dict) -> GeocodecCodec:
        config = dict(config)
        config.pop("id", None)
        return cls(**config)

    def encode(self, buf) -> bytes:
        return self.coder.encode_chunks([np.asarray(buf)])[0]

    def decode(self, buf, out=None):
        refuse_incomplete(self.settings)
        arr = self.coder.decode_chunks([buf])[0]
        if out is not None:
            out = np.asarray(out)
            if out.nbytes != arr.nbytes:
                raise ValueError(f"output buffer has {out.nbytes} bytes, the chunk decodes to {arr.nbytes}")
            out.reshape(-1).view(arr.dtype)[:] = arr.reshape(-1)
            return out
        return arr

    def __repr__(self) -> str:
        s = self.settings
        rate = f"lmbda={s.lmbda}" if s.lmbda is not None else f"target_bpp={s.target_bpp}"
        refine = f", refine_steps={s.refine_steps}" if s.refine_steps else ""
        return (f"GeocodecCodec(model={s.model!r} v{s.model_version}, {rate}, gamma={s.gamma}, "
                f"optical_bands={s.optical_bands}{refine})")
