"""geocodec.to_zarr: layout (v2 and v3), edge chunks, leading axes, resume after interruption, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import geocodec
from geocodec.errors import GeocodecError, InvalidInputError, UnknownModelError
from geocodec.cube import chunks as framing
from zarr_data import assert_in_place, assert_same_decode, chunk_files, dataset, joint, payload

RECORD_KEYS = {"format_version", "model", "lmbda", "target_bpp", "gamma", "optical_bands", "sar_bands",
               "optical_dtype", "sar_dtype", "sar_scale", "optical_nodata", "sar_nodata", "array", "chunks",
               "quality", "software", "complete", "cube_id", "append_dim", "shards", "acquisitions", "fingerprints",
               "quality_samples", "scaling", "band_scaling"}
QUALITY_KEYS = {"bpp", "psnr_optical", "psnr_sar", "ms_ssim_optical", "ms_ssim_sar", "sampled_chunks",
                "psnr_peak_optical", "psnr_peak_sar", "optical_units"}


def _write(ds, path, **kw):
    kw = {"lmbda": 0.01, "chunks": 64, "device": "cpu", "progress": False, **kw}
    return geocodec.to_zarr(ds, str(path), **kw)


@pytest.mark.parametrize("zarr_format", [3, 2])
def test_layout_and_round_trip(tmp_path, zarr_format):
    import rioxarray  # noqa: F401
    import xarray as xr

    ds = dataset(96, 80, sar_nan=True)  # 2×2 chunks of 64: edge chunks of 32 rows / 16 columns
    store = tmp_path / "cube.zarr"
    r = _write(ds, store, zarr_format=zarr_format, gamma=0.3)
    assert (r.chunks_total, r.chunks_written, r.chunks_reused) == (4, 4, 0)
    files = chunk_files(store)
    assert len(files) == 4 and r.bytes_stored == sum(len(b) for b in files.values())
    if zarr_format == 3:
        meta = json.loads((store / "pair" / "zarr.json").read_text())
        assert [c["name"] for c in meta["codecs"]] == ["geocodec"] and meta["dimension_names"] == ["band", "y", "x"]
        cfg = meta["codecs"][0]["configuration"]
    else:
        cfg = json.loads((store / "pair" / ".zarray").read_text())["compressor"]
        assert cfg["id"] == "geocodec"
    m = geocodec.load_model("default", "cpu")
    assert cfg["model_sha256"] == m.sha256 and cfg["gamma"] == 0.3 and cfg["optical_bands"] == 4

    rec = r.record
    assert set(rec) == RECORD_KEYS and set(rec["quality"]) == QUALITY_KEYS and rec["complete"] is True
    assert rec["optical_bands"] == ["B02", "B03", "B04", "B08"] and rec["sar_bands"] == ["VV", "VH"]
    assert rec["chunks"] == {"band": 6, "y": 64, "x": 64} and rec["optical_dtype"] == "uint16"
    assert rec["model"]["sha256"] == m.sha256 and rec["quality"]["sampled_chunks"] == 1  # one full-size chunk
    assert rec["format_version"] == 2 and len(rec["cube_id"]) == 32 and len(rec["fingerprints"]) == 4
    assert rec["quality"]["bpp"] == pytest.approx(8 * r.bytes_stored / (2 * 96 * 80))
    assert rec["scaling"] == "cube" and np.asarray(rec["band_scaling"]).shape == (6, 2)  # one scale, all chunks

    z = xr.open_zarr(store)  # plain xarray: the joint array, decoded whole
    assert z.pair.dims == ("band", "y", "x") and z.pair.dtype == np.float32
    assert list(z.band.values) == ["B02", "B03", "B04", "B08", "VV", "VH"]
    np.testing.assert_array_equal(z.x.values, ds.x.values)
    np.testing.assert_array_equal(z.y.values, ds.y.values)
    assert z.pair.rio.crs == ds.optical.rio.crs and z.pair.rio.transform() == ds.optical.rio.transform()
    pair = z.pair.values
    src = joint(ds)
    assert np.array_equal(np.isnan(pair), np.isnan(src))  # SAR gap exact, no padding leaks in
    assert_in_place(pair, src)
    for (i, j), key in zip([(0, 0), (0, 1), (1, 0), (1, 1)], sorted(files)):
        # every chunk holds the bitstream of exactly its own region
        item = framing.unpack(files[key]).items[0]
        info = geocodec.inspect(item)
        assert (info["height"], info["width"]) == ((64, 32)[i], (64, 16)[j])  # edges trimmed, no padding coded
        assert info["gamma"] == pytest.approx(0.3)
        opt, sar = geocodec.decompress(item, device="cpu")
        assert_same_decode(pair[:, 64 * i:64 * (i + 1), 64 * j:64 * (j + 1)],
                           np.concatenate([opt.astype(np.float32), sar]))


def test_leading_time_axis(tmp_path):
    import xarray as xr

    times = np.array(["2021-06-01", "2021-06-13", "2021-06-25"], dtype="datetime64[ns]")
    ds = dataset(64, 64, times=times)
    r = _write(ds, tmp_path / "t1.zarr")
    assert r.chunks_total == 3 and r.record["chunks"] == {"time": 1, "band": 6, "y": 64, "x": 64}
    r2 = _write(ds, tmp_path / "t2.zarr", chunks={"time": 2, "y": 64, "x": 64})
    assert r2.chunks_total == 2  # the second chunk is a time edge chunk: 1 item + 1 padding item
    last = framing.unpack(chunk_files(tmp_path / "t2.zarr")["c/1/0/0/0"])
    assert last.shape == (2, 6, 64, 64) and last.items[0] is not None and last.items[1] is None
    z = xr.open_zarr(tmp_path / "t2.zarr")
    assert z.pair.dims == ("time", "band", "y", "x")
    np.testing.assert_array_equal(z.time.values, times)
    assert not np.isnan(z.pair.values).any()


def test_resume_after_interruption_writes_only_missing_chunks(tmp_path, monkeypatch):
    import xarray as xr

    import geocodec.cube.writer as writer

    ds = dataset(128, 128, seed=3)  # 16 chunks of 32×32, one per task
    kw = {"chunks": 32, "batch_chunks": 1}
    _write(ds, tmp_path / "ref.zarr", **kw)
    reference = chunk_files(tmp_path / "ref.zarr")
    assert len(reference) == 16

    real_write = writer.store_chunk
    calls = []

    def crash_after_six(arr, index, *args):
        if len(calls) >= 6:
            raise RuntimeError("simulated crash")
        calls.append(index)
        real_write(arr, index, *args)

    store = tmp_path / "cube.zarr"
    monkeypatch.setattr(writer, "store_chunk", crash_after_six)
    with pytest.raises(RuntimeError, match="simulated crash"):
        _write(ds, store, **kw)
    monkeypatch.setattr(writer, "store_chunk", real_write)
    before = chunk_files(store)
    assert 0 < len(before) < 16
    assert json.loads((store / "zarr.json").read_text())["attributes"]["geocodec"]["complete"] is False
    with pytest.raises(GeocodecError, match="incomplete"):
        xr.open_dataset(store, engine="geocodec")

    # a chunk cut short mid-write, and a temp file a killed writer left behind
    cut = sorted(before)[0]
    path = store / "pair" / cut
    path.write_bytes(path.read_bytes()[: len(before[cut]) // 2])
    (path.parent / "9.0123abcd.partial").write_bytes(b"junk")

    rewritten = []

    def record(arr, index, *args):
        rewritten.append(arr.metadata.encode_chunk_key(index))
        real_write(arr, index, *args)

    monkeypatch.setattr(writer, "store_chunk", record)
    r = _write(ds, store, mode="a", **kw)
    expected_rewrites = (set(reference) - set(before)) | {cut}
    assert sorted(rewritten) == sorted(expected_rewrites)  # nothing written twice, nothing valid redone
    assert (r.chunks_written, r.chunks_reused) == (len(expected_rewrites), 16 - len(expected_rewrites))
    after = chunk_files(store)
    assert payload(after) == payload(reference)  # no lost, duplicate or half-written chunk: byte-identical to a clean write
    assert not list(store.rglob("*.partial")) and r.record["complete"] is True

    rewritten.clear()
    r = _write(ds, store, mode="a", **kw)  # re-running a complete store verifies and rewrites nothing
    assert rewritten == [] and r.chunks_reused == 16


def test_rerun_with_other_settings_is_refused(tmp_path):
    ds = dataset(64, 64)
    store = tmp_path / "c.zarr"
    _write(ds, store)
    with pytest.raises(InvalidInputError, match="different cube.*lmbda"):
        _write(ds, store, lmbda=0.02)
    r = _write(ds, store, lmbda=0.02, overwrite=True)
    assert r.record["lmbda"] == pytest.approx(0.02) and r.chunks_written == 1
    (tmp_path / "not-zarr").mkdir()
    (tmp_path / "not-zarr" / "notes.txt").write_text("mine")
    with pytest.raises(InvalidInputError, match="not a Zarr store"):
        _write(ds, tmp_path / "not-zarr")
    assert (tmp_path / "not-zarr" / "notes.txt").exists()


def test_band_order_and_names(tmp_path):
    import xarray as xr

    ds = dataset(64, 64)
    opt = ds.optical.isel(optical_band=[3, 1, 0, 2]).assign_coords(optical_band=["b8", "B3", "B2", "B04"])
    sar = ds.sar.isel(sar_band=[1, 0]).assign_coords(sar_band=["vh", "VV"])  # other order, other spelling
    shuffled = xr.Dataset({"optical": opt, "sar": sar})
    assert list(shuffled.optical.optical_band.values) == ["b8", "B3", "B2", "B04"]
    _write(ds, tmp_path / "a.zarr")
    _write(shuffled, tmp_path / "b.zarr")
    assert payload(chunk_files(tmp_path / "a.zarr")) == payload(chunk_files(tmp_path / "b.zarr"))


def _pair(optical, sar):
    import xarray as xr

    return xr.Dataset({"optical": optical, "sar": sar})  # (Dataset.assign would realign the bands)


def _mismatched_crs(ds):
    sar = ds.sar.drop_vars("spatial_ref").rio.write_crs("EPSG:4326", grid_mapping_name="sar_ref")
    return ds.assign(sar=sar)


def _half_pixel_shift(ds):
    ds = ds.rio.write_transform(ds.rio.transform(recalc=True))  # as GeoTIFFs opened with rioxarray carry
    return _pair(ds.optical, ds.sar.assign_coords(x=ds.x.values + 5.0))  # xarray outer-joins the two grids


def _irregular_shift(ds):
    return _pair(ds.optical, ds.sar.assign_coords(x=ds.x.values + 3.0))


@pytest.mark.parametrize("make, kw, error, match", [
    (lambda ds: ds.drop_vars("sar"), {}, InvalidInputError, "'optical' and 'sar'"),
    (lambda ds: _pair(ds.optical.isel(optical_band=[0, 1, 2]), ds.sar), {}, InvalidInputError,
     "optical has 3 bands.*expects 4"),
    (lambda ds: ds.assign_coords(optical_band=["B01", "B02", "B03", "B04"]), {}, InvalidInputError,
     "not the model's bands"),
    (lambda ds: _pair(ds.optical, ds.sar.isel(sar_band=[0])), {}, InvalidInputError, "sar has 1 bands"),
    (_mismatched_crs, {}, InvalidInputError, "not on one grid: CRS"),
    (_half_pixel_shift, {}, InvalidInputError, "do not match the stored georeferencing"),
    (_irregular_shift, {}, InvalidInputError, "not a regular grid"),
    (lambda ds: ds.rename(x="lon"), {}, InvalidInputError, "rename the spatial dims"),
    (lambda ds: ds.assign(optical=ds.optical.astype(np.int32)), {}, InvalidInputError, "dtype int32"),
    (lambda ds: ds, {"chunks": {"optical_band": 2}}, InvalidInputError, "band axis is never chunked"),
    (lambda ds: ds, {"chunks": {"lon": 32}}, InvalidInputError, "chunks: unknown dim 'lon'"),
    (lambda ds: ds, {"chunks": "big"}, InvalidInputError, "chunks must be None, an int"),
    (lambda ds: ds, {"chunks": {"y": 0}}, InvalidInputError, "chunks: size of 'y' must be a positive int"),
    (lambda ds: ds, {"chunks": 32, "shards": {"lon": 64}}, InvalidInputError, "shards: unknown dim 'lon'"),
    (lambda ds: ds, {"chunks": 32, "shards": 48}, InvalidInputError, "positive multiple of its chunk size 32"),
    (lambda ds: ds, {"chunks": 32, "shards": [64]}, InvalidInputError, "shards must be None, an int"),
    (lambda ds: ds, {"lmbda": 5.0}, InvalidInputError, "out of range"),
    (lambda ds: ds, {"lmbda": None}, InvalidInputError, "exactly one of lmbda"),
    (lambda ds: ds, {"gamma": -0.1}, InvalidInputError, "gamma"),
    (lambda ds: ds, {"model": "no-such-model"}, UnknownModelError, "unknown model"),
    (lambda ds: ds, {"zarr_format": 4}, InvalidInputError, "zarr_format"),
])
def test_clear_errors(tmp_path, make, kw, error, match):
    with pytest.raises(error, match=match):
        _write(make(dataset(64, 64)), tmp_path / "x.zarr", **kw)
    assert not (tmp_path / "x.zarr" / "pair").exists()  # nothing half-made


def test_memory_store_and_target_bpp(tmp_path):
    import zarr

    store = zarr.storage.MemoryStore()
    r = geocodec.to_zarr(dataset(64, 64), store, target_bpp=0.5, chunks=64, device="cpu", progress=False)
    assert r.record["target_bpp"] == 0.5 and r.record["lmbda"] is None
    g = zarr.open_group(store, mode="r")
    assert g.attrs["geocodec"]["complete"] is True and g["pair"].shape == (6, 64, 64)
    assert not np.isnan(g["pair"][:]).any()


def test_sar_linear_scale_and_nodata(tmp_path):
    import xarray as xr

    ds = dataset(64, 64)
    lin = ds.assign(sar=10 ** (ds.sar / 10))
    opt = ds.optical.values.copy()
    opt[:, :4, :] = 0
    lin = lin.assign(optical=(ds.optical.dims, opt))
    r = _write(lin, tmp_path / "l.zarr", sar_scale="linear", optical_nodata=0)
    assert r.record["sar_scale"] == "linear" and r.record["optical_nodata"] == 0
    back = xr.open_dataset(tmp_path / "l.zarr", engine="geocodec")
    o = back.optical.values
    assert (o[:, :4, :] == 0).all() and (o[:, 4:, :] != 0).all()  # nodata exactly where it was, nowhere else
    s = back.sar.values
    assert (s > 0).all() and back.sar.dtype == np.float32
    assert_in_place(10 * np.log10(s), ds.sar.values)


def test_existing_path_is_not_a_directory(tmp_path):
    f = tmp_path / "file.zarr"
    f.write_text("x")
    with pytest.raises(Exception):  # noqa: B017 - zarr/OS error types vary; the file must survive
        _write(dataset(64, 64), f)
    assert Path(f).read_text() == "x"
