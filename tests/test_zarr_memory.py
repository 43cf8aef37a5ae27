"""Bounded memory: writing a 4× larger lazy scene does not need more memory (no timing involved).

Peak memory is measured with tracemalloc, which sees every numpy allocation (source blocks,
joint blocks, chunk buffers, decoded quality samples). The real-scene RSS numbers are in
benchmarks/memory.py.
"""

from __future__ import annotations

import tracemalloc

import numpy as np

import geocodec


def lazy_scene(h: int, w: int, chunk: int = 64):
    """A smooth synthetic optical + SAR scene generated block by block (never whole in memory)."""
    import dask.array as da
    import xarray as xr

    def field(block_info):
        (y0, y1), (x0, x1) = block_info[None]["array-location"][1:]
        yy, xx = np.mgrid[y0:y1, x0:x1]
        return np.sin(yy / 17.0) + np.cos(xx / 23.0) + 0.1 * np.sin(xx * yy / 97.0)

    def optical(block_info=None):
        f = field(block_info)
        return np.stack([(2000 + 500 * f + 150 * k).astype(np.uint16) for k in range(4)])

    def sar(block_info=None):
        f = field(block_info)
        return np.stack([(-15 + 3 * f).astype(np.float32), (-22 + 2 * f).astype(np.float32)])

    grid = ((chunk,) * (h // chunk), (chunk,) * (w // chunk))
    opt = da.map_blocks(optical, dtype=np.uint16, chunks=((4,), *grid))
    sr = da.map_blocks(sar, dtype=np.float32, chunks=((2,), *grid))
    return xr.Dataset({"optical": (("optical_band", "y", "x"), opt), "sar": (("sar_band", "y", "x"), sr)},
                      coords={"optical_band": ["B02", "B03", "B04", "B08"], "sar_band": ["VV", "VH"]})


def _peak_bytes(ds, path) -> int:
    tracemalloc.start()
    try:
        geocodec.to_zarr(ds, str(path), lmbda=0.01, chunks=64, device="cpu", progress=False)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_peak_memory_does_not_grow_with_the_scene(tmp_path):
    _peak_bytes(lazy_scene(64, 128), tmp_path / "warmup.zarr")  # one-off allocations (model, caches)
    small = _peak_bytes(lazy_scene(128, 256), tmp_path / "small.zarr")  # 8 chunks of 64×64
    large = _peak_bytes(lazy_scene(128, 1024), tmp_path / "large.zarr")  # 32 chunks: 4× the pixels
    chunk_bytes = 6 * 64 * 64 * 4  # one chunk of the float32 joint array: 96 KiB
    per_extra_chunk = (large - small) / (32 - 8)
    # Holding the scene (or any per-chunk pixel data) would cost ≥ chunk_bytes per extra chunk; what
    # does grow is per-chunk bookkeeping (Dask tasks, chunk keys), a small fraction of that.
    assert per_extra_chunk < 0.5 * chunk_bytes, (small, large)
