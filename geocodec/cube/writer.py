"""``to_zarr``: write an optical + SAR Dataset as a compressed Zarr cube, with xarray's semantics.

Why it looks like this: ``to_zarr`` is a list of short calls, in the order they run —
``plan.validated_input`` (checks, band order, settings), ``plan.plan_write`` (what the store holds
and what this call will write: create, resume, append or a region), ``scaling.plan_band_scaling``,
``metadata.create_metadata`` / ``append_metadata`` under the cube's lock (``lock.lock_for``),
``runner.block_tasks`` + ``runner.run_tasks`` (one Dask task per block: ``blocks.write_block``
fingerprints, keeps what is already right, encodes the rest in one device batch and stores through
Zarr's array API), then ``quality.measure`` and ``finish.finish_write`` (the record, under a short lock).

Chunks are stored with ``array[region] = values``: Zarr's own codec pipeline (and its
``ShardingCodec`` with ``shards=``) lays them out. The task encodes its chunks itself, batched and
with each chunk's position and the cube id in its frame, and hands the frames to the codec
(``frames.PREPARED``), since Zarr gives a codec no chunk position.

Layout and guarantees: docs/zarr-layout.md and docs/reliability.md ("Cube integrity").
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from geocodec.cube import quality
from geocodec.cube.blocks import store_chunk
from geocodec.cube.finish import finish_write
from geocodec.cube.lock import DEFAULT_STALE_AFTER, CubeLock, lock_for, take
from geocodec.cube.metadata import append_metadata, create_metadata, mark_writing, open_for_writing
from geocodec.cube.plan import Plan, existing_cube, plan_write, validated_input
from geocodec.cube.record import RECORD_FORMAT
from geocodec.cube.region import cube_settings, resolve_region
from geocodec.cube.runner import Progress, block_tasks, run_tasks
from geocodec.cube.scaling import ScalingMode, check_mode, plan_band_scaling
from geocodec.cube.optical_scale import OpticalScale
from geocodec.cube.store import codec_settings, open_store, remove_partial_files
from geocodec.errors import InvalidInputError
from geocodec.options import DEFAULT_BACKEND, Backend, SarScale

if TYPE_CHECKING:
    import xarray as xr
    from dask.delayed import Delayed
    from zarr.storage import StoreLike

Mode = Literal["w-", "w", "a", "r+"]
MODES = ("w-", "w", "a", "r+")
#: Chunks per Dask task (one device batch) when unsharded: more on a GPU, where batching pays.
DEFAULT_BATCH_CHUNKS = {"cpu": 4, "cuda": 16}


@dataclass
class WriteResult:
    """What ``to_zarr`` did: chunk counts, stored bytes and the group's ``geocodec`` record."""

    store: object
    chunks_total: int
    chunks_written: int
    chunks_reused: int
    bytes_stored: int
    record: dict

    def __repr__(self) -> str:  # the record holds a fingerprint per chunk: too long to print
        bpp = (self.record.get("quality") or {}).get("bpp")
        return (f"WriteResult(store={self.store!r}, chunks_total={self.chunks_total}, chunks_written="
                f"{self.chunks_written}, chunks_reused={self.chunks_reused}, bytes_stored={self.bytes_stored}, "
                f"complete={self.record.get('complete')}, bpp={bpp if bpp is None else round(bpp, 4)})")

    @classmethod
    def of(cls, store, n_chunks: int, results: list[dict], record: dict) -> WriteResult:
        written = {k: v for r in results for k, v in r.items()}  # key: [fingerprint, bytes, written?, lead]
        return cls(store=store, chunks_total=n_chunks, chunks_written=sum(v[2] for v in written.values()),
                   chunks_reused=sum(not v[2] for v in written.values()),
                   bytes_stored=sum(v[1] for v in written.values()), record=record)


#: Settings of a new cube that the caller leaves out (a write into an existing cube takes the cube's).
NEW_CUBE = {"model": "default", "gamma": 0.5, "refine_steps": 0, "sar_scale": "db"}


