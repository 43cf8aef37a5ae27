"""``to_zarr``: write an optical + SAR Dataset as a compressed Zarr cube, with xarray's semantics.

Why it looks like this: the steps are small functions, in the order they run —
``_validated_input`` (checks, band order, settings), ``_plan`` (what the store holds and what
this call will write: create, resume, append or a region), ``_create_metadata`` /
``_append_metadata``, one Dask task per block (``_write_block``: fingerprint, keep what is
already right, encode the rest in one device batch, store through Zarr's array API),
``_measure`` and ``_finish`` (the record, under a short lock).

Chunks are stored with ``array[region] = values``: Zarr's own codec pipeline (and its
``ShardingCodec`` with ``shards=``) lays them out. The task encodes its chunks itself, batched and
with each chunk's position and the cube id in its frame, and hands the frames to the codec
(``chunks.PREPARED``), since Zarr gives a codec no chunk position.

Layout and guarantees: docs/zarr-layout.md and docs/reliability.md ("Cube integrity").
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import threading
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from geocodec.cube import inputs, quality
from geocodec.cube.chunks import PREPARED, ChunkCoder, content_hash, fingerprint_of
from geocodec.cube.lock import DEFAULT_STALE_AFTER, RECORD_PREFIX, CubeLock
from geocodec.cube.record import ARRAY, RECORD_FORMAT, Acquisition, CubeRecord, ModelRef
from geocodec.cube.store import (codec_settings, local_root, open_store, read_frames, remove_partial_files,
                                 set_codec_complete)
from geocodec.errors import GeocodecError, InvalidInputError
from geocodec.settings import OPTICAL_DTYPES, SAR_DTYPES, SAR_SCALES, CodecSettings, check_gamma, check_rate

Mode = Literal["w-", "w", "a", "r+"]
MODES = ("w-", "w", "a", "r+")
#: Chunks per Dask task (one device batch) when unsharded: more on a GPU, where batching pays.
DEFAULT_BATCH_CHUNKS = {"cpu": 4, "cuda": 16}
#: Record fields that must agree for any write into an existing cube (append included).
_STRUCTURE = ("optical_bands", "sar_bands", "optical_dtype", "sar_dtype", "sar_scale", "optical_nodata",
              "sar_nodata", "array", "chunks", "shards")
#: ... and, besides, for a resume or a region write (an append may change them per date).
_CODING = ("lmbda", "target_bpp", "gamma")


@dataclass
class WriteResult:
    """What ``to_zarr`` did: chunk counts, stored bytes and the group's ``geocodec`` record."""

    store: object
    chunks_total: int
    chunks_written: int
    chunks_reused: int
    bytes_stored: int
    record: dict


@dataclass
class _Input:
    opt: Any
    sar: Any
    model: ModelRef
    dims: tuple[str, ...]
    shape: tuple[int, ...]
    chunk: dict[str, int]
    shard: dict[str, int] | None
    settings: CodecSettings
    record: CubeRecord
    coords: dict
    crs: Any
    transform: Any


@dataclass
class _Plan:
    action: Literal["create", "resume", "append", "region"]
    record: CubeRecord
    window: tuple[slice, ...]  #: the part of the array this call writes
    array_shape: tuple[int, ...]  #: the array's shape once written
    labels: list[str] = field(default_factory=list)  #: append-dim labels written (appends only)


