"""The "geocodec" xarray engine: lazy per-modality variables, one entropy decode per chunk, errors."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

import geocodec
from geocodec.errors import CorruptStreamError, GeocodecError, ModelMismatchError
from geocodec.cube.cache import LATENTS, LatentCache
from zarr_data import assert_in_place, assert_same_decode, crash_after_first_chunk, dataset, joint


@pytest.fixture(scope="module")
def cube(tmp_path_factory):
    """A 2-time cube of 96×80 px in 64 px chunks (2 times × 4 chunks, edge chunks included)."""
    times = np.array(["2022-01-01", "2022-01-13"], dtype="datetime64[ns]")
    ds = dataset(96, 80, times=times, sar_nan=True, seed=7)
    store = tmp_path_factory.mktemp("xr") / "cube.zarr"
    geocodec.to_zarr(ds, str(store), lmbda=0.01, chunks=64, device="cpu", progress=False)
    return store, ds


@pytest.fixture
def spy(monkeypatch):
    """Counts what the model runs: entropy-decoded items and synthesis calls per modality, whichever
    torch backend ``"auto"`` resolves to here."""
    m = geocodec.load_model("default", "cpu")
    seen = {"entropy_items": 0, "synth": [], "optical_forward": 0}
    real_decompress, real_synth = m.net.entropy.decompress, m.net.synthesize
    lock = threading.Lock()

    def decompress(streams, *a, **k):
        with lock:
            seen["entropy_items"] += len(streams)
        return real_decompress(streams, *a, **k)

    def synthesize(y, modality):
        with lock:
            seen["synth"].append(modality)
        return real_synth(y, modality)

    def count_optical(*_):
        seen["optical_forward"] += 1

    def synthesize_bf16(model, y, modality):  # the "torch-bf16" backend ("auto" on a CPU with bf16 units)
        with lock:
            seen["synth"].append(modality)
        return real_bf16(model, y, modality)

    from geocodec.model import bf16_backend

    real_bf16 = bf16_backend.synthesize
    monkeypatch.setattr(m.net.entropy, "decompress", decompress)
    monkeypatch.setattr(m.net, "synthesize", synthesize)
    monkeypatch.setattr(bf16_backend, "synthesize", synthesize_bf16)
    hooks = [d.register_forward_hook(count_optical)
             for d in (m.net.optical_decoder, bf16_backend.network(m.net, "optical"))]
    LATENTS.clear()
    yield seen
    for h in hooks:
        h.remove()
    LATENTS.clear()


def test_variables_coords_and_georeferencing(cube):
    import rioxarray  # noqa: F401
    import xarray as xr

    store, ds = cube
    out = xr.open_dataset(store, engine="geocodec", chunks={})
    assert out.optical.dims == ("time", "optical_band", "y", "x") and out.sar.dims == ("time", "sar_band", "y", "x")
    assert out.optical.dtype == np.uint16 and out.sar.dtype == np.float32
    assert list(out.optical_band.values) == ["B02", "B03", "B04", "B08"] and list(out.sar_band.values) == ["VV", "VH"]
    np.testing.assert_array_equal(out.time.values, ds.time.values)
    np.testing.assert_array_equal(out.x.values, ds.x.values)
    assert out.sar.rio.crs == ds.optical.rio.crs and out.optical.rio.transform() == ds.optical.rio.transform()
    assert out.optical.chunks == ((1, 1), (4,), (64, 32), (64, 16))  # one dask chunk per Zarr chunk
    assert json.loads(out.attrs["geocodec"])["complete"] is True  # a JSON string: netCDF attrs cannot be dicts


def test_values_match_the_joint_array_and_the_source(cube):
    import xarray as xr

    store, ds = cube
    # seamless=False: each chunk alone, as the storage codec decodes it (overlapped decoding: test_cube_seams.py)
    out = xr.open_dataset(store, engine="geocodec", chunks={}, seamless=False)
    pair = xr.open_zarr(store).pair.values  # plain xarray still works: the joint array decoded whole
    both = np.concatenate([out.optical.values.astype(np.float32), out.sar.values], axis=-3)
    assert_same_decode(both, pair)
    assert np.array_equal(np.isnan(both), np.isnan(joint(ds)))
    assert_in_place(both, joint(ds))


def test_chunks_holding_several_times_and_a_time_edge(tmp_path):
    """Chunks of 2 time steps over 3 times: the last chunk holds one item and one padding item."""
    import xarray as xr

    times = np.array(["2021-06-01", "2021-06-13", "2021-06-25"], dtype="datetime64[ns]")
    ds = dataset(70, 64, times=times, seed=2)
    store = tmp_path / "t.zarr"
    geocodec.to_zarr(ds, str(store), lmbda=0.01, chunks={"time": 2, "y": 64, "x": 64}, device="cpu",
                     progress=False)
    out = xr.open_dataset(store, engine="geocodec", chunks={}, seamless=False)
    assert out.sar.chunks == ((2, 1), (2,), (64, 6), (64,))
    both = np.concatenate([out.optical.values.astype(np.float32), out.sar.values], axis=1)
    assert_same_decode(both, xr.open_zarr(store).pair.values)
    assert_in_place(both, joint(ds))
    lazy = xr.open_dataset(store, engine="geocodec", seamless=False)
    np.testing.assert_allclose(lazy.sar[1:3, 1, ::7, 3].values, out.sar.values[1:3, 1, ::7, 3], atol=1e-4)


def test_sar_alone_runs_only_the_sar_decoder(cube, spy):
    import xarray as xr

    store, _ = cube
    sar = xr.open_dataset(store, engine="geocodec", chunks={}).sar.compute()
    assert sar.shape == (2, 2, 96, 80)
    assert spy["synth"] and set(spy["synth"]) == {"sar"} and spy["optical_forward"] == 0
    assert spy["entropy_items"] == 8  # 2 times × 4 chunks, each entropy-decoded once


def test_both_modalities_entropy_decode_each_chunk_once(cube, spy):
    import dask
    import xarray as xr

    store, _ = cube
    out = xr.open_dataset(store, engine="geocodec", chunks={})
    with dask.config.set(scheduler="threads", num_workers=4):  # optical and SAR tasks race for chunks
        opt, sar = dask.compute(out.optical, out.sar)
    assert spy["entropy_items"] == 8
    assert sorted(set(spy["synth"])) == ["optical", "sar"] and spy["optical_forward"] > 0
    opt2 = out.optical.compute()  # computed again: served from the cache
    assert spy["entropy_items"] == 8
    np.testing.assert_array_equal(opt2.values, opt.values)


def test_partial_reads_equal_slices_of_the_full_read(cube):
    import xarray as xr

    store, _ = cube
    lazy = xr.open_dataset(store, engine="geocodec")  # no dask: indexing goes to the backend array
    full = lazy.sar.values
    np.testing.assert_array_equal(lazy.sar[1, :, 10:90:3, 5].values, full[1, :, 10:90:3, 5])
    np.testing.assert_array_equal(lazy.sar.isel(x=[1, 70, 79], time=0).values, full[0][:, :, [1, 70, 79]])
    np.testing.assert_array_equal(lazy.sar.isel(y=slice(60, 70), x=slice(60, 80)).values,
                                  full[:, :, 60:70, 60:80])
    assert lazy.optical[0, 0, 95, 79].values.shape == ()


def test_incomplete_store_is_refused_unless_asked(tmp_path, monkeypatch):
    import xarray as xr

    store = tmp_path / "half.zarr"
    crash_after_first_chunk(monkeypatch)
    with pytest.raises(RuntimeError):
        geocodec.to_zarr(dataset(96, 80), str(store), lmbda=0.01, chunks=64, device="cpu", progress=False,
                         batch_chunks=1)
    with pytest.raises(GeocodecError, match="incomplete"):
        xr.open_dataset(store, engine="geocodec")
    part = xr.open_dataset(store, engine="geocodec", allow_incomplete=True).sar.values
    written = np.isfinite(part).all(axis=0)
    assert written.any() and not written.all()  # what was written decodes; the rest reads as fill (NaN)


def test_missing_chunk_of_a_complete_store_is_an_error(tmp_path):
    import xarray as xr

    store = tmp_path / "c.zarr"
    geocodec.to_zarr(dataset(96, 80), str(store), lmbda=0.01, chunks=64, device="cpu", progress=False)
    (store / "pair" / "c" / "0" / "1" / "1").unlink()
    with pytest.raises(CorruptStreamError, match="missing"):
        xr.open_dataset(store, engine="geocodec").sar.values


def test_store_pinned_to_another_model_is_refused(tmp_path):
    import xarray as xr

    store = tmp_path / "c.zarr"
    geocodec.to_zarr(dataset(64, 64), str(store), lmbda=0.01, chunks=64, device="cpu", progress=False)
    meta_path = store / "pair" / "zarr.json"
    meta = json.loads(meta_path.read_text())
    meta["codecs"][0]["configuration"]["model_sha256"] = "ef" * 32  # as if written by weights we lack
    meta_path.write_text(json.dumps(meta))
    (store / "zarr.json").write_text(json.dumps({**json.loads((store / "zarr.json").read_text()),
                                                 "consolidated_metadata": None}))
    with pytest.raises(ModelMismatchError):
        xr.open_dataset(store, engine="geocodec").sar.values
    with pytest.raises(ModelMismatchError):
        xr.open_zarr(store, consolidated=False).pair.values


def test_not_a_geocodec_store(tmp_path):
    import xarray as xr

    xr.Dataset({"a": ("x", np.arange(3))}).to_zarr(tmp_path / "plain.zarr")
    with pytest.raises(GeocodecError, match="not a geocodec store"):
        xr.open_dataset(tmp_path / "plain.zarr", engine="geocodec")
    from geocodec.cube.engine import GeocodecBackendEntrypoint

    assert not GeocodecBackendEntrypoint().guess_can_open(tmp_path / "plain.zarr")


def test_engine_is_guessed_for_geocodec_stores(cube):
    import xarray as xr

    from geocodec.cube.engine import GeocodecBackendEntrypoint

    store, _ = cube
    assert GeocodecBackendEntrypoint().guess_can_open(store)
    assert "geocodec" in xr.backends.list_engines()


# ---------------------------------------------------------------------------- the cache itself
class _Blob:
    def __init__(self, n):
        self.nbytes = n


def test_cache_is_lru_and_bounded_in_bytes():
    c = LatentCache(max_bytes=3 * (1000 + 64))
    decoded = []

    def decode(keys):
        decoded.extend(keys)
        return [[_Blob(1000)] for _ in keys]

    c.get_many(["a", "b", "c"], decode)
    c.get_many(["a"], decode)  # a is now the most recent
    c.get_many(["d"], decode)  # evicts b, the least recent
    assert decoded == ["a", "b", "c", "d"]
    c.get_many(["a", "c", "d"], decode)
    assert decoded == ["a", "b", "c", "d"]
    c.get_many(["b"], decode)
    assert decoded[-1] == "b" and c.nbytes <= c.max_bytes


def test_cache_is_single_flight():
    c = LatentCache(max_bytes=10**6)
    started, release = threading.Event(), threading.Event()
    calls = []

    def slow(keys):
        calls.append(list(keys))
        started.set()
        release.wait(5)
        return [[_Blob(10)] for _ in keys]

    results = []
    t1 = threading.Thread(target=lambda: results.append(c.get_many(["k"], slow)))
    t1.start()
    started.wait(5)
    t2 = threading.Thread(target=lambda: results.append(c.get_many(["k"], slow)))
    t2.start()
    release.set()
    t1.join(5)
    t2.join(5)
    assert calls == [["k"]] and len(results) == 2 and results[0][0] is results[1][0]


def test_cache_failure_releases_waiters():
    c = LatentCache(max_bytes=10**6)

    def boom(keys):
        raise CorruptStreamError("bad chunk")

    with pytest.raises(CorruptStreamError):
        c.get_many(["k"], boom)
    assert c.get_many(["k"], lambda keys: [[_Blob(1)] for _ in keys])[0][0].nbytes == 1
