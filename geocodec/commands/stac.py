"""``geocodec stac``: STAC Items/Collections for geocodec stores, validated offline.

    geocodec stac item OUT.zarr -o item.json [--datetime ISO] [--collection collection.json]
    geocodec stac validate item.json [collection.json ...]
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
    it.set_defaults(func=_item)

    va = sub.add_parser("validate", help="validate STAC JSON files offline against the packaged schemas")
    va.add_argument("files", nargs="+")
    va.set_defaults(func=_validate)


def _item(args) -> int:
    from geocodec.stac import write_item_for_store
    from geocodec.stac.catalog import add_item_to_collection_file

    kw = {"item_id": args.item_id, "datetime": args.datetime, "checksum": not args.no_checksum}
    if args.href:
        kw["href"] = args.href
    from geocodec.commands import input_store, output_file

    input_store(args.store)
    output_file(args.output, "Item", creates_folders=True)
    item = write_item_for_store(args.store, args.output, **kw)
    print(f"wrote STAC Item {item.id!r} to {args.output} (valid offline)")
    if args.collection:
        c = add_item_to_collection_file(item, args.collection, collection_id=args.collection_id,
                                        description=args.description)
        print(f"Collection {c.id!r} at {args.collection} now holds {len(list(c.get_items()))} Item(s)")
    return 0


def _validate(args) -> int:
    import json

    from geocodec.stac import validate_dict

    for f in args.files:
        path = Path(f)
        if not path.is_file():
            raise InvalidInputError(f"{f} does not exist")
        try:
            d = json.loads(path.read_text())
        except ValueError as e:
            raise InvalidInputError(f"{f} is not JSON: {e}") from None
        uris = validate_dict(d)
        print(f"{f}: valid ({len(uris)} schemas)")
    return 0
