"""geocodec's STAC side plays by pystac's rules: its extension class, pystac's global validator
left alone, hrefs that open where they are read (xpystac), the model as an MLM Item, licences,
and validation by stac-validator with the bundled schemas, offline."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pystac
import pytest

import geocodec.stac as gstac
from geocodec.cli import main
from geocodec.errors import GeocodecError, InvalidInputError
from stac_cube import no_network, write_cube  # noqa: F401 - fixture
from zarr_data import assert_same_decode

WHEN = dt.datetime(2018, 5, 1, 10, 0, tzinfo=dt.timezone.utc)
DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def cube(tmp_path_factory):
    path = tmp_path_factory.mktemp("stac_pystac") / "data" / "tile.zarr"
    write_cube(path, lmbda=0.01, gamma=0.6)
    return path


@pytest.fixture(scope="module")
def catalog(cube):
    """A model Item and a cube Item written by the CLI next to each other, the cube Item linking the model."""
    root = cube.parent.parent / "catalog"
    model_json, item_json = root / "models" / "default.json", root / "items" / "tile.json"
    assert main(["stac", "item", str(cube), "-o", str(item_json), "--datetime", "2018-05-01T10:00:00Z",
                 "--model-item", str(model_json), "--collection", str(root / "collection.json")]) == 0
    return root, item_json, model_json


def _record(store):
    import zarr

    return dict(zarr.open_group(str(store), mode="r").attrs)["geocodec"]


# ----------------------------------------------------------------------------- the extension class
def test_geocodec_extension_is_a_pystac_extension_class(cube):
    item = gstac.create_item(cube, datetime=WHEN)
    ext = gstac.GeocodecExtension.ext(item)
    rec = _record(cube)
    assert gstac.GeocodecExtension.has_extension(item)
    assert ext.gamma == 0.6 and ext.lmbda == pytest.approx(0.01) and ext.target_bpp is None
    assert ext.model == gstac.ModelRef(name=rec["model"]["name"], version=rec["model"]["version"],
                                       sha256=rec["model"]["sha256"], framework="pytorch",
                                       framework_version=rec["software"]["torch"])
    assert ext.modalities["sar"]["bands"] == ["VV", "VH"] and ext.chunks == {"band": 6, "y": 64, "x": 64}
    ext.gamma = 0.25  # typed setters write the properties pystac serialises
    assert item.to_dict()["properties"]["geocodec:gamma"] == 0.25
    assert "geocodec:target_bpp" in item.properties  # required and nullable: kept as null, not dropped

    plain = pystac.Item("x", None, None, WHEN, {})
    with pytest.raises(pystac.ExtensionNotImplemented):
        gstac.GeocodecExtension.ext(plain)
    gstac.GeocodecExtension.ext(plain, add_if_missing=True)
    assert gstac.SCHEMA_URI in plain.stac_extensions
    with pytest.raises(pystac.ExtensionTypeError):
        gstac.GeocodecExtension.ext(pystac.Asset(href="x"))


# ----------------------------------------------------------------------------- validation and global state
def test_importing_geocodec_stac_leaves_pystacs_validator_to_other_libraries(tmp_path):
    """Another library's Item with the view extension validates with pystac's own validator after
    `import geocodec.stac` (the view schema is served from a file: the test is offline)."""
    script = textwrap.dedent(f"""
        import datetime as dt, json, socket
        def refuse(*a, **k):
            raise OSError("network")
        socket.getaddrinfo = refuse
        import pystac, pystac.validation
        from pystac.extensions.view import ViewExtension
        before = pystac.validation.RegisteredValidator.get_validator()
        import geocodec.stac as gstac
        assert pystac.validation.RegisteredValidator.get_validator() is before, "import replaced the validator"
        with gstac.offline_validation():
            assert pystac.validation.RegisteredValidator.get_validator() is not before
        assert pystac.validation.RegisteredValidator.get_validator() is before, "context did not restore it"
        before.schema_cache[ViewExtension.get_schema_uri()] = json.load(open({str(DATA / "view-v1.0.0-schema.json")!r}))
        item = pystac.Item("other-library", None, None, dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc), {{}})
        item.add_asset("data", pystac.Asset(href="x.tif"))
        ViewExtension.ext(item, add_if_missing=True).off_nadir = 12.5
        assert item.validate()
        ViewExtension.ext(item).off_nadir = 120.0  # out of range: pystac's validator must still catch it
        try:
            item.validate()
        except pystac.STACValidationError:
            print("OK")
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip().endswith("OK"), r.stderr[-2000:]


