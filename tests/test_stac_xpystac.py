"""Opening a cube Item's asset the xpystac way from another working directory (issue #19, item 5)."""

from __future__ import annotations

import pystac
import pytest

import geocodec
import geocodec.stac as gstac
from geocodec.errors import InvalidInputError
from zarr_data import dataset

pytest.importorskip("xpystac")


@pytest.fixture(scope="module")
def item_json(tmp_path_factory):
    root = tmp_path_factory.mktemp("xpystac")
    store = root / "data" / "cube.zarr"
    geocodec.to_zarr(dataset(64, 64), str(store), lmbda=0.01, chunks=64, device="cpu", progress=False,
                     quality_chunks=1)
    gstac.write_item_for_store(store, root / "catalog" / "cube.json", datetime="2019-01-01")
    return root / "catalog" / "cube.json"


def test_item_and_asset_open_from_another_directory(item_json, tmp_path, monkeypatch):
    import xarray as xr

    monkeypatch.chdir(tmp_path)  # not where the Item or the store are
    item = pystac.Item.from_file(str(item_json))
    assert not item.assets["zarr"].href.startswith("/")  # relative on disk, so the folder can move
    ds = xr.open_dataset(item)  # the Item itself: engine "geocodec" is guessed, the href resolved
    assert set(ds.data_vars) == {"optical", "sar"}
    assert set(xr.open_dataset(item.assets["zarr"]).data_vars) == {"optical", "sar"}


def test_xpystac_engine_with_a_relative_href_says_what_to_do(item_json, tmp_path, monkeypatch):
    import xarray as xr

    monkeypatch.chdir(tmp_path)
    item = pystac.Item.from_file(str(item_json))
    with pytest.raises(InvalidInputError, match="xpystac .*passes asset.href as written.*make_asset_hrefs_absolute"):
        xr.open_dataset(item.assets["zarr"], engine="stac")  # xpystac 0.5 opens asset.href, unresolved
    item.make_asset_hrefs_absolute()  # pystac's own fix, in memory
    ds = xr.open_dataset(item.assets["zarr"], engine="stac")
    assert set(ds.data_vars) == {"optical", "sar"}
