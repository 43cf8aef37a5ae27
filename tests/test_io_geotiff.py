"""GeoTIFF in (open_pair) and out (write_geotiff): band picking, grids, CRS/transform round trips."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import geocodec
from geocodec.errors import InvalidInputError
from geocodec.io import open_pair, write_geotiff

_ROW_COL = re.compile(r"_(\d+_\d+)$")


def bigearthnet_pairs(root: Path) -> list[tuple[str, Path, Path]]:
    """(tile_row_col, S2 folder, S1 folder), paired by the folders' trailing ``_row_col``."""
    s1 = {_ROW_COL.search(d.name).group(1): d for d in (root / "BigEarthNet-S1-Example").iterdir() if d.is_dir()}
    s2 = {_ROW_COL.search(d.name).group(1): d for d in (root / "BigEarthNet-S2-Example").iterdir() if d.is_dir()}
    return [(k, s2[k], s1[k]) for k in sorted(s1.keys() & s2.keys())]


def _read(path, bands=(1,)):
    import rasterio

    with rasterio.open(path) as src:
        return src.read(list(bands)), src.crs, src.transform, src.nodata, src.descriptions


def _roundtrip(ds, tmp_path, name, **kw):
    """Dataset → geocodec Zarr → engine → GeoTIFFs; returns the engine Dataset and the two paths."""
    import xarray as xr

    store = tmp_path / f"{name}.zarr"
    geocodec.to_zarr(ds, str(store), lmbda=0.01, device="cpu", progress=False, **kw)
    cube = xr.open_dataset(store, engine="geocodec", chunks={})
    return cube, write_geotiff(cube.optical, tmp_path / f"{name}_opt.tif"), \
        write_geotiff(cube.sar, tmp_path / f"{name}_sar.tif")


# ---------------------------------------------------------------------------- synthetic GeoTIFFs (no shared data)
def _write_tif(path, data, crs="EPSG:32633", transform=(10.0, 0.0, 500000.0, 0.0, -10.0, 5300000.0),
               descriptions=None, nodata=None):
    import rasterio
    from affine import Affine

    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                       dtype=data.dtype, crs=crs, transform=Affine(*transform), nodata=nodata) as dst:
        dst.write(data)
        for i, d in enumerate(descriptions or []):
            dst.set_band_description(i + 1, d)
    return path


@pytest.fixture
def synthetic_pair(tmp_path, rng):
    from conftest import smooth_pair

    opt, sar = smooth_pair(rng, 80, 72)
    o = _write_tif(tmp_path / "s2.tif", opt, descriptions=["B02", "B03", "B04", "B08"])
    s = _write_tif(tmp_path / "s1.tif", sar, descriptions=["VV", "VH"])
    return o, s, opt, sar


def test_synthetic_geotiff_zarr_geotiff_round_trip(tmp_path, synthetic_pair):
    o, s, opt, sar = synthetic_pair
    ds = open_pair(o, s)
    assert hasattr(ds.optical.data, "dask") and hasattr(ds.sar.data, "dask")  # lazy
    np.testing.assert_array_equal(ds.optical.values, opt)
    np.testing.assert_array_equal(ds.sar.values, sar)
    cube, opt_tif, sar_tif = _roundtrip(ds, tmp_path, "syn", chunks=64)
    src = _read(o)
    for path, da in ((opt_tif, cube.optical), (sar_tif, cube.sar)):
        data, crs, transform, _, desc = _read(path, range(1, da.shape[0] + 1))
        assert crs == src[1] and transform == src[2]
        np.testing.assert_array_equal(data, da.values)  # the GeoTIFF holds exactly what was decoded
        assert list(desc) == [str(v) for v in da[da.dims[0]].values]


def test_grid_mismatch_is_refused(tmp_path, synthetic_pair):
    o, _, _, sar = synthetic_pair
    shifted = _write_tif(tmp_path / "s1_shifted.tif", sar, transform=(10.0, 0.0, 500010.0, 0.0, -10.0, 5300000.0))
    with pytest.raises(InvalidInputError, match="not on the grid"):
        open_pair(o, shifted)
    other_crs = _write_tif(tmp_path / "s1_crs.tif", sar, crs="EPSG:32632")
    with pytest.raises(InvalidInputError, match="not on the grid"):
        open_pair(o, other_crs)
    small = _write_tif(tmp_path / "s1_small.tif", sar[:, :40])
    with pytest.raises(InvalidInputError, match="not on the grid"):
        open_pair(o, small)


def test_band_count_and_names(tmp_path, synthetic_pair, rng):
    o, s, opt, _ = synthetic_pair
    five = _write_tif(tmp_path / "five.tif", np.concatenate([opt, opt[:1]]))  # 5 unnamed bands
    with pytest.raises(InvalidInputError, match="has 5 bands.*optical_bands="):
        open_pair(five, s)
    ds = open_pair(five, s, optical_bands=[1, 2, 3, 4])
    np.testing.assert_array_equal(ds.optical.values, opt)
    with pytest.raises(InvalidInputError, match="out of range"):
        open_pair(five, s, optical_bands=[1, 2, 3, 9])
    with pytest.raises(InvalidInputError, match="has no band 'B05'"):
        open_pair(o, s, optical_bands=["B02", "B03", "B04", "B05"])
    with pytest.raises(InvalidInputError, match="neither a GeoTIFF nor a folder"):
        open_pair(tmp_path / "missing.tif", s)
    three = _write_tif(tmp_path / "three.tif", opt[:3])
    with pytest.raises(InvalidInputError, match="optical has 3 bands"):  # caught by the writer
        geocodec.to_zarr(open_pair(three, s, optical_bands=[1, 2, 3]), str(tmp_path / "x.zarr"), lmbda=0.01,
                         progress=False)