def test_stac_validator_validates_items_collections_and_the_model_item_offline(catalog, no_network):
    from stac_validator import stac_validator

    root, item_json, model_json = catalog
    schema_map = {uri: str(gstac.schemas.packaged_schema_path(uri)) for uri in gstac.schemas._index()}
    for path in (item_json, model_json, root / "collection.json"):
        v = stac_validator.StacValidate(str(path), schema_map=schema_map)
        assert v.run(), (path.name, v.message)
        checked = " ".join(str(m) for m in v.message)
        assert "geocodec" in checked or "mlm" in checked or path.name == "collection.json"
    broken = json.loads(model_json.read_text())
    del broken["properties"]["mlm:architecture"]
    bad = root / "broken-model.json"
    bad.write_text(json.dumps(broken))
    v = stac_validator.StacValidate(str(bad), schema_map=schema_map)
    assert not v.run() and "mlm:architecture" in json.dumps(v.message)


# ----------------------------------------------------------------------------- the model Item
def test_model_item_describes_the_model_with_mlm(no_network):
    from geocodec.registry import registry

    entry = registry()["default"]
    item = gstac.create_model_item("default")
    p = item.properties
    assert gstac.MLM_SCHEMA_URI in item.stac_extensions
    assert item.id == gstac.model_item_id("default", entry["version"], entry["sha256"])
    assert p["mlm:framework"] == "PyTorch" and p["mlm:architecture"]
    assert [i["bands"] for i in p["mlm:input"]] == [entry["optical_bands"], entry["sar_bands"]]
    assert [o["name"] for o in p["mlm:output"]] == ["optical", "sar"]
    hp = p["mlm:hyperparameters"]
    assert [hp["lambda_min"], hp["lambda_max"]] == entry["lmbda_range"] and [hp["gamma_min"], hp["gamma_max"]] == [0, 1]
    assert p["mlm:total_parameters"] > 100_000
    weights = item.assets["weights"]
    assert "mlm:model" in weights.roles
    path = Path(weights.href)
    assert weights.extra_fields["file:checksum"] == "1220" + hashlib.sha256(path.read_bytes()).hexdigest()
    assert weights.extra_fields["file:size"] == path.stat().st_size
    assert entry["sha256"] in weights.description  # the tensor digest chunk headers and cube Items name
    assert gstac.validate(item)

    tampered = item.to_dict()
    tampered["properties"]["mlm:tasks"] = ["compression"]
    with pytest.raises(gstac.InvalidStacError, match="compression"):
        gstac.validate_dict(tampered)


def test_cube_items_link_to_the_model_item_that_decodes_them(catalog, no_network):
    _, item_json, model_json = catalog
    item = pystac.Item.from_file(str(item_json))
    (link,) = item.get_links(gstac.MODEL_REL)
    assert link.href == "../models/default.json"  # relative on disk
    # pystac migrates MLM Items to its newest MLM version on read; geocodec ships the v1.3.0 schema it writes
    model = pystac.Item.from_dict(json.loads(Path(link.get_absolute_href()).read_text()), migrate=False)
    assert model.id.endswith(item.properties["geocodec:model"]["sha256"][:12])
    assert gstac.validate(model) and gstac.validate(item)
    with pytest.raises(InvalidInputError, match="does not exist"):
        gstac.write_item_for_store(Path(item.assets["zarr"].get_absolute_href()), item_json.parent / "x.json",
                                   datetime=WHEN, model_item=item_json.parent / "missing.json")


# ----------------------------------------------------------------------------- hrefs and opening
def test_cli_written_item_opens_with_xarray_from_anywhere(catalog, tmp_path, monkeypatch):
    import xarray as xr

    _, item_json, _ = catalog
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the relative href must resolve against the Item, not the working dir
    item = pystac.Item.from_file(str(item_json))
    asset = item.assets["zarr"]
    assert asset.href == "../../data/tile.zarr" and asset.media_type == "application/vnd.zarr"
    ds = xr.open_dataset(asset)  # engine guessed from xarray:open_kwargs; href resolved via the self link
    ref = xr.open_dataset(asset.get_absolute_href(), engine="geocodec")
    np.testing.assert_allclose(ds.sar.values, ref.sar.values, atol=1e-3)  # same chunks, maybe other batches
    assert xr.open_dataset(asset, chunks={}).sar.chunks == ((2,), (64,), (64, 64))  # one Dask chunk per Zarr chunk


