"""``to_zarr``: write an optical + SAR Dataset as one compressed Zarr cube, chunk-wise through Dask.

Layout (docs/zarr-layout.md): one group, joint float32 array ``pair`` (..., band, y, x) with the
optical bands then the SAR bands, compressed with the geocodec codec; band/y/x(/time) coords;
a rioxarray-style ``spatial_ref``; the group attrs record ``geocodec``.

How it runs: the metadata is written first (through xarray, so plain ``xr.open_zarr`` reads
the store), then one Dask task per *block* of chunks encodes all the block's chunks in one
device batch and stores each chunk atomically (Zarr's local store writes a temp file and
renames it). Tasks run on local threads, or on the active ``dask.distributed`` Client.

Resumable: a re-run with the same settings verifies every stored chunk (frame CRC, shape,
model) and writes only the chunks that are missing or invalid, so a chunk cut short by an
interruption is never taken as valid. The record's ``complete`` flag turns true (and the
``quality`` sample is measured) only when every chunk is stored.
"""

from __future__ import annotations

import itertools
import math
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geocodec.codec import OPTICAL_DTYPES, SAR_DTYPES, SAR_SCALES, _check_gamma, _check_rate
from geocodec.errors import GeocodecError, InvalidInputError
from geocodec.io import canonical_band
from geocodec.registry import load_model, resolve_device
from geocodec.zarr_store import (ARRAY, delete_chunk, list_chunk_keys, open_array, open_store, read_chunk,
                                 remove_partial_files, write_chunk)
from numcodecs_plugin.chunk_coder import ChunkCoder
from numcodecs_plugin.settings import CodecSettings

FORMAT_VERSION = 1
DEFAULT_CHUNK = 256
#: Chunks per Dask task (one device batch): more on a GPU, where batching pays.
DEFAULT_BATCH_CHUNKS = {"cpu": 4, "cuda": 16}
#: Record fields that must agree for a re-run to resume into an existing store.
_RESUME_KEYS = ("format_version", "model", "lmbda", "target_bpp", "gamma", "optical_bands", "sar_bands",
                "optical_dtype", "sar_dtype", "sar_scale", "optical_nodata", "sar_nodata", "array", "chunks")


@dataclass
class WriteResult:
    """What ``to_zarr`` did: chunk counts, stored bytes and the group's ``geocodec`` record."""

    store: object
    chunks_total: int
    chunks_written: int
    chunks_reused: int
    bytes_stored: int
    record: dict


# ---------------------------------------------------------------------------- input checks


def _band_order(da, which: str, model_bands: tuple[str, ...]) -> list[int]:
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


def _crs_and_transform(da):
    try:
        crs = da.rio.crs
    except Exception:  # noqa: BLE001 - rioxarray raises several types on odd grid mappings
        crs = None
    try:
        transform = da.rio.transform(recalc=False)
    except Exception:  # noqa: BLE001
        transform = None
    return crs, transform


def _check_grid(ds) -> None:
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
    (crs_o, tr_o), (crs_s, tr_s) = _crs_and_transform(opt), _crs_and_transform(sar)
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


def _nodata(value, da) -> float | None:
    if value is None:
        try:
            value = da.rio.nodata
        except Exception:  # noqa: BLE001
            value = None
    if value is None:
        return None
    v = float(value)
    return None if math.isnan(v) else v


