"""Offline STAC validation from the JSON schemas shipped in ``geocodec/schemas``.

Catalogue checks must not depend on the network: the STAC core schemas, every extension
schema geocodec's Items use (at the exact versions named in their ``stac_extensions``) and
geocodec's own extension schema are packaged, indexed by URI in ``schemas/index.json``, and
served to pystac's validator from memory. A schema URI that is not packaged raises
``SchemaNotPackagedError`` instead of being fetched.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

import pystac
import pystac.validation
from pystac.validation.stac_validator import JsonSchemaSTACValidator

from geocodec.stac.errors import InvalidStacError, SchemaNotPackagedError

#: geocodec's own STAC extension (its schema is stac/json-schema/schema.json in the repository).
SCHEMA_URI = "https://geocodec.github.io/stac-extension/v1.0.0/schema.json"

#: The extension schemas geocodec Items declare, by short name.
EXTENSION_URIS = {
    "geocodec": SCHEMA_URI,
    "eo": "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "sar": "https://stac-extensions.github.io/sar/v1.0.0/schema.json",
    "proj": "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
    "raster": "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "file": "https://stac-extensions.github.io/file/v2.1.0/schema.json",
    "processing": "https://stac-extensions.github.io/processing/v1.1.0/schema.json",
    "xarray": "https://stac-extensions.github.io/xarray-assets/v1.0.0/schema.json",
}


def schema_dir() -> Path:
    return Path(str(resources.files("geocodec") / "schemas"))


def _key(uri: str) -> str:
    return uri.split("#", 1)[0]


@functools.cache
def _index() -> dict[str, str]:
    return json.loads((schema_dir() / "index.json").read_text())["schemas"]


@functools.cache
def _load(rel: str) -> str:
    return (schema_dir() / rel).read_text(encoding="utf-8")


def packaged_schemas() -> dict[str, dict[str, Any]]:
    """Every packaged schema, parsed, by its URI (fresh dicts: callers may not share state)."""
    return {uri: json.loads(_load(rel)) for uri, rel in _index().items()}


def packaged_schema_path(uri: str) -> Path:
    rel = _index().get(_key(uri))
    if rel is None:
        raise SchemaNotPackagedError(f"STAC schema {uri} is not packaged with geocodec")
    return schema_dir() / rel


class OfflineSTACValidator(JsonSchemaSTACValidator):
    """pystac's JSON-schema validator, fed only from geocodec's packaged schemas.

    ``allow_remote=True`` falls back to pystac's fetching for schemas geocodec does not ship
    (Items of other extensions); by default an unknown URI raises ``SchemaNotPackagedError``.
    """

    def __init__(self, allow_remote: bool = False) -> None:
        super().__init__()
        self.allow_remote = allow_remote
        self.schema_cache = packaged_schemas()

    def _get_schema(self, schema_uri: str) -> dict[str, Any]:
        key = _key(schema_uri)
        if key in self.schema_cache:
            return self.schema_cache[key]
        if self.allow_remote:
            return super()._get_schema(schema_uri)
        raise SchemaNotPackagedError(
            f"STAC schema {schema_uri} is not packaged with geocodec, and offline validation never "
            f"fetches schemas ({len(self.schema_cache)} are packaged, listed in geocodec/schemas/index.json). "
            "Use geocodec.stac.install_offline_validator(allow_remote=True) to let pystac fetch others.")

    def _validate_from_uri(self, stac_dict, stac_object_type, schema_uri, href=None):
        self._get_schema(schema_uri)  # fail on a missing schema before pystac logs a traceback
        return super()._validate_from_uri(stac_dict, stac_object_type, schema_uri, href=href)


def install_offline_validator(allow_remote: bool = False) -> OfflineSTACValidator:
    """Make pystac (``item.validate()`` etc.) validate against geocodec's packaged schemas."""
    validator = OfflineSTACValidator(allow_remote=allow_remote)
    pystac.validation.set_validator(validator)
    return validator


def _validator() -> OfflineSTACValidator:
    current = pystac.validation.RegisteredValidator.get_validator()
    if isinstance(current, OfflineSTACValidator):
        return current
    return OfflineSTACValidator()


def validate(obj: pystac.STACObject) -> list[str]:
    """Validate a pystac object offline; a failure raises ``InvalidStacError`` saying what is wrong."""
    d = obj.to_dict(transform_hrefs=False)  # no link resolution: a moved Item still validates
    try:
        return pystac.validation.validate_dict(d, stac_object_type=obj.STAC_OBJECT_TYPE,
                                               extensions=obj.stac_extensions, href=obj.get_self_href(),
                                               validator=_validator())
    except pystac.STACValidationError as e:
        kind = type(obj).__name__
        raise InvalidStacError(f"STAC {kind} {obj.id!r} is not valid: {e}") from None


def validate_dict(d: dict[str, Any]) -> list[str]:
    """Validate STAC JSON (as a dict) offline; see ``validate``."""
    try:
        return pystac.validation.validate_dict(d, validator=_validator())
    except pystac.STACValidationError as e:
        raise InvalidStacError(f"STAC {d.get('type', 'object')} {d.get('id')!r} is not valid: {e}") from None
