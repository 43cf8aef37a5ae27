"""``refine_steps`` wherever a user encodes: settings, both storage codecs, ``to_zarr`` (record, resume,
regions, appends), STAC and the CLI. Small synthetic cubes (64² chunks, few steps) so CI stays fast;
the refinement itself is tested in test_refine.py."""

from __future__ import annotations

import numpy as np
import pytest

import geocodec
from geocodec.cube import open_cube
from geocodec.cube.frames import fingerprint_of
from geocodec.errors import InvalidInputError
from geocodec.settings import CodecSettings
from zarr_data import chunk_files, dataset

KW = {"lmbda": 0.01, "chunks": 64, "device": "cpu", "progress": False, "quality_chunks": 1}
BAD = [-1, 1.5, "x", True]


@pytest.fixture(scope="module")
def ds():
    return dataset(64, 128, seed=5, sar_nan=True)


@pytest.fixture(scope="module")
def cubes(ds, tmp_path_factory):
    """The same data written without and with refinement."""
    root = tmp_path_factory.mktemp("refine")
    plain = geocodec.to_zarr(ds, str(root / "plain.zarr"), **KW)
    refined = geocodec.to_zarr(ds, str(root / "refined.zarr"), refine_steps=3, **KW)
    return root / "plain.zarr", root / "refined.zarr", plain, refined


def test_refined_chunks_differ_and_read_back_lazily_like_plain_ones(ds, cubes):
    import xarray as xr

    plain_store, refined_store, plain, refined = cubes
    assert (plain.chunks_written, refined.chunks_written) == (2, 2)
    a, b = chunk_files(plain_store), chunk_files(refined_store)
    assert a.keys() == b.keys() and all(a[k] != b[k] for k in a)
    with xr.open_dataset(plain_store, engine="geocodec", chunks={}) as p, \
            xr.open_dataset(refined_store, engine="geocodec", chunks={}) as r:
        assert r["sar"].chunks is not None  # lazy
        for name in ("optical", "sar"):
            assert r[name].shape == p[name].shape == ds[name].shape
            assert r[name].dtype == p[name].dtype == ds[name].dtype
        assert np.array_equal(np.isnan(r["sar"].values), np.isnan(ds["sar"].values))
        assert np.array_equal(np.isnan(p["sar"].values), np.isnan(ds["sar"].values))


def test_the_record_and_codec_config_show_refine_steps_only_when_used(cubes):
    plain_store, refined_store, plain, refined = cubes
    assert refined.record["refine_steps"] == 3 and "refine_steps" not in plain.record
    assert open_cube(refined_store).record.refine_steps == 3 and open_cube(plain_store).record.refine_steps == 0
    assert open_cube(refined_store).settings.refine_steps == 3
    assert "refine_steps" not in open_cube(plain_store).settings.to_config()


def test_fingerprints_are_unchanged_without_refinement():
    s0 = CodecSettings(lmbda=0.01)
    assert "refine_steps" not in s0.to_config()
    legacy = {k: v for k, v in s0.to_config().items()}  # a config written before refine_steps existed
    assert CodecSettings(**legacy).refine_steps == 0
    assert fingerprint_of("0" * 32, s0) == fingerprint_of("0" * 32, CodecSettings(**legacy, refine_steps=0))
    assert fingerprint_of("0" * 32, s0) != fingerprint_of("0" * 32, CodecSettings(lmbda=0.01, refine_steps=2))


def test_resume_with_another_refine_steps_rewrites_with_the_same_none(ds, tmp_path):
    store = str(tmp_path / "c.zarr")
    geocodec.to_zarr(ds, store, **KW)
    same = geocodec.to_zarr(ds, store, mode="a", **KW)  # a store written before refine_steps: resumes cleanly
    assert (same.chunks_written, same.chunks_reused) == (0, 2)
    before = chunk_files(store)
    more = geocodec.to_zarr(ds, store, mode="a", refine_steps=2, **KW)
    assert (more.chunks_written, more.chunks_reused) == (2, 0) and more.record["refine_steps"] == 2
    assert open_cube(store).settings.refine_steps == 2  # the codec config says how chunks are now coded
    after = chunk_files(store)
    assert all(before[k] != after[k] for k in before)
    again = geocodec.to_zarr(ds, store, mode="a", refine_steps=2, **KW)
    assert (again.chunks_written, again.chunks_reused) == (0, 2) and chunk_files(store) == after
    kept = geocodec.to_zarr(ds, store, mode="a", **KW)  # left out: the cube's (as xarray takes a store's encoding)
    assert (kept.chunks_written, kept.chunks_reused) == (0, 2) and kept.record["refine_steps"] == 2
    back = geocodec.to_zarr(ds, store, mode="a", refine_steps=0, **KW)
    assert back.chunks_written == 2 and "refine_steps" not in back.record
    assert open_cube(store).record.refine_steps == 0 and open_cube(store).settings.refine_steps == 0


def test_region_writes_must_use_the_cubes_refine_steps(ds, tmp_path):
    store = str(tmp_path / "r.zarr")
    geocodec.to_zarr(ds, store, compute=False, refine_steps=1, **KW)
    with pytest.raises(InvalidInputError, match="refine_steps"):
        geocodec.to_zarr(ds.isel(x=slice(0, 64)), store, mode="r+", region={"x": slice(0, 64)}, refine_steps=0,
                         **KW)
    r = geocodec.to_zarr(ds.isel(x=slice(0, 64)), store, region={"x": slice(0, 64)}, **KW)  # left out: the cube's
    assert r.chunks_written == 1 and open_cube(store, allow_incomplete=True).settings.refine_steps == 1


