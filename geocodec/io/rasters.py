"""GeoTIFF in and out (rioxarray): every GeoTIFF geocodec opens or writes goes through here.

``open_pair`` builds the lazy Dataset ``to_zarr`` takes; ``write_geotiff`` writes one back;
``open_raster`` is the one place a GeoTIFF is opened, ``describe`` reads a header and
``check_one_grid`` is the one grid check. Eager reads into numpy are in ``geocodec.io.scenes``.

``open_pair(optical, sar)`` accepts, for each side, a multi-band GeoTIFF (bands picked by their
descriptions, e.g. the 13-band Sentinel-2 stacks, or by 1-based index), a folder with one
GeoTIFF per band (BigEarthNet: ``<patch>_B02.tif``, ``<patch>_VV.tif``), or a list of
single-band files. Reading is lazy (Dask, ``chunks`` px blocks) so scenes of any size stream
through ``to_zarr`` in bounded memory. All bands of both sides must be on one grid (shape, CRS,
transform); nothing is ever resampled.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from geocodec.errors import InvalidInputError

if TYPE_CHECKING:
    import xarray as xr

#: One modality's rasters: a multi-band GeoTIFF, a folder of per-band GeoTIFFs, or single-band files.
RasterSpec = str | os.PathLike | Sequence[str | os.PathLike]
#: Which bands to take: names (band descriptions or file names) or 1-based indexes.
BandSpec = Sequence[str | int]

DEFAULT_READ_CHUNK = 1024
_S2 = re.compile(r"^B0*(\d{1,2})(A?)$", re.IGNORECASE)


def canonical_band(name) -> str | None:
    """'B2'/'b02' → 'B02', 'b8a' → 'B8A', 'vv' → 'VV'; None for labels that are not band names."""
    s = str(name).strip()
    m = _S2.match(s)
    if m:
        return f"B{int(m.group(1)):02d}" if not m.group(2) else f"B{int(m.group(1))}A"
    return s.upper() if s.upper() in ("VV", "VH", "HH", "HV") else None


@dataclass
class _Source:
    """One band: a file and its 1-based band index there."""

    path: Path
    index: int
    name: str


@dataclass(frozen=True)
class Grid:
    """What puts a raster on the ground: pixel shape, CRS and affine transform (from rioxarray)."""

    shape: tuple[int, int]
    crs: object
    transform: object  # affine.Affine

    def matches(self, other: "Grid") -> bool:
        return self.shape == other.shape and self.crs == other.crs and self.transform.almost_equals(other.transform)

    def describe(self) -> str:
        return f"shape {self.shape}, CRS {self.crs}, transform {tuple(self.transform)[:6]}"


@dataclass(frozen=True)
class RasterInfo:
    """A GeoTIFF's header: band count, canonical band names (None where undescribed), grid, nodata, dtype."""

    count: int
    names: list
    grid: Grid
    nodata: float | None
    dtype: np.dtype


def open_raster(path, **kwargs):
    """The one place a GeoTIFF is opened (rioxarray, lazily); unreadable files are InvalidInputError."""
    import rasterio.errors
    import rioxarray

    try:
        return rioxarray.open_rasterio(path, mask_and_scale=False, **kwargs)
    except (rasterio.errors.RasterioIOError, OSError) as e:
        raise InvalidInputError(f"cannot read {path} as a GeoTIFF: {e}") from None


def _grid(da) -> Grid:
    return Grid((int(da.sizes["y"]), int(da.sizes["x"])), da.rio.crs, da.rio.transform(recalc=False))


def describe(path) -> RasterInfo:
    """Header of one GeoTIFF (nothing is read but metadata)."""
    da = open_raster(path)
    try:
        count = int(da.sizes["band"])
        desc = da.attrs.get("long_name")
        desc = [desc] if isinstance(desc, str) else list(desc) if desc is not None else [None] * count
        names = [canonical_band(d) if d else None for d in desc] if len(desc) == count else [None] * count
        nodata = da.rio.nodata
        return RasterInfo(count, names, _grid(da), None if nodata is None else float(nodata), da.dtype)
    finally:
        da.close()


