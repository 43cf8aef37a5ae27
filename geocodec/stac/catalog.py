"""Keep a Collection JSON on disk in step with the Items written next to it (``geocodec stac item --collection``)."""

from __future__ import annotations

from pathlib import Path

import pystac

from geocodec.stac.collection import SENTINEL_LICENSE, SENTINEL_LICENSE_HREF, create_collection
from geocodec.stac.errors import InvalidStacError


def add_item_to_collection_file(item: pystac.Item, collection_path, *, collection_id: str | None = None,
                                description: str = "geocodec-compressed SAR + optical cubes") -> pystac.Collection:
    """Create, or update, the Collection at ``collection_path`` so it holds ``item`` (saved at its self href).

    Existing Items stay where they are; one with the same id is replaced. Extent and summaries
    are recomputed; links are written relative (a self-contained catalog).
    """
    path = Path(collection_path).expanduser().resolve()
    if item.get_self_href() is None:
        raise InvalidStacError(f"Item {item.id!r} has no self href; save it before adding it to a Collection")
    items, meta = [], {"collection_id": collection_id or path.parent.name or "geocodec",
                       "description": description, "title": None, "license": SENTINEL_LICENSE,
                       "license_href": SENTINEL_LICENSE_HREF, "providers": None}
    if path.exists():
        try:
            old = pystac.Collection.from_file(str(path))
        except Exception as e:  # noqa: BLE001 - pystac raises many types for malformed files
            raise InvalidStacError(f"{path} is not a readable STAC Collection: {e}") from None
        items = [it for it in old.get_items() if it.id != item.id]
        old_link = next((link for link in old.links if link.rel == pystac.RelType.LICENSE), None)
        meta.update(collection_id=old.id, description=old.description, title=old.title, license=old.license,
                    license_href=old_link.get_absolute_href() if old_link else
                    (SENTINEL_LICENSE_HREF if old.license == SENTINEL_LICENSE else None),
                    providers=[p for p in (old.providers or []) if p.name != "geocodec"])
    collection = create_collection([*items, item], include_models=False, **meta)  # Items stay: links too
    collection.set_self_href(str(path))
    collection.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return collection