def _chunk_sizes(chunks, dims: tuple[str, ...], shape: tuple[int, ...]) -> dict[str, int]:
    band_dim = dims[-3]
    sizes = {d: 1 for d in dims[:-3]}
    sizes.update({band_dim: shape[-3], "y": DEFAULT_CHUNK, "x": DEFAULT_CHUNK})
    if chunks is None:
        pass
    elif isinstance(chunks, (int, np.integer)) and not isinstance(chunks, bool):
        sizes.update(y=int(chunks), x=int(chunks))
    elif isinstance(chunks, dict):
        for k, v in chunks.items():
            if k not in sizes:
                raise InvalidInputError(f"chunks: unknown dim {k!r}; dims are {list(dims)}")
            if k == band_dim and v not in (-1, shape[-3]):
                raise InvalidInputError("chunks: the band axis is never chunked (every chunk holds all bands)")
            sizes[k] = shape[dims.index(k)] if v == -1 else v
    else:
        raise InvalidInputError(f"chunks must be None, an int (y and x size) or a dict {{dim: size}}; got {chunks!r}")
    for k, v in sizes.items():
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise InvalidInputError(f"chunks: size of {k!r} must be a positive int, got {v!r}")
        sizes[k] = int(min(v, shape[dims.index(k)]))
    return sizes