def check_one_grid(grids, labels=None) -> Grid:
    """The one grid check: every grid equals the first (shape, CRS, transform); geocodec never resamples.

    Parameters
    ----------
    grids : sequence of Grid
    labels : sequence of str, optional
        What each grid belongs to, for the error message.

    Returns
    -------
    Grid
        The shared grid.
    """
    grids = list(grids)
    labels = list(labels) if labels is not None else [f"raster {k}" for k in range(len(grids))]
    for g, lab in zip(grids[1:], labels[1:]):
        if not g.matches(grids[0]):
            raise InvalidInputError(
                f"{lab} is not on the grid of {labels[0]}: {g.describe()} vs {grids[0].describe()}; "
                "geocodec never resamples, bring them onto one grid first")
    return grids[0]


def band_file(folder: Path, band: str) -> Path:
    """The one GeoTIFF of ``band`` in a band folder (``<patch>_B02.tif``)."""
    hits = [p for p in sorted(folder.glob("*.tif*"))
            if canonical_band(re.split(r"[_\-.]", p.stem)[-1]) == band]
    if len(hits) != 1:
        raise InvalidInputError(f"{folder}: expected one GeoTIFF for band {band} (named *_{band}.tif), "
                                f"found {len(hits)}")
    return hits[0]


def _sources(spec, which: str, wanted: list[str], picks) -> list[_Source]:
    """Resolve one side (file, folder or list of files) into one source per wanted band."""
    if isinstance(spec, (list, tuple)):
        paths = [Path(p) for p in spec]
        if len(paths) != len(wanted):
            raise InvalidInputError(f"{which}: {len(paths)} files given for {len(wanted)} bands {wanted}")
        return [_Source(p, 1, b) for p, b in zip(paths, wanted)]
    p = Path(spec)
    if p.is_dir():
        if picks is not None:
            wanted = [canonical_band(b) or str(b) for b in picks]
        return [_Source(band_file(p, b), 1, b) for b in wanted]
    if not p.is_file():
        raise InvalidInputError(f"{which}: {p} is neither a GeoTIFF nor a folder of per-band GeoTIFFs")
    info = describe(p)
    count, names = info.count, info.names
    if picks is not None:
        out = []
        for b in picks:
            if isinstance(b, (int, np.integer)) and not isinstance(b, bool):
                if not 1 <= b <= count:
                    raise InvalidInputError(f"{which}: band index {b} out of range: {p} has {count} bands (1-based)")
                out.append(_Source(p, int(b), wanted[len(out)] if len(out) < len(wanted) else str(b)))
            else:
                cb = canonical_band(b)
                if cb not in names:
                    raise InvalidInputError(f"{which}: {p} has no band {b!r} (its bands: {names})")
                out.append(_Source(p, names.index(cb) + 1, cb))
        return out
    if all(n is not None for n in names) and all(b in names for b in wanted):
        return [_Source(p, names.index(b) + 1, b) for b in wanted]
    if count == len(wanted):
        return [_Source(p, i + 1, b) for i, b in enumerate(wanted)]
    have = f"{p} has {count} band{'s' if count != 1 else ''} {names if any(names) else '(unnamed)'}"
    if count < len(wanted):
        hint = (f"a file with fewer bands cannot supply them: give a file (or a folder of per-band files, or a "
                f"list of files) that holds all of {', '.join(wanted)}"
                + (" (single-polarisation SAR cannot be coded by this dual-polarisation model)"
                   if which == "sar" else ""))
    elif which == "sar":
        hint = "pass sar_bands= names or 1-based indexes, e.g. sar_bands=[1, 2] for VV, VH"
    else:
        hint = "pass optical_bands= names or 1-based indexes, e.g. optical_bands=[2, 3, 4, 8] for a 13-band stack"
    raise InvalidInputError(f"{which}: {have} but the model takes {len(wanted)} ({', '.join(wanted)}); {hint}")


def _check_sources_grid(sources: list[_Source]) -> Grid:
    return check_one_grid([describe(s.path).grid for s in sources],
                          [f"{s.path.name} (band {s.name})" for s in sources])


def _open_band_stack(sources: list[_Source], band_dim: str, chunks: int):
    import xarray as xr

    parts = []
    by_file: dict[Path, list[_Source]] = {}
    for s in sources:
        by_file.setdefault(s.path, []).append(s)
    opened = {}
    for path in by_file:
        opened[path] = open_raster(path, chunks={"band": 1, "y": chunks, "x": chunks}, lock=False)
    for s in sources:
        parts.append(opened[s.path].isel(band=[s.index - 1]))
    da = xr.concat(parts, dim="band", combine_attrs="drop_conflicts") if len(parts) > 1 else parts[0]
    da = da.rename({"band": band_dim}).assign_coords({band_dim: [s.name for s in sources]})
    nodata = opened[sources[0].path].rio.nodata
    da.attrs.pop("long_name", None)
    da = da.rio.write_nodata(nodata, encoded=False) if nodata is not None else da
    return da


