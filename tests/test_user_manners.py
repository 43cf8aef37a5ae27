"""The smaller trips of issue #19 (item 6), each done as the user did it: CLI messages, STAC datetimes,
device checks at open, incomplete stores, coordinate attributes, time precision, reprs, warnings."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import numpy as np
import pytest

import geocodec
from geocodec.cli import main
from geocodec.errors import InvalidInputError
from zarr_data import dataset

KW = {"lmbda": 0.01, "chunks": 64, "device": "cpu", "progress": False, "quality_chunks": 1}
DATES = np.array(["2021-06-01T10:00:00.123456", "2021-06-13", "2021-06-25"], dtype="datetime64[us]")


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    store = tmp_path_factory.mktemp("series") / "series.zarr"
    r = geocodec.to_zarr(dataset(64, 64, times=DATES, seed=2), str(store), **KW)
    return store, r


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    store = tmp_path_factory.mktemp("scene") / "scene.zarr"
    geocodec.to_zarr(dataset(64, 64, seed=1), str(store), **KW)
    return store


def test_cli_decode_isel_out_of_range_names_the_valid_range(series, tmp_path, capsys):
    store, _ = series
    rc = main(["decode", str(store), "--modality", "sar", "--isel", "time=5", "-o", str(tmp_path / "s.tif")])
    err = capsys.readouterr().err
    assert rc == 2 and "time=5 is out of range" in err and "3 time values, indexes 0 to 2" in err
    assert "bug" not in err and "IndexError" not in err


def test_cli_clash_message_names_overwrite(tmp_path, capsys):
    ds = dataset(64, 64, seed=3)
    ds.optical.rio.to_raster(tmp_path / "S2.tif")
    ds.sar.rio.to_raster(tmp_path / "S1.tif")
    args = ["encode", str(tmp_path / "S2.tif"), str(tmp_path / "S1.tif"), str(tmp_path / "c.zarr"), "--lmbda", "0.01",
            "--device", "cpu", "--chunk", "64", "--quiet"]
    assert main(args) == 0
    capsys.readouterr()
    assert main([*args, "--gamma", "0.9"]) == 2
    err = capsys.readouterr().err
    assert "gamma differ" in err and "pass --overwrite" in err and "mode='w'" not in err
    assert main([*args, "--gamma", "0.9", "--overwrite"]) == 0


def test_write_item_for_store_takes_an_iso_date(scene, tmp_path):
    import geocodec.stac as gstac

    item = gstac.write_item_for_store(scene, tmp_path / "item.json", datetime="2019-01-01")
    assert item.datetime == dt.datetime(2019, 1, 1, tzinfo=dt.timezone.utc)
    item = gstac.create_item(scene, start_datetime="2019-01-01T10:00:00Z", end_datetime="2019-01-02", checksum=False)
    assert item.properties["start_datetime"].startswith("2019-01-01T10:00:00")
    with pytest.raises(InvalidInputError, match="not an ISO 8601"):
        gstac.create_item(scene, datetime="first of January", checksum=False)


def test_unknown_device_is_refused_when_the_cube_is_opened(scene):
    import xarray as xr

    with pytest.raises(InvalidInputError, match="device='gpu' is not a device.*'cuda\\[:N\\]'"):
        xr.open_dataset(scene, engine="geocodec", device="gpu")
    xr.open_dataset(scene, engine="geocodec", device="cuda:0")  # a valid name: checked when a chunk decodes


def test_item_of_an_incomplete_store_says_it_is_incomplete(tmp_path):
    import geocodec.stac as gstac

    store = tmp_path / "partial.zarr"
    geocodec.to_zarr(dataset(64, 64), str(store), compute=False, **KW)  # metadata only: no chunk yet
    with pytest.raises(InvalidInputError, match="incomplete geocodec store"):
        gstac.write_item_for_store(store, tmp_path / "item.json", datetime="2019-01-01")


def test_index_coordinates_carry_no_fill_value(series):
    import xarray as xr

    store, _ = series
    cube = xr.open_dataset(store, engine="geocodec")
    for d in ("x", "y", "time"):
        assert "_FillValue" not in cube[d].attrs, (d, cube[d].attrs)
    assert cube.x.encoding.get("_FillValue") is not None or np.isnan(cube.x.encoding.get("fill_value", np.nan))


def test_time_comes_back_at_the_precision_asked_for(series):
    import xarray as xr

    store, _ = series
    ns = xr.open_dataset(store, engine="geocodec").time  # xarray's default, as its zarr engine: ns
    assert ns.dtype == np.dtype("datetime64[ns]") and ns.values[0] == DATES[0]
    us = xr.open_dataset(store, engine="geocodec", decode_times=xr.coders.CFDatetimeCoder(time_unit="us")).time
    assert us.dtype == np.dtype("datetime64[us]")
    np.testing.assert_array_equal(us.values, DATES)


def test_write_result_repr_is_short(series):
    _, r = series
    text = repr(r)
    assert len(text) < 300 and "chunks_written=3" in text and "fingerprints" not in text
    assert not any(fp in text for fp in r.record["fingerprints"].values())


def test_importing_the_model_prints_no_torch_jit_warning():
    out = subprocess.run([sys.executable, "-W", "always", "-c", "import geocodec.model"], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "torch.jit.script" not in out.stderr
