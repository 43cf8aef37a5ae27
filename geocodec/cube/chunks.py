"""Batch coding of Zarr chunks: chunk arrays (..., C, H, W) ↔ frames, many items per device batch.

Why here: this is the engine of a cube, shared by the writer, the xarray engine and the two storage
codecs (``numcodecs_plugin`` only adapts it to numcodecs and Zarr v3). The frame format is in
``geocodec.cube.frames`` (its names are importable from here too).

The joint array is float (optical values are exact integers in float32); the first
``optical_bands`` bands along axis −3 are optical, the rest SAR. The fill value is NaN: trailing
rows and columns that are NaN in every band (Zarr pads edge chunks with it) are cut before
encoding and restored as NaN on decoding. An item that is NaN everywhere is stored as nothing.

torch is imported only when something is encoded or decoded (``geocodec.codec``).
"""

from __future__ import annotations

import math

import numpy as np

from geocodec.bitstream import encode_varint  # noqa: F401 - importable from here, as before
from geocodec.cube.frames import (  # noqa: F401 - the frame's names, importable from here as before
    DTYPES, FRAME_VERSION, MAGIC, PREPARED, READABLE_VERSIONS, Frame, PreparedFrames, content_hash, fingerprint,
    fingerprint_of, frame_crc, pack, unpack)
from geocodec.cube.record import ALLOW_INCOMPLETE_ENV, refuse_incomplete  # noqa: F401 - as before
from geocodec.errors import ChunkIdentityError, CorruptStreamError, InvalidInputError, ModelMismatchError
from geocodec.options import DEFAULT_BACKEND
from geocodec.settings import CodecSettings

__all__ = [  # the coder, and the frame's names (``geocodec.cube.frames``) as importable from here before
    "ALLOW_INCOMPLETE_ENV", "DEFAULT_BATCH", "DTYPES", "FRAME_VERSION", "MAGIC", "PREPARED", "READABLE_VERSIONS",
    "ChunkCoder", "Frame", "PreparedFrames", "content_hash", "encode_varint", "fingerprint", "fingerprint_of",
    "frame_crc", "pack", "refuse_incomplete", "synthesize_items", "unpack", "valid_extent",
]

#: Items sent to the network together (pairs of one padded size share a device batch).
DEFAULT_BATCH = 16


def valid_extent(item: np.ndarray) -> tuple[int, int]:
    """(h, w) of an item (C, H, W) once trailing all-NaN rows/columns are cut; (0, 0) if all NaN."""
    filled = ~np.isnan(item).all(axis=0)
    rows = np.flatnonzero(filled.any(axis=1))
    if rows.size == 0:
        return 0, 0
    cols = np.flatnonzero(filled.any(axis=0))
    return int(rows[-1]) + 1, int(cols[-1]) + 1