# ---------------------------------------------------------------------------- validate
def _validated_input(ds, *, model, lmbda, target_bpp, gamma, chunks, shards, optical_nodata, sar_nodata,
                     sar_scale, append_dim, device: str) -> _Input:
    import xarray as xr

    from geocodec.registry import load_model

    if not isinstance(ds, xr.Dataset) or "optical" not in ds or "sar" not in ds:
        raise InvalidInputError("ds must be an xarray Dataset with 'optical' and 'sar' DataArrays "
                                "(geocodec.open_pair builds one from GeoTIFFs)")
    if sar_scale not in SAR_SCALES:
        raise InvalidInputError(f"sar_scale={sar_scale!r}: use 'db' or 'linear'")
    gamma = check_gamma(gamma)
    if append_dim is not None and append_dim not in ds["optical"].dims:
        if append_dim in ds.coords and ds[append_dim].ndim == 0:
            ds = ds.expand_dims(append_dim)  # one acquisition given with a scalar coordinate
        else:
            raise InvalidInputError(f"append_dim={append_dim!r} is not a dim of ds.optical {ds['optical'].dims} nor "
                                    "a scalar coordinate of ds")
    inputs.check_grid(ds)
    m = load_model(model, device)
    opt, sar = ds["optical"], ds["sar"]
    order = inputs.band_order(opt, "optical", m.optical_bands)
    if order != list(range(len(order))):  # reorder only when needed (fancy indexing copies)
        opt = opt.isel({opt.dims[-3]: order})
    order = inputs.band_order(sar, "sar", m.sar_bands)
    if order != list(range(len(order))):
        sar = sar.isel({sar.dims[-3]: order})
    if opt.dtype.name not in OPTICAL_DTYPES:
        raise InvalidInputError(f"optical has dtype {opt.dtype.name}; supported: {', '.join(OPTICAL_DTYPES)}")
    if sar.dtype.name not in SAR_DTYPES:
        raise InvalidInputError(f"sar has dtype {sar.dtype.name}; supported: {', '.join(SAR_DTYPES)}")
    lead = tuple(opt.dims[:-3])
    if append_dim is not None and lead[:1] != (append_dim,):
        raise InvalidInputError(f"append_dim={append_dim!r} must be the first dim of ds.optical, got {opt.dims}")
    dims = (*lead, "band", "y", "x")
    n_opt, n_sar = len(m.optical_bands), len(m.sar_bands)
    shape = (*opt.shape[:-3], n_opt + n_sar, *opt.shape[-2:])
    sizes = inputs.chunk_sizes(chunks, (*lead, opt.dims[-3], "y", "x"), shape)
    sizes["band"] = sizes.pop(opt.dims[-3])
    chunk = {d: sizes[d] for d in dims}
    if append_dim is not None and chunk[append_dim] != 1:
        raise InvalidInputError(f"appending along {append_dim!r} needs chunks of 1 along it, got {chunk[append_dim]}")
    shard = inputs.shard_sizes(shards, chunk, dims, shape)
    lam, target = check_rate(lmbda, target_bpp, m.lmbda_range)
    model_ref = model if isinstance(model, (str, Path)) else m.name
    settings = CodecSettings(
        model=str(model_ref), model_version=m.version, model_sha256=m.sha256, lmbda=lam, target_bpp=target,
        gamma=gamma, optical_bands=n_opt, optical_dtype=opt.dtype.name, sar_scale=sar_scale,
        optical_nodata=inputs.nodata_value(optical_nodata, ds["optical"]),
        sar_nodata=inputs.nodata_value(sar_nodata, ds["sar"]), device=device)
    ref = ModelRef(m.name, m.version, m.sha256)
    record = CubeRecord(
        model=ref, lmbda=lam, target_bpp=target, gamma=gamma, optical_bands=list(m.optical_bands),
        sar_bands=list(m.sar_bands), optical_dtype=opt.dtype.name, sar_dtype=sar.dtype.name, sar_scale=sar_scale,
        optical_nodata=settings.optical_nodata, sar_nodata=settings.sar_nodata, array=ARRAY, chunks=chunk,
        software=_software(), format_version=RECORD_FORMAT, append_dim=append_dim, shards=shard)
    coords = {d: ds.coords[d].variable for d in (*lead, "y", "x") if d in ds.coords}
    crs, transform = inputs.crs_and_transform(ds["optical"])
    return _Input(opt, sar, ref, dims, shape, chunk, shard, settings, record, coords, crs, transform)


def _software() -> dict:
    import compressai
    import torch
    import zarr

    import geocodec

    return {"geocodec": geocodec.__version__, "torch": torch.__version__, "compressai": compressai.__version__,
            "zarr": zarr.__version__}


# ---------------------------------------------------------------------------- plan
def _existing(zstore, where: str, mode: str):
    """(zarr Group, CubeRecord) of what the store holds, None when empty; an error for foreign content."""
    import zarr

    try:
        group = zarr.open_group(zstore, mode="r", use_consolidated=False)
    except Exception:  # noqa: BLE001 - nothing (readable) there
        root = local_root(zstore)
        if mode != "w" and root is not None and root.exists() and any(root.iterdir()):
            raise InvalidInputError(f"{root} exists and is not a Zarr store; pass mode='w' to replace it") from None
        return None
    attrs = dict(group.attrs).get("geocodec")
    if attrs is None:
        if mode == "w" or (not list(group.keys()) and not dict(group.attrs)):
            return None
        raise InvalidInputError(f"{where} already holds a Zarr group that is not a geocodec cube; pass mode='w' "
                                "to replace it")
    return group, CubeRecord.from_attrs(attrs, where)


def _differences(old: CubeRecord, new: CubeRecord, keys) -> list[str]:
    out = [k for k in keys if getattr(old, k) != getattr(new, k)]
    if old.model.sha256 != new.model.sha256:
        out.insert(0, "model")
    return out


def _label(value) -> str:
    v = np.asarray(value)
    if v.dtype.kind == "M":
        return str(np.datetime_as_string(v, unit="auto"))
    return str(v.item() if v.ndim == 0 else v)


