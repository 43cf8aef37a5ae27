"""``to_zarr``: write an optical + SAR Dataset as a compressed Zarr cube, with xarray's semantics.

Why it looks like this: the steps are small functions, in the order they run —
``plan.validated_input`` (checks, band order, settings), ``plan.plan_write`` (what the store holds
and what this call will write: create, resume, append or a region), ``metadata.create_metadata`` /
``metadata.append_metadata``, one Dask task per block (``_write_block``: fingerprint, keep what is
already right, encode the rest in one device batch, store through Zarr's array API),
``_measure`` and ``_finish`` (the record, under a short lock).

Chunks are stored with ``array[region] = values``: Zarr's own codec pipeline (and its
``ShardingCodec`` with ``shards=``) lays them out. The task encodes its chunks itself, batched and
with each chunk's position and the cube id in its frame, and hands the frames to the codec
(``chunks.PREPARED``), since Zarr gives a codec no chunk position.

Layout and guarantees: docs/zarr-layout.md and docs/reliability.md ("Cube integrity").
"""

from __future__ import annotations

import itertools
import math
import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from geocodec.cube import quality
from geocodec.cube.chunks import PREPARED, ChunkCoder, content_hash, fingerprint_of
from geocodec.cube.lock import DEFAULT_STALE_AFTER, RECORD_PREFIX, CubeLock
from geocodec.cube.metadata import append_metadata, create_metadata, mark_writing, open_for_writing, write_record
from geocodec.cube.plan import Plan, WriteInput, existing_cube, plan_write, stored_labels, validated_input
from geocodec.cube.record import RECORD_FORMAT, Acquisition, CubeRecord
from geocodec.cube.scaling import ScalingMode, check_mode, fit_band_scaling
from geocodec.cube.store import codec_settings, open_store, read_frames, remove_partial_files, set_codec_complete
from geocodec.errors import GeocodecError, InvalidInputError
from geocodec.options import SarScale
from geocodec.settings import CodecSettings

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
    arr = open_for_writing(job["store_ref"])
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
    scales = [_scaling_for(job, c) for c in coords]
    fps = [fingerprint_of(h, settings, sc) for h, sc in zip(contents, scales)]
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
    groups: dict[int, list[int]] = {}  # chunks coded on one scale share a batch
    for k in todo:
        groups.setdefault(id(scales[k]), []).append(k)
    for part in groups.values():
        frames = coder.encode_chunks([chunks[k] for k in part], indexes=[coords[k] for k in part],
                                     scaling=scales[part[0]])
        for k, frame in zip(part, frames):
            job["store_chunk"](arr, coords[k], chunks[k], contents[k], frame, settings.cube_id)
            out[arr.metadata.encode_chunk_key(coords[k])] = [fps[k], len(frame), True, coords[k][0]]
    if lock is not None:  # compute=False: the tasks keep the lock fresh themselves
        lock.renew()
    del chunks, stored
    _release_free_memory()
    return out


def _scaling_for(job: dict, coord: tuple[int, ...]):
    """The per-band scaling chunk ``coord`` is coded with: the cube's, its acquisition's, or None (its own)."""
    scalings = job.get("band_scaling") or {}
    return scalings.get(None, scalings.get(coord[0]) if len(coord) > 3 else None)


_malloc_trim = None