def default_mode(mode: Mode | None, append_dim: str | None, region) -> Mode:
    """xarray's default: ``"a"`` with ``append_dim``, ``"r+"`` with ``region``, else ``"w-"``."""
    if mode is not None:
        return mode
    return "a" if append_dim is not None else "r+" if region is not None else "w-"


def _check_modes(mode, zarr_format, region, append_dim) -> None:
    if mode not in MODES:
        raise InvalidInputError(f"mode={mode!r}: use 'w-' (create), 'w' (replace), 'a' (resume or append) or 'r+'")
    if zarr_format not in (2, 3):
        raise InvalidInputError(f"zarr_format must be 2 or 3, got {zarr_format!r}")
    if region is not None and append_dim is not None:
        raise InvalidInputError("give region= or append_dim=, not both")
    if mode == "r+" and region is None:
        raise InvalidInputError("mode='r+' writes a region of an existing cube: pass region=")


def _existing(zstore, store_ref, where: str, mode: Mode, stale_after: float):
    """The cube the store holds (None for ``mode="w"``, once no other writer holds it)."""
    existing = existing_cube(zstore, where, mode)
    if mode == "w" and existing is not None:
        with CubeLock(open_for_writing(store_ref), None, stale_after=stale_after):
            pass  # refuses to wipe a cube another writer is writing
        existing = None
    return existing


def _prepare_store(zstore, store_ref, inp, plan: Plan, zarr_format, stale_after: float) -> CubeLock:
    """Write or update the metadata, under the cube's lock; returns the lock, held."""
    record = plan.record
    lock = None
    if plan.action == "create":
        record.cube_id = uuid.uuid4().hex
        create_metadata(zstore, inp, record, zarr_format)
    else:  # lock first: nothing of a cube another writer is writing changes, not even its shape
        lock = lock_for(open_for_writing(store_ref), plan, stale_after).acquire()
    try:
        if plan.action == "append":
            append_metadata(zstore, inp, plan)
        elif plan.action != "create":  # a resume of an unappended cube may change refine_steps: the codec says so
            whole = plan.action == "resume" and plan.record.append_dim is None
            mark_writing(zstore, store_ref, inp.settings.refine_steps if whole else None)
        if lock is None:
            lock = lock_for(open_for_writing(store_ref), plan, stale_after).acquire()
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    return lock