def test_each_appended_date_records_its_refine_steps(tmp_path):
    times = np.array(["2021-06-01", "2021-06-13"], dtype="datetime64[ns]")
    full = dataset(64, 64, times=times, seed=2)
    store = str(tmp_path / "t.zarr")
    geocodec.to_zarr(full.isel(time=0), store, append_dim="time", **KW)
    geocodec.to_zarr(full.isel(time=1), store, mode="a", append_dim="time", refine_steps=2, **KW)
    rec = open_cube(store).record
    assert [a.refine_steps for a in rec.acquisitions] == [0, 2]
    attrs = rec.to_attrs()["acquisitions"]
    assert "refine_steps" not in attrs[0] and attrs[1]["refine_steps"] == 2


@pytest.mark.parametrize("bad", BAD)
def test_bad_refine_steps_is_a_clear_error_before_anything_is_written(ds, tmp_path, bad):
    store = tmp_path / "bad.zarr"
    with pytest.raises(InvalidInputError, match="refine_steps"):
        geocodec.to_zarr(ds, str(store), refine_steps=bad, **KW)
    assert not store.exists()


# ---------------------------------------------------------------------------- storage codecs
def test_numcodecs_config_round_trips_with_and_without_refine_steps():
    import numcodecs

    from numcodecs_plugin import GeocodecCodec

    plain = GeocodecCodec(lmbda=0.01)
    assert "refine_steps" not in plain.get_config()
    assert numcodecs.get_codec(plain.get_config()).settings == plain.settings
    refined = GeocodecCodec(lmbda=0.01, refine_steps=4)
    cfg = refined.get_config()
    assert cfg["refine_steps"] == 4 and "refine_steps=4" in repr(refined)
    back = GeocodecCodec.from_config(cfg)
    assert back.settings.refine_steps == 4 and back.get_config() == cfg
    assert numcodecs.get_codec(cfg).settings.refine_steps == 4


def test_zarr_v3_config_round_trips_with_and_without_refine_steps():
    from numcodecs_plugin import GeocodecZarrCodec

    plain = GeocodecZarrCodec(lmbda=0.01)
    d = plain.to_dict()
    assert "refine_steps" not in d["configuration"]
    assert GeocodecZarrCodec.from_dict(d).settings.refine_steps == 0  # configs written before still open
    refined = GeocodecZarrCodec(lmbda=0.01, refine_steps=4)
    d = refined.to_dict()
    assert d["configuration"]["refine_steps"] == 4
    assert GeocodecZarrCodec.from_dict(d).settings == refined.settings


@pytest.mark.parametrize("bad", BAD)
def test_codec_constructors_refuse_bad_refine_steps(bad):
    from numcodecs_plugin import GeocodecCodec, GeocodecZarrCodec

    for make in (GeocodecCodec, GeocodecZarrCodec, CodecSettings):
        with pytest.raises(InvalidInputError, match="refine_steps"):
            make(lmbda=0.01, refine_steps=bad)


def test_codec_encode_applies_refine_steps():
    from numcodecs_plugin import GeocodecCodec

    o, s = dataset(64, 64, seed=9).optical.values, dataset(64, 64, seed=9).sar.values
    chunk = np.concatenate([o.astype(np.float32), s], axis=0)
    a = GeocodecCodec(lmbda=0.01, device="cpu").encode(chunk)
    b = GeocodecCodec(lmbda=0.01, device="cpu", refine_steps=2).encode(chunk)
    assert a != b
    dec = GeocodecCodec(lmbda=0.01, device="cpu").decode(b)  # decoding never needs the setting
    assert dec.shape == chunk.shape and not np.isnan(dec).any()


# ---------------------------------------------------------------------------- STAC and CLI
def test_stac_item_carries_refine_steps_only_when_the_record_has_it(cubes):
    import datetime as dt

    from geocodec.stac import create_item
    from geocodec.stac.schemas import validate_dict

    plain_store, refined_store, _, _ = cubes
    when = dt.datetime(2021, 6, 1, tzinfo=dt.timezone.utc)
    refined = create_item(refined_store, datetime=when)
    plain = create_item(plain_store, datetime=when)
    assert refined.properties["geocodec:refine_steps"] == 3
    assert "geocodec:refine_steps" not in plain.properties
    validate_dict(refined.to_dict())
    validate_dict(plain.to_dict())


def test_cli_encode_refine_steps_reaches_the_writer(tmp_path, capsys):
    from geocodec.cli import build_parser, main

    for cmd in ("encode", "demo"):
        with pytest.raises(SystemExit):
            build_parser().parse_args([cmd, "--help"])
        assert "--refine-steps" in capsys.readouterr().out
    ds = dataset(64, 64, seed=3)
    ds.optical.rio.to_raster(tmp_path / "S2.tif")
    ds.sar.rio.to_raster(tmp_path / "S1.tif")
    out = tmp_path / "cli.zarr"
    rc = main(["encode", str(tmp_path / "S2.tif"), str(tmp_path / "S1.tif"), str(out), "--lmbda", "0.01",
               "--device", "cpu", "--chunk", "64", "--optical-bands", "1,2,3,4", "--sar-bands", "1,2",
               "--refine-steps", "2", "--quiet"])
    assert rc == 0
    assert open_cube(out).record.refine_steps == 2
    rc = main(["encode", str(tmp_path / "S2.tif"), str(tmp_path / "S1.tif"), str(tmp_path / "bad.zarr"), "--lmbda",
               "0.01", "--device", "cpu", "--optical-bands", "1,2,3,4", "--sar-bands", "1,2", "--refine-steps", "-1"])
    assert rc == 2 and "refine_steps" in capsys.readouterr().err