def _release_free_memory() -> None:
    """Hand freed heap pages back to the OS after a task (glibc only; a no-op elsewhere).

    glibc raises its mmap threshold after large frees, so later activations come from the heap and
    its free pages stay resident: without this, peak RSS creeps up over a long write although the
    working set per task is constant (benchmarks/memory.py).
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


def _tasks(joint, plan: Plan, inp: WriteInput, job: dict, batch_chunks: int, gate=None):
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
def _measure(joint, plan: Plan, inp: WriteInput, job: dict, n_samples: int, progress: _Progress | None) -> dict:
    """Per-chunk error sums of up to ``n_samples`` chunks of the window (per date when appending)."""
    arr = open_for_writing(job["store_ref"])
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


def _sample_coords(plan: Plan, chunk_shape, shape, n: int) -> list[tuple[int, ...]]:
    """The chunks sampled for quality: up to ``n`` over the window (``n`` per date when appending)."""
    ranges = [range(w.start // c, -(-w.stop // c)) for w, c in zip(plan.window, chunk_shape)]
    groups = [[range(i, i + 1), *ranges[1:]] for i in ranges[0]] if plan.labels else [ranges]
    return [c for g in groups for c in quality.sample_chunks(g, chunk_shape, shape, n)]


def _finish(results: list[dict], samples: dict, plan: Plan, inp: WriteInput, job: dict) -> CubeRecord:
    """Merge this write into the group record, under the record lock; mark it complete when it is."""
    import zarr

    zstore = open_store(job["store_ref"])[0] if isinstance(job["store_ref"], str) else job["store_ref"]
    arr = open_for_writing(job["store_ref"])
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
                sc = (job.get("band_scaling") or {}).get(start + i)
                acq[label] = Acquisition(label, inp.settings.lmbda, inp.settings.target_bpp, inp.settings.gamma,
                                         inp.model, q, True, None if sc is None else sc.tolist())
            stored = stored_labels(zstore, plan.record.append_dim)
            record.acquisitions = [acq[x] for x in stored if x in acq]
        total = math.prod(-(-s // c) for s, c in zip(arr.shape, arr.chunks))
        record.complete = len(record.fingerprints) >= total and (
            not record.append_dim or len(record.acquisitions) == arr.shape[0])
        if record.complete:
            pixels = math.prod(arr.shape[:-3]) * arr.shape[-2] * arr.shape[-1]
            record.quality = quality.pooled(list(record.quality_samples.values()), _stored_bytes(arr), pixels)
        set_codec_complete(arr, record.complete)
        write_record(zstore, record)
    return record


def _stored_bytes(arr) -> int:
    from geocodec.cube.store import list_chunk_keys, stored_bytes

    return stored_bytes(arr, [k for k in list_chunk_keys(arr) if not k.startswith(".geocodec-")])


# ---------------------------------------------------------------------------- public API
def to_zarr(ds: xr.Dataset, store: str | os.PathLike | StoreLike, *, mode: Mode = "w-",
            append_dim: str | None = None, region: dict[str, slice] | None = None,
            compute: bool = True, storage_options: dict | None = None, lmbda: float | None = None,
            target_bpp: float | None = None, gamma: float = 0.5, model: str = "default",
            chunks: int | dict[str, int] | None = None, shards: int | dict[str, int] | None = None,
            device: str = "auto", zarr_format: Literal[2, 3] = 3, optical_nodata: float | None = None,
            sar_nodata: float | None = None, sar_scale: SarScale = "db",
            batch_chunks: int | None = None, overwrite: bool | None = None, progress: bool = True,
            quality_chunks: int = 4, stale_lock_after: float = DEFAULT_STALE_AFTER,
            scaling: ScalingMode | None = None) -> WriteResult | Delayed:
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
    scaling
        ``"cube"`` (default for a new cube): one per-band scaling for the whole cube (per acquisition
        when appending), fitted on a sample of the input and stored in the record, so the engine
        decodes chunks without seams; ``"chunk"``: each chunk its own (geocodec 0.1). None: ``"cube"``
        for a new cube, the stored choice when resuming or appending.

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
    inp = validated_input(ds, model=model, lmbda=lmbda, target_bpp=target_bpp, gamma=gamma, chunks=chunks,
                           shards=shards, optical_nodata=optical_nodata, sar_nodata=sar_nodata, sar_scale=sar_scale,
                           append_dim=append_dim, device=str(dev))
    zstore, store_ref = open_store(store, storage_options=storage_options)
    where = str(store) if isinstance(store, (str, Path)) else type(store).__name__
    existing = existing_cube(zstore, where, mode)
    if mode == "w" and existing is not None:
        with CubeLock(open_for_writing(store_ref), None, stale_after=stale_lock_after):
            pass  # refuses to wipe a cube another writer is writing
        existing = None
    plan = plan_write(inp, existing, mode, append_dim, region, where)
    record = plan.record
    if plan.action != "create" and record.format_version < RECORD_FORMAT:
        raise InvalidInputError(f"{where} was written by geocodec 0.1 (record format {record.format_version}); it "
                                "reads as before, but to write into it, rewrite it with mode='w'")
    joint = dsa.concatenate([_lazy(inp.opt), _lazy(inp.sar)], axis=-3)
    band_scaling = _plan_scaling(plan, inp, joint, check_mode(scaling), where, zstore)
    lock = None
    if plan.action == "create":
        record.cube_id = uuid.uuid4().hex
        create_metadata(zstore, inp, record, zarr_format)
    else:  # lock first: nothing of a cube another writer is writing changes, not even its shape
        lock = _lock_for(store_ref, plan, stale_lock_after).acquire()
    try:
        if plan.action == "append":
            append_metadata(zstore, inp, plan)
        elif plan.action != "create":
            mark_writing(zstore, store_ref)
        if lock is None:
            lock = _lock_for(store_ref, plan, stale_lock_after).acquire()
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    from dataclasses import replace

    settings = replace(inp.settings, cube_id=record.cube_id)
    arr = open_for_writing(store_ref)
    if codec_settings(arr).cube_id != record.cube_id:
        raise InvalidInputError(f"{where}: the array's codec names another cube than the record; rewrite it with "
                                "mode='w'")
    job = {"store_ref": store_ref, "settings": settings, "window_lo": tuple(w.start for w in plan.window),
           "store_chunk": store_chunk, "band_scaling": band_scaling}
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


def _plan_scaling(plan: Plan, inp: WriteInput, joint, requested: ScalingMode | None, where: str, zstore) -> dict:
    """Per-band scalings this write codes with (``{None: ...}``, or per append-dim position); sets the record's.

    A new cube (or acquisition) is fitted on its input; a resume or region write reuses what the
    record holds, so its chunks keep their fingerprints.
    """
    rec = plan.record
    n0 = plan.window[0].start if rec.append_dim else 0

    def fit(a):
        return fit_band_scaling(a, inp.record.n_optical, sar_linear=inp.settings.sar_scale == "linear",
                                optical_nodata=inp.settings.optical_nodata, sar_nodata=inp.settings.sar_nodata)

    if plan.action == "create":
        rec.scaling = requested or "cube"
        if rec.scaling == "chunk":
            return {}
        if rec.append_dim is None:
            s = fit(joint)
            rec.band_scaling = s.tolist()
            return {None: s}
        return {n0 + i: fit(joint[i:i + 1]) for i in range(joint.shape[0])}
    if requested not in (None, rec.scaling):
        raise InvalidInputError(f"{where} holds a cube written with scaling={rec.scaling!r}; write into it with "
                                f"scaling={rec.scaling!r} (or None), or pass mode='w' to replace it")
    if rec.scaling == "chunk":
        return {}
    if rec.append_dim is None:
        stored = {k: np.asarray(v, np.float32) for k, v in rec.band_scalings().items()}
        if None not in stored:
            raise InvalidInputError(f"{where}: the record says scaling='cube' but holds no band_scaling; rewrite "
                                    "the cube with mode='w'")
        return stored
    # appended cubes: a date's scaling is recorded (by label) when its write finishes; one not recorded
    # yet (a new date, or an interrupted write of it) is fitted on its input
    labels = stored_labels(zstore, rec.append_dim) if plan.action != "append" else []
    by_label = rec.band_scalings()
    stored = {i: np.asarray(by_label[x], np.float32) for i, x in enumerate(labels) if x in by_label}
    for i in range(joint.shape[0]):
        stored.setdefault(n0 + i, fit(joint[i:i + 1]))
    return stored


def _take(lock: CubeLock) -> CubeLock:
    return lock.acquire()


def _lock_for(store_ref, plan: Plan, stale_after: float) -> CubeLock:
    arr = open_for_writing(store_ref)
    region = None if plan.action != "region" else [
        [w.start // c, -(-w.stop // c)] for w, c in zip(plan.window, arr.chunks)]
    return CubeLock(arr, region, stale_after=stale_after)


def _lazy(da):
    """A DataArray's data as a float32 Dask array (Dask-backed input stays lazy)."""
    import dask.array as dsa

    data = da.data if hasattr(da.data, "dask") else dsa.from_array(da.values, chunks=-1)
    return data.astype(np.float32)
