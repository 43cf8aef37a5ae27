"""Encode → Item → validate offline → catalog on disk → read back → open lazily, with provenance checks."""

from __future__ import annotations

import copy
import datetime as dt
import json
import subprocess
import sys
import textwrap

import dask.array
import numpy as np
import pystac
import pytest
import xarray as xr
import zarr

import geocodec
import geocodec.stac as gstac
from geocodec.errors import ModelMismatchError
from geocodec.cube.store import read_chunk
from geocodec.cube import chunks as framing
from stac_cube import no_network, write_cube  # noqa: F401 - fixture

WHEN = dt.datetime(2018, 5, 1, 10, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    """Two cubes written by the real writer, their Items in a Collection saved as a self-contained catalog."""
    root = tmp_path_factory.mktemp("stac_open")
    items = []
    for k, gamma in enumerate((0.3, 0.8)):
        store = root / "data" / f"tile{k}.zarr"
        write_cube(store, gamma=gamma)
        items.append(gstac.create_item(store, datetime=WHEN + dt.timedelta(days=12 * k)))
    collection = gstac.create_collection(items, collection_id="geocodec-test", description="two test tiles")
    collection.normalize_hrefs(str(root / "catalog"))
    collection.make_all_asset_hrefs_relative()
    collection.save(pystac.CatalogType.SELF_CONTAINED)
    return root / "catalog" / "collection.json"


def _chunk_truth(store, key):
    """geocodec.decompress of the one item in a stored chunk: the reference for what the engine returns."""
    arr = zarr.open_group(str(store), mode="r")["pair"]
    frame = framing.unpack(read_chunk(arr, key))
    (item,) = [i for i in frame.items if i is not None]
    return geocodec.decompress(item)


def test_catalog_round_trip_opens_lazily_and_equals_decompress(catalog, no_network):
    collection = pystac.Collection.from_file(str(catalog))
    with gstac.offline_validation():
        collection.validate_all()  # offline: the no_network fixture fails the test on any fetch
    items = sorted(collection.get_items(), key=lambda i: i.id)
    assert [i.properties["geocodec:gamma"] for i in items] == [0.3, 0.8]
    summaries = collection.summaries.to_dict()
    assert summaries["geocodec:gamma"] == {"minimum": 0.3, "maximum": 0.8}
    assert summaries["geocodec:model"] == [items[0].properties["geocodec:model"]]

    item = items[0]
    ds = gstac.open_dataset(item, seamless=False)  # each chunk alone, as decompress decodes it
    assert isinstance(ds.optical.data, dask.array.Array) and isinstance(ds.sar.data, dask.array.Array)
    assert ds.optical.chunks == ((4,), (64,), (64, 64))
    assert ds.optical.dtype == np.uint16 and ds.sar.dtype == np.float32
    store = item.assets["zarr"].get_absolute_href()
    for cx in (0, 1):
        opt, sar = _chunk_truth(store, f"c/0/0/{cx}")
        np.testing.assert_array_equal(ds.optical[:, :, 64 * cx:64 * (cx + 1)].values, opt)
        np.testing.assert_array_equal(ds.sar[:, :, 64 * cx:64 * (cx + 1)].values, sar)
    assert ds.rio.crs.to_epsg() == 32633


def test_open_from_href_with_one_modality_decodes_only_that_variable(catalog):
    collection = pystac.Collection.from_file(str(catalog))
    item = sorted(collection.get_items(), key=lambda i: i.id)[1]
    ds = gstac.open_dataset(item.get_self_href(), modality="sar", seamless=False)
    assert list(ds.data_vars) == ["sar"]
    opt, sar = _chunk_truth(item.assets["zarr"].get_absolute_href(), "c/0/0/1")
    np.testing.assert_array_equal(ds.sar[:, :, 64:].values, sar)


def _tampered(catalog, edit, tmp_path):
    collection = pystac.Collection.from_file(str(catalog))
    item = sorted(collection.get_items(), key=lambda i: i.id)[0]
    d = item.to_dict()
    d["assets"]["zarr"]["href"] = item.assets["zarr"].get_absolute_href()
    edit(d)
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(d))
    return path


def test_schema_invalid_tampering_fails_before_opening(catalog, tmp_path):
    path = _tampered(catalog, lambda d: d["properties"].__setitem__("geocodec:gamma", 2.0), tmp_path)
    with pytest.raises(gstac.InvalidStacError, match="geocodec:gamma"):
        gstac.open_dataset(path)


