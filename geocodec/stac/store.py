"""What a STAC Item says about a geocodec Zarr store, read from the store itself.

Opens the cube with ``geocodec.cube.open_cube`` (its typed ``CubeRecord``: model, settings and
quality), reads the joint array's shape and dims, the grid through rioxarray (``.rio.crs``,
``.rio.transform()``) and any ``time`` coordinate through xarray's CF decoding, and computes the
store's size and a checksum. No chunk is decoded, and torch is not imported.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from geocodec.cube.record import CubeRecord
from geocodec.errors import InvalidInputError

#: Multihash prefix of a SHA2-256 digest (code 0x12, length 0x20), as the file extension wants.
MULTIHASH_SHA256 = "1220"


@dataclass
class Grid:
    """The store's georeferencing: CRS, affine transform (rasterio order) and shape."""

    crs_wkt: str | None
    transform: tuple[float, ...] | None  # a, b, c, d, e, f
    height: int
    width: int


@dataclass
class StoreFacts:
    path: Path
    record: CubeRecord
    array: str
    dims: tuple[str, ...]
    shape: tuple[int, ...]
    dtype: str
    grid: Grid
    times: list[dt.datetime] = field(default_factory=list)

    @property
    def attrs(self) -> dict[str, Any]:
        """The record as the JSON dict stored in the group attrs."""
        return self.record.to_attrs()

    @property
    def bands(self) -> list[str]:
        return list(self.record.optical_bands) + list(self.record.sar_bands)


def finite_or_none(record: dict) -> dict:
    """A copy with non-finite numbers (PSNR of a lossless sample is +inf) as None: JSON has no inf/NaN."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}


def local_store_path(store) -> Path:
    """A local directory Zarr store, as a resolved Path (clear error for anything else)."""
    if hasattr(store, "root") and not isinstance(store, (str, os.PathLike)):  # zarr LocalStore
        store = store.root
    if not isinstance(store, (str, os.PathLike)):
        raise InvalidInputError(f"store must be the path of a local Zarr store, got {type(store).__name__}")
    s = os.fspath(store)
    if "://" in s and not s.startswith("file://"):
        raise InvalidInputError(f"store {s!r}: only local Zarr stores (directories) can be catalogued")
    p = Path(s.removeprefix("file://")).expanduser().resolve()
    if not p.is_dir():
        raise InvalidInputError(f"store {s!r} is not a directory (a local Zarr store)")
    return p


def read_geocodec_attrs(store) -> dict[str, Any]:
    """The store's ``geocodec`` record as a dict (``CubeRecord.to_attrs``), read through ``open_cube``.

    ``store`` may be a local path or any URL ``open_cube`` reads (fsspec). Incomplete cubes are
    read too: callers that must refuse them check ``complete``.
    """
    from geocodec.cube.record import open_cube

    return open_cube(store, allow_incomplete=True).record.to_attrs()


def _grid_and_times(path: Path, height: int, width: int) -> tuple[Grid, list[dt.datetime]]:
    """CRS and transform through rioxarray, times through xarray's CF decoding (engine "geocodec":
    metadata only, nothing is decoded)."""
    import rioxarray  # noqa: F401 - registers .rio
    import xarray as xr
    from rioxarray.exceptions import RioXarrayError

    ds = xr.open_dataset(path, engine="geocodec", allow_incomplete=True)
    da = ds["sar"]
    crs = da.rio.crs
    try:
        transform = tuple(da.rio.transform(recalc=False))[:6]
    except RioXarrayError:  # no x/y coordinates and no GeoTransform
        transform = None
    times = []
    if "time" in ds.coords:
        for v in np.atleast_1d(ds["time"].values):
            times.append(np.datetime64(v, "us").astype(dt.datetime).replace(tzinfo=dt.timezone.utc))
    grid = Grid(crs_wkt=crs.to_wkt() if crs is not None else None, transform=transform, height=height, width=width)
    return grid, times


def read_store(store) -> StoreFacts:
    """What an Item says about a local store: its record, array layout, grid and times (metadata only)."""
    from geocodec.cube.record import open_cube
    from geocodec.cube.store import array_dims

    path = local_store_path(store)
    cube = open_cube(path, allow_incomplete=True)
    rec = cube.record
    if rec.array not in cube.group:
        raise InvalidInputError(f"{path}: the 'geocodec' record names array {rec.array!r}, which the group lacks")
    arr = cube.array
    dims = array_dims(arr)
    if dims[-3:] != ("band", "y", "x"):
        raise InvalidInputError(f"{path}: array {rec.array!r} has dims {dims}; expected (..., 'band', 'y', 'x')")
    if arr.shape[-3] != rec.n_optical + rec.n_sar:
        raise InvalidInputError(f"{path}: array {rec.array!r} has {arr.shape[-3]} bands but the record lists "
                                f"{rec.n_optical + rec.n_sar}")
    grid, times = _grid_and_times(path, arr.shape[-2], arr.shape[-1])
    return StoreFacts(path=path, record=rec, array=rec.array, dims=dims, shape=tuple(arr.shape),
                      dtype=str(arr.dtype), grid=grid, times=times)


def store_size_and_checksum(store) -> tuple[int, str]:
    """Total bytes of the store's files and a SHA2-256 multihash over its manifest.

    A Zarr store is a directory, not one file, so the checksum covers a manifest: for every
    file in sorted relative POSIX path order, the line ``<path>\\0<sha256 hex of the file>\\n``.
    Any change to any chunk or metadata file changes it.
    """
    root = local_store_path(store)
    files = sorted((p for p in root.rglob("*") if p.is_file()), key=lambda p: p.relative_to(root).as_posix())
    manifest = hashlib.sha256()
    size = 0
    for p in files:
        h = hashlib.sha256()
        with p.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
                size += len(block)
        manifest.update(f"{p.relative_to(root).as_posix()}\0{h.hexdigest()}\n".encode())
    return size, MULTIHASH_SHA256 + manifest.hexdigest()