def to_zarr(ds: xr.Dataset, store: str | os.PathLike | StoreLike, *, mode: Mode | None = None,
            append_dim: str | None = None, region: dict[str, slice] | Literal["auto"] | None = None,
            compute: bool = True, storage_options: dict | None = None, lmbda: float | None = None,
            target_bpp: float | None = None, gamma: float | str | None = None, model: str | None = None,
            chunks: int | dict[str, int] | None = None, shards: int | dict[str, int] | None = None,
            device: str = "auto", zarr_format: Literal[2, 3] = 3, optical_nodata: float | None = None,
            sar_nodata: float | None = None, sar_scale: SarScale | None = None,
            batch_chunks: int | None = None, overwrite: bool | None = None, progress: bool = True,
            quality_chunks: int = 4, stale_lock_after: float = DEFAULT_STALE_AFTER,
            scaling: ScalingMode | None = None, refine_steps: int | None = None,
            backend: Backend = DEFAULT_BACKEND, optical_scale: OpticalScale | None = None) -> WriteResult | Delayed:
    """Compress ``ds`` (``optical`` and ``sar``, dims (..., band, y, x) on one grid) into a Zarr cube.

    Parameters
    ----------
    ds
        Dataset with ``optical`` (uint8/uint16/int16/float32) and ``sar`` (float32/float64, dB or linear).
    store
        Path, URL (``file://``, ``memory://``, ``s3://`` … through fsspec) or zarr Store.
    mode
        As in ``xarray.Dataset.to_zarr``: ``"w-"`` refuses an existing store, ``"w"`` replaces it,
        ``"a"`` resumes an interrupted write (rewriting only chunks that are missing or whose input
        differs) or appends along ``append_dim``; ``"r+"`` only writes a region. Default (None) as
        xarray's: ``"a"`` with ``append_dim``, ``"r+"`` with ``region``, else ``"w-"``. A cube keeps
        one λ, γ and ``refine_steps``, except that each appended date has its own: ``"a"`` with
        another λ or γ is refused on a cube that is not appended (``"w"`` replaces it), and
        rewrites every chunk of the date when re-running a date of an appended cube.
    append_dim
        Grow the cube along this (leading) dim, e.g. one acquisition date at a time. Each appended
        value gets its own λ, γ and quality in the record; another model or band set is an error.
    region
        ``{dim: slice}``: write ``ds`` into this window of an existing cube (chunk-aligned, or
        shard-aligned when sharded), e.g. from parallel processes; ``"auto"`` (or ``"auto"`` for
        one dim) finds the window from ``ds``'s coordinates, as xarray does.
    compute
        False: write the metadata now and return a ``dask.delayed`` object that writes the chunks
        and the record when computed, like xarray.
    storage_options
        fsspec options for a URL.
    lmbda, target_bpp
        The rate: exactly one of λ (in the model's range) or a target in bits per pixel.
        Settings left out (None) of a write into an existing cube (``mode="a"`` or ``"r+"``) are
        the cube's: a region's date or, appending, the last date; this holds for λ / target bpp,
        ``gamma``, ``model``, ``refine_steps``, ``sar_scale`` and the nodata values.
    gamma
        γ ∈ [0, 1]: 1 favours optical fidelity, 0 SAR fidelity (default 0.5 for a new cube);
        ``"learned"``: a task-finetuned model's learned γ at the cube's λ (needs ``lmbda``; recorded as that number).
    model
        Registered model name or ``.safetensors`` path (default ``"default"`` for a new cube).
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
    optical_scale
        What the optical numbers are: ``"reflectance-x10000"`` (Sentinel-2 integers), ``"reflectance"``
        (0…1) or ``"8bit"``; the record's PSNR peak and the readers' units follow it. ``None``
        guesses from the dtype and the values (``geocodec.cube.optical_scale``; a warning where ambiguous).
    sar_scale
        ``"db"`` (default for a new cube) or ``"linear"`` (σ0 in linear power, coded in dB).
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
    scaling
        ``"cube"`` (default for a new cube): one per-band scaling for the whole cube (per acquisition
        when appending), fitted on a sample of the input and stored in the record, so the engine
        decodes chunks without seams; ``"chunk"``: each chunk its own (geocodec 0.1). None: ``"cube"``
        for a new cube, the stored choice when resuming or appending.
    refine_steps
        Encode-time latent refinement steps (``geocodec.compress``): more quality per bit, slower
        encoding (each step costs about one encode on CPU: 20 steps ≈ 17× the encode time, benchmarks/refinement.py); 0 (default) is off. Readers never need
        it; the record keeps it (per date when appending). A resume with another value re-encodes
        the chunks; a region write must use the cube's.
    backend
        What runs the analysis transform (``geocodec.compress``): ``"auto"`` (default: bf16
        where native, else fp32), ``"torch"`` (fp32), ``"torch-bf16"``, ``"onnx"`` or ``"onnx-int8"`` (ONNX Runtime on a CPU, ``geocodec[fast]``). A runtime choice like ``device``:
        the chunks are ordinary chunks, and it is not stored.

    Returns
    -------
    WriteResult or dask.delayed.Delayed
        What was written (counts, bytes, the record as a dict), or with ``compute=False`` the
        delayed write, which computes to the ``WriteResult``.
    """
    import dask.array as dsa

    from geocodec.registry import resolve_device

    mode = "w" if overwrite else default_mode(mode, append_dim, region)
    _check_modes(mode, zarr_format, region, append_dim)
    dev = resolve_device(device)
    zstore, store_ref = open_store(store, storage_options=storage_options)
    where = str(store) if isinstance(store, (str, Path)) else type(store).__name__
    existing = _existing(zstore, store_ref, where, mode, stale_lock_after)
    if region is not None:
        ds, region = resolve_region(region, ds, existing, where)
    given = {"model": model, "lmbda": lmbda, "target_bpp": target_bpp, "gamma": gamma, "refine_steps": refine_steps,
             "sar_scale": sar_scale, "optical_nodata": optical_nodata, "sar_nodata": sar_nodata}
    coding = {**NEW_CUBE, **{k: v for k, v in (cube_settings(existing, region, given) if mode in ("a", "r+")
                                                 else given).items() if v is not None}}
    inp = validated_input(ds, chunks=chunks, shards=shards, append_dim=append_dim, device=str(dev), backend=backend,
                          optical_scale=optical_scale, **{"lmbda": None, "target_bpp": None, "optical_nodata": None, "sar_nodata": None, **coding})
    plan = plan_write(inp, existing, mode, append_dim, region, where)
    if plan.action != "create" and plan.record.format_version < RECORD_FORMAT:
        raise InvalidInputError(f"{where} was written by geocodec 0.1 (record format {plan.record.format_version}); "
                                "it reads as before, but to write into it, rewrite it with mode='w'")
    joint = dsa.concatenate([_lazy(inp.opt), _lazy(inp.sar)], axis=-3)
    band_scaling = plan_band_scaling(plan, inp, joint, check_mode(scaling), where, zstore)
    lock = _prepare_store(zstore, store_ref, inp, plan, zarr_format, stale_lock_after)
    settings = replace(inp.settings, cube_id=plan.record.cube_id)
    arr = open_for_writing(store_ref)
    if codec_settings(arr).cube_id != plan.record.cube_id:
        lock.release()
        raise InvalidInputError(f"{where}: the array's codec names another cube than the record; rewrite it with "
                                "mode='w'")
    job = {"store_ref": store_ref, "settings": settings, "window_lo": tuple(w.start for w in plan.window),
           "store_chunk": store_chunk, "band_scaling": band_scaling}
    per_task = batch_chunks or DEFAULT_BATCH_CHUNKS["cuda" if dev.type == "cuda" else "cpu"]
    gate = None
    if not compute:  # metadata is written; the lock is taken again when (and where) the write is computed
        import dask

        lock.release()
        gate = dask.delayed(take, pure=False)(lock)
    tasks, n_chunks = block_tasks(joint, plan, inp, job, per_task, gate)

    def run(results=None, progress_bar=None, lock=lock):
        try:
            if results is None:
                results = run_tasks(tasks, progress_bar, lock)
            if progress_bar is not None:
                progress_bar.stage("geocodec quality")
            samples = quality.measure(joint, plan, inp, job, quality_chunks, progress_bar)
            rec = finish_write(results, samples, plan, inp, job)
        finally:
            lock.release()
        return WriteResult.of(store, n_chunks, results, rec.to_attrs())

    remove_partial_files(zstore)
    if not compute:
        return dask.delayed(lambda held, *results: run(list(results), lock=held), pure=False)(gate, *tasks)
    n_quality = len(quality.sample_coords(plan, tuple(arr.chunks), plan.array_shape, quality_chunks))
    bar = Progress(n_chunks + n_quality, inp.chunk["y"] * inp.chunk["x"], progress)
    try:
        return run(progress_bar=bar)
    finally:
        bar.close()


def _lazy(da):
    """A DataArray's data as a float32 Dask array (Dask-backed input stays lazy)."""
    import dask.array as dsa

    data = da.data if hasattr(da.data, "dask") else dsa.from_array(da.values, chunks=-1)
    return data.astype(np.float32)
