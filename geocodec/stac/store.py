"""What a STAC Item says about a geocodec Zarr store, read from the store itself.

Reads the group attrs ``geocodec`` (the writer's record of model, settings and quality), the
joint array's shape and dims, the grid (``x``/``y`` coords and the rioxarray-style
``spatial_ref`` variable), any ``time`` coordinate, and computes the store's size and a
checksum. No chunk is decoded.
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
    attrs: dict[str, Any]
    array: str
    dims: tuple[str, ...]
    shape: tuple[int, ...]
    dtype: str
    grid: Grid
    times: list[dt.datetime] = field(default_factory=list)

    @property
    def bands(self) -> list[str]:
        return list(self.attrs["optical_bands"]) + list(self.attrs["sar_bands"])


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


def _open_group(store):
    import zarr

    try:
        return zarr.open_group(str(store) if isinstance(store, Path) else store, mode="r")
    except Exception as e:  # noqa: BLE001 - zarr raises several types for "not a group"
        raise InvalidInputError(f"{store} is not a readable Zarr group: {e}") from None


def read_geocodec_attrs(store) -> dict[str, Any]:
    """The store's group attrs ``geocodec`` (clear error when it is not a geocodec store).

    ``store`` may be a local path or any URL ``geocodec.zarr_store.open_store`` reads (fsspec).
    """
    s = os.fspath(store) if isinstance(store, (str, os.PathLike)) else None
    if s is not None and "://" in s and not s.startswith("file://"):
        from geocodec.zarr_store import open_store

        where = s
        group = _open_group(open_store(s, read_only=True)[0])
    else:
        where = local_store_path(store)
        group = _open_group(where)
    g = dict(group.attrs).get("geocodec")
    if not isinstance(g, dict):
        raise InvalidInputError(f"{where} is not a geocodec store: its group attrs have no 'geocodec' record "
                                "(write it with geocodec.to_zarr)")
    missing = [k for k in ("format_version", "model", "gamma", "optical_bands", "sar_bands", "array")
               if k not in g]
    if missing:
        raise InvalidInputError(f"{where}: the 'geocodec' attrs lack {', '.join(missing)}")
    return g


def _array_dims(arr) -> tuple[str, ...]:
    names = getattr(arr.metadata, "dimension_names", None)
    if names:
        return tuple(names)
    dims = arr.attrs.get("_ARRAY_DIMENSIONS")  # zarr v2 / xarray convention
    if dims:
        return tuple(dims)
    raise InvalidInputError(f"array {arr.name!r} has no dimension names")


def _grid(group, height: int, width: int) -> Grid:
    crs_wkt, transform = None, None
    if "spatial_ref" in group:
        a = dict(group["spatial_ref"].attrs)
        crs_wkt = a.get("crs_wkt") or a.get("spatial_ref")
        gt = a.get("GeoTransform")
        if gt is not None:
            c, ta, tb, f, td, te = (float(v) for v in (gt.split() if isinstance(gt, str) else gt))
            transform = (ta, tb, c, td, te, f)
    if transform is None and "x" in group and "y" in group:
        x, y = np.asarray(group["x"][:], float), np.asarray(group["y"][:], float)
        if x.size >= 2 and y.size >= 2:
            dx, dy = (x[-1] - x[0]) / (x.size - 1), (y[-1] - y[0]) / (y.size - 1)
            transform = (dx, 0.0, x[0] - dx / 2, 0.0, dy, y[0] - dy / 2)
    return Grid(crs_wkt=crs_wkt, transform=transform, height=height, width=width)


def _times(group) -> list[dt.datetime]:
    if "time" not in group:
        return []
    import xarray as xr

    t = group["time"]
    values = xr.coding.times.decode_cf_datetime(t[:], t.attrs.get("units"), t.attrs.get("calendar")) \
        if "units" in t.attrs else np.asarray(t[:])
    out = []
    for v in np.atleast_1d(values):
        ts = np.datetime64(v, "us").astype(dt.datetime)
        out.append(ts.replace(tzinfo=dt.timezone.utc))
    return out


def read_store(store) -> StoreFacts:
    path = local_store_path(store)
    attrs = read_geocodec_attrs(path)
    group = _open_group(path)
    name = attrs["array"]
    if name not in group:
        raise InvalidInputError(f"{path}: the 'geocodec' attrs name array {name!r}, which the group lacks")
    arr = group[name]
    dims = _array_dims(arr)
    if dims[-3:] != ("band", "y", "x"):
        raise InvalidInputError(f"{path}: array {name!r} has dims {dims}; expected (..., 'band', 'y', 'x')")
    n_bands = len(attrs["optical_bands"]) + len(attrs["sar_bands"])
    if arr.shape[-3] != n_bands:
        raise InvalidInputError(f"{path}: array {name!r} has {arr.shape[-3]} bands but the attrs list {n_bands}")
    grid = _grid(group, arr.shape[-2], arr.shape[-1])
    return StoreFacts(path=path, attrs=attrs, array=name, dims=dims, shape=tuple(arr.shape),
                      dtype=str(arr.dtype), grid=grid, times=_times(group))


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