def _stored_labels(zstore, dim: str) -> list[str]:
    """The append coordinate's values in the store, decoded as xarray decodes them (CF times)."""
    import xarray as xr

    with xr.open_zarr(zstore, consolidated=False, chunks=None, decode_times=True) as z:
        return [_label(v) for v in z[dim].values]


def _same_coords(group, inp: _Input, window: tuple[slice, ...], skip: str | None = None) -> list[str]:
    bad = []
    for d, var in inp.coords.items():
        if d == skip or d not in group:
            continue
        ax = inp.dims.index(d)
        stored = group[d][window[ax]]
        if stored.shape != var.shape or not np.array_equal(np.asarray(stored), np.asarray(var.values)):
            bad.append(d)
    return bad


def _plan(inp: _Input, existing, mode: str, append_dim: str | None, region: dict | None, where: str) -> _Plan:
    full = tuple(slice(0, s) for s in inp.shape)
    if existing is None:
        if mode == "r+" or region is not None:
            raise InvalidInputError(f"{where} holds no geocodec cube to write a region of; create it first "
                                    "(geocodec.to_zarr(full_ds, store, compute=False) writes its metadata)")
        return _Plan("create", inp.record, full, inp.shape,
                     [_label(v) for v in inp.coords[append_dim].values] if append_dim else [])
    group, old = existing
    arr = group[old.array]
    if mode == "w-":
        diff = _differences(old, inp.record, _STRUCTURE + _CODING)
        what = (f"a different cube ({', '.join(diff)} differ)" if diff else "a geocodec cube written with the same "
                "settings")
        raise InvalidInputError(f"{where} already holds {what}; mode='w-' never touches an existing store: pass "
                                "mode='a' to resume or append, or mode='w' to replace it")
    diff = _differences(old, inp.record, _STRUCTURE)
    if diff:
        raise InvalidInputError(f"{where} holds a geocodec cube with another {', '.join(diff)}: a cube keeps one "
                                "model, band set, dtypes and chunking; write elsewhere, or pass mode='w' to replace it")
    record = old
    dims = tuple(arr.metadata.dimension_names or arr.attrs.get("_ARRAY_DIMENSIONS") or ())
    if dims != inp.dims:
        raise InvalidInputError(f"{where} holds an array with dims {dims}; this data has {inp.dims}")
    if region is not None:
        window = _region_window(region, inp, tuple(arr.shape), group)
        _check_coding(old, inp, where)
        return _Plan("region", record, window, tuple(arr.shape))
    if append_dim is not None:
        if old.append_dim not in (None, append_dim):
            raise InvalidInputError(f"{where} grows along {old.append_dim!r}, not {append_dim!r}")
        stored = _stored_labels(group.store, append_dim) if append_dim in group else []
        labels = [_label(v) for v in inp.coords[append_dim].values]
        if tuple(arr.shape[1:]) != tuple(inp.shape[1:]):
            raise InvalidInputError(f"{where} holds {append_dim} slices of shape {tuple(arr.shape[1:])}; this data "
                                    f"has {tuple(inp.shape[1:])}")
        ax0 = slice(None)
        bad = _same_coords(group, inp, (ax0,) * len(inp.dims), skip=append_dim)
        if bad:
            raise InvalidInputError(f"{where}: this data's {', '.join(bad)} coordinates differ from the cube's")
        present = [x in stored for x in labels]
        if all(present):  # an interrupted append, run again: resume those positions
            idx = [stored.index(x) for x in labels]
            if idx != list(range(idx[0], idx[0] + len(idx))):
                raise InvalidInputError(f"{where}: {append_dim} values {labels} are not consecutive in the cube")
            window = (slice(idx[0], idx[-1] + 1), *full[1:])
            return _Plan("resume", record, window, tuple(arr.shape), labels)
        if any(present):
            raise InvalidInputError(f"{where} already holds {append_dim} = "
                                    f"{[x for x, p in zip(labels, present) if p]}; append only new values")
        n0 = arr.shape[0]
        return _Plan("append", record, (slice(n0, n0 + len(labels)), *full[1:]),
                     (n0 + len(labels), *arr.shape[1:]), labels)
    if tuple(arr.shape) != tuple(inp.shape) or _same_coords(group, inp, full):
        raise InvalidInputError(f"{where} holds a geocodec cube of another shape or grid; pass append_dim= to "
                                "grow it, region= to write a window, or mode='w' to replace it")
    _check_coding(old, inp, where)
    return _Plan("resume", record, full, tuple(arr.shape))


def _check_coding(old: CubeRecord, inp: _Input, where: str) -> None:
    if old.append_dim is not None:
        return  # each date keeps its own λ and γ; the request applies to the dates written now
    diff = _differences(old, inp.record, _CODING)
    if diff:
        raise InvalidInputError(f"{where} already holds a different geocodec cube ({', '.join(diff)} differ); pass "
                                "mode='w' to replace it, or write elsewhere")


