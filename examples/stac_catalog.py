"""A STAC catalogue of a geocodec cube and of the model that decodes it, then read back with xarray.

    .venv/bin/python examples/stac_catalog.py OUT_DIR

Writes OUT_DIR/data/<pair>.zarr (a BigEarthNet S1/S2 pair, compressed jointly),
OUT_DIR/models/default.json (the model as an MLM Item), OUT_DIR/items/<pair>.json (the cube's
Item, linked to the model Item) and OUT_DIR/collection.json, all validated offline. The JSON in
the repository's stac/examples/ was made by this script.
"""

import datetime as dt
import sys
from pathlib import Path

import pystac
import xarray as xr

import geocodec
import geocodec.stac as gstac
from geocodec.sample import sample_pairs
from geocodec.stac.catalog import add_item_to_collection_file

out = Path(sys.argv[1] if len(sys.argv) > 1 else "stac-example")
name, s2_dir, s1_dir = sample_pairs()[0]
store = out / "data" / f"{name}.zarr"
geocodec.to_zarr(geocodec.open_pair(s2_dir, s1_dir), str(store), lmbda=0.01, gamma=0.5, chunks=64, mode="w",
                 progress=False)

model_json = gstac.write_model_item(out / "models" / "default.json", "default",
                                    datetime=dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)).get_self_href()
item = gstac.write_item_for_store(store, out / "items" / f"{name}.json", model_item=model_json,
                                  datetime=dt.datetime(2017, 6, 13, 10, 10, 31, tzinfo=dt.timezone.utc))
collection = add_item_to_collection_file(  # Items stay where they are; licence: the Sentinel data legal notice
    item, out / "collection.json", collection_id="geocodec-bigearthnet-example",
    description="A co-registered Sentinel-2 L2A (B02, B03, B04, B08) and Sentinel-1 IW GRD (VV, VH, dB) "
                "BigEarthNet patch, compressed jointly with geocodec.")
for obj in (collection, item):
    gstac.validate(obj)
print(f"catalogue in {out}: {item.id} → model {item.get_single_link(gstac.MODEL_REL).href}")

ds = xr.open_dataset(pystac.Item.from_file(str(out / "items" / f"{name}.json")).assets["zarr"])
print(ds)