def test_xpystac_uses_the_open_kwargs_as_they_are(catalog):
    import xarray as xr

    _, item_json, _ = catalog
    item = pystac.Item.from_file(str(item_json))
    item.make_asset_hrefs_absolute()
    ds = xr.open_dataset(item.assets["zarr"], engine="stac")  # xpystac's backend, no help from geocodec
    assert set(ds.data_vars) == {"optical", "sar"} and ds.optical.dtype == np.uint16
    ref = xr.open_dataset(item.assets["zarr"].href, engine="geocodec")
    assert_same_decode(ds.optical.values, ref.optical.values)  # batch composition: float-kernel noise only


def test_the_engine_handed_an_asset_checks_its_item_against_the_store(catalog):
    """The usual door, ``xr.open_dataset(item.assets[...])``, checks provenance as ``gstac.open_dataset`` does."""
    import xarray as xr

    _, item_json, _ = catalog
    item = pystac.Item.from_file(str(item_json))
    item.properties["geocodec:gamma"] = 0.9  # tampered (the store was written with γ = 0.6)
    with pytest.raises(gstac.ProvenanceError, match="geocodec:gamma: 0.9 vs 0.6"):
        xr.open_dataset(item.assets["zarr"])
    item.properties["geocodec:gamma"] = 0.6
    assert set(xr.open_dataset(item.assets["zarr"]).data_vars) == {"optical", "sar"}


def test_xpystac_opening_an_item_for_another_store_is_refused(catalog, tmp_path):
    """xpystac passes only the href and the open kwargs: their ``expect`` is what the engine checks."""
    import xarray as xr

    _, item_json, _ = catalog
    other = tmp_path / "other.zarr"
    write_cube(other, lmbda=0.01, gamma=0.2)
    item = pystac.Item.from_file(str(item_json))
    item.assets["zarr"].href = str(other)  # the Item now points at a store it does not describe
    with pytest.raises(gstac.ProvenanceError, match="cube_id.*geocodec:gamma: 0.6 vs 0.2"):
        xr.open_dataset(item.assets["zarr"], engine="stac")


def test_allow_incomplete_is_never_taken_from_an_item(cube, tmp_path):
    import xarray as xr
    import zarr

    store = tmp_path / "half.zarr"
    shutil.copytree(cube, store)
    item = gstac.create_item(store, datetime=WHEN, checksum=False)
    g = zarr.open_group(str(store), mode="r+")
    g.attrs["geocodec"] = {**dict(g.attrs)["geocodec"], "complete": False}
    item.assets["zarr"].extra_fields["xarray:open_kwargs"]["allow_incomplete"] = True  # a hostile Item
    with pytest.raises(GeocodecError, match="incomplete"):
        gstac.open_dataset(item, validate_item=False)
    with pytest.raises(GeocodecError, match="incomplete"):
        xr.open_dataset(item.assets["zarr"])
    ds = gstac.open_dataset(item, validate_item=False, allow_incomplete=True)  # the caller's decision
    assert ds.sizes["y"] == 64


# ----------------------------------------------------------------------------- collections
def test_collections_carry_a_real_license_with_its_link(catalog, cube, no_network):
    root, _, _ = catalog
    c = pystac.Collection.from_file(str(root / "collection.json"))
    (link,) = c.get_links(pystac.RelType.LICENSE)
    assert c.license == "other" and link.href == gstac.SENTINEL_LICENSE_HREF
    assert gstac.GeocodecExtension.summaries(c).models[0].name == "default"

    item = gstac.create_item(cube, datetime=WHEN, checksum=False)
    spdx = gstac.create_collection([item], collection_id="c", description="d", license="CC-BY-4.0",
                                   license_href=None)
    assert spdx.get_single_link(pystac.RelType.LICENSE).href == "https://spdx.org/licenses/CC-BY-4.0.html"
    with pytest.raises(InvalidInputError, match="license_href"):
        gstac.create_collection([item], collection_id="c", description="d", license="other", license_href=None)


def test_example_model_item_describes_the_shipped_weights(no_network):
    """stac/examples/model.json (made by examples/stac_catalog.py) validates offline and still
    matches the weights in the package: same checksum, same tensor digest."""
    from geocodec.registry import registry

    d = json.loads((Path(__file__).parents[1] / "stac" / "examples" / "model.json").read_text())
    assert gstac.MLM_SCHEMA_URI in gstac.validate_dict(d)
    weights = Path(__file__).parents[1] / "geocodec" / "weights" / "default.safetensors"
    asset = d["assets"]["weights"]
    assert asset["file:checksum"] == "1220" + hashlib.sha256(weights.read_bytes()).hexdigest()
    assert d["id"] == gstac.model_item_id("default", registry()["default"]["version"], registry()["default"]["sha256"])
