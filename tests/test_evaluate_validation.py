"""Loaders of the real validation pairs (skip without ../shared/data) and of synthetic GeoTIFFs."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import smooth_pair
from geocodec.errors import InvalidInputError
from geocodec.evaluation.datasets import load_bigearthnet_geotiff, load_geotiff_pair, load_validation_sets


def _write_tif(path, array, nodata=None, transform=None):
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(path, "w", driver="GTiff", height=array.shape[1], width=array.shape[2],
                       count=array.shape[0], dtype=array.dtype.name, crs="EPSG:32633",
                       transform=transform or from_origin(500000, 5000000, 10, 10), nodata=nodata) as dst:
        dst.write(array)


def test_real_sets_have_the_documented_pairs(shared_data):
    sets = load_validation_sets(shared_data, ["bigearthnet-geotiff", "sen1floods11-spain", "sen1floods11-spain-256"])
    assert set(load_validation_sets(shared_data)) == {"bigearthnet-geotiff", "sen1floods11-spain-256"}
    ben = sets["bigearthnet-geotiff"]
    assert len(ben) == 6
    assert {p.name for p in ben} >= {"bigearthnet_87_48", "bigearthnet_57_38"}
    for p in ben:
        assert p.optical.shape == (4, 120, 120) and p.optical.dtype == np.uint16
        assert p.sar.shape == (2, 120, 120) and p.sar.dtype == np.float32
        assert np.nanmedian(p.sar[0]) > np.nanmedian(p.sar[1])  # VV is brighter than VH
    (spain,) = sets["sen1floods11-spain"]
    assert spain.optical.shape == (4, 512, 512) and spain.optical.dtype == np.int16
    assert spain.sar.shape == (2, 512, 512)
    assert spain.crs == "EPSG:4326"
    tiles = sets["sen1floods11-spain-256"]
    assert [t.name for t in tiles] == [f"sen1floods11_spain_r{r}c{c}" for r in (0, 1) for c in (0, 1)]
    assert np.array_equal(tiles[3].optical, spain.optical[:, 256:, 256:])
    assert np.array_equal(tiles[1].sar, spain.sar[:, :256, 256:], equal_nan=True)
    a, b, x0, d, e, y0 = spain.transform  # a tile's transform puts its first pixel where it lies in the pair
    assert tiles[3].transform == pytest.approx((a, b, x0 + 256 * a, d, e, y0 + 256 * e))


def test_bigearthnet_pairs_match_by_row_col(shared_data):
    # the S2 patch …_87_48 must be paired with the S1 patch …_87_48 (same grid, same place)
    import rasterio

    root = shared_data / "bigearthnet-example-geotiff"
    pairs = {p.name: p for p in load_bigearthnet_geotiff(root)}
    s2 = next((root / "BigEarthNet-S2-Example").glob("*_87_48"))
    with rasterio.open(next(s2.glob("*_B04.tif"))) as src:  # independent reader, on purpose
        b04 = src.read(1)
    assert np.array_equal(pairs["bigearthnet_87_48"].optical[2], b04)


def test_small_pair_is_not_tiled():
    from geocodec.evaluation.datasets import ValidationPair, tiles

    p = ValidationPair("p", "t", np.zeros((4, 120, 300), np.uint16), np.zeros((2, 120, 300), np.float32))
    with pytest.raises(InvalidInputError, match="smaller than one 256"):
        tiles(p)


def test_geotiff_pair_band_selection_and_nodata(tmp_path, rng):
    opt, sar = smooth_pair(rng, 40, 48, dtype=np.int16)
    stack = np.concatenate([opt[:1] * 0 + 5, opt, opt[:1]])  # 6 bands: extra, B02..B08, extra
    _write_tif(tmp_path / "s2.tif", stack, nodata=0)
    _write_tif(tmp_path / "s1.tif", sar)
    p = load_geotiff_pair(tmp_path / "s2.tif", tmp_path / "s1.tif", name="x", dataset="t",
                          optical_indexes=(2, 3, 4, 5))
    assert np.array_equal(p.optical, opt) and np.array_equal(p.sar, sar)
    assert p.optical_nodata == 0.0
    with pytest.raises(InvalidInputError, match="bands"):
        load_geotiff_pair(tmp_path / "s2.tif", tmp_path / "s1.tif", name="x", dataset="t",
                          optical_indexes=(2, 3, 4, 8))


def test_geotiff_pair_on_different_grids_is_refused(tmp_path, rng):
    from rasterio.transform import from_origin

    opt, sar = smooth_pair(rng, 32, 32)
    _write_tif(tmp_path / "s2.tif", opt)
    _write_tif(tmp_path / "s1.tif", sar, transform=from_origin(500010, 5000000, 10, 10))
    with pytest.raises(InvalidInputError, match="not on the grid"):
        load_geotiff_pair(tmp_path / "s2.tif", tmp_path / "s1.tif", name="x", dataset="t",
                          optical_indexes=(1, 2, 3, 4))


def test_missing_data_root_is_a_clear_error(tmp_path):
    with pytest.raises(InvalidInputError, match="no validation data"):
        load_validation_sets(tmp_path)