class ChunkCoder:
    """Encodes and decodes chunk frames with one pinned model configuration (``CodecSettings``)."""

    def __init__(self, settings: CodecSettings, device: str | None = None, batch_size: int = DEFAULT_BATCH):
        self.settings = settings
        self.device = device or settings.resolved_device
        self.batch_size = batch_size
        #: Chunks this coder has decoded (frames parsed for decoding): lets tests and benchmarks
        #: see how many chunks a read touched.
        self.decoded_chunks = 0

    # ------------------------------------------------------------------ encoding
    def _check_chunk(self, a, n_model_bands: int | None = None) -> np.ndarray:
        a = np.asarray(a)
        if a.ndim < 3:
            raise InvalidInputError(f"geocodec chunks must be shaped (..., bands, H, W); got shape {a.shape}")
        if a.dtype.name not in DTYPES:
            raise InvalidInputError(f"geocodec chunks must be float32 or float64 (NaN is the fill value); "
                                    f"got {a.dtype.name}")
        n_opt = self.settings.optical_bands
        if n_model_bands is not None and a.shape[-3] != n_model_bands:
            raise InvalidInputError(
                f"chunk has {a.shape[-3]} bands along axis -3 but the model takes {n_model_bands} "
                f"({n_opt} optical + {n_model_bands - n_opt} SAR); the band axis must not be chunked")
        return a

    def _split(self, item: np.ndarray):
        """One (C, H, W) item → (optical, sar) arrays for ``compress``, or None when all fill."""
        h, w = valid_extent(item)
        if h == 0:
            return None
        n_opt = self.settings.optical_bands
        opt, sar = item[:n_opt, :h, :w], item[n_opt:, :h, :w]
        dt = np.dtype(self.settings.optical_dtype)
        if dt.kind in "ui":
            if np.isnan(opt).any():
                raise InvalidInputError(
                    f"optical samples are NaN inside the data but the optical dtype is {dt.name}: mark missing "
                    "optical samples with optical_nodata instead")
            info = np.iinfo(dt)
            if opt.min() < info.min or opt.max() > info.max or not np.array_equal(opt, np.rint(opt)):
                raise InvalidInputError(f"optical values are not {dt.name} integers (range "
                                        f"{info.min}..{info.max}); declare optical_dtype='float32'")
        return opt.astype(dt), np.ascontiguousarray(sar)

    def encode_chunks(self, chunks, indexes: list[tuple[int, ...]] | None = None, scaling=None) -> list[bytes]:
        """Chunk arrays (..., C, H, W) → frames; all their items go through one batched encode.

        ``indexes`` (the chunks' grid coordinates) go into the frames, with the settings' cube id
        and each chunk's fingerprint. Without them (plain Zarr writes), a chunk the writer prepared
        (``PREPARED``) is taken as prepared, and any other is encoded without a position.
        ``scaling``: the cube's per-band (lo, hi) (``compress_batch(scaling=...)``); None: each item its own.
        """
        from geocodec.codec import compress_batch

        s = self.settings
        arrays = [np.asarray(c) for c in chunks]
        contents = [content_hash(a) for a in arrays]
        out: list[bytes | None] = [None] * len(arrays)
        if indexes is None and s.cube_id is not None:
            for k, h in enumerate(contents):
                out[k] = PREPARED.take((s.cube_id, h))
        todo = [k for k in range(len(arrays)) if out[k] is None]
        if not todo:
            return out
        model = s.load_for_encoding(self.device)
        n_bands = len(model.optical_bands) + len(model.sar_bands)
        if s.optical_bands != len(model.optical_bands):
            raise InvalidInputError(f"codec says the first {s.optical_bands} bands are optical but model "
                                    f"{model.name!r} takes {len(model.optical_bands)} optical bands")
        pairs, where = [], []
        items: dict[int, list[bytes | None]] = {}
        for k in todo:
            a = self._check_chunk(arrays[k], n_bands)
            flat = a.reshape(-1, *a.shape[-3:])
            items[k] = [None] * flat.shape[0]
            for i, item in enumerate(flat):
                pair = self._split(item)
                if pair is not None:
                    pairs.append(pair)
                    where.append((k, i))
        if pairs:
            coded = compress_batch(pairs, model=model, device=self.device, batch_size=self.batch_size,
                                   scaling=scaling, **s.encode_options, **s.rate)
            for (k, i), data in zip(where, coded):
                items[k][i] = data
        for k in todo:
            a = arrays[k]
            out[k] = pack(Frame(shape=tuple(a.shape), dtype=a.dtype.name, items=items[k], cube_id=s.cube_id,
                                index=None if indexes is None else tuple(indexes[k]),
                                fingerprint=fingerprint_of(contents[k], s, scaling)))
        return out

    # ------------------------------------------------------------------ decoding
    def parse(self, data, expected_shape: tuple[int, ...] | None = None,
              expected_index: tuple[int, ...] | None = None) -> Frame:
        """Verify a chunk frame (CRC, shape, cube, position, pinned model) without decoding it."""
        from geocodec import bitstream

        f = unpack(data)
        if expected_shape is not None and tuple(f.shape) != tuple(expected_shape):
            raise CorruptStreamError(f"geocodec Zarr chunk holds shape {f.shape}, but this array's chunks are "
                                     f"{tuple(expected_shape)}")
        self.check_identity(f, expected_index)
        for item in f.items:
            if item is None:
                continue
            c = bitstream.unpack(item)
            if c.model_sha256 != self.settings.model_sha256:
                raise ModelMismatchError(
                    f"chunk was written by model {c.model_name!r} v{c.model_version} (sha256 "
                    f"{c.model_sha256[:16]}…), but this array's codec pins {self.settings.model!r} "
                    f"v{self.settings.model_version} (sha256 {self.settings.model_sha256[:16]}…)")
            if c.height > f.shape[-2] or c.width > f.shape[-1] or c.n_optical != self.settings.optical_bands \
                    or c.n_optical + c.n_sar != f.shape[-3]:
                raise CorruptStreamError("geocodec Zarr chunk item does not fit the chunk's shape or band split")
        return f

    def check_identity(self, f: Frame, expected_index: tuple[int, ...] | None = None) -> None:
        """A frame of a cube with an id must carry that id, and (when known) sit at its own position."""
        cube = self.settings.cube_id
        if cube is not None:
            if f.cube_id != cube:
                raise ChunkIdentityError(
                    f"geocodec Zarr chunk belongs to another cube (cube id {f.cube_id or 'none'}, this cube is "
                    f"{cube}): it was copied in from elsewhere; rewrite the chunk with geocodec.to_zarr(mode='a')")
        if expected_index is not None and f.index is not None and tuple(f.index) != tuple(expected_index):
            raise ChunkIdentityError(
                f"geocodec Zarr chunk at grid position {tuple(expected_index)} holds the chunk of position "
                f"{tuple(f.index)}: chunks were swapped or moved; rewrite them with geocodec.to_zarr(mode='a')")

    def _place(self, f: Frame, decoded: dict[int, tuple]) -> np.ndarray:
        out = np.full((math.prod(f.shape[:-3]), *f.shape[-3:]), np.nan, dtype=f.dtype)
        n_opt = self.settings.optical_bands
        for i, (opt, sar) in decoded.items():
            h, w = opt.shape[-2:]
            out[i, :n_opt, :h, :w] = opt
            out[i, n_opt:, :h, :w] = sar
        return out.reshape(f.shape)

    def _parse_all(self, chunks, shapes=None, indexes=None) -> list[Frame]:
        frames = [self.parse(d, None if shapes is None else shapes[k], None if indexes is None else indexes[k])
                  for k, d in enumerate(chunks)]
        self.decoded_chunks += len(frames)
        return frames

    def _decode_items(self, frames: list[Frame], decode) -> list[dict[int, object]]:
        """Per frame, {item: ``decode(items, model)``'s result} over its stored items, ``batch_size`` at a time."""
        jobs = [(k, i, item) for k, f in enumerate(frames) for i, item in enumerate(f.items) if item is not None]
        out: list[dict[int, object]] = [{} for _ in frames]
        if jobs:
            model = self.settings.load_for_decoding(self.device)
            for start in range(0, len(jobs), self.batch_size):
                part = jobs[start:start + self.batch_size]
                for (k, i, _), result in zip(part, decode([j[2] for j in part], model)):
                    out[k][i] = result
        return out

    def decode_chunks(self, chunks, shapes=None, indexes=None) -> list[np.ndarray]:
        """Chunk frames → arrays of their full chunk shape (NaN where nothing was stored)."""
        from geocodec.codec import decompress_batch

        frames = self._parse_all(chunks, shapes, indexes)
        decoded = self._decode_items(
            frames, lambda items, model: decompress_batch(items, "both", device=self.device, model=model))
        return [self._place(f, d) for f, d in zip(frames, decoded)]

    def entropy_decode_frames(self, chunks, indexes=None) -> list[list]:
        """Frames → per frame, its items entropy-decoded (``DecodedLatent``, or None for an empty item).

        All items of all frames go through the entropy decoder together (batched per size).
        """
        from geocodec.codec import entropy_decode

        frames = self._parse_all(chunks, None, indexes)
        decoded = self._decode_items(frames, lambda items, model: entropy_decode(items, device=self.device, model=model))
        return [[d.get(i) for i in range(len(f.items))] for f, d in zip(frames, decoded)]


def synthesize_items(latents: list, modality: str, backend: str = DEFAULT_BACKEND) -> list:
    """Per-modality synthesis of many entropy-decoded items (one batch per size)."""
    from geocodec.codec import synthesize

    present = [lat for lat in latents if lat is not None]
    res = iter(synthesize(present, modality, backend)) if present else iter(())
    return [next(res) if lat is not None else None for lat in latents]
