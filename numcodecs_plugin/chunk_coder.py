"""Zarr chunks (..., C, H, W) ↔ chunk frames, many chunks per device batch.

Shared by the numcodecs codec, the Zarr v3 codec and the writer. The joint array is float
(optical values are exact integers in float32); the first ``optical_bands`` bands along axis
−3 are optical, the rest SAR. The fill value is NaN: trailing rows and columns that are NaN
in every band (Zarr pads edge chunks with the fill value) are cut off before encoding and
restored as NaN on decoding, so edge chunks cost no bits for the padding and their scaling
ignores it. An item that is NaN everywhere is stored as nothing.
"""

from __future__ import annotations

import math

import numpy as np

from geocodec.errors import CorruptStreamError, InvalidInputError, ModelMismatchError
from numcodecs_plugin import frame as framing
from numcodecs_plugin.settings import CodecSettings, default_device

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
    """Encodes and decodes chunk frames with one pinned model configuration."""

    def __init__(self, settings: CodecSettings, device: str | None = None, batch_size: int = DEFAULT_BATCH):
        self.settings = settings
        self.device = device or default_device()
        self.batch_size = batch_size

    # ------------------------------------------------------------------ encoding
    def _check_chunk(self, a, n_model_bands: int | None = None) -> np.ndarray:
        a = np.asarray(a)
        if a.ndim < 3:
            raise InvalidInputError(f"geocodec chunks must be shaped (..., bands, H, W); got shape {a.shape}")
        if a.dtype.name not in framing.DTYPES:
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
            opt = opt.astype(dt)
        else:
            opt = opt.astype(dt)
        return opt, np.ascontiguousarray(sar)

    def encode_chunks(self, chunks) -> list[bytes]:
        """Chunk arrays (..., C, H, W) → chunk frames; all their items go through one batched encode."""
        s = self.settings
        model = s.load_for_encoding(self.device)
        n_bands = len(model.optical_bands) + len(model.sar_bands)
        if s.optical_bands != len(model.optical_bands):
            raise InvalidInputError(f"codec says the first {s.optical_bands} bands are optical but model "
                                    f"{model.name!r} takes {len(model.optical_bands)} optical bands")
        arrays = [self._check_chunk(c, n_bands) for c in chunks]
        pairs, where = [], []
        items_per_chunk: list[list[bytes | None]] = []
        for k, a in enumerate(arrays):
            flat = a.reshape(-1, *a.shape[-3:])
            items_per_chunk.append([None] * flat.shape[0])
            for i, item in enumerate(flat):
                pair = self._split(item)
                if pair is not None:
                    pairs.append(pair)
                    where.append((k, i))
        if pairs:
            from geocodec.codec import compress_batch  # torch loads only when something is coded

            coded = compress_batch(pairs, gamma=s.gamma, model=model, device=self.device,
                                   optical_nodata=s.optical_nodata, sar_nodata=s.sar_nodata,
                                   sar_scale=s.sar_scale, batch_size=self.batch_size, **s.rate)
            for (k, i), data in zip(where, coded):
                items_per_chunk[k][i] = data
        return [framing.pack(framing.Frame(shape=tuple(a.shape), dtype=a.dtype.name, items=items))
                for a, items in zip(arrays, items_per_chunk)]

    # ------------------------------------------------------------------ decoding
    def parse(self, data, expected_shape: tuple[int, ...] | None = None) -> framing.Frame:
        """Verify a chunk frame (CRC, shape, pinned model) without decoding it."""
        from geocodec import bitstream

        f = framing.unpack(data)
        if expected_shape is not None and tuple(f.shape) != tuple(expected_shape):
            raise CorruptStreamError(f"geocodec Zarr chunk holds shape {f.shape}, but this array's chunks are "
                                     f"{tuple(expected_shape)}")
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

    def _place(self, f: framing.Frame, decoded: dict[int, tuple]) -> np.ndarray:
        out = np.full((math.prod(f.shape[:-3]), *f.shape[-3:]), np.nan, dtype=f.dtype)
        n_opt = self.settings.optical_bands
        for i, (opt, sar) in decoded.items():
            h, w = opt.shape[-2:]
            out[i, :n_opt, :h, :w] = opt
            out[i, n_opt:, :h, :w] = sar
        return out.reshape(f.shape)

    def decode_chunks(self, chunks, shapes=None) -> list[np.ndarray]:
        """Chunk frames → arrays of their full chunk shape (NaN where nothing was stored)."""
        frames = [self.parse(d, None if shapes is None else shapes[k]) for k, d in enumerate(chunks)]
        jobs = [(k, i, item) for k, f in enumerate(frames) for i, item in enumerate(f.items) if item is not None]
        decoded: list[dict[int, tuple]] = [{} for _ in frames]
        if jobs:
            from geocodec.codec import decompress_batch

            model = self.settings.load_for_decoding(self.device)
            for start in range(0, len(jobs), self.batch_size):
                part = jobs[start:start + self.batch_size]
                pairs = decompress_batch([j[2] for j in part], "both", device=self.device, model=model)
                for (k, i, _), pair in zip(part, pairs):
                    decoded[k][i] = pair
        return [self._place(f, d) for f, d in zip(frames, decoded)]

    def entropy_decode_frames(self, chunks) -> list[list]:
        """Frames → per frame, its items entropy-decoded (``DecodedLatent``, or None for an empty item).

        All items of all frames go through the entropy decoder together (batched per size).
        """
        frames = [self.parse(d) for d in chunks]
        jobs = [(k, i, item) for k, f in enumerate(frames) for i, item in enumerate(f.items) if item is not None]
        out: list[list] = [[None] * len(f.items) for f in frames]
        if jobs:
            from geocodec.codec import entropy_decode

            model = self.settings.load_for_decoding(self.device)
            for start in range(0, len(jobs), self.batch_size):
                part = jobs[start:start + self.batch_size]
                for (k, i, _), lat in zip(part, entropy_decode([j[2] for j in part], device=self.device, model=model)):
                    out[k][i] = lat
        return out


def synthesize_items(latents: list, modality: str) -> list:
    """Per-modality synthesis of many entropy-decoded items (one batch per size)."""
    from geocodec.codec import synthesize

    present = [lat for lat in latents if lat is not None]
    res = iter(synthesize(present, modality)) if present else iter(())
    return [next(res) if lat is not None else None for lat in latents]
