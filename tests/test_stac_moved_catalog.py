"""A catalog saved the pystac way survives being moved (issue #19, item 4): create_collection →
normalize_hrefs → save(SELF_CONTAINED) writes the model Item too, the weights href does not point
into the package relatively, MLM read back validates offline, and validate catches dangling hrefs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pystac
import pytest

import geocodec
import geocodec.stac as gstac
from stac_cube import no_network  # noqa: F401 - fixture
from zarr_data import dataset

KW = {"lmbda": 0.01, "chunks": 64, "device": "cpu", "progress": False, "quality_chunks": 1}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """root/data/{a,b}.zarr, root/models/default.json and root/items/{a,b}.json, as the README writes them."""
    root = tmp_path_factory.mktemp("project") / "root"
    model_json = root / "models" / "default.json"
    gstac.write_model_item(model_json)
    items = []
    for i, name in enumerate("ab"):
        store = root / "data" / f"{name}.zarr"
        geocodec.to_zarr(dataset(64, 64, seed=i), str(store), **KW)
        items.append(gstac.write_item_for_store(store, root / "items" / f"{name}.json", model_item=model_json,
                                                datetime=f"2019-01-0{i + 1}"))
    return root, items


def _every_json(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.json") if ".zarr" not in p.as_posix())


def test_saved_catalog_moves_as_a_folder_and_every_json_validates_offline(project, tmp_path, no_network):
    root, items = project
    col = gstac.create_collection([pystac.Item.from_file(it.get_self_href()) for it in items],
                                  collection_id="moved", description="two cubes and their model")
    col.normalize_hrefs(str(root / "catalog"))
    col.save(pystac.CatalogType.SELF_CONTAINED)
    written = _every_json(root / "catalog")
    models = [p for p in written if json.loads(p.read_text()).get("properties", {}).get("mlm:name")]
    assert len(models) == 1  # the model Item is saved with the catalog, once for both cubes

    moved = tmp_path / "elsewhere"
    shutil.move(str(root), str(moved))  # the whole folder, data included
    for path in _every_json(moved / "catalog"):
        obj = pystac.read_file(str(path))
        assert gstac.validate(obj), path  # schemas offline (MLM as pystac reads it back) and no dangling href
        for link in obj.links:
            href = link.get_absolute_href()
            if link.rel not in ("license", "self") and href and "://" not in href:
                assert Path(href).exists(), (path.name, link.rel, href)
        for key, asset in getattr(obj, "assets", {}).items():
            assert Path(asset.get_absolute_href()).exists(), (path.name, key)
    model = pystac.read_file(str(models[0]).replace(str(root), str(moved)))
    weights = model.assets["weights"].href
    assert Path(weights).is_absolute() and Path(weights).samefile(geocodec.registry.resolve_weights("default").path)
    cube = next(p for p in _every_json(moved / "catalog") if p.stem == "a")
    (link,) = pystac.Item.from_file(str(cube)).get_links(gstac.MODEL_REL)
    assert not link.href.startswith("/") and Path(link.get_absolute_href()).exists()  # relative, inside
    gstac.validate(pystac.Collection.from_file(str(moved / "catalog" / "collection.json")))
    shutil.move(str(moved), str(root))  # back, for the other tests of this module


def test_model_item_read_back_validates_offline(project, no_network):
    root, _ = project
    model = pystac.Item.from_file(str(root / "models" / "default.json"))  # pystac migrates MLM to its newest
    assert gstac.MLM_SCHEMA_URI in model.stac_extensions and gstac.validate(model)
    assert Path(model.assets["weights"].href).is_absolute()  # the weights are not beside the Item


def test_validate_catches_dangling_links_and_assets(project, tmp_path):
    root, items = project
    copy = tmp_path / "items"
    shutil.copytree(root / "items", copy)  # the Items alone: their store and model links now dangle
    item = pystac.Item.from_file(str(copy / "a.json"))
    with pytest.raises(gstac.InvalidStacError, match="do not exist.*geocodec:model"):
        gstac.validate(item)
    assert gstac.validate(item, check_hrefs=False)
    col = gstac.create_collection([pystac.Item.from_file(it.get_self_href()) for it in items],
                                  collection_id="c", description="d")
    col.normalize_hrefs(str(tmp_path / "cat"))
    col.save(pystac.CatalogType.SELF_CONTAINED)
    shutil.rmtree(next((tmp_path / "cat").rglob("models")))  # the model Item removed from the saved catalog
    with pytest.raises(gstac.InvalidStacError, match="do not exist"):
        gstac.validate(pystac.Collection.from_file(str(tmp_path / "cat" / "collection.json")))


def test_validate_command_walks_a_saved_catalog_and_stac_validator_uses_the_packaged_index(
        project, tmp_path, capsys, no_network):
    from geocodec.cli import main

    root, items = project
    col = gstac.create_collection([pystac.Item.from_file(it.get_self_href()) for it in items],
                                  collection_id="cli", description="d")
    col.normalize_hrefs(str(tmp_path / "cat"))
    col.save(pystac.CatalogType.SELF_CONTAINED)
    assert main(["stac", "validate", str(tmp_path / "cat" / "collection.json")]) == 0
    assert "(5 objects" in capsys.readouterr().out  # the Collection, 2 cube Items, the models catalog, the model
    model = next((tmp_path / "cat").rglob("models/*/*.json"))
    model.unlink()
    assert main(["stac", "validate", str(tmp_path / "cat" / "collection.json")]) == 2
    assert "do not exist" in capsys.readouterr().err

    from stac_validator import stac_validator

    assert main(["stac", "schemas"]) == 0
    index = capsys.readouterr().out.strip()
    v = stac_validator.StacValidate(str(root / "items" / "a.json"), schema_config=index)
    assert v.run(), v.message
