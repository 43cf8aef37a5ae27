"""STAC for geocodec cubes and models: Items and Collections with λ, γ and model provenance
(through pystac's extension classes and ``GeocodecExtension``), the model itself as an MLM
Item, validated offline, and opened lazily with the model check.

    item = geocodec.stac.create_item("cube.zarr", datetime=...)   # validated pystac.Item
    ds = geocodec.stac.open_dataset(item, modality="sar")          # lazy xarray Dataset
    model = geocodec.stac.create_model_item("default")             # MLM Item of the model

Validation is offline, against the schemas packaged in ``geocodec/schemas`` (STAC core 1.1.0,
eo, sar, proj, raster, file, processing, xarray-assets, mlm and geocodec's own extension); a
schema that is not packaged raises ``SchemaNotPackagedError`` rather than being fetched.
Importing this module changes nothing in pystac: ``validate(obj)`` passes its validator per
call, and ``with offline_validation(): obj.validate()`` restores pystac's validator afterwards.
"""

from geocodec.stac.collection import SENTINEL_LICENSE, SENTINEL_LICENSE_HREF, create_collection
from geocodec.stac.errors import InvalidStacError, ProvenanceError, SchemaNotPackagedError, StacError
from geocodec.stac.extension import MODEL_REL, GeocodecExtension, ModelRef
from geocodec.stac.item import ASSET_KEY, OPEN_KWARGS, ZARR_MEDIA_TYPE, create_item, write_item_for_store
from geocodec.stac.model_item import create_model_item, model_item_id, write_model_item
from geocodec.stac.reader import open_dataset
from geocodec.stac.schemas import (
    EXTENSION_URIS,
    MLM_SCHEMA_URI,
    SCHEMA_URI,
    OfflineSTACValidator,
    install_offline_validator,
    offline_validation,
    validate,
    validate_dict,
)

__all__ = [
    "ASSET_KEY",
    "EXTENSION_URIS",
    "MLM_SCHEMA_URI",
    "MODEL_REL",
    "OPEN_KWARGS",
    "SCHEMA_URI",
    "SENTINEL_LICENSE",
    "SENTINEL_LICENSE_HREF",
    "ZARR_MEDIA_TYPE",
    "GeocodecExtension",
    "InvalidStacError",
    "ModelRef",
    "OfflineSTACValidator",
    "ProvenanceError",
    "SchemaNotPackagedError",
    "StacError",
    "create_collection",
    "create_item",
    "create_model_item",
    "install_offline_validator",
    "model_item_id",
    "offline_validation",
    "open_dataset",
    "validate",
    "validate_dict",
    "write_item_for_store",
    "write_model_item",
]
