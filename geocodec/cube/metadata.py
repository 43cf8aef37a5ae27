"""A cube's metadata: create the group and arrays, grow them, and keep the record and codec flag true.

Why through xarray: the group, coordinates and ``spatial_ref`` are written by ``xarray.to_zarr``
(``compute=False``), so plain xarray and rioxarray read the cube with their usual conventions;
only the chunk data goes through the geocodec writer.
"""

from __future__ import annotations

import warnings

import numpy as np

from geocodec.cube.lock import RECORD_PREFIX, CubeLock
from geocodec.cube.plan import Plan, WriteInput
from geocodec.cube.record import ARRAY, CubeRecord
from geocodec.cube.store import open_store, set_codec_complete, set_codec_config
from geocodec.errors import InvalidInputError
from geocodec.settings import CodecSettings


def open_for_writing(store_ref):
    """The joint array, writable, with ``write_empty_chunks`` (every chunk gets a frame, even all-NaN ones)."""
    import zarr

    store = open_store(store_ref)[0] if isinstance(store_ref, str) else store_ref
    with zarr.config.set({"array.write_empty_chunks": True}):
        return zarr.open_group(store, mode="r+", use_consolidated=False)[ARRAY]


def _template(inp: WriteInput, shape, chunk_shape, record: CubeRecord, coords: dict):
    import dask.array as dsa
    import xarray as xr

    coords = {"band": ("band", np.array(record.optical_bands + record.sar_bands, dtype=object)), **coords}
    t = xr.Dataset({ARRAY: (inp.dims, dsa.empty(shape, chunks=chunk_shape, dtype=np.float32))}, coords=coords)
    if inp.crs is not None:
        t = t.rio.write_crs(inp.crs)
        if inp.transform is not None:
            t = t.rio.write_transform(inp.transform)
        t[ARRAY].attrs["grid_mapping"] = "spatial_ref"
        t[ARRAY].encoding["coordinates"] = "spatial_ref"
    t.attrs["geocodec"] = record.to_attrs()
    return t


def create_metadata(zstore, inp: WriteInput, record: CubeRecord, zarr_format: int) -> None:
    chunk_shape = tuple(inp.chunk[d] for d in inp.dims)
    t = _template(inp, inp.shape, write_unit(inp), record, dict(inp.coords))
    config = _stored_settings(inp, record).to_config()
    if zarr_format == 3:  # the codecs come from their entry points: geocodec never imports the plugin
        from zarr.registry import get_codec_class

        enc = {"serializer": get_codec_class("geocodec")(**config), "compressors": None}
        if inp.shard:
            enc["shards"] = tuple(inp.shard[d] for d in inp.dims)
    else:
        if inp.shard:
            raise InvalidInputError("shards= needs zarr_format=3 (Zarr v2 has no sharding)")
        import numcodecs

        enc = {"compressors": [numcodecs.get_codec({"id": "geocodec", **config})]}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Consolidated metadata.*")
        t.to_zarr(zstore, mode="w", compute=False, zarr_format=zarr_format, consolidated=False,
                  encoding={ARRAY: {"chunks": chunk_shape, "_FillValue": np.nan, **enc}})


def write_unit(inp: WriteInput) -> tuple[int, ...]:
    """The smallest piece two writers may write independently: a shard when sharded, else a chunk."""
    return tuple((inp.shard or inp.chunk)[d] for d in inp.dims)


def _stored_settings(inp: WriteInput, record: CubeRecord) -> CodecSettings:
    from dataclasses import replace

    return replace(inp.settings, cube_id=record.cube_id, complete=False, device=None)


def append_metadata(zstore, inp: WriteInput, plan: Plan) -> None:
    """Grow the array and the append coordinate (xarray's own append), keeping the record."""
    coords = {d: v for d, v in inp.coords.items() if d == plan.record.append_dim}
    t = _template(inp, inp.shape, write_unit(inp), plan.record, coords)
    t = t.drop_vars([v for v in ("band", "spatial_ref") if v in t.variables])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Consolidated metadata.*")
        t.to_zarr(zstore, mode="a", append_dim=plan.record.append_dim, compute=False, consolidated=False)


def write_record(zstore, record: CubeRecord) -> None:
    import zarr

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Consolidated metadata.*")
        g = zarr.open_group(zstore, mode="r+", use_consolidated=False)
        g.attrs["geocodec"] = record.to_attrs()
        zarr.consolidate_metadata(zstore)


def mark_writing(zstore, store_ref, refine_steps: int | None = None) -> None:
    """Record (and codec metadata) say 'incomplete' while chunks are being written; ``refine_steps``
    (a resume that re-encodes the whole cube with another value) also goes into the codec config."""
    import zarr

    arr = open_for_writing(store_ref)
    with CubeLock(arr, None, purpose="record update", prefix=RECORD_PREFIX).acquire(wait=60):
        record = CubeRecord.from_attrs(dict(zarr.open_group(zstore, mode="r", use_consolidated=False).attrs)["geocodec"])
        record.complete = False
        if refine_steps is None:
            set_codec_complete(arr, False)
        else:
            set_codec_config(arr, complete=False, refine_steps=refine_steps)
        write_record(zstore, record)
