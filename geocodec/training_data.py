"""Training inputs from the layouts users have: a pairs Zarr store, BigEarthNet GeoTIFF folders,
or multi-band GeoTIFF pairs. Everything becomes one in-memory ``PairSet`` (float32, SAR in dB)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from geocodec.datasets import PairSet, load_zarr_pairs
from geocodec.errors import InvalidInputError


def _as_pairset(pairs) -> PairSet:
    opt, sar = [], []
    for p in pairs:
        o = p.optical.astype(np.float32)
        if p.optical_nodata is not None:
            o[p.optical == p.optical_nodata] = np.nan  # masked out of the scaling like the codec does
        opt.append(o)
        sar.append(p.sar.astype(np.float32))
    return PairSet(opt, sar)


def load_training_data(paths=(), geotiff_pairs=(), optical_bands=None) -> PairSet:
    """``paths``: ``*.zarr`` pair stores or BigEarthNet example folders (S1/S2 patch folders);
    ``geotiff_pairs``: (optical.tif, sar.tif) tuples, optical bands chosen by ``optical_bands``
    (1-based; default: all bands of a 4-band file, bands 2, 3, 4, 8 of a 13-band Sentinel-2 stack)."""
    from geocodec.validation import S2_13BAND_INDEXES, load_bigearthnet_geotiff, load_geotiff_pair

    out = PairSet([], [])
    for p in map(Path, paths):
        if not p.exists():
            raise InvalidInputError(f"training data {p} does not exist")
        if p.suffix == ".zarr" or (p / "zarr.json").exists() or (p / ".zgroup").exists():
            out = out.extend(load_zarr_pairs(p))
        elif p.is_dir():
            out = out.extend(_as_pairset(load_bigearthnet_geotiff(p)))
        else:
            raise InvalidInputError(f"{p}: expected a .zarr pair store or a BigEarthNet GeoTIFF folder "
                                    "(use --pair OPTICAL.tif SAR.tif for multi-band GeoTIFFs)")
    for opt_path, sar_path in geotiff_pairs:
        import rasterio

        with rasterio.open(opt_path) as src:
            count = src.count
        bands = optical_bands or (S2_13BAND_INDEXES if count == 13 else tuple(range(1, count + 1)))
        pair = load_geotiff_pair(opt_path, sar_path, name=Path(opt_path).stem, dataset="train",
                                 optical_indexes=tuple(bands))
        out = out.extend(_as_pairset([pair]))
    if len(out) == 0:
        raise InvalidInputError("no training pairs: give --data (Zarr store / BigEarthNet folder) or --pair")
    return out