def _region_window(region: dict, inp: _Input, shape: tuple[int, ...], group) -> tuple[slice, ...]:
    if not isinstance(region, dict):
        raise InvalidInputError(f"region must be a dict {{dim: slice}}, got {type(region).__name__}")
    unit = inp.shard or inp.chunk
    window = []
    for ax, d in enumerate(inp.dims):
        sl = region.get(d, slice(None))
        if not isinstance(sl, slice) or sl.step not in (None, 1):
            raise InvalidInputError(f"region[{d!r}] must be a slice with step 1, got {sl!r}")
        start, stop, _ = sl.indices(shape[ax])
        if start % unit[d] or (stop % unit[d] and stop != shape[ax]):
            raise InvalidInputError(f"region[{d!r}] = {start}:{stop} does not align with the cube's "
                                    f"{'shards' if inp.shard else 'chunks'} of {unit[d]} along {d!r}: parallel "
                                    "writers must not share a chunk")
        if stop - start != inp.shape[ax]:
            raise InvalidInputError(f"region[{d!r}] spans {stop - start} but ds has {inp.shape[ax]} along {d!r}")
        window.append(slice(start, stop))
    bad = _same_coords(group, inp, tuple(window))
    if bad:
        raise InvalidInputError(f"ds's {', '.join(bad)} coordinates are not the cube's at region {region}")
    return tuple(window)


# ---------------------------------------------------------------------------- metadata
def _template(inp: _Input, shape, chunk_shape, record: CubeRecord, coords: dict):
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


def _create_metadata(zstore, inp: _Input, record: CubeRecord, zarr_format: int) -> None:
    chunk_shape = tuple(inp.chunk[d] for d in inp.dims)
    t = _template(inp, inp.shape, chunk_shape, record, dict(inp.coords))
    if zarr_format == 3:
        from numcodecs_plugin.zarr_codec import GeocodecZarrCodec  # through the public codec class

        enc = {"serializer": GeocodecZarrCodec(settings=_stored_settings(inp, record)), "compressors": None}
        if inp.shard:
            enc["shards"] = tuple(inp.shard[d] for d in inp.dims)
    else:
        if inp.shard:
            raise InvalidInputError("shards= needs zarr_format=3 (Zarr v2 has no sharding)")
        from numcodecs_plugin.numcodecs_codec import GeocodecCodec

        enc = {"compressors": [GeocodecCodec(**_stored_settings(inp, record).to_config())]}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Consolidated metadata.*")
        t.to_zarr(zstore, mode="w", compute=False, zarr_format=zarr_format, consolidated=False,
                  encoding={ARRAY: {"chunks": chunk_shape, "_FillValue": np.nan, **enc}})


def _stored_settings(inp: _Input, record: CubeRecord) -> CodecSettings:
    from dataclasses import replace

    return replace(inp.settings, cube_id=record.cube_id, complete=False, device=None)


def _append_metadata(zstore, inp: _Input, plan: _Plan) -> None:
    """Grow the array and the append coordinate (xarray's own append), keeping the record."""
    chunk_shape = tuple(inp.chunk[d] for d in inp.dims)
    coords = {d: v for d, v in inp.coords.items() if d == plan.record.append_dim}
    t = _template(inp, inp.shape, chunk_shape, plan.record, coords)
    t = t.drop_vars([v for v in ("band", "spatial_ref") if v in t.variables])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Consolidated metadata.*")
        t.to_zarr(zstore, mode="a", append_dim=plan.record.append_dim, compute=False, consolidated=False)


def _write_record(zstore, record: CubeRecord) -> None:
    import zarr

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Consolidated metadata.*")
        g = zarr.open_group(zstore, mode="r+", use_consolidated=False)
        g.attrs["geocodec"] = record.to_attrs()
        zarr.consolidate_metadata(zstore)


# ---------------------------------------------------------------------------- tasks
def _open_for_writing(store_ref):
    import zarr

    store = open_store(store_ref)[0] if isinstance(store_ref, str) else store_ref
    with zarr.config.set({"array.write_empty_chunks": True}):  # every chunk gets a frame, even all-NaN ones
        return zarr.open_group(store, mode="r+", use_consolidated=False)[ARRAY]


def _chunk_slices(c, chunk_shape, shape) -> tuple[slice, ...]:
    return tuple(slice(i * n, min((i + 1) * n, s)) for i, n, s in zip(c, chunk_shape, shape))


