"""STAC for geocodec cubes: Items and Collections with λ, γ and model provenance, validated
offline, and opened lazily with the model check.

    item = geocodec.stac.create_item("cube.zarr", datetime=...)   # validated pystac.Item
    ds = geocodec.stac.open_dataset(item, modality="sar")          # lazy xarray Dataset

Importing this module makes pystac validate against the schemas packaged in
``geocodec/schemas`` (STAC core 1.1.0, eo, sar, proj, raster, file, processing,
xarray-assets and geocodec's own extension); a schema URI that is not packaged raises
``SchemaNotPackagedError`` rather than being fetched. ``install_offline_validator(
allow_remote=True)`` lets pystac fetch schemas of other extensions again.
"""

from geocodec.stac.collection import create_collection
from geocodec.stac.errors import InvalidStacError, ProvenanceError, SchemaNotPackagedError, StacError
from geocodec.stac.item import ASSET_KEY, create_item, write_item_for_store
from geocodec.stac.reader import open_dataset
from geocodec.stac.schemas import (
    EXTENSION_URIS,
    SCHEMA_URI,
    OfflineSTACValidator,
    install_offline_validator,
    validate,
    validate_dict,
)

install_offline_validator()

__all__ = [
    "ASSET_KEY",
    "EXTENSION_URIS",
    "SCHEMA_URI",
    "InvalidStacError",
    "OfflineSTACValidator",
    "ProvenanceError",
    "SchemaNotPackagedError",
    "StacError",
    "create_collection",
    "create_item",
    "install_offline_validator",
    "open_dataset",
    "validate",
    "validate_dict",
    "write_item_for_store",
]
