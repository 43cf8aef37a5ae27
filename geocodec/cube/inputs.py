"""Validate a writer's input: an optical + SAR Dataset on one grid, bands in the model's order.

Why apart: these checks run before anything touches a store, so a bad input never leaves a
half-made cube; they name the problem and the fix (``InvalidInputError``).
"""

from __future__ import annotations

import math

import numpy as np

from geocodec.errors import InvalidInputError
from geocodec.io import canonical_band

DEFAULT_CHUNK = 256


def band_order(da, which: str, model_bands: tuple[str, ...]) -> list[int]:
    """Indexes that put ``da``'s bands in the model's order (checked by name when it has names)."""
    dim = da.dims[-3]
    n = da.shape[-3]
    if n != len(model_bands):
        raise InvalidInputError(
            f"{which} has {n} bands along '{dim}' but the model expects {len(model_bands)} "
            f"({', '.join(model_bands)}); select those bands first (e.g. ds.{which}.isel({dim}=[...]))")
    labels = da[dim].values.tolist() if dim in da.coords else None
    canon = [canonical_band(v) for v in labels] if labels is not None else [None]
    if labels is None or any(c is None for c in canon):
        return list(range(n))  # unnamed (e.g. rasterio's 1..n): taken in the model's order
    if sorted(canon) != sorted(model_bands):
        raise InvalidInputError(f"{which} bands {labels} are not the model's bands {list(model_bands)}")
    return [canon.index(b) for b in model_bands]


def crs_and_transform(da):
    try:
        crs = da.rio.crs
    except Exception:  # noqa: BLE001 - rioxarray raises several types on odd grid mappings
        crs = None
    try:
        transform = da.rio.transform(recalc=False)
    except Exception:  # noqa: BLE001
        transform = None
    return crs, transform


def check_grid(ds) -> None:
    opt, sar = ds["optical"], ds["sar"]
    for name, da in (("optical", opt), ("sar", sar)):
        if da.ndim < 3 or tuple(da.dims[-2:]) != ("y", "x"):
            raise InvalidInputError(f"ds.{name} must have dims (..., band, 'y', 'x'); got {da.dims} "
                                    "(rename the spatial dims to y/x)")
    if opt.dims[:-3] != sar.dims[:-3] or opt.shape[:-3] != sar.shape[:-3]:
        raise InvalidInputError(f"optical and sar must share their leading dims: optical {dict(opt.sizes)}, "
                                f"sar {dict(sar.sizes)}")
    if opt.shape[-2:] != sar.shape[-2:]:
        raise InvalidInputError(f"optical {opt.shape[-2:]} and sar {sar.shape[-2:]} are not on one grid (y, x sizes "
                                "differ); resample them onto one grid first")
    (crs_o, tr_o), (crs_s, tr_s) = crs_and_transform(opt), crs_and_transform(sar)
    if (crs_o is None) != (crs_s is None) or (crs_o is not None and crs_o != crs_s):
        raise InvalidInputError(f"optical and sar are not on one grid: CRS {crs_o} vs {crs_s}")
    if tr_o is not None and tr_s is not None and not tr_o.almost_equals(tr_s):
        raise InvalidInputError(f"optical and sar are not on one grid: transform {tuple(tr_o)[:6]} vs "
                                f"{tuple(tr_s)[:6]}")
    for name, da, stored in (("optical", opt, tr_o), ("sar", sar, tr_s)):
        try:
            from_coords = da.rio.transform(recalc=True)
        except Exception:  # noqa: BLE001 - e.g. a 1-pixel axis: nothing to compare
            continue
        if stored is not None and not stored.almost_equals(from_coords):
            raise InvalidInputError(
                f"{name}: the x/y coordinates (transform {tuple(from_coords)[:6]}) do not match the stored "
                f"georeferencing {tuple(stored)[:6]}: optical and sar were probably on different grids (xarray "
                "then pads the union of both with NaN); align them onto one grid first")
    for dim in ("y", "x"):
        if dim in ds.coords and ds.sizes[dim] > 2:
            v = np.asarray(ds[dim].values, np.float64)
            step = np.diff(v)
            if not np.allclose(step, step[0], rtol=1e-6, atol=1e-9 * max(1.0, abs(step[0]))):
                raise InvalidInputError(
                    f"the {dim} coordinate is not a regular grid: optical and sar were probably on different "
                    "grids (xarray then pads the union of both with NaN); align them onto one grid first")


def nodata_value(value, da) -> float | None:
    if value is None:
        try:
            value = da.rio.nodata
        except Exception:  # noqa: BLE001
            value = None
    if value is None:
        return None
    v = float(value)
    return None if math.isnan(v) else v


def _apply_size_spec(spec, what: str, sizes: dict[str, int], dims: tuple[str, ...]) -> dict:
    """``sizes`` updated from ``spec``, an int (the y and x size) or ``{dim: size}`` of known dims."""
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        return {**sizes, "y": int(spec), "x": int(spec)}
    if isinstance(spec, dict):
        unknown = [k for k in spec if k not in sizes]
        if unknown:
            raise InvalidInputError(f"{what}: unknown dim {unknown[0]!r}; dims are {list(dims)}")
        return {**sizes, **spec}
    raise InvalidInputError(f"{what} must be None, an int (y and x size) or a dict {{dim: size}}; got {spec!r}")


def chunk_sizes(chunks, dims: tuple[str, ...], shape: tuple[int, ...]) -> dict[str, int]:
    band_dim = dims[-3]
    sizes = {d: 1 for d in dims[:-3]}
    sizes.update({band_dim: shape[-3], "y": DEFAULT_CHUNK, "x": DEFAULT_CHUNK})
    if chunks is not None:
        if isinstance(chunks, dict) and chunks.get(band_dim, -1) not in (-1, shape[-3]):
            raise InvalidInputError("chunks: the band axis is never chunked (every chunk holds all bands)")
        sizes = _apply_size_spec(chunks, "chunks", sizes, dims)
        sizes = {k: shape[dims.index(k)] if v == -1 else v for k, v in sizes.items()}
    for k, v in sizes.items():
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise InvalidInputError(f"chunks: size of {k!r} must be a positive int, got {v!r}")
        sizes[k] = int(min(v, shape[dims.index(k)]))
    return sizes


def shard_sizes(shards, chunk: dict[str, int], dims: tuple[str, ...], shape: tuple[int, ...]) -> dict[str, int] | None:
    """Shard shape (pixels per dim) from ``shards`` (None, an int y/x size, or ``{dim: size}``).

    A shard holds whole chunks: each size is a multiple of the chunk size (the band axis: all bands).
    """
    if shards is None:
        return None
    sizes = _apply_size_spec(shards, "shards", dict(chunk), dims)
    for k, v in sizes.items():
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 or v % chunk[k]:
            raise InvalidInputError(f"shards: size of {k!r} must be a positive multiple of its chunk size "
                                    f"{chunk[k]}, got {v!r}")
        sizes[k] = int(v)
    return sizes
