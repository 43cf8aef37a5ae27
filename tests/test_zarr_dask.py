"""Writing and reading through Dask: local threads, and a LocalCluster of worker processes."""

from __future__ import annotations

import numpy as np

import geocodec
from zarr_data import chunk_files, dataset, payload


def _write(ds, path, **kw):
    return geocodec.to_zarr(ds, str(path), lmbda=0.01, chunks=32, batch_chunks=2, device="cpu", progress=False, **kw)


def test_threads_and_process_cluster_write_identical_stores(tmp_path):
    import xarray as xr
    from distributed import Client, LocalCluster

    ds = dataset(64, 96, seed=11)  # 2×3 chunks of 32 px, 2 chunks per task
    threads = _write(ds, tmp_path / "threads.zarr")
    assert threads.chunks_written == 6

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        r = _write(ds, tmp_path / "procs.zarr")  # picks up the active Client
        assert r.chunks_written == 6
        pids = set(client.run(lambda: __import__("os").getpid()).values())
        assert len(pids) == 2
        # the engine's lazy arrays pickle to the workers and decode there
        lazy = xr.open_dataset(tmp_path / "procs.zarr", engine="geocodec", chunks={})
        sar_on_workers = lazy.sar.compute()
    assert payload(chunk_files(tmp_path / "procs.zarr")) == payload(chunk_files(tmp_path / "threads.zarr"))
    local = xr.open_dataset(tmp_path / "threads.zarr", engine="geocodec", chunks={}).sar.compute()
    np.testing.assert_allclose(sar_on_workers.values, local.values, atol=1e-3)


def test_dask_backed_input_is_read_block_by_block(tmp_path):
    """A lazy source is never materialised whole: each task reads only its own block."""
    import dask.array as da
    import xarray as xr

    ds = dataset(64, 128, seed=5)
    seen = []

    def track(block):
        seen.append(block.shape)
        return block

    opt = da.from_array(ds.optical.values, chunks=(4, 32, 32)).map_blocks(track, dtype=np.uint16)
    sar = da.from_array(ds.sar.values, chunks=(2, 32, 32)).map_blocks(track, dtype=np.float32)
    lazy = xr.Dataset({"optical": (ds.optical.dims, opt), "sar": (ds.sar.dims, sar)}, coords=ds.coords)
    r = _write(lazy, tmp_path / "lazy.zarr")
    assert r.chunks_written == 8
    assert max(h * w for _, h, w in seen) <= 32 * 32  # only source blocks, never the whole scene
    assert payload(chunk_files(tmp_path / "lazy.zarr")) == payload(chunk_files(_write(ds, tmp_path / "eager.zarr").store))


def test_progress_bar_counts_chunks_and_quality(tmp_path, capsys):
    geocodec.to_zarr(dataset(64, 64), str(tmp_path / "p.zarr"), lmbda=0.01, chunks=32, batch_chunks=2,
                     device="cpu", progress=True, quality_chunks=2)
    err = capsys.readouterr().err
    # 4 chunks in 2 tasks, then 2 sampled chunks for quality: the bar counts chunks, not tasks, to the end.
    # Only the final state is checked: tqdm redraws on a timer, so which intermediate counts get
    # drawn depends on the machine's speed.
    final = [line for line in err.replace("\r", "\n").splitlines() if line.strip()][-1]
    assert "geocodec encode" in err
    assert "geocodec quality" in final and "6/6" in final and "KiB" in final and "bpp" in final, final
