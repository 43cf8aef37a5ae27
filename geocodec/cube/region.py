"""Region writes with xarray's manners: ``region="auto"`` and the cube's own coding settings.

Why apart from the planner: xarray infers a region from the coordinates and takes the encoding
from the store, so a region writer never repeats λ, γ or the model (and never gets one wrong).
This module turns such a request into the explicit one the planner checks: a ``{dim: slice}``
window and the settings the existing cube was written with.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from geocodec.errors import InvalidInputError


def stored_coords(zstore) -> dict[str, np.ndarray]:
    """The store's 1-D coordinates, decoded as xarray decodes them (CF times become datetime64)."""
    import xarray as xr

    with xr.open_zarr(zstore, consolidated=False, chunks=None, decode_times=True) as z:
        return {d: z[d].values for d in z.dims if d in z.coords}


def _find(stored: np.ndarray, values: np.ndarray, dim: str, where: str) -> slice:
    hits = np.flatnonzero(stored == values[0]) if len(values) else []
    for start in hits:
        if np.array_equal(stored[start:start + len(values)], values):
            return slice(int(start), int(start) + len(values))
    raise InvalidInputError(f"region='auto': ds's {dim} values ({values[0]} …, {len(values)} of them) are not a "
                            f"consecutive run of {where}'s {dim} coordinate; pass region={{{dim!r}: slice(...)}}")


def resolve_region(region, ds, existing, where: str):
    """(ds, ``{dim: slice}``) for ``region`` (a dict, ``"auto"``, or a dict with ``"auto"`` values).

    ``"auto"`` finds each of ``ds``'s dims in the cube's coordinates, as ``xarray.Dataset.to_zarr``
    does; a scalar coordinate of a cube dim (one date picked with ``.sel``) becomes a length-1 dim.
    """
    from geocodec.cube.store import array_dims

    if existing is None or not (region == "auto" or isinstance(region, dict)):
        return ds, region  # the planner names the problem (no cube there, or a region of the wrong type)
    group, record = existing
    dims = array_dims(group[record.array])
    wanted = {d: "auto" for d in dims if d != "band"} if region == "auto" else dict(region)
    if not any(isinstance(v, str) and v == "auto" for v in wanted.values()):
        return ds, wanted
    coords = stored_coords(group.store)
    for d in dims:
        if wanted.get(d) == "auto" and d not in ds["optical"].dims and d in ds.coords and ds[d].ndim == 0:
            ds = ds.expand_dims(d)
    for d, v in list(wanted.items()):
        if not (isinstance(v, str) and v == "auto"):
            continue
        if d not in ds["optical"].dims:
            raise InvalidInputError(f"region='auto': {where} has dim {d!r} but ds.optical has dims "
                                    f"{ds['optical'].dims}")
        if d not in coords or d not in ds.coords:
            raise InvalidInputError(f"region='auto' needs a {d!r} coordinate in ds and in {where}; pass "
                                    f"region={{{d!r}: slice(...)}} for it")
        wanted[d] = _find(coords[d], np.asarray(ds[d].values), d, where)
    return ds, wanted


def cube_settings(existing, region: dict | None, given: dict[str, Any]) -> dict[str, Any]:
    """``given`` with every setting left out (None) taken from the cube this call writes into.

    λ or target bpp, γ, model, ``refine_steps``, SAR scale and nodata come from the array's codec
    metadata; on an appended cube λ, γ and ``refine_steps`` come from a date: the one a region
    starts at, or the last one for an append. Nothing is taken when the store holds no cube.
    """
    from geocodec.cube.store import codec_settings

    if existing is None:
        return given
    group, record = existing
    arr = group[record.array]
    stored = codec_settings(arr)
    cube = {"model": stored.model, "lmbda": stored.lmbda, "target_bpp": stored.target_bpp, "gamma": stored.gamma,
            "refine_steps": stored.refine_steps, "sar_scale": stored.sar_scale,
            "optical_nodata": stored.optical_nodata, "sar_nodata": stored.sar_nodata}
    if record.append_dim and record.acquisitions:
        i = len(record.acquisitions) - 1
        if isinstance(region, dict) and isinstance(region.get(record.append_dim), slice):
            i = min(region[record.append_dim].indices(arr.shape[0])[0], i)
        a = record.acquisitions[i]
        cube.update(lmbda=a.lmbda, target_bpp=a.target_bpp, gamma=a.gamma, refine_steps=a.refine_steps)
    out = dict(given)
    if given.get("lmbda") is None and given.get("target_bpp") is None:
        out["lmbda"], out["target_bpp"] = cube["lmbda"], cube["target_bpp"]
    for k in ("model", "gamma", "refine_steps", "sar_scale", "optical_nodata", "sar_nodata"):
        if given.get(k) is None:
            out[k] = cube[k]
    return out
