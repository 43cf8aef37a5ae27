"""Offline STAC validation from the JSON schemas shipped in ``geocodec/schemas``.

Catalogue checks must not depend on the network: the STAC core schemas, every extension
schema geocodec's Items use (at the exact versions named in their ``stac_extensions``) and
geocodec's own extension schema are packaged, indexed by URI in ``schemas/index.json``, and
served to a validator from memory. A schema URI that is not packaged raises
``SchemaNotPackagedError`` instead of being fetched.

pystac's process-wide validator is never replaced behind anyone's back: ``validate`` passes
its own validator per call, and ``offline_validation()`` is a context manager that installs
it for pystac's ``obj.validate()`` and restores whatever was there before.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pystac
import pystac.validation
from pystac.extensions.eo import EOExtension
from pystac.extensions.file import FileExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import RasterExtension
from pystac.extensions.sar import SarExtension
from pystac.extensions.xarray_assets import XarrayAssetsExtension
from pystac.validation.stac_validator import JsonSchemaSTACValidator

from geocodec.stac import open_kwargs
from geocodec.stac.errors import InvalidStacError, SchemaNotPackagedError
from geocodec.stac.extension import SCHEMA_URI

#: MLM (machine-learning model) extension: the version pystac's class writes, and migrates Items to on
#: read, so a model Item re-read validates as written (v1.3.0, written by geocodec 0.3, is packaged too).
MLM_SCHEMA_URI = "https://stac-extensions.github.io/mlm/v1.4.0/schema.json"

#: The extension schemas geocodec Items declare, by short name (the versions pystac's classes write).
EXTENSION_URIS = {
    "geocodec": SCHEMA_URI,
    "eo": EOExtension.get_schema_uri(),
    "sar": SarExtension.get_schema_uri(),
    "proj": ProjectionExtension.get_schema_uri(),
    "raster": RasterExtension.get_schema_uri(),
    "file": FileExtension.get_schema_uri(),
    "processing": "https://stac-extensions.github.io/processing/v1.1.0/schema.json",  # no pystac class
    "xarray": XarrayAssetsExtension.get_schema_uri(),
    "mlm": MLM_SCHEMA_URI,
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
    """Make pystac's process-wide validator geocodec's offline one, for good.

    This changes global state for every library in the process; prefer ``offline_validation()``
    (restores the previous validator) or ``validate(obj)`` (per call). Kept for callers that opt in.

    Parameters
    ----------
    allow_remote
        Let the validator fetch schemas geocodec does not ship (otherwise ``SchemaNotPackagedError``).

    Returns
    -------
    OfflineSTACValidator
        The validator now installed in pystac.
    """
    validator = OfflineSTACValidator(allow_remote=allow_remote)
    pystac.validation.set_validator(validator)
    return validator


@contextlib.contextmanager
def offline_validation(allow_remote: bool = False) -> Iterator[OfflineSTACValidator]:
    """Within the block, pystac's ``obj.validate()`` uses the packaged schemas; after it, the
    validator that was installed before (pystac's default or another library's) is back.

    Parameters
    ----------
    allow_remote
        Let the validator fetch schemas geocodec does not ship (otherwise ``SchemaNotPackagedError``).

    Yields
    ------
    OfflineSTACValidator
        The validator in effect within the block.
    """
    previous = pystac.validation.RegisteredValidator._validator  # None: pystac builds its default lazily
    validator = OfflineSTACValidator(allow_remote=allow_remote)
    pystac.validation.set_validator(validator)
    try:
        yield validator
    finally:
        pystac.validation.RegisteredValidator._validator = previous


@functools.cache
def _shared_validator() -> OfflineSTACValidator:
    return OfflineSTACValidator()


def validate(obj: pystac.STACObject, *, check_hrefs: bool = True) -> list[str]:
    """Validate a pystac object offline (packaged schemas only, pystac's global validator untouched).

    Parameters
    ----------
    obj
        A pystac Item, Collection or Catalog.
    check_hrefs
        Also check that its local link and asset hrefs (and, for a catalog, those of every
        object in its tree) point at files that exist; remote hrefs are never fetched.

    Returns
    -------
    list of str
        The schema URIs it was validated against.

    Raises
    ------
    InvalidStacError
        The object fails a schema (the message says which and where), or a local href dangles.
    SchemaNotPackagedError
        It declares an extension whose schema geocodec does not ship.
    """
    from geocodec.stac.links import dangling_hrefs, tree_dangling_hrefs

    d = obj.to_dict(transform_hrefs=False)  # the JSON as written; hrefs are checked below
    kind = type(obj).__name__
    try:
        uris = pystac.validation.validate_dict(d, stac_object_type=obj.STAC_OBJECT_TYPE,
                                               extensions=obj.stac_extensions, href=obj.get_self_href(),
                                               validator=_shared_validator())
    except pystac.STACValidationError as e:
        raise InvalidStacError(f"STAC {kind} {obj.id!r} is not valid: {e}") from None
    if d.get("type") == "Feature":
        open_kwargs.check(d)  # the asset's xarray:open_kwargs agree with the Item's properties
    if check_hrefs:
        bad = tree_dangling_hrefs(obj) if isinstance(obj, pystac.Catalog) else dangling_hrefs(obj)
        if bad:
            raise InvalidStacError(f"STAC {kind} {obj.id!r} has hrefs to files that do not exist: {'; '.join(bad)}. "
                                   "Move a catalog as one folder with its data, and build Collections with "
                                   "geocodec.stac.create_collection (it saves the model Items with them)")
    return uris


def validate_dict(d: dict[str, Any]) -> list[str]:
    """Validate STAC JSON (as a dict) offline, as ``validate`` does a pystac object (same errors).

    Parameters
    ----------
    d
        An Item, Collection or Catalog as JSON data.

    Returns
    -------
    list of str
        The schema URIs it was validated against.
    """
    try:
        uris = pystac.validation.validate_dict(d, validator=_shared_validator())
    except pystac.STACValidationError as e:
        raise InvalidStacError(f"STAC {d.get('type', 'object')} {d.get('id')!r} is not valid: {e}") from None
    if d.get("type") == "Feature":
        open_kwargs.check(d)
    return uris