# ---------------------------------------------------------------------------- real data
def test_bigearthnet_pairs_open_on_one_grid(shared_data):
    pairs = bigearthnet_pairs(shared_data / "bigearthnet-example-geotiff")
    assert len(pairs) == 6
    for key, s2, s1 in pairs:
        ds = open_pair(s2, s1)
        assert ds.optical.shape == (4, 120, 120) and ds.sar.shape == (2, 120, 120)
        assert ds.optical.dtype == np.uint16 and ds.sar.dtype == np.float32
        b08 = next(s2.glob("*_B08.tif"))
        vh = next(s1.glob("*_VH.tif"))
        data, crs, transform, *_ = _read(b08)
        np.testing.assert_array_equal(ds.optical.sel(optical_band="B08").values, data[0])
        np.testing.assert_array_equal(ds.sar.sel(sar_band="VH").values, _read(vh)[0][0])
        assert ds.rio.crs == crs and ds.optical.rio.transform() == transform


def test_bigearthnet_20m_band_or_wrong_partner_is_refused(shared_data):
    pairs = bigearthnet_pairs(shared_data / "bigearthnet-example-geotiff")
    (_, s2, s1), (_, _, other_s1) = pairs[0], pairs[1]
    with pytest.raises(InvalidInputError, match="not on the grid"):
        open_pair(s2, s1, optical_bands=["B02", "B03", "B04", "B05"])  # B05 is 20 m (60×60)
    with pytest.raises(InvalidInputError, match="not on the grid"):
        open_pair(s2, other_s1)  # another patch: another place


def test_bigearthnet_geotiff_zarr_geotiff_round_trip(shared_data, tmp_path):
    pairs = bigearthnet_pairs(shared_data / "bigearthnet-example-geotiff")
    key, s2, s1 = next(p for p in pairs if p[0] == "87_48")
    ds = open_pair(s2, s1)
    cube, opt_tif, sar_tif = _roundtrip(ds, tmp_path, key, chunks=64)  # 2×2 chunks, edge chunks of 56 px
    _, crs, transform, *_ = _read(next(s2.glob("*_B02.tif")))
    for path, name in ((opt_tif, "optical"), (sar_tif, "sar")):
        data, crs_out, tr_out, _, desc = _read(path, range(1, cube[name].shape[0] + 1))
        assert crs_out == crs and tr_out == transform and data.shape[1:] == (120, 120)
        np.testing.assert_array_equal(data, cube[name].values)
    assert list(_read(opt_tif, range(1, 5))[4]) == ["B02", "B03", "B04", "B08"]
    from zarr_data import assert_in_place

    assert_in_place(cube.sar.values, ds.sar.values)


def test_sen1floods_picks_the_10m_bands_and_keeps_nodata(shared_data, tmp_path):
    folder = shared_data / "sen1floods11-spain"
    ds = open_pair(folder / "S2.tif", folder / "S1.tif")
    expected, crs, transform, nodata, desc = _read(folder / "S2.tif", (2, 3, 4, 8))  # 1-based B02, B03, B04, B08
    assert [desc[i - 1] for i in (2, 3, 4, 8)] == ["B2", "B3", "B4", "B8"]
    np.testing.assert_array_equal(ds.optical.values, expected)
    assert ds.optical.dtype == np.int16 and ds.optical.rio.nodata == nodata == 0
    np.testing.assert_array_equal(open_pair(folder / "S2.tif", folder / "S1.tif",
                                            optical_bands=[2, 3, 4, 8]).optical.values, expected)
    sar = _read(folder / "S1.tif", (1, 2))[0]
    np.testing.assert_array_equal(ds.sar.values, sar)
    assert ds.rio.crs == crs and ds.optical.rio.transform() == transform

    crop = ds.isel(y=slice(0, 100), x=slice(0, 90))  # a small piece keeps the test fast; same CRS
    cube, opt_tif, sar_tif = _roundtrip(crop, tmp_path, "floods", chunks=64)
    assert json.loads(cube.attrs["geocodec"])["optical_nodata"] == 0
    o = cube.optical.values
    assert np.array_equal(o == 0, crop.optical.values == 0)  # nodata exactly where it was
    s = cube.sar.values
    assert np.array_equal(np.isnan(s), np.isnan(crop.sar.values))
    data, crs_out, tr_out, nodata_out, _ = _read(sar_tif, (1, 2))
    assert crs_out == crs and tr_out == crop.optical.rio.transform() and np.isnan(nodata_out)
    np.testing.assert_array_equal(data, s)
    assert _read(opt_tif)[3] == 0