# ---------------------------------------------------------------------------- chunk grid
def _grid(shape, chunk_shape):
    return tuple(-(-s // c) for s, c in zip(shape, chunk_shape))


def _chunk_region(coords, shape, chunk_shape):
    return tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(coords, chunk_shape, shape))


def _release_free_memory() -> None:
    """Hand freed heap pages back to the OS (glibc only; a no-op elsewhere).

    glibc raises its mmap threshold after large frees, so later activations come from the heap
    and its free pages stay resident: without this, peak RSS creeps up over a long write even
    though the working set per task is constant (benchmarks/memory.py shows both).
    """
    global _malloc_trim
    if _malloc_trim is None:
        try:
            import ctypes

            _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim = None


def _write_block(block: np.ndarray, origin: tuple[int, ...], todo: list[tuple[int, ...]], store_ref, config: dict,
                 device: str) -> dict[str, int]:
    """Dask task: encode the block's chunks listed in ``todo`` in one batch and store them."""
    arr = open_array(store_ref)
    chunk_shape, shape = arr.chunks, arr.shape
    chunks = []
    for coords in todo:
        region = _chunk_region(coords, shape, chunk_shape)
        local = tuple(slice(r.start - o, r.stop - o) for r, o in zip(region, origin))
        c = np.full(chunk_shape, np.nan, dtype=np.float32)
        c[tuple(slice(0, r.stop - r.start) for r in region)] = block[local]
        chunks.append(c)
    coder = ChunkCoder(CodecSettings(**config), device=device, batch_size=max(16, len(chunks)))
    frames = coder.encode_chunks(chunks)
    sizes = {}
    for coords, data in zip(todo, frames):
        key = arr.metadata.encode_chunk_key(coords)
        write_chunk(arr, key, data)
        sizes[key] = len(data)
    del chunks, frames
    _release_free_memory()
    return sizes


def _existing_chunks(arr, coder: ChunkCoder, expected: dict[str, tuple[int, ...]]) -> tuple[dict[str, int], int]:
    """Verify stored chunks; delete the invalid ones. → ({key: size} of valid chunks, n invalid)."""
    valid, invalid = {}, 0
    for key in sorted(list_chunk_keys(arr) & set(expected)):
        data = read_chunk(arr, key)
        try:
            coder.parse(data, expected_shape=arr.chunks)
        except GeocodecError:
            delete_chunk(arr, key)
            invalid += 1
            continue
        valid[key] = len(data)
    return valid, invalid


# ---------------------------------------------------------------------------- running tasks
def _run(tasks, progress: bool, desc: str) -> list:
    """Compute delayed tasks on the active distributed Client, else local threads, with a progress bar."""
    import dask
    from tqdm.auto import tqdm

    if not tasks:
        return []
    try:
        from distributed import default_client

        client = default_client()
    except (ImportError, ValueError):
        client = None
    bar = tqdm(total=len(tasks), desc=desc, unit="task", disable=not progress)
    try:
        if client is not None:
            from distributed import as_completed

            futures = client.compute(tasks)
            index = {f.key: i for i, f in enumerate(futures)}
            out = [None] * len(futures)
            for f in as_completed(futures):
                out[index[f.key]] = f.result()
                bar.update(1)
            return out
        from dask.callbacks import Callback

        names = {t.key for t in tasks}

        class _Progress(Callback):
            def _posttask(self, key, result, dsk, state, worker_id):
                if key in names:
                    bar.update(1)

        # our own pool, so that when one task fails no other is still writing once we return
        pool = ThreadPoolExecutor(dask.config.get("num_workers", None) or os.cpu_count() or 1)
        try:
            with _Progress():
                return list(dask.compute(*tasks, scheduler="threads", pool=pool))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    finally:
        bar.close()


# ---------------------------------------------------------------------------- quality sample
def _sample_chunks(grid, shape, chunk_shape, n: int) -> list[tuple[int, ...]]:
    """Up to ``n`` chunk coordinates spread over the grid, full-size chunks first."""
    all_coords = list(itertools.product(*(range(g) for g in grid)))
    full = [c for c in all_coords
            if all((i + 1) * cs <= s for i, cs, s in zip(c, chunk_shape, shape))]
    pool = full or all_coords
    if len(pool) <= n:
        return pool
    picks = np.linspace(0, len(pool) - 1, n).round().astype(int)
    return [pool[i] for i in sorted(set(picks.tolist()))]


def _quality(arr, joint, coder: ChunkCoder, n_opt: int, settings: CodecSettings, n_samples: int,
             bytes_stored: int, pixels: int) -> dict:
    from geocodec.metrics import PEAK_OPTICAL, PEAK_SAR_DB, SAR_DB_MIN, ms_ssim
    from geocodec.normalize import linear_to_db

    chunk_shape, shape = arr.chunks, arr.shape
    coords = _sample_chunks(_grid(shape, chunk_shape), shape, chunk_shape, n_samples)
    sq = {"optical": [0.0, 0], "sar": [0.0, 0]}
    ssim = {"optical": [], "sar": []}
    for c in coords:
        region = _chunk_region(c, shape, chunk_shape)
        ref = np.asarray(joint[region].compute(), np.float64).reshape(-1, *[r.stop - r.start for r in region[-3:]])
        data = read_chunk(arr, arr.metadata.encode_chunk_key(c))
        dec = coder.decode_chunks([data])[0]
        dec = dec[tuple(slice(0, r.stop - r.start) for r in region)].astype(np.float64).reshape(ref.shape)
        for which, sl in (("optical", slice(0, n_opt)), ("sar", slice(n_opt, None))):
            r, t = ref[:, sl], dec[:, sl]
            if which == "sar" and settings.sar_scale == "linear":
                r, t = linear_to_db(r), linear_to_db(t)
            valid = np.isfinite(r) & np.isfinite(t)
            nodata = settings.optical_nodata if which == "optical" else settings.sar_nodata
            if nodata is not None:
                valid &= ref[:, sl] != nodata
            d = (r - t)[valid]
            sq[which][0] += float(np.sum(d * d))
            sq[which][1] += int(d.size)
            if min(r.shape[-2:]) >= 161:
                for ri, ti in zip(r, t):
                    if which == "optical":
                        v = ms_ssim(ri, ti, PEAK_OPTICAL)
                    else:
                        v = ms_ssim(ri - SAR_DB_MIN, ti - SAR_DB_MIN, PEAK_SAR_DB)
                    if v is not None:
                        ssim[which].append(v)

    def _psnr(which, peak):
        s, n = sq[which]
        if n == 0:
            return None
        return math.inf if s == 0 else 10 * math.log10(peak * peak / (s / n))

    return {
        "bpp": 8 * bytes_stored / (2 * pixels),
        "psnr_optical": _psnr("optical", PEAK_OPTICAL),
        "psnr_sar": _psnr("sar", PEAK_SAR_DB),
        "ms_ssim_optical": float(np.mean(ssim["optical"])) if ssim["optical"] else None,
        "ms_ssim_sar": float(np.mean(ssim["sar"])) if ssim["sar"] else None,
        "sampled_chunks": len(coords),
        "psnr_peak_optical": PEAK_OPTICAL,
        "psnr_peak_sar": PEAK_SAR_DB,
    }


def _software() -> dict:
    import compressai
    import torch
    import zarr

    import geocodec

    return {"geocodec": geocodec.__version__, "torch": torch.__version__, "compressai": compressai.__version__,
            "zarr": zarr.__version__}


def _write_metadata(store, ds_template, encoding, zarr_format: int) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Consolidated metadata.*")
        ds_template.to_zarr(store, mode="w", compute=False, zarr_format=zarr_format, encoding=encoding,
                            consolidated=False)


def _update_record(store, record: dict) -> None:
    import zarr

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Consolidated metadata.*")
        g = zarr.open_group(store, mode="r+")
        g.attrs["geocodec"] = record
        zarr.consolidate_metadata(store)


def _can_resume(zstore, store, record: dict, shape, ds, overwrite: bool) -> bool:
    """True when ``store`` holds this very cube (same settings and grid), interrupted or not.

    Anything else already there is an error unless ``overwrite``: a store is never replaced by
    accident. A cube whose write stopped before its metadata was complete is simply rewritten.
    """
    import zarr

    root = getattr(zstore, "root", None)
    try:
        existing = zarr.open_group(zstore, mode="r")
        old = dict(existing.attrs).get("geocodec")
    except Exception:  # noqa: BLE001 - nothing (readable) there
        existing, old = None, None
    if overwrite:
        return False
    if existing is None:
        if root is not None and Path(root).exists() and any(Path(root).iterdir()):
            raise InvalidInputError(f"{root} exists and is not a Zarr store; pass overwrite=True to replace it")
        return False
    if old is None:
        raise InvalidInputError(f"{store} already holds a Zarr group that is not a geocodec cube; "
                                "pass overwrite=True to replace it")
    diff = [k for k in _RESUME_KEYS if old.get(k) != record[k]]
    try:
        same_grid = tuple(existing[ARRAY].shape) == tuple(shape) and all(
            np.array_equal(existing[d][:], ds[d].values) for d in ("y", "x") if d in ds.coords)
    except KeyError:  # the metadata write itself was cut short
        if not old.get("complete") and not diff:
            return False
        same_grid = False
    if diff or not same_grid:
        raise InvalidInputError(
            f"{store} already holds a different geocodec cube ({', '.join(diff) or 'shape or grid'} differ); "
            "pass overwrite=True to replace it, or write elsewhere")
    record["software"] = old.get("software", record["software"])
    return True


# ---------------------------------------------------------------------------- public API
def to_zarr(ds, store, *, lmbda=None, target_bpp=None, gamma=0.5, model="default", chunks=None, device="auto",
            zarr_format=3, optical_nodata=None, sar_nodata=None, sar_scale="db", batch_chunks=None,
            overwrite=False, progress=True, quality_chunks=4) -> WriteResult:
    """Compress ``ds`` (``optical`` and ``sar`` DataArrays, dims (..., band, y, x) on one grid) into a Zarr cube.

    ``chunks``: an int (y/x size, default 256) or ``{dim: size}`` (leading dims default to 1; the
    band axis is never chunked). ``batch_chunks``: chunks per Dask task and device batch.
    Re-running on an interrupted store resumes it; ``overwrite=True`` replaces any store.
    ``optical_nodata``/``sar_nodata`` default to the arrays' rioxarray nodata.
    """
    import dask.array as dsa
    import xarray as xr
    import zarr

    if not isinstance(ds, xr.Dataset) or "optical" not in ds or "sar" not in ds:
        raise InvalidInputError("ds must be an xarray Dataset with 'optical' and 'sar' DataArrays "
                                "(geocodec.open_pair builds one from GeoTIFFs)")
    if zarr_format not in (2, 3):
        raise InvalidInputError(f"zarr_format must be 2 or 3, got {zarr_format!r}")
    if sar_scale not in SAR_SCALES:
        raise InvalidInputError(f"sar_scale={sar_scale!r}: use 'db' or 'linear'")
    gamma = _check_gamma(gamma)
    _check_grid(ds)
    dev = resolve_device(device)
    m = load_model(model, str(dev))
    opt, sar = ds["optical"], ds["sar"]
    for name, model_bands in (("optical", m.optical_bands), ("sar", m.sar_bands)):
        da_ = opt if name == "optical" else sar
        order = _band_order(da_, name, model_bands)
        if order != list(range(len(order))):  # reorder only when needed (numpy fancy indexing copies)
            da_ = da_.isel({da_.dims[-3]: order})
        opt, sar = (da_, sar) if name == "optical" else (opt, da_)
    if opt.dtype.name not in OPTICAL_DTYPES:
        raise InvalidInputError(f"optical has dtype {opt.dtype.name}; supported: {', '.join(OPTICAL_DTYPES)}")
    if sar.dtype.name not in SAR_DTYPES:
        raise InvalidInputError(f"sar has dtype {sar.dtype.name}; supported: {', '.join(SAR_DTYPES)}")

    lead_dims = tuple(opt.dims[:-3])
    dims = (*lead_dims, "band", "y", "x")
    n_opt, n_sar = len(m.optical_bands), len(m.sar_bands)
    shape = (*opt.shape[:-3], n_opt + n_sar, *opt.shape[-2:])
    sizes = _chunk_sizes(chunks, (*lead_dims, opt.dims[-3], "y", "x"), shape)
    sizes["band"] = sizes.pop(opt.dims[-3])
    chunk_shape = tuple(sizes[d] for d in dims)
    lmbda, target_bpp = _check_rate(m, lmbda, target_bpp)
    model_ref = model if isinstance(model, (str, Path)) else m.name
    settings = CodecSettings(
        model=str(model_ref), model_version=m.version, model_sha256=m.sha256, lmbda=lmbda, target_bpp=target_bpp,
        gamma=gamma, optical_bands=n_opt, optical_dtype=opt.dtype.name, sar_scale=sar_scale,
        optical_nodata=_nodata(optical_nodata, ds["optical"]), sar_nodata=_nodata(sar_nodata, ds["sar"]))

    record = {
        "format_version": FORMAT_VERSION,
        "model": {"name": m.name, "version": m.version, "sha256": m.sha256},
        "lmbda": settings.lmbda, "target_bpp": settings.target_bpp, "gamma": gamma,
        "optical_bands": list(m.optical_bands), "sar_bands": list(m.sar_bands),
        "optical_dtype": opt.dtype.name, "sar_dtype": sar.dtype.name, "sar_scale": sar_scale,
        "optical_nodata": settings.optical_nodata, "sar_nodata": settings.sar_nodata,
        "array": ARRAY, "chunks": {d: sizes[d] for d in dims}, "complete": False, "quality": None,
        "software": _software(),
    }

    zstore, store_ref = open_store(store)
    resume = _can_resume(zstore, store, record, shape, ds, overwrite)

    # the joint array, lazily, in blocks of by × bx chunks (one task each): optical then SAR bands, float32
    per_task = batch_chunks or DEFAULT_BATCH_CHUNKS["cuda" if dev.type == "cuda" else "cpu"]
    by = max(1, int(math.sqrt(per_task)))
    bx = max(1, per_task // by)
    block_shape = (*chunk_shape[:-2], chunk_shape[-2] * by, chunk_shape[-1] * bx)

    def blocks_of(da_, n_bands):
        if hasattr(da_.data, "dask"):
            return da_.data
        return dsa.from_array(da_.values, chunks=(*block_shape[:-3], n_bands, *block_shape[-2:]))

    joint = dsa.concatenate([blocks_of(opt, n_opt).astype(np.float32), blocks_of(sar, n_sar).astype(np.float32)],
                            axis=-3).rechunk(block_shape)

    if not resume:
        coords = {"band": ("band", np.array(list(m.optical_bands) + list(m.sar_bands), dtype=object))}
        for d in (*lead_dims, "y", "x"):
            if d in ds.coords:
                coords[d] = ds.coords[d].variable
        template = xr.Dataset({ARRAY: (dims, dsa.empty(shape, chunks=chunk_shape, dtype=np.float32))}, coords=coords)
        crs, transform = _crs_and_transform(ds["optical"])
        if crs is not None:
            template = template.rio.write_crs(crs)
            if transform is not None:
                template = template.rio.write_transform(transform)
            template[ARRAY].attrs["grid_mapping"] = "spatial_ref"
            template[ARRAY].encoding["coordinates"] = "spatial_ref"
        template.attrs["geocodec"] = record
        if zarr_format == 3:
            from numcodecs_plugin.zarr_codec import GeocodecZarrCodec

            enc = {"serializer": GeocodecZarrCodec(settings=settings), "compressors": None}
        else:
            from numcodecs_plugin.numcodecs_codec import GeocodecCodec

            enc = {"compressors": [GeocodecCodec(**settings.to_config())]}
        encoding = {ARRAY: {"chunks": chunk_shape, "_FillValue": np.nan, **enc}}
        _write_metadata(zstore, template, encoding, zarr_format)

    arr = zarr.open_group(zstore, mode="r+")[ARRAY]
    grid = _grid(shape, chunk_shape)

    expected = {arr.metadata.encode_chunk_key(c): c for c in itertools.product(*(range(g) for g in grid))}
    verify_coder = ChunkCoder(settings, device=str(dev))
    valid, _ = _existing_chunks(arr, verify_coder, expected) if resume else ({}, 0)
    if resume:
        remove_partial_files(zstore)

    import dask

    blocks = joint.to_delayed()
    ratio = [b // c for b, c in zip(block_shape, chunk_shape)]
    tasks = []
    config = settings.to_config()
    for bidx in itertools.product(*(range(n) for n in blocks.shape)):
        origin = tuple(i * b for i, b in zip(bidx, block_shape))
        todo = []
        for sub in itertools.product(*(range(r) for r in ratio)):
            c = tuple(i * r + s for i, r, s in zip(bidx, ratio, sub))
            if all(ci < g for ci, g in zip(c, grid)) and arr.metadata.encode_chunk_key(c) not in valid:
                todo.append(c)
        if todo:
            name = f"geocodec-write-{'-'.join(map(str, bidx))}-{dask.base.tokenize(store_ref, todo, config)}"
            tasks.append(dask.delayed(_write_block, pure=False)(
                blocks[bidx], origin, todo, store_ref, config, str(dev), dask_key_name=name))
    if resume and tasks:
        _update_record(zstore, {**record, "complete": False, "quality": None})
    written = {}
    for sizes_ in _run(tasks, progress, desc="geocodec encode"):
        written.update(sizes_)
    stored = {**valid, **written}
    missing = set(expected) - set(stored)
    if missing:
        raise GeocodecError(f"{len(missing)} chunks were not written (e.g. {sorted(missing)[:3]}); re-run to resume")
    pixels = math.prod(shape[:-3]) * shape[-2] * shape[-1]
    record["quality"] = _quality(arr, joint, verify_coder, n_opt, settings, quality_chunks,
                                 sum(stored.values()), pixels)
    record["complete"] = True
    _update_record(zstore, record)
    return WriteResult(store=store, chunks_total=len(expected), chunks_written=len(written),
                       chunks_reused=len(valid), bytes_stored=sum(stored.values()), record=record)
