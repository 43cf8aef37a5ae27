"""`geocodec stac item` / `geocodec stac validate`: the CLI over the same offline-validated Items."""

from __future__ import annotations

import json

import pystac
import pytest

import geocodec.stac as gstac
from geocodec.cli import main
from stac_cube import no_network, write_cube  # noqa: F401 - fixture


@pytest.fixture(scope="module")
def cubes(tmp_path_factory):
    root = tmp_path_factory.mktemp("stac_cli")
    paths = [root / "a.zarr", root / "b.zarr"]
    for k, p in enumerate(paths):
        write_cube(p, gamma=0.2 + 0.6 * k)
    return paths


def test_item_command_writes_items_and_keeps_the_collection_in_step(cubes, tmp_path, capsys, no_network):
    coll = tmp_path / "cat" / "collection.json"
    for k, store in enumerate(cubes):
        out = tmp_path / "cat" / "items" / f"{store.stem}.json"
        rc = main(["stac", "item", str(store), "-o", str(out), "--datetime", f"2018-05-0{k + 1}T10:00:00Z",
                   "--collection", str(coll), "--collection-id", "tiles"])
        assert rc == 0
        assert gstac.validate(pystac.Item.from_file(str(out)))
    assert "now holds 2 Item(s)" in capsys.readouterr().out
    c = pystac.Collection.from_file(str(coll))
    assert c.id == "tiles" and sorted(i.id for i in c.get_items()) == ["a", "b"]
    assert c.summaries.to_dict()["geocodec:gamma"] == {"minimum": 0.2, "maximum": 0.8}
    with gstac.offline_validation():
        c.validate_all()
    assert main(["stac", "validate", str(coll), str(tmp_path / "cat" / "items" / "a.json")]) == 0


def test_item_command_needs_a_datetime_without_a_time_coordinate(cubes, tmp_path, capsys):
    rc = main(["stac", "item", str(cubes[0]), "-o", str(tmp_path / "i.json")])
    assert rc == 2
    assert "datetime" in capsys.readouterr().err
    assert not (tmp_path / "i.json").exists()


def test_validate_command_rejects_a_tampered_item(cubes, tmp_path, capsys):
    out = tmp_path / "a.json"
    assert main(["stac", "item", str(cubes[0]), "-o", str(out), "--datetime", "2018-05-01"]) == 0
    d = json.loads(out.read_text())
    d["properties"]["geocodec:model"]["sha256"] = "XYZ"
    out.write_text(json.dumps(d))
    assert main(["stac", "validate", str(out)]) == 2
    assert "sha256" in capsys.readouterr().err


def _geotiffs(tmp_path):
    """A 4-band optical and a 2-band SAR GeoTIFF on one UTM grid, bands named in their descriptions."""
    import rasterio
    from rasterio.transform import from_origin

    from stac_cube import RES, X0, Y0, dataset

    ds = dataset(h=64, w=64, seed=3)
    paths = []
    for var, names in (("optical", ["B02", "B03", "B04", "B08"]), ("sar", ["VV", "VH"])):
        a = ds[var].values
        p = tmp_path / f"{var}.tif"
        with rasterio.open(p, "w", driver="GTiff", height=64, width=64, count=a.shape[0], dtype=a.dtype.name,
                           crs="EPSG:32633", transform=from_origin(X0, Y0, RES, RES)) as dst:
            dst.write(a)
            for i, n in enumerate(names, start=1):
                dst.set_band_description(i, n)
        paths.append(p)
    return paths


def test_encode_with_stac_writes_the_item_of_the_new_store(tmp_path, capsys, no_network):
    opt, sar = _geotiffs(tmp_path)
    store, item_path = tmp_path / "out.zarr", tmp_path / "items" / "out.json"
    rc = main(["encode", str(opt), str(sar), str(store), "--lmbda", "0.01", "--gamma", "0.7", "--chunk", "64",
               "--device", "cpu", "--quiet", "--stac", str(item_path), "--stac-datetime", "2018-05-01T10:00:00Z"])
    assert rc == 0, capsys.readouterr().err
    item = pystac.Item.from_file(str(item_path))
    gstac.validate(item)
    assert item.properties["geocodec:gamma"] == 0.7 and item.properties["proj:code"] == "EPSG:32633"
    assert item.assets["zarr"].get_absolute_href() == str(store.resolve())


def test_encode_with_stac_but_no_datetime_fails_before_encoding(tmp_path, capsys):
    opt, sar = _geotiffs(tmp_path)
    rc = main(["encode", str(opt), str(sar), str(tmp_path / "o.zarr"), "--lmbda", "0.01", "--quiet",
               "--stac", str(tmp_path / "i.json")])
    assert rc == 2 and "--stac-datetime" in capsys.readouterr().err
    assert not (tmp_path / "o.zarr").exists()