def store_chunk(arr, index: tuple[int, ...], values: np.ndarray, content: str, frame: bytes, cube_id: str) -> None:
    """Store one chunk through Zarr's array API; the codec takes the frame prepared for it."""
    sel = _chunk_slices(index, arr.chunks, arr.shape)
    token = PREPARED.put((cube_id, content), frame)
    try:
        arr[sel] = values[tuple(slice(0, s.stop - s.start) for s in sel)]
    finally:
        PREPARED.release((cube_id, content), token)


def _write_block(block: np.ndarray, origin: tuple[int, ...], job: dict, lock: CubeLock | None = None) -> dict[str, list]:
    """Dask task: fingerprint the block's chunks, keep those stored right, encode the rest in one batch."""
    arr = _open_for_writing(job["store_ref"])
    settings: CodecSettings = job["settings"]
    chunk_shape, shape = tuple(arr.chunks), tuple(arr.shape)
    window_lo = job["window_lo"]
    coords, chunks = [], []
    grid_lo = [(o + w) // c for o, w, c in zip(origin, window_lo, chunk_shape)]
    n_per = [-(-b // c) for b, c in zip(block.shape, chunk_shape)]
    for sub in itertools.product(*(range(n) for n in n_per)):
        c = tuple(g + s for g, s in zip(grid_lo, sub))
        sel = _chunk_slices(c, chunk_shape, shape)
        local = tuple(slice(s.start - o - w, s.stop - o - w) for s, o, w in zip(sel, origin, window_lo))
        padded = np.full(chunk_shape, np.nan, dtype=np.float32)
        padded[tuple(slice(0, s.stop - s.start) for s in sel)] = block[local]
        coords.append(c)
        chunks.append(padded)
    contents = [content_hash(a) for a in chunks]
    fps = [fingerprint_of(h, settings) for h in contents]
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
    if todo:
        frames = coder.encode_chunks([chunks[k] for k in todo], indexes=[coords[k] for k in todo])
        for k, frame in zip(todo, frames):
            job["store_chunk"](arr, coords[k], chunks[k], contents[k], frame, settings.cube_id)
            out[arr.metadata.encode_chunk_key(coords[k])] = [fps[k], len(frame), True, coords[k][0]]
    if lock is not None:  # compute=False: the tasks keep the lock fresh themselves
        lock.renew()
    return out


def _tasks(joint, plan: _Plan, inp: _Input, job: dict, batch_chunks: int, gate=None):
    import dask

    chunk_shape = tuple(inp.chunk[d] for d in inp.dims)
    if inp.shard:
        block_shape = tuple(inp.shard[d] for d in inp.dims)
    else:
        by = max(1, int(math.sqrt(batch_chunks)))
        block_shape = (*chunk_shape[:-2], chunk_shape[-2] * by, chunk_shape[-1] * max(1, batch_chunks // by))
    joint = joint.rechunk(block_shape)
    blocks = joint.to_delayed()
    token = dask.base.tokenize(str(job["store_ref"]), plan.window, job["settings"].to_config(), uuid.uuid4().hex)
    tasks = []
    for bidx in itertools.product(*(range(n) for n in blocks.shape)):
        origin = tuple(i * b for i, b in zip(bidx, block_shape))
        tasks.append(dask.delayed(_write_block, pure=False)(
            blocks[bidx], origin, job, gate, dask_key_name=f"geocodec-write-{'-'.join(map(str, bidx))}-{token}"))
    n_chunks = math.prod(-(-(w.stop - w.start) // c) for w, c in zip(plan.window, chunk_shape))
    return tasks, n_chunks


# ---------------------------------------------------------------------------- run
class _Progress:
    """A tqdm bar in chunks, with bytes and bpp so far, over the whole write (quality included)."""

    def __init__(self, total: int, pixels_per_chunk: int, enabled: bool):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, desc="geocodec encode", unit="chunk", disable=not enabled)
        self.bytes = 0
        self.pixels_per_chunk = pixels_per_chunk
        self.lock = threading.Lock()

    def chunks_done(self, result: dict) -> None:
        with self.lock:
            self.bytes += sum(v[1] for v in result.values())
            done = self.bar.n + len(result)
            bpp = 8 * self.bytes / (2 * self.pixels_per_chunk * max(done, 1))
            self.bar.set_postfix_str(f"{self.bytes / 1024:.1f} KiB, {bpp:.3f} bpp", refresh=False)
            self.bar.update(len(result))

    def stage(self, desc: str) -> None:
        self.bar.set_description(desc)

    def step(self) -> None:
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def _run(tasks, progress: _Progress, lock: CubeLock) -> list:
    """Compute the tasks on the active distributed Client, else local threads; renew the lock as they finish."""
    import dask

    if not tasks:
        return []
    try:
        from distributed import default_client

        client = default_client()
    except (ImportError, ValueError):
        client = None

    def done(result):
        progress.chunks_done(result)
        lock.renew()

    if client is not None:
        from distributed import as_completed

        futures = client.compute(tasks)
        index = {f.key: i for i, f in enumerate(futures)}
        out = [None] * len(futures)
        for f in as_completed(futures):
            out[index[f.key]] = f.result()
            done(out[index[f.key]])
        return out
    from dask.callbacks import Callback

    names = {t.key for t in tasks}

    class _Hook(Callback):
        def _posttask(self, key, result, dsk, state, worker_id):
            if key in names:
                done(result)

    # our own pool, so that when one task fails no other is still writing once we return
    pool = ThreadPoolExecutor(dask.config.get("num_workers", None) or os.cpu_count() or 1)
    try:
        with _Hook():
            return list(dask.compute(*tasks, scheduler="threads", pool=pool))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------------------- measure, finish
def _measure(joint, plan: _Plan, inp: _Input, job: dict, n_samples: int, progress: _Progress | None) -> dict:
    """Per-chunk error sums of up to ``n_samples`` chunks of the window (per date when appending)."""
    arr = _open_for_writing(job["store_ref"])
    chunk_shape, shape = tuple(arr.chunks), tuple(arr.shape)
    coords = _sample_coords(plan, chunk_shape, shape, n_samples)
    settings: CodecSettings = job["settings"]
    coder = ChunkCoder(settings, device=settings.device)
    samples = {}
    for c, data in zip(coords, read_frames(arr, coords)):
        sel = _chunk_slices(c, chunk_shape, shape)
        local = tuple(slice(s.start - w.start, s.stop - w.start) for s, w in zip(sel, plan.window))
        ref = np.asarray(joint[local].compute(), np.float32)
        dec = coder.decode_chunks([data], indexes=[c])[0][tuple(slice(0, s.stop - s.start) for s in sel)]
        err = quality.chunk_errors(ref, dec, inp.record.n_optical, settings.sar_scale == "linear",
                                   settings.optical_nodata, settings.sar_nodata)
        samples[arr.metadata.encode_chunk_key(c)] = {**err, "lead": list(c[:-3])}
        if progress is not None:
            progress.step()
    return samples


def _sample_coords(plan: _Plan, chunk_shape, shape, n: int) -> list[tuple[int, ...]]:
    """The chunks sampled for quality: up to ``n`` over the window (``n`` per date when appending)."""
    ranges = [range(w.start // c, -(-w.stop // c)) for w, c in zip(plan.window, chunk_shape)]
    groups = [[range(i, i + 1), *ranges[1:]] for i in ranges[0]] if plan.labels else [ranges]
    return [c for g in groups for c in quality.sample_chunks(g, chunk_shape, shape, n)]


def _finish(results: list[dict], samples: dict, plan: _Plan, inp: _Input, job: dict) -> CubeRecord:
    """Merge this write into the group record, under the record lock; mark it complete when it is."""
    import zarr

    zstore = open_store(job["store_ref"])[0] if isinstance(job["store_ref"], str) else job["store_ref"]
    arr = _open_for_writing(job["store_ref"])
    with CubeLock(arr, None, purpose="record update", prefix=RECORD_PREFIX).acquire(wait=60):
        record = CubeRecord.from_attrs(dict(zarr.open_group(zstore, mode="r", use_consolidated=False).attrs)["geocodec"])
        written = {k: v for r in results for k, v in r.items()}
        record.fingerprints.update({k: v[0] for k, v in written.items()})
        record.quality_samples.update(samples)
        if plan.labels:
            by_date = {}
            for v in written.values():
                by_date.setdefault(v[3], 0)
                by_date[v[3]] += v[1]
            start = plan.window[0].start
            per_date_pixels = inp.shape[-2] * inp.shape[-1]
            acq = {a.label: a for a in record.acquisitions}
            for i, label in enumerate(plan.labels):
                mine = [s for s in samples.values() if s["lead"][:1] == [start + i]]
                q = quality.pooled(mine, by_date.get(start + i, 0), per_date_pixels)
                acq[label] = Acquisition(label, inp.settings.lmbda, inp.settings.target_bpp, inp.settings.gamma,
                                         inp.model, q, True)
            stored = _stored_labels(zstore, plan.record.append_dim)
            record.acquisitions = [acq[x] for x in stored if x in acq]
        total = math.prod(-(-s // c) for s, c in zip(arr.shape, arr.chunks))
        record.complete = len(record.fingerprints) >= total and (
            not record.append_dim or len(record.acquisitions) == arr.shape[0])
        if record.complete:
            pixels = math.prod(arr.shape[:-3]) * arr.shape[-2] * arr.shape[-1]
            record.quality = quality.pooled(list(record.quality_samples.values()), _stored_bytes(arr), pixels)
        set_codec_complete(arr, record.complete)
        _write_record(zstore, record)
    return record


def _stored_bytes(arr) -> int:
    from geocodec.cube.store import list_chunk_keys, stored_bytes

    return stored_bytes(arr, [k for k in list_chunk_keys(arr) if not k.startswith(".geocodec-")])


# ---------------------------------------------------------------------------- public API
def to_zarr(ds, store, *, mode: Mode = "w-", append_dim: str | None = None, region: dict[str, slice] | None = None,
            compute: bool = True, storage_options: dict | None = None, lmbda: float | None = None,
            target_bpp: float | None = None, gamma: float = 0.5, model: str = "default",
            chunks: int | dict[str, int] | None = None, shards: int | dict[str, int] | None = None,
            device: str = "auto", zarr_format: Literal[2, 3] = 3, optical_nodata: float | None = None,
            sar_nodata: float | None = None, sar_scale: Literal["db", "linear"] = "db",
            batch_chunks: int | None = None, overwrite: bool | None = None, progress: bool = True,
            quality_chunks: int = 4, stale_lock_after: float = DEFAULT_STALE_AFTER):
    """Compress ``ds`` (``optical`` and ``sar``, dims (..., band, y, x) on one grid) into a Zarr cube.

    Parameters
    ----------
    ds
        Dataset with ``optical`` (uint8/uint16/int16/float32) and ``sar`` (float32/float64, dB or linear).
    store
        Path, URL (``file://``, ``memory://``, ``s3://`` … through fsspec) or zarr Store.
    mode
        As in ``xarray.Dataset.to_zarr``: ``"w-"`` refuses an existing store, ``"w"`` replaces it,
        ``"a"`` resumes an interrupted write (rewriting only chunks whose input fingerprint, λ, γ or
        model differ from the request) or appends along ``append_dim``; ``"r+"`` only writes a region.
    append_dim
        Grow the cube along this (leading) dim, e.g. one acquisition date at a time. Each appended
        value gets its own λ, γ and quality in the record; another model or band set is an error.
    region
        ``{dim: slice}``: write ``ds`` into this window of an existing cube (chunk-aligned, or
        shard-aligned when sharded), e.g. from parallel processes.
    compute
        False: write the metadata now and return a ``dask.delayed`` object that writes the chunks
        and the record when computed, like xarray.
    storage_options
        fsspec options for a URL.
    lmbda, target_bpp
        The rate: exactly one of λ (in the model's range) or a target in bits per pixel.
    gamma
        γ ∈ [0, 1]: 1 favours optical fidelity, 0 SAR fidelity.
    model
        Registered model name or ``.safetensors`` path.
    chunks
        y/x chunk size (default 256) or ``{dim: size}`` (leading dims default to 1; bands never chunked).
    shards
        Zarr v3 sharding: y/x shard size (a multiple of the chunk size) or ``{dim: size}``; each
        shard is one object holding many independently decodable chunks.
    device
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda[:N]"``.
    zarr_format
        3 (native codec) or 2 (numcodecs compressor).
    optical_nodata, sar_nodata
        Nodata values (default: the arrays' rioxarray nodata); coded losslessly.
    sar_scale
        ``"db"`` or ``"linear"`` (σ0 in linear power, coded in dB).
    batch_chunks
        Chunks per Dask task and device batch when unsharded (default 4 on CPU, 16 on CUDA).
    overwrite
        Deprecated spelling of ``mode="w"``.
    progress
        Show a progress bar in chunks (bytes and bpp so far), quality measurement included.
    quality_chunks
        Chunks decoded to measure the record's quality (per date when appending).
    stale_lock_after
        Seconds after which another writer's unrenewed lock counts as stale and is taken over.

    Returns
    -------
    WriteResult or dask.delayed.Delayed
        What was written (counts, bytes, the record as a dict), or with ``compute=False`` the
        delayed write, which computes to the ``WriteResult``.
    """
    import dask.array as dsa

    from geocodec.registry import resolve_device

    if overwrite:
        mode = "w"
    if mode not in MODES:
        raise InvalidInputError(f"mode={mode!r}: use 'w-' (create), 'w' (replace), 'a' (resume or append) or 'r+'")
    if zarr_format not in (2, 3):
        raise InvalidInputError(f"zarr_format must be 2 or 3, got {zarr_format!r}")
    if region is not None and append_dim is not None:
        raise InvalidInputError("give region= or append_dim=, not both")
    if mode == "r+" and region is None:
        raise InvalidInputError("mode='r+' writes a region of an existing cube: pass region=")
    dev = resolve_device(device)
    inp = _validated_input(ds, model=model, lmbda=lmbda, target_bpp=target_bpp, gamma=gamma, chunks=chunks,
                           shards=shards, optical_nodata=optical_nodata, sar_nodata=sar_nodata, sar_scale=sar_scale,
                           append_dim=append_dim, device=str(dev))
    zstore, store_ref = open_store(store, storage_options=storage_options)
    where = str(store) if isinstance(store, (str, Path)) else type(store).__name__
    existing = _existing(zstore, where, mode)
    if mode == "w" and existing is not None:
        with CubeLock(_open_for_writing(store_ref), None, stale_after=stale_lock_after):
            pass  # refuses to wipe a cube another writer is writing
        existing = None
    plan = _plan(inp, existing, mode, append_dim, region, where)
    record = plan.record
    if plan.action != "create" and record.format_version < RECORD_FORMAT:
        raise InvalidInputError(f"{where} was written by geocodec 0.1 (record format {record.format_version}); it "
                                "reads as before, but to write into it, rewrite it with mode='w'")
    lock = None
    if plan.action == "create":
        record.cube_id = uuid.uuid4().hex
        _create_metadata(zstore, inp, record, zarr_format)
    else:  # lock first: nothing of a cube another writer is writing changes, not even its shape
        lock = _lock_for(store_ref, plan, stale_lock_after).acquire()
    try:
        if plan.action == "append":
            _append_metadata(zstore, inp, plan)
        elif plan.action != "create":
            _mark_writing(zstore, store_ref)
        if lock is None:
            lock = _lock_for(store_ref, plan, stale_lock_after).acquire()
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    from dataclasses import replace

    settings = replace(inp.settings, cube_id=record.cube_id)
    arr = _open_for_writing(store_ref)
    if codec_settings(arr).cube_id != record.cube_id:
        raise InvalidInputError(f"{where}: the array's codec names another cube than the record; rewrite it with "
                                "mode='w'")
    job = {"store_ref": store_ref, "settings": settings, "window_lo": tuple(w.start for w in plan.window),
           "store_chunk": store_chunk}
    joint = dsa.concatenate([_lazy(inp.opt), _lazy(inp.sar)], axis=-3)
    per_task = batch_chunks or DEFAULT_BATCH_CHUNKS["cuda" if dev.type == "cuda" else "cpu"]
    gate = None
    if not compute:  # metadata is written; the lock is taken again when (and where) the write is computed
        import dask

        lock.release()
        gate = dask.delayed(_take, pure=False)(lock)
    tasks, n_chunks = _tasks(joint, plan, inp, job, per_task, gate)

    def run(results=None, progress_bar=None, lock=lock):
        try:
            if results is None:
                results = _run(tasks, progress_bar, lock)
            if progress_bar is not None:
                progress_bar.stage("geocodec quality")
            samples = _measure(joint, plan, inp, job, quality_chunks, progress_bar)
            rec = _finish(results, samples, plan, inp, job)
        finally:
            lock.release()
        written = {k: v for r in results for k, v in r.items()}
        return WriteResult(store=store, chunks_total=n_chunks, chunks_written=sum(v[2] for v in written.values()),
                           chunks_reused=sum(not v[2] for v in written.values()),
                           bytes_stored=sum(v[1] for v in written.values()), record=rec.to_attrs())

    remove_partial_files(zstore)
    if not compute:
        return dask.delayed(lambda held, *results: run(list(results), lock=held), pure=False)(gate, *tasks)
    n_quality = len(_sample_coords(plan, tuple(arr.chunks), plan.array_shape, quality_chunks))
    bar = _Progress(n_chunks + n_quality, inp.chunk["y"] * inp.chunk["x"], progress)
    try:
        return run(progress_bar=bar)
    finally:
        bar.close()


def _take(lock: CubeLock) -> CubeLock:
    return lock.acquire()


def _lock_for(store_ref, plan: _Plan, stale_after: float) -> CubeLock:
    arr = _open_for_writing(store_ref)
    region = None if plan.action != "region" else [
        [w.start // c, -(-w.stop // c)] for w, c in zip(plan.window, arr.chunks)]
    return CubeLock(arr, region, stale_after=stale_after)


def _mark_writing(zstore, store_ref) -> None:
    """Record (and codec metadata) say 'incomplete' while chunks are being written."""
    import zarr

    arr = _open_for_writing(store_ref)
    with CubeLock(arr, None, purpose="record update", prefix=RECORD_PREFIX).acquire(wait=60):
        record = CubeRecord.from_attrs(dict(zarr.open_group(zstore, mode="r", use_consolidated=False).attrs)["geocodec"])
        record.complete = False
        set_codec_complete(arr, False)
        _write_record(zstore, record)


def _lazy(da):
    """A DataArray's data as a float32 Dask array (Dask-backed input stays lazy)."""
    import dask.array as dsa

    data = da.data if hasattr(da.data, "dask") else dsa.from_array(da.values, chunks=-1)
    return data.astype(np.float32)
