"""``GeocodecZarrCodec``: the native Zarr v3 array→bytes codec "geocodec".

A thin adapter over ``geocodec.cube.chunks.ChunkCoder``, registered through the ``zarr.codecs``
entry point; it also works inside Zarr's ``ShardingCodec``. Unlike a numcodecs wrapper it sees whole
batches: Zarr's codec pipeline hands it ``codec_pipeline.batch_size`` chunks at a time
(``zarr.config.set({"codec_pipeline.batch_size": 16})``; Zarr's default is 1), and it sends all
their items through the network as one device batch.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
from zarr.abc.codec import ArrayBytesCodec
from zarr.core.common import parse_named_configuration

from geocodec.cube.chunks import ChunkCoder
from geocodec.cube.frames import DTYPES
from geocodec.cube.record import refuse_incomplete
from geocodec.errors import InvalidInputError
from geocodec.settings import CodecSettings

if TYPE_CHECKING:
    from collections.abc import Iterable

    from zarr.core.array_spec import ArraySpec
    from zarr.core.buffer import Buffer, NDBuffer

CODEC_NAME = "geocodec"


@dataclass(frozen=True)
class GeocodecZarrCodec(ArrayBytesCodec):
    """Learned joint SAR–optical compression as a Zarr v3 array→bytes codec (see ``GeocodecCodec``)."""

    is_fixed_size = False
    settings: CodecSettings

    def __init__(self, *, settings: CodecSettings | None = None, **config):
        object.__setattr__(self, "settings", settings if settings is not None else CodecSettings(**config))

    @classmethod
    def from_dict(cls, data: dict) -> "GeocodecZarrCodec":
        _, configuration = parse_named_configuration(data, CODEC_NAME, require_configuration=True)
        return cls(**configuration)

    def to_dict(self) -> dict:
        return {"name": CODEC_NAME, "configuration": self.settings.to_config()}

    @cached_property
    def coder(self) -> ChunkCoder:
        return ChunkCoder(self.settings)

    def validate(self, *, shape, dtype, chunk_grid) -> None:
        native = dtype.to_native_dtype()
        if native.name not in DTYPES:
            raise InvalidInputError(f"the geocodec codec needs a float32 (or float64) array, not {native.name}")
        if len(shape) < 3:
            raise InvalidInputError(f"the geocodec codec needs arrays shaped (..., band, y, x); got {shape}")
        chunk_shape = getattr(chunk_grid, "chunk_shape", None)
        if chunk_shape is not None and chunk_shape[-3] != shape[-3]:
            raise InvalidInputError(f"the band axis (-3) must not be chunked: chunks {tuple(chunk_shape)} for "
                                    f"shape {tuple(shape)} (every chunk holds all optical and SAR bands)")
        if shape[-3] <= self.settings.optical_bands:
            raise InvalidInputError(f"array has {shape[-3]} bands but the codec's first {self.settings.optical_bands}"
                                    " are optical: no SAR bands left")

    def compute_encoded_size(self, input_byte_length: int, chunk_spec: ArraySpec) -> int:
        # zarr's protocol for variable-size codecs (its own Zstd and Blosc codecs do the same):
        # a learned codec's output size depends on the content, so it cannot be computed up front.
        raise NotImplementedError

    async def encode(self, chunks_and_specs: Iterable[tuple[NDBuffer | None, ArraySpec]]) -> list[Buffer | None]:
        batch = list(chunks_and_specs)
        todo = [(k, chunk.as_numpy_array()) for k, (chunk, _) in enumerate(batch) if chunk is not None]
        out: list[Buffer | None] = [None] * len(batch)
        if todo:
            frames = await asyncio.to_thread(self.coder.encode_chunks, [a for _, a in todo])
            for (k, _), data in zip(todo, frames):
                out[k] = batch[k][1].prototype.buffer.from_bytes(data)
        return out

    async def decode(self, chunks_and_specs: Iterable[tuple[Buffer | None, ArraySpec]]) -> list[NDBuffer | None]:
        batch = list(chunks_and_specs)
        todo = [(k, data.to_bytes(), spec.shape) for k, (data, spec) in enumerate(batch) if data is not None]
        if todo:
            refuse_incomplete(self.settings)
        out: list[NDBuffer | None] = [None] * len(batch)
        if todo:
            arrays = await asyncio.to_thread(self.coder.decode_chunks, [t[1] for t in todo], [t[2] for t in todo])
            for (k, _, _), arr in zip(todo, arrays):
                spec = batch[k][1]
                native = spec.dtype.to_native_dtype()
                out[k] = spec.prototype.nd_buffer.from_numpy_array(np.asarray(arr, dtype=native))
        return out

    async def _encode_single(self, chunk_array: NDBuffer, chunk_spec: ArraySpec) -> Buffer | None:
        return (await self.encode([(chunk_array, chunk_spec)]))[0]

    async def _decode_single(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> NDBuffer:
        return (await self.decode([(chunk_bytes, chunk_spec)]))[0]
