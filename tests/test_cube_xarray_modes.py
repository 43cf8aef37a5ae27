"""to_zarr with xarray's defaults (issue #19): append_dim implies mode "a", region implies "r+" and
the cube's own settings, region="auto" from the coordinates; what mode="a" does with another λ."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import geocodec
from geocodec.cube import open_cube
from geocodec.errors import InvalidInputError
from zarr_data import dataset

KW = {"chunks": 64, "device": "cpu", "progress": False, "quality_chunks": 1}
DATES = np.array(["2021-06-01", "2021-06-13", "2021-06-25"], dtype="datetime64[ns]")


def _lmbda(store, key):
    from geocodec.cube.chunks import unpack

    return geocodec.inspect(unpack((Path(store) / "pair" / key).read_bytes()).items[0])["lmbda"]


def test_append_dim_without_mode_appends_and_keeps_the_last_dates_settings(tmp_path):
    full = dataset(64, 64, times=DATES, seed=3)
    store = str(tmp_path / "ts.zarr")
    geocodec.to_zarr(full.isel(time=0), store, lmbda=0.01, gamma=0.3, append_dim="time", **KW)  # creates
    geocodec.to_zarr(full.isel(time=1), store, lmbda=0.02, append_dim="time", **KW)  # no mode=: "a", like xarray
    r = geocodec.to_zarr(full.isel(time=2), store, append_dim="time", **KW)  # no settings: the last date's
    acq = open_cube(store).record.acquisitions
    assert r.chunks_written == 1 and len(acq) == 3
    assert [a.lmbda for a in acq] == pytest.approx([0.01, 0.02, 0.02])
    assert [a.gamma for a in acq] == pytest.approx([0.3, 0.3, 0.3])
    assert _lmbda(store, "c/2/0/0/0") == pytest.approx(0.02, rel=1e-5)

    # item 3: re-running a date of an appended cube with another λ rewrites that whole date
    again = geocodec.to_zarr(full.isel(time=1), store, lmbda=0.005, append_dim="time", **KW)
    acq = open_cube(store).record.acquisitions
    assert (again.chunks_written, again.chunks_reused) == (1, 0)
    assert [a.lmbda for a in acq] == pytest.approx([0.01, 0.005, 0.02]) and all(a.complete for a in acq)
    assert _lmbda(store, "c/1/0/0/0") == pytest.approx(0.005, rel=1e-5)

    # region="auto" on a time series: one date picked with isel (a scalar time), found by its coordinates
    same = geocodec.to_zarr(full.isel(time=2), store, region="auto", **KW)
    assert (same.chunks_written, same.chunks_reused) == (0, 1)
    with pytest.raises(InvalidInputError, match="not a consecutive run"):
        geocodec.to_zarr(dataset(64, 64, times=np.array(["2022-01-01"], dtype="datetime64[ns]")), store,
                         region="auto", **KW)


def test_region_takes_the_cubes_settings_and_auto_finds_the_window(tmp_path):
    import xarray as xr

    ds = dataset(128, 64, seed=5)
    store = str(tmp_path / "regions.zarr")
    geocodec.to_zarr(ds, store, lmbda=0.02, gamma=0.3, compute=False, **KW)  # metadata only
    top = geocodec.to_zarr(ds.isel(y=slice(0, 64)), store, region={"y": slice(0, 64)}, **KW)  # no mode, no λ
    assert top.chunks_written == 1 and top.record["complete"] is False
    bottom = geocodec.to_zarr(ds.isel(y=slice(64, 128)), store, region="auto", **KW)
    assert bottom.chunks_written == 1 and bottom.record["complete"] is True
    rec = open_cube(store).record
    assert rec.lmbda == pytest.approx(0.02) and rec.gamma == pytest.approx(0.3)
    assert _lmbda(store, "c/0/1/0") == pytest.approx(0.02, rel=1e-5)
    cube = xr.open_dataset(store, engine="geocodec")
    assert cube.sar.shape == (2, 128, 64)

    with pytest.raises(InvalidInputError, match="gamma differ"):  # what is given must still agree
        geocodec.to_zarr(ds.isel(y=slice(0, 64)), store, region="auto", gamma=0.9, **KW)
    with pytest.raises(InvalidInputError, match="y values .* not a consecutive run"):
        geocodec.to_zarr(ds.isel(y=slice(0, 64)).assign_coords(y=ds.y.values[:64] + 5.0), store,
                         region="auto", **KW)


def test_mode_a_with_another_lmbda_on_a_whole_cube_is_refused_as_documented(tmp_path):
    ds = dataset(64, 64)
    store = str(tmp_path / "c.zarr")
    geocodec.to_zarr(ds, store, lmbda=0.01, **KW)
    with pytest.raises(InvalidInputError, match="lmbda differ.*mode='w' to replace"):
        geocodec.to_zarr(ds, store, mode="a", lmbda=0.02, **KW)
    r = geocodec.to_zarr(ds, store, mode="a", **KW)  # no λ: the cube's; nothing to redo
    assert (r.chunks_written, r.chunks_reused) == (0, 1)
