"""Eager reads: whole GeoTIFF scenes and BigEarthNet patches into numpy (evaluation, training, the demo sample).

Everything goes through ``geocodec.io.rasters`` (the one place a GeoTIFF is opened, the one grid
check); this module only reads what those describe into memory, and pairs BigEarthNet folders.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from geocodec.errors import InvalidInputError
from geocodec.io.rasters import RasterInfo, band_file, check_one_grid, describe, open_raster

#: 1-based band indexes of B02, B03, B04, B08 in a 13-band Sentinel-2 stack (B01…B12 with B8A).
S2_13BAND_INDEXES = (2, 3, 4, 8)
_ROW_COL = re.compile(r"_(\d+)_(\d+)$")


def read_bands(path, indexes=None) -> tuple[np.ndarray, RasterInfo]:
    """Read bands of one GeoTIFF eagerly: ((C, H, W) array in the file dtype, header).

    Parameters
    ----------
    path : str or Path
    indexes : sequence of int, optional
        1-based band indexes (rasterio style); all bands by default.

    Returns
    -------
    (numpy.ndarray, RasterInfo)
    """
    info = describe(path)
    if indexes is not None:
        bad = [i for i in indexes if not 1 <= int(i) <= info.count]
        if bad:
            raise InvalidInputError(f"{path} has {info.count} bands; bands {list(indexes)} requested (1-based)")
    da = open_raster(path)
    try:
        sel = da if indexes is None else da.isel(band=[int(i) - 1 for i in indexes])
        return np.asarray(sel.values), info
    finally:
        da.close()


def default_optical_indexes(path) -> tuple[int, ...]:
    """1-based optical bands of a multi-band file: 2, 3, 4, 8 of a 13-band Sentinel-2 stack, else all."""
    count = describe(path).count
    return S2_13BAND_INDEXES if count == 13 else tuple(range(1, count + 1))


def read_optical_scene(path, n_bands: int) -> np.ndarray:
    """An optical-only GeoTIFF's first ``n_bands`` bands as float32, nodata (default 0) → NaN (pretraining)."""
    info = describe(path)
    if info.count < n_bands:
        raise InvalidInputError(f"{path} has {info.count} bands; the optical branch needs {n_bands}")
    a, _ = read_bands(path, range(1, n_bands + 1))
    a = a.astype(np.float32)
    a[a == (info.nodata if info.nodata is not None else 0)] = np.nan
    return a


def read_pair(optical_path, sar_path, *, optical_indexes=None, sar_indexes=(1, 2)):
    """Two multi-band GeoTIFFs on one grid → (optical (C, H, W) file dtype, SAR float32, optical header)."""
    optical_indexes = default_optical_indexes(optical_path) if optical_indexes is None else optical_indexes
    opt, oi = read_bands(optical_path, optical_indexes)
    sar, si = read_bands(sar_path, sar_indexes)
    check_one_grid([oi.grid, si.grid], [str(optical_path), str(sar_path)])
    return opt, sar.astype(np.float32), oi



def bigearthnet_pairs(root) -> list[tuple[str, Path, Path]]:
    """The one BigEarthNet pairing: (``row_col`` key, S2 patch folder, S1 patch folder) per pair.

    BigEarthNet ships one GeoTIFF per band in patch folders under ``*S1*/`` and ``*S2*/``; an S1
    and an S2 folder form a pair when their trailing tile row/col (``…_87_48``) agree.
    """
    root = Path(root)
    s1_dirs = [d for d in sorted(root.glob("*S1*/*")) if d.is_dir()]
    s2_dirs = [d for d in sorted(root.glob("*S2*/*")) if d.is_dir()]
    if not s1_dirs or not s2_dirs:
        raise InvalidInputError(f"{root} holds no BigEarthNet S1/S2 patch folders")

    def key(d: Path):
        m = _ROW_COL.search(d.name)
        return f"{m.group(1)}_{m.group(2)}" if m else None

    s2_by_key = {key(d): d for d in s2_dirs if key(d)}
    pairs = [(key(d), s2_by_key[key(d)], d) for d in s1_dirs if key(d) in s2_by_key]
    if not pairs:
        raise InvalidInputError(f"{root}: no S1 folder matches an S2 folder by its trailing _row_col")
    return pairs


def read_band_folder(folder, bands) -> tuple[np.ndarray, RasterInfo]:
    """One single-band GeoTIFF per band in a folder (``<patch>_B02.tif`` …) → ((C, H, W), header), one grid."""
    files = [band_file(Path(folder), b) for b in bands]
    parts = [read_bands(f) for f in files]
    for f, (a, info) in zip(files, parts):
        if info.count != 1:
            raise InvalidInputError(f"{f} has {info.count} bands; a band folder holds one band per file")
    check_one_grid([i.grid for _, i in parts], [f.name for f in files])
    return np.concatenate([a for a, _ in parts]), parts[0][1]