def open_pair(optical: RasterSpec, sar: RasterSpec, *, optical_bands: BandSpec | None = None,
              sar_bands: BandSpec | None = None, model: str | os.PathLike = "default",
              chunks: int = DEFAULT_READ_CHUNK) -> xr.Dataset:
    """Co-registered optical and SAR GeoTIFFs → Dataset with ``optical`` and ``sar`` (lazy, via rioxarray).

    The result is what ``to_zarr`` writes: dims (band, y, x), the CRS and transform of the files,
    band names as coordinates, nodata from the files.

    Parameters
    ----------
    optical, sar
        Each a multi-band GeoTIFF, a folder of per-band GeoTIFFs, or a list of single-band files.
    optical_bands, sar_bands
        Band names or 1-based indexes; by default the model's bands (B02, B03, B04, B08 and VV, VH
        for the default model), found by band description or file name.
    model
        Registered model name or ``.safetensors`` path whose bands are wanted.
    chunks
        Read block size in pixels (Dask chunks of the lazy arrays).

    Returns
    -------
    xarray.Dataset
        Lazy ``optical`` and ``sar`` DataArrays on one grid; ``attrs["sources"]`` lists the files.

    Raises
    ------
    geocodec.errors.InvalidInputError
        A file is missing or unreadable, a band cannot be found, or anything is off the shared grid.
    """
    import xarray as xr

    from geocodec.registry import load_model, registry

    if isinstance(chunks, bool) or not isinstance(chunks, (int, np.integer)) or chunks < 1:
        raise InvalidInputError(f"chunks={chunks!r}: the read block size must be a positive number of pixels "
                                f"(default {DEFAULT_READ_CHUNK})")
    chunks = int(chunks)
    entries = registry()
    if isinstance(model, str) and model in entries:
        opt_names, sar_names = list(entries[model]["optical_bands"]), list(entries[model]["sar_bands"])
    else:
        m = load_model(model, "cpu")
        opt_names, sar_names = list(m.optical_bands), list(m.sar_bands)
    opt_src = _sources(optical, "optical", opt_names, optical_bands)
    sar_src = _sources(sar, "sar", sar_names, sar_bands)
    _check_sources_grid(opt_src + sar_src)
    opt = _open_band_stack(opt_src, "optical_band", chunks)
    sr = _open_band_stack(sar_src, "sar_band", chunks)
    sr = sr.assign_coords(x=opt.x, y=opt.y)  # equal transforms, bit-identical coords
    ds = xr.Dataset({"optical": opt, "sar": sr})
    ds.attrs["sources"] = {"optical": sorted({str(s.path) for s in opt_src}),
                           "sar": sorted({str(s.path) for s in sar_src})}
    return ds


def write_geotiff(da, path, *, nodata=None, compress: str = "deflate") -> Path:
    """One (band, y, x) DataArray with CRS/transform (rioxarray) → a tiled GeoTIFF, chunk by chunk.

    Band descriptions are the band coordinate's names. Leading dims must be selected away first.
    """
    if da.ndim != 3:
        raise InvalidInputError(f"a GeoTIFF holds (band, y, x); this array has dims {da.dims}: select one "
                                "index of the leading dims first (e.g. .isel(time=0))")
    band_dim = da.dims[0]
    out = da.rename({band_dim: "band"})
    names = [str(v) for v in out["band"].values]
    out = out.assign_coords(band=np.arange(1, len(names) + 1))
    out.attrs = {k: v for k, v in out.attrs.items() if k not in ("_FillValue", "long_name", "units")}
    out.attrs["long_name"] = tuple(names)
    if nodata is None:
        nodata = da.attrs.get("_FillValue", da.encoding.get("_FillValue"))
    if nodata is not None:
        out = out.rio.write_nodata(nodata, encoded=False)
    path = Path(path)
    kwargs = {"tiled": True, "compress": compress, "recalc_transform": False}  # the stored transform, exactly
    if hasattr(out.data, "dask"):
        kwargs["lock"] = threading.Lock()  # windowed, chunk-by-chunk writes: bounded memory
    out.rio.to_raster(path, **kwargs)
    return path
