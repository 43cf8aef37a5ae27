"""Block writing: one Dask task codes one block of chunks and stores them through Zarr's array API.

A task fingerprints its chunks (input + settings + scaling), keeps those already stored with the
same fingerprint, encodes the rest in one device batch (each frame names its cube and position)
and stores each with ``array[chunk] = values``: the codec takes the frame prepared for it
(``frames.PREPARED``), since Zarr gives a codec no chunk position.

``job`` is the write's shared state, a plain dict (Dask ships it to every task): ``store_ref``,
``settings`` (``CodecSettings`` with the cube id), ``window_lo`` (the window's origin),
``store_chunk`` (the function that stores one chunk) and ``band_scaling`` (``scaling.plan_band_scaling``).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import numpy as np

from geocodec.cube.chunks import ChunkCoder
from geocodec.cube.frames import PREPARED, content_hash, fingerprint_of
from geocodec.cube.metadata import open_for_writing
from geocodec.cube.store import read_frames
from geocodec.errors import GeocodecError

if TYPE_CHECKING:
    from geocodec.cube.lock import CubeLock
    from geocodec.settings import CodecSettings


def chunk_slices(c, chunk_shape, shape) -> tuple[slice, ...]:
    """The array region of chunk ``c`` (grid coordinates), cut at the array's edge."""
    return tuple(slice(i * n, min((i + 1) * n, s)) for i, n, s in zip(c, chunk_shape, shape))


def store_chunk(arr, index: tuple[int, ...], values: np.ndarray, content: str, frame: bytes, cube_id: str) -> None:
    """Store one chunk through Zarr's array API; the codec takes the frame prepared for it."""
    sel = chunk_slices(index, arr.chunks, arr.shape)
    token = PREPARED.put((cube_id, content), frame)
    try:
        arr[sel] = values[tuple(slice(0, s.stop - s.start) for s in sel)]
    finally:
        PREPARED.release((cube_id, content), token)


def write_block(block: np.ndarray, origin: tuple[int, ...], job: dict, lock: CubeLock | None = None) -> dict[str, list]:
    """Dask task: fingerprint the block's chunks, keep those stored right, encode the rest in one batch."""
    arr = open_for_writing(job["store_ref"])
    settings: CodecSettings = job["settings"]
    chunk_shape, shape = tuple(arr.chunks), tuple(arr.shape)
    window_lo = job["window_lo"]
    coords, chunks = [], []
    grid_lo = [(o + w) // c for o, w, c in zip(origin, window_lo, chunk_shape)]
    n_per = [-(-b // c) for b, c in zip(block.shape, chunk_shape)]
    for sub in itertools.product(*(range(n) for n in n_per)):
        c = tuple(g + s for g, s in zip(grid_lo, sub))
        sel = chunk_slices(c, chunk_shape, shape)
        local = tuple(slice(s.start - o - w, s.stop - o - w) for s, o, w in zip(sel, origin, window_lo))
        padded = np.full(chunk_shape, np.nan, dtype=np.float32)
        padded[tuple(slice(0, s.stop - s.start) for s in sel)] = block[local]
        coords.append(c)
        chunks.append(padded)
    contents = [content_hash(a) for a in chunks]
    scales = [scaling_for(job, c) for c in coords]
    fps = [fingerprint_of(h, settings, sc) for h, sc in zip(contents, scales)]
    coder = ChunkCoder(settings, device=settings.device, batch_size=max(16, len(chunks)))
    stored = read_frames(arr, coords)
    out, todo = {}, []
    for k, (c, data) in enumerate(zip(coords, stored)):
        key = arr.metadata.encode_chunk_key(c)
        if data is not None:
            try:
                if coder.parse(data, expected_shape=chunk_shape, expected_index=c).fingerprint == fps[k]:
                    out[key] = [fps[k], len(data), False, c[0]]
                    continue
            except GeocodecError:
                pass  # damaged, foreign, misplaced or stale: rewritten below
        todo.append(k)
    groups: dict[int, list[int]] = {}  # chunks coded on one scale share a batch
    for k in todo:
        groups.setdefault(id(scales[k]), []).append(k)
    for part in groups.values():
        frames = coder.encode_chunks([chunks[k] for k in part], indexes=[coords[k] for k in part],
                                     scaling=scales[part[0]])
        for k, frame in zip(part, frames):
            job["store_chunk"](arr, coords[k], chunks[k], contents[k], frame, settings.cube_id)
            out[arr.metadata.encode_chunk_key(coords[k])] = [fps[k], len(frame), True, coords[k][0]]
    if lock is not None:  # compute=False: the tasks keep the lock fresh themselves
        lock.renew()
    return out


def scaling_for(job: dict, coord: tuple[int, ...]):
    """The per-band scaling chunk ``coord`` is coded with: the cube's, its acquisition's, or None (its own)."""
    scalings = job.get("band_scaling") or {}
    return scalings.get(None, scalings.get(coord[0]) if len(coord) > 3 else None)

