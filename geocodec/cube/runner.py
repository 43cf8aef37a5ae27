"""Running a write's Dask tasks: on the active distributed Client, else our own thread pool, with a progress bar.

``block_tasks`` cuts the input into blocks (a shard, or ``batch_chunks`` chunks: one device batch
each) and makes one delayed ``blocks.write_block`` per block; ``run_tasks`` computes them and
renews the cube's lock as each finishes, so a long write never looks stale to another writer.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from geocodec.cube.blocks import write_block

if TYPE_CHECKING:
    from geocodec.cube.lock import CubeLock
    from geocodec.cube.plan import Plan, WriteInput

_malloc_trim = None


def release_free_memory() -> None:
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



def _task(block, origin, job: dict, lock=None) -> dict[str, list]:
    """One Dask task: write the block, then give the memory its activations held back to the OS."""
    out = write_block(block, origin, job, lock)
    release_free_memory()
    return out


def block_tasks(joint, plan: Plan, inp: WriteInput, job: dict, batch_chunks: int, gate=None):
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
        tasks.append(dask.delayed(_task, pure=False)(
            blocks[bidx], origin, job, gate, dask_key_name=f"geocodec-write-{'-'.join(map(str, bidx))}-{token}"))
    n_chunks = math.prod(-(-(w.stop - w.start) // c) for w, c in zip(plan.window, chunk_shape))
    return tasks, n_chunks


class Progress:
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


def run_tasks(tasks, progress: Progress, lock: CubeLock) -> list:
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

