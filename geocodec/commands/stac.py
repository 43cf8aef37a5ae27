"""``geocodec stac``: STAC Items/Collections for geocodec stores, validated offline.

    geocodec stac model -o model.json [--model default]
    geocodec stac item OUT.zarr -o item.json [--datetime ISO] [--collection collection.json] [--model-item model.json]
    geocodec stac validate item.json [collection.json ...]   # schemas offline, hrefs, a catalog's tree
    stac-validator validate item.json --schema-config "$(geocodec stac schemas)"   # the same schemas, offline

``model`` publishes the model itself as a STAC Item (MLM extension: architecture, input bands,
framework, λ range, weights with file:checksum); ``item --model-item`` links a cube's Item to it.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from geocodec.errors import InvalidInputError


def parse_datetime(s: str) -> dt.datetime:
    """ISO 8601 → aware datetime (UTC when no zone is given), for argparse."""
    try:
        t = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date/time: {s!r}") from None
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def register(subparsers) -> None:
    p = subparsers.add_parser("stac", help="STAC Items and Collections for geocodec stores (offline validation)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="stac_command", required=True)

    it = sub.add_parser("item", help="write the STAC Item of a geocodec Zarr store")
    it.add_argument("store", help="local geocodec Zarr store (written by geocodec encode / geocodec.to_zarr)")
    it.add_argument("-o", "--output", required=True, help="Item JSON to write")
    it.add_argument("--id", dest="item_id", help="Item id (default: the store's name without .zarr)")
    it.add_argument("--datetime", type=parse_datetime,
                    help="acquisition time (ISO 8601); needed when the store has no 'time' coordinate")
    it.add_argument("--href", help="asset href to record (default: the store, relative to the Item)")
    it.add_argument("--no-checksum", action="store_true", help="skip hashing the store (file:checksum)")
    it.add_argument("--collection", metavar="COLLECTION_JSON",
                    help="also create or update this Collection JSON so it holds the Item")
    it.add_argument("--collection-id", help="id of a new Collection (default: the file's folder name)")
    it.add_argument("--description", default="geocodec-compressed SAR + optical cubes",
                    help="description of a new Collection")
    it.add_argument("--model-item", metavar="MODEL_JSON",
                    help="the model's STAC Item (geocodec stac model); written here if missing, then linked")
    it.set_defaults(func=_item)

    mo = sub.add_parser("model", help="write the STAC Item (MLM extension) of a geocodec model")
    mo.add_argument("-o", "--output", required=True, help="Item JSON to write")
    mo.add_argument("--model", default="default", help="registered model name or .safetensors path")
    mo.set_defaults(func=_model)

    va = sub.add_parser("validate", help="validate STAC JSON files offline: packaged schemas and local hrefs")
    va.add_argument("files", nargs="+")
    va.add_argument("--no-tree", action="store_true", help="a catalog or Collection alone, not every object in it")
    va.set_defaults(func=_validate)

    sm = sub.add_parser("schemas", help="print the path of the packaged schemas' index (stac-validator "
                                         "--schema-config)")
    sm.set_defaults(func=_schemas)


def _item(args) -> int:
    from geocodec.stac import write_item_for_store
    from geocodec.stac.catalog import add_item_to_collection_file

    kw = {"item_id": args.item_id, "datetime": args.datetime, "checksum": not args.no_checksum}
    if args.href:
        kw["href"] = args.href
    from geocodec.commands import input_store, output_file

    input_store(args.store)
    output_file(args.output, "Item", creates_folders=True)
    if args.model_item:
        model_json = Path(args.model_item)
        if not model_json.exists():
            _write_model_for_store(args.store, model_json)
        kw["model_item"] = model_json
    item = write_item_for_store(args.store, args.output, **kw)
    print(f"wrote STAC Item {item.id!r} to {args.output} (valid offline)")
    if args.collection:
        c = add_item_to_collection_file(item, args.collection, collection_id=args.collection_id,
                                        description=args.description)
        print(f"Collection {c.id!r} at {args.collection} now holds {len(list(c.get_items()))} Item(s)")
    return 0


def _write_model_for_store(store, path: Path) -> None:
    """The model Item of the model that wrote ``store`` (found in this installation by its sha256)."""
    from geocodec.registry import registry
    from geocodec.stac import write_model_item
    from geocodec.stac.store import read_geocodec_attrs

    model = read_geocodec_attrs(store)["model"]
    names = [n for n, e in registry().items() if e["sha256"] == model["sha256"]]
    if not names:
        raise InvalidInputError(f"{store} was written by model {model['name']!r} (sha256 {model['sha256'][:16]}…), "
                                "which is not installed here: write its Item with `geocodec stac model --model "
                                "WEIGHTS.safetensors -o ...` and pass that file to --model-item")
    write_model_item(path, names[0])
    print(f"wrote the STAC Item of model {names[0]!r} to {path} (valid offline)")


def _model(args) -> int:
    from geocodec.stac import write_model_item

    item = write_model_item(args.output, args.model)
    print(f"wrote STAC Item {item.id!r} to {args.output} (valid offline)")
    return 0


def _validate(args) -> int:
    """Each file through pystac (as a reader sees it) and ``geocodec.stac.validate``: schemas offline and
    local hrefs; a catalog's or Collection's whole tree too, unless ``--no-tree``."""
    import pystac

    from geocodec.stac import validate

    for f in args.files:
        path = Path(f)
        if not path.is_file():
            raise InvalidInputError(f"{f} does not exist")
        try:
            obj = pystac.read_file(str(path.resolve()))
        except Exception as e:  # noqa: BLE001 - pystac raises many types for malformed files
            raise InvalidInputError(f"{f} is not readable STAC JSON: {e}") from None
        uris = set(validate(obj))
        n = 1
        if isinstance(obj, pystac.Catalog) and not args.no_tree:
            for _, children, items in obj.walk():
                for o in (*children, *items):
                    uris.update(validate(o, check_hrefs=False))  # the tree's hrefs: checked with obj's
                    n += 1
        print(f"{f}: valid ({n} object{'s' if n > 1 else ''}, {len(uris)} schemas, no dangling href)")
    return 0


def _schemas(args) -> int:
    """The packaged schemas' index (URI → file), which stac-validator reads as its ``--schema-config``."""
    from geocodec.stac.schemas import schema_dir

    print(schema_dir() / "index.json")
    return 0
