"""A STAC catalogue of a geocodec cube and of the model that decodes it, then read back with xarray.

    .venv/bin/python examples/stac_catalog.py OUT_DIR [--weights-href HREF]

Writes OUT_DIR/data/<pair>.zarr (a BigEarthNet S1/S2 pair, compressed jointly),
OUT_DIR/model.json (the model as an MLM Item), OUT_DIR/item.json (the cube's Item, linked to the
model Item) and OUT_DIR/collection.json, all validated offline. The weights href is the installed
file's absolute path unless ``--weights-href`` gives another (``write_model_item``). The repository's
stac/examples/ is this script's output, unedited:

    .venv/bin/python examples/stac_catalog.py stac/examples --weights-href ../../geocodec/weights/default.safetensors
"""

import argparse
import datetime as dt
from pathlib import Path

import pystac
import xarray as xr

import geocodec
import geocodec.stac as gstac
from geocodec.sample import sample_pairs
from geocodec.stac.catalog import add_item_to_collection_file

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("out", nargs="?", default="stac-example", type=Path)
ap.add_argument("--weights-href", default=None, help="the model Item's weights href (default: the file's absolute path)")
args = ap.parse_args()
out = args.out
name, s2_dir, s1_dir = sample_pairs()[0]
store = out / "data" / f"{name}.zarr"
geocodec.to_zarr(geocodec.open_pair(s2_dir, s1_dir), str(store), lmbda=0.01, gamma=0.5, chunks=64, mode="w",
                 progress=False)

model_json = gstac.write_model_item(out / "model.json", "default", weights_href=args.weights_href,
                                    datetime=dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)).get_self_href()
item = gstac.write_item_for_store(store, out / "item.json", model_item=model_json,
                                  datetime=dt.datetime(2017, 6, 13, 10, 10, 31, tzinfo=dt.timezone.utc))
collection = add_item_to_collection_file(  # Items stay where they are; licence: the Sentinel data legal notice
    item, out / "collection.json", collection_id="geocodec-bigearthnet-example",
    description="A co-registered Sentinel-2 L2A (B02, B03, B04, B08) and Sentinel-1 IW GRD (VV, VH, dB) "
                "BigEarthNet patch, compressed jointly with geocodec.")
for obj in (collection, item):
    gstac.validate(obj)
print(f"catalogue in {out}: {item.id} → model {item.get_single_link(gstac.MODEL_REL).href}")

ds = xr.open_dataset(pystac.Item.from_file(str(out / "item.json")).assets["zarr"])
print(ds)
