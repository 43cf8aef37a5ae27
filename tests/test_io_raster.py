"""The one raster layer (geocodec.io on rioxarray): headers, eager reads, the grid check, BigEarthNet pairing."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import smooth_pair
from geocodec.errors import InvalidInputError
from geocodec.io import (
    bigearthnet_pairs, check_one_grid, describe, read_band_folder, read_bands, read_optical_scene, read_pair)


def _write(path, a, *, nodata=None, x0=500000.0, crs="EPSG:32633", names=None):
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(path, "w", driver="GTiff", height=a.shape[1], width=a.shape[2], count=a.shape[0],
                       dtype=a.dtype.name, crs=crs, transform=from_origin(x0, 5300000, 10, 10), nodata=nodata) as dst:
        dst.write(a)
        for i, n in enumerate(names or []):
            dst.set_band_description(i + 1, n)
    return path


def test_header_and_eager_read(tmp_path, rng):
    opt, _ = smooth_pair(rng, 40, 48)
    f = _write(tmp_path / "o.tif", opt, nodata=0, names=["b2", "B03", "B4", "B08"])
    info = describe(f)
    assert info.count == 4 and info.names == ["B02", "B03", "B04", "B08"] and info.nodata == 0.0
    assert info.grid.shape == (40, 48) and str(info.grid.crs) == "EPSG:32633"
    assert tuple(info.grid.transform)[:6] == (10.0, 0.0, 500000.0, 0.0, -10.0, 5300000.0)
    a, _ = read_bands(f, (4, 2))
    assert a.dtype == np.uint16 and np.array_equal(a, opt[[3, 1]])
    with pytest.raises(InvalidInputError, match="has 4 bands"):
        read_bands(f, (5,))
    (tmp_path / "bad.tif").write_bytes(b"not a tiff")
    with pytest.raises(InvalidInputError, match="cannot read"):
        describe(tmp_path / "bad.tif")


def test_optical_scene_marks_nodata_as_nan(tmp_path, rng):
    opt, _ = smooth_pair(rng, 32, 32)
    opt[:, 0, 0] = 0
    a = read_optical_scene(_write(tmp_path / "o.tif", opt), 3)  # no nodata tag: 0 is nodata
    assert a.shape == (3, 32, 32) and a.dtype == np.float32
    assert np.isnan(a[:, 0, 0]).all() and np.isfinite(a[:, 1:, :]).all()
    with pytest.raises(InvalidInputError, match="needs 5"):
        read_optical_scene(tmp_path / "o.tif", 5)


def test_one_grid_check_for_pairs_and_band_folders(tmp_path, rng):
    opt, sar = smooth_pair(rng, 32, 32)
    _write(tmp_path / "o.tif", opt)
    _write(tmp_path / "s.tif", sar)
    o, s, info = read_pair(tmp_path / "o.tif", tmp_path / "s.tif")
    assert np.array_equal(o, opt) and s.dtype == np.float32 and np.array_equal(s, sar)
    _write(tmp_path / "s_moved.tif", sar, x0=500010.0)
    with pytest.raises(InvalidInputError, match="not on the grid"):
        read_pair(tmp_path / "o.tif", tmp_path / "s_moved.tif")
    _write(tmp_path / "s_crs.tif", sar, crs="EPSG:32632")
    with pytest.raises(InvalidInputError, match="not on the grid"):
        check_one_grid([describe(tmp_path / "o.tif").grid, describe(tmp_path / "s_crs.tif").grid])
    folder = tmp_path / "patch"
    folder.mkdir()
    _write(folder / "patch_VV.tif", sar[:1])
    _write(folder / "patch_VH.tif", sar[1:], x0=500010.0)
    with pytest.raises(InvalidInputError, match="patch_VH.tif is not on the grid of patch_VV.tif"):
        read_band_folder(folder, ["VV", "VH"])


def test_bigearthnet_pairing_by_row_col(tmp_path):
    for d in ("S1-Ex/S1A_X_33UUP_87_48", "S1-Ex/S1A_X_29UPU_4_55", "S1-Ex/S1A_X_29UPU_9_9",
              "S2-Ex/S2A_MSIL2A_Y_4_55", "S2-Ex/S2A_MSIL2A_Z_87_48"):
        (tmp_path / d).mkdir(parents=True)
    pairs = bigearthnet_pairs(tmp_path)
    assert [(k, s2.name, s1.name) for k, s2, s1 in pairs] == [
        ("4_55", "S2A_MSIL2A_Y_4_55", "S1A_X_29UPU_4_55"), ("87_48", "S2A_MSIL2A_Z_87_48", "S1A_X_33UUP_87_48")]
    with pytest.raises(InvalidInputError, match="no BigEarthNet"):
        bigearthnet_pairs(tmp_path / "S1-Ex")