@pytest.mark.parametrize("field, value, named", [
    ("geocodec:gamma", 0.5, "gamma"),
    ("geocodec:lambda", 0.02, "lambda"),
    ("geocodec:quality", "inflate", "quality"),
])
def test_item_that_does_not_describe_its_store_fails_clearly(catalog, tmp_path, field, value, named):
    def edit(d):
        expect = d["assets"]["zarr"]["xarray:open_kwargs"]["expect"]
        claim = {"geocodec:gamma": "gamma", "geocodec:lambda": "lmbda", "geocodec:quality": "quality"}[field]
        if value == "inflate":
            d["properties"][field]["psnr_optical"] += 10.0
            expect[claim]["psnr_optical"] += 10.0
        else:
            d["properties"][field] = expect[claim] = value

    path = _tampered(catalog, edit, tmp_path)  # properties and open kwargs edited alike: only the store can tell
    gstac.validate_dict(json.loads(path.read_text()))
    with pytest.raises(gstac.ProvenanceError, match=named):
        gstac.open_dataset(path)
    with pytest.raises(gstac.ProvenanceError, match=named):  # the engine, handed the asset, checks it too
        xr.open_dataset(pystac.Item.from_file(str(path)).assets["zarr"])


def test_an_item_whose_properties_disagree_with_its_open_kwargs_is_invalid(catalog, tmp_path):
    path = _tampered(catalog, lambda d: d["properties"].__setitem__("geocodec:gamma", 0.5), tmp_path)
    with pytest.raises(gstac.InvalidStacError, match="open_kwargs.*geocodec:gamma: 0.3 vs 0.5"):
        gstac.validate_dict(json.loads(path.read_text()))


def test_item_naming_another_model_sha256_fails_clearly(catalog, tmp_path):
    other = "0123456789abcdef" * 4
    def edit(d):
        d["properties"]["geocodec:model"]["sha256"] = other
        d["assets"]["zarr"]["xarray:open_kwargs"]["expect"]["model_sha256"] = other

    path = _tampered(catalog, edit, tmp_path)
    with pytest.raises(ModelMismatchError, match="0123456789abcdef") as e:
        gstac.open_dataset(path)
    assert "written by model" in str(e.value)


def test_store_checksum_is_verified_on_request(catalog, tmp_path):
    import shutil

    collection = pystac.Collection.from_file(str(catalog))
    item = sorted(collection.get_items(), key=lambda i: i.id)[0]
    gstac.open_dataset(item, verify_checksum=True)
    store = tmp_path / "copy.zarr"
    shutil.copytree(item.assets["zarr"].get_absolute_href(), store)
    chunk = store / "pair" / "c" / "0" / "0" / "1"
    data = bytearray(chunk.read_bytes())
    data[-5] ^= 0xFF
    chunk.write_bytes(bytes(data))
    moved = item.clone()
    moved.assets["zarr"].href = str(store)
    with pytest.raises(gstac.ProvenanceError, match="changed since"):
        gstac.open_dataset(moved, verify_checksum=True)


@pytest.fixture(scope="module")
def custom_model_cube(tmp_path_factory, model):
    """A cube written by a model that is not registered: a perturbed copy of the default, in its own file."""
    from geocodec.model_file import save_model_file

    root = tmp_path_factory.mktemp("stac_custom")
    net = copy.deepcopy(model.net).cpu()
    with __import__("torch").no_grad():
        p = next(net.parameters())
        p.add_(1e-3 * __import__("torch").ones_like(p))
    weights = root / "custom.safetensors"
    sha = save_model_file(net, weights, name="stac-test", version="0.0.0-test")
    assert sha != model.sha256
    store = root / "tile.zarr"
    write_cube(store, model=str(weights))
    item_path = root / "item.json"
    gstac.write_item_for_store(store, item_path, datetime=WHEN)
    return weights, item_path, sha


def test_model_the_item_names_must_be_the_one_that_decodes(custom_model_cube, model, tmp_path):
    weights, item_path, sha = custom_model_cube
    item = pystac.Item.from_file(str(item_path))
    assert item.properties["geocodec:model"]["sha256"] == sha
    ds = gstac.open_dataset(item_path)  # the weights are there: it opens
    assert ds.optical.shape == (4, 64, 128)

    # the same path now holds other weights (the registered default model): decoding must refuse
    from geocodec.model_file import save_model_file

    moved = weights.with_suffix(".bak")
    weights.rename(moved)
    try:
        other = save_model_file(copy.deepcopy(model.net).cpu(), weights, name="stac-test", version="0.0.0-test")
        code = textwrap.dedent(f"""
            import geocodec.stac
            from geocodec.errors import ModelMismatchError
            try:
                geocodec.stac.open_dataset({str(item_path)!r}, device="cpu")
            except ModelMismatchError as e:
                print("MISMATCH", e)
        """)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        assert "MISMATCH" in out.stdout, out.stdout + out.stderr
        assert sha[:16] in out.stdout and other[:16] in out.stdout
    finally:
        weights.unlink(missing_ok=True)
        moved.rename(weights)


def test_missing_weights_fail_with_a_clear_error(custom_model_cube, tmp_path):
    weights, item_path, sha = custom_model_cube
    moved = weights.with_suffix(".gone")
    weights.rename(moved)
    try:
        with pytest.raises(ModelMismatchError, match="does not have"):
            gstac.open_dataset(item_path)
    finally:
        moved.rename(weights)
