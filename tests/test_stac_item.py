"""create_item: the Item records exactly what the real writer stored, and refuses what it cannot vouch for."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import numpy as np
import pytest
import torch

import geocodec
import geocodec.stac as gstac
from geocodec.errors import InvalidInputError
from stac_cube import EPSG, RES, X0, Y0, dataset, no_network, write_cube  # noqa: F401 - fixture

WHEN = dt.datetime(2018, 5, 1, 10, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def cube(tmp_path_factory):
    path = tmp_path_factory.mktemp("stac_item") / "tile.zarr"
    write_cube(path, lmbda=0.01, gamma=0.6)
    return path


def _record(path):
    import zarr

    return dict(zarr.open_group(str(path), mode="r").attrs)["geocodec"]


def test_item_records_model_settings_bands_and_quality_of_the_store(cube, no_network):
    item = gstac.create_item(cube, datetime=WHEN)
    rec = _record(cube)
    p = item.properties
    assert p["geocodec:model"] == {**rec["model"], "framework": "pytorch", "framework_version": torch.__version__}
    assert p["geocodec:lambda"] == pytest.approx(0.01) and p["geocodec:target_bpp"] is None
    assert p["geocodec:gamma"] == 0.6 and p["geocodec:format_version"] == rec["format_version"]
    assert p["geocodec:modalities"]["optical"]["bands"] == ["B02", "B03", "B04", "B08"]
    assert p["geocodec:modalities"]["sar"] == {"bands": ["VV", "VH"], "data_type": "float32", "scale": "db",
                                               "nodata": None}
    assert p["geocodec:quality"] == rec["quality"] and p["geocodec:quality"]["bpp"] > 0
    assert p["geocodec:chunks"] == {"band": 6, "y": 64, "x": 64}
    assert p["processing:software"]["geocodec"] == geocodec.__version__
    assert item.datetime == WHEN
    with gstac.offline_validation():
        assert item.validate()  # pystac's own call, offline


def test_item_grid_matches_the_georeferencing(cube):
    from pyproj import Transformer

    item = gstac.create_item(cube, datetime=WHEN)
    p = item.properties
    assert p["proj:code"] == f"EPSG:{EPSG}" and p["proj:shape"] == [64, 128]
    assert p["proj:transform"] == [RES, 0.0, X0, 0.0, -RES, Y0]
    assert p["proj:bbox"] == [X0, Y0 - 64 * RES, X0 + 128 * RES, Y0]
    lon, lat = Transformer.from_crs(EPSG, 4326, always_xy=True).transform([X0, X0 + 128 * RES], [Y0, Y0 - 64 * RES])
    np.testing.assert_allclose(item.bbox, [min(lon), min(lat), max(lon), max(lat)], atol=1e-6)
    ring = item.geometry["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) == 5


def test_zarr_asset_is_openable_by_generic_readers_and_describes_bands(cube):
    item = gstac.create_item(cube, datetime=WHEN)
    a = item.assets[gstac.ASSET_KEY]
    assert a.media_type == "application/vnd.zarr" and "data" in a.roles
    kwargs = a.extra_fields["xarray:open_kwargs"]
    assert {k: kwargs[k] for k in ("engine", "chunks")} == {"engine": "geocodec", "chunks": {}}
    assert kwargs["expect"]["gamma"] == item.properties["geocodec:gamma"]  # the claims the engine checks
    eo = a.extra_fields["eo:bands"]
    assert [b["name"] for b in eo] == ["B02", "B03", "B04", "B08"]  # SAR bands are no eo bands
    assert [b.get("common_name") for b in eo] == ["blue", "green", "red", "nir"]
    assert [b["name"] for b in a.extra_fields["bands"]] == ["B02", "B03", "B04", "B08", "VV", "VH"]  # STAC 1.1
    raster = a.extra_fields["raster:bands"]
    rec = _record(cube)  # data types are what the engine returns: the record's, not the float32 storage
    assert [b["data_type"] for b in raster] == [rec["optical_dtype"]] * 4 + [rec["sar_dtype"]] * 2
    assert [b["data_type"] for b in raster] == ["uint16"] * 4 + ["float32"] * 2
    assert all(b["spatial_resolution"] == RES for b in raster)
    assert [b.get("unit") for b in raster[4:]] == ["dB", "dB"]
    assert item.properties["sar:polarizations"] == ["VV", "VH"]
    files = [f for f in cube.rglob("*") if f.is_file()]
    assert a.extra_fields["file:size"] == sum(f.stat().st_size for f in files)
    assert a.extra_fields["file:checksum"].startswith("1220") and len(a.extra_fields["file:checksum"]) == 68


def test_checksum_changes_when_any_chunk_byte_changes(cube, tmp_path):
    copy = tmp_path / "copy.zarr"
    shutil.copytree(cube, copy)
    before = gstac.create_item(copy, datetime=WHEN).assets["zarr"].extra_fields["file:checksum"]
    chunk = sorted((copy / "pair").rglob("c/*/*/*"))[0]
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 1
    chunk.write_bytes(bytes(data))
    after = gstac.create_item(copy, datetime=WHEN).assets["zarr"].extra_fields["file:checksum"]
    assert before != after


def test_time_coordinate_gives_the_item_its_time_range(tmp_path):
    import pandas as pd

    times = pd.to_datetime(["2018-05-01T10:00:00", "2018-05-13T10:00:00"])
    ds = dataset(h=64, w=64, times=times)
    write_cube(tmp_path / "series.zarr", ds)
    item = gstac.create_item(tmp_path / "series.zarr")
    assert item.datetime is None
    assert item.properties["start_datetime"] == "2018-05-01T10:00:00Z"
    assert item.properties["end_datetime"] == "2018-05-13T10:00:00Z"
    assert item.properties["geocodec:chunks"] == {"time": 1, "band": 6, "y": 64, "x": 64}
    gstac.validate(item)


def test_store_without_time_needs_a_datetime(cube):
    with pytest.raises(InvalidInputError, match="datetime="):
        gstac.create_item(cube)


def test_incomplete_or_foreign_stores_are_refused(cube, tmp_path):
    import zarr

    broken = tmp_path / "broken.zarr"
    shutil.copytree(cube, broken)
    g = zarr.open_group(str(broken), mode="r+")
    rec = dict(g.attrs)["geocodec"]
    g.attrs["geocodec"] = {**rec, "complete": False}
    with pytest.raises(InvalidInputError, match="incomplete"):
        gstac.create_item(broken, datetime=WHEN)

    plain = tmp_path / "plain.zarr"
    zarr.open_group(str(plain), mode="w").create_array("a", shape=(2,), dtype="f4")
    with pytest.raises(InvalidInputError, match="not a geocodec store"):
        gstac.create_item(plain, datetime=WHEN)
    with pytest.raises(InvalidInputError, match="not a directory"):
        gstac.create_item(tmp_path / "missing.zarr", datetime=WHEN)
    assert issubclass(InvalidInputError, geocodec.GeocodecError)


def test_write_item_for_store_saves_a_valid_item_with_a_relative_href(cube, tmp_path):
    out = tmp_path / "catalog" / "items" / "tile.json"
    gstac.write_item_for_store(cube, out, datetime=WHEN)
    d = json.loads(out.read_text())
    href = d["assets"]["zarr"]["href"]
    assert not href.startswith("/") and (out.parent / href).resolve() == cube.resolve()
    gstac.validate_dict(d)
