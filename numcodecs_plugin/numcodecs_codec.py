"""``GeocodecCodec``: the numcodecs codec (id "geocodec"), the compressor of zarr v2 arrays.

Registered through the ``numcodecs.codecs`` entry point, so ``numcodecs.get_codec({"id":
"geocodec", ...})`` works in a fresh process. It encodes one chunk (..., C, H, W) of the joint
float array per call; batching many chunks per device call is the Zarr v3 codec's and the
writer's job.
"""

from __future__ import annotations

import numpy as np
from numcodecs.abc import Codec

from numcodecs_plugin.chunk_coder import ChunkCoder
from numcodecs_plugin.settings import CodecSettings


class GeocodecCodec(Codec):
    """Learned joint SAR–optical compression of float chunks shaped (..., C, H, W).

    Config: ``model`` (registry name or weights path), ``model_version``, ``model_sha256``
    (filled in from the model when omitted), ``lmbda`` or ``target_bpp``, ``gamma``,
    ``optical_bands`` (how many leading bands along axis −3 are optical), ``optical_dtype``
    (the optical samples' original dtype, so integers decode exactly), ``sar_scale`` ("db" or
    "linear"), ``optical_nodata``, ``sar_nodata``. ``device`` is a runtime choice, not config.
    """

    codec_id = "geocodec"

    def __init__(self, model="default", lmbda=None, target_bpp=None, gamma=0.5, optical_bands=4,
                 optical_dtype="uint16", sar_scale="db", optical_nodata=None, sar_nodata=None,
                 model_version=None, model_sha256=None, device=None):
        self.settings = CodecSettings(
            model=model, model_version=model_version, model_sha256=model_sha256, lmbda=lmbda,
            target_bpp=target_bpp, gamma=gamma, optical_bands=optical_bands, optical_dtype=optical_dtype,
            sar_scale=sar_scale, optical_nodata=optical_nodata, sar_nodata=sar_nodata)
        self.coder = ChunkCoder(self.settings, device=device)

    def get_config(self) -> dict:
        return {"id": self.codec_id, **self.settings.to_config()}

    @classmethod
    def from_config(cls, config: dict) -> "GeocodecCodec":
        config = dict(config)
        config.pop("id", None)
        return cls(**config)

    def encode(self, buf) -> bytes:
        return self.coder.encode_chunks([np.asarray(buf)])[0]

    def decode(self, buf, out=None):
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
        return (f"GeocodecCodec(model={s.model!r} v{s.model_version}, {rate}, gamma={s.gamma}, "
                f"optical_bands={s.optical_bands})")
