"""The STAC extension's schema, its packaged copies and offline validation (no network)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest

import geocodec.stac as gstac
from geocodec.stac.schemas import packaged_schema_path, packaged_schemas, schema_dir
from stac_cube import no_network  # noqa: F401 - fixture

REPO = Path(__file__).resolve().parents[1]
STAC_DIR = REPO / "stac"


def _example(name):
    return json.loads((STAC_DIR / "examples" / name).read_text())


def test_packaged_schema_is_byte_identical_to_the_stac_folder():
    ours = (STAC_DIR / "json-schema" / "schema.json").read_bytes()
    assert packaged_schema_path(gstac.SCHEMA_URI).read_bytes() == ours


def test_our_schema_is_a_valid_draft7_schema_with_the_documented_id():
    schema = json.loads((STAC_DIR / "json-schema" / "schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["$id"] == gstac.SCHEMA_URI
    assert gstac.SCHEMA_URI in (STAC_DIR / "README.md").read_text()


def test_index_lists_every_packaged_schema_under_its_own_id():
    index = json.loads((schema_dir() / "index.json").read_text())["schemas"]
    files = {p.relative_to(schema_dir()).as_posix() for p in schema_dir().rglob("*.json")} - {"index.json"}
    assert set(index.values()) == files
    for uri, rel in index.items():
        sid = json.loads((schema_dir() / rel).read_text())["$id"].split("#")[0]
        # STAC 1.1.0's common.json ships with the id ".../commonjson" (upstream typo); its URI is ".../common.json"
        assert sid == uri or (rel.endswith("common.json") and sid == uri.replace("common.json", "commonjson"))


def test_every_extension_an_item_declares_is_packaged_at_that_version():
    schemas = packaged_schemas()
    for uri in gstac.EXTENSION_URIS.values():
        assert uri in schemas
    for name in ("item.json", "collection.json"):
        for uri in _example(name)["stac_extensions"]:
            assert uri in schemas, f"{name} uses {uri}, which is not packaged"


def test_example_item_validates_against_our_schema_with_plain_jsonschema():
    schema = json.loads((STAC_DIR / "json-schema" / "schema.json").read_text())
    jsonschema.Draft7Validator(schema).validate(_example("item.json"))
    jsonschema.Draft7Validator(schema).validate(_example("collection.json"))


@pytest.mark.parametrize("name", ["item.json", "collection.json"])
def test_examples_validate_offline_against_core_and_all_extensions(name, no_network):
    uris = gstac.validate_dict(_example(name))
    assert gstac.SCHEMA_URI in uris and any("stacspec.org" in u for u in uris)


def test_pystac_item_validate_uses_the_packaged_schemas(no_network):
    import pystac

    item = pystac.Item.from_file(str(STAC_DIR / "examples" / "item.json"))
    with gstac.offline_validation():
        uris = item.validate()  # pystac's own API, within the context
    assert set(gstac.EXTENSION_URIS.values()) - {gstac.MLM_SCHEMA_URI} <= set(uris)


def _set(d, path, value):
    *head, last = path
    for k in head:
        d = d[k]
    if value is _DELETE:
        del d[last]
    else:
        d[last] = value


_DELETE = object()

TAMPERINGS = {
    "gamma out of range": (("properties", "geocodec:gamma"), 1.5, "geocodec:gamma"),
    "sha256 not hex": (("properties", "geocodec:model", "sha256"), "not-a-sha256", "sha256"),
    "model removed": (("properties", "geocodec:model"), _DELETE, "geocodec:model"),
    "no rate recorded": (("properties", "geocodec:lambda"), None, "geocodec:lambda"),
    "unknown geocodec field": (("properties", "geocodec:lamda"), 0.01, "geocodec:lamda"),
    "quality without bpp": (("properties", "geocodec:quality", "bpp"), _DELETE, "bpp"),
    "bad SAR scale": (("properties", "geocodec:modalities", "sar", "scale"), "log", "scale"),
    "bad polarisation": (("properties", "sar:polarizations"), ["VV", "XX"], "XX"),
    "bad proj transform": (("properties", "proj:transform"), [1.0, 2.0], "proj:transform"),
    "bad checksum": (("assets", "zarr", "file:checksum"), "ZZ", "file:checksum"),
}


@pytest.mark.parametrize("what", sorted(TAMPERINGS))
def test_tampered_example_item_fails_clearly(what, no_network):
    path, value, mentioned = TAMPERINGS[what]
    d = copy.deepcopy(_example("item.json"))
    if what == "no rate recorded":
        d["properties"]["geocodec:target_bpp"] = None
    _set(d, path, value)
    with pytest.raises(gstac.InvalidStacError) as e:
        gstac.validate_dict(d)
    assert mentioned in str(e.value)
    assert isinstance(e.value, gstac.StacError)


def test_collection_without_model_summary_fails(no_network):
    d = copy.deepcopy(_example("collection.json"))
    del d["summaries"]["geocodec:model"]
    with pytest.raises(gstac.InvalidStacError, match="geocodec:model"):
        gstac.validate_dict(d)


def test_unpackaged_schema_fails_loudly_instead_of_fetching(no_network):
    d = copy.deepcopy(_example("item.json"))
    d["stac_extensions"].append("https://stac-extensions.github.io/view/v1.0.0/schema.json")
    with pytest.raises(gstac.SchemaNotPackagedError, match="view/v1.0.0"):
        gstac.validate_dict(d)
