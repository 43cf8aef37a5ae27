"""Catalogs that survive being moved: model Items saved with the catalog, and no dangling hrefs.

Why: pystac's ``normalize_hrefs`` + ``save(SELF_CONTAINED)`` rewrites the hrefs of objects in
the catalog's tree only. A cube Item's ``geocodec:model`` link to a model Item outside that tree
was re-anchored at the Item's new place, pointing at nothing, and a relative weights href into
the installed package dangled once the folder moved. ``adopt_model_items`` puts the model Items
into the tree (a ``models`` child catalog) so pystac saves and links them; ``dangling_hrefs``
is the check ``geocodec.stac.validate`` runs, so a broken catalog does not pass.
"""

from __future__ import annotations

import os
from urllib.parse import urlparse

import pystac

from geocodec.errors import InvalidInputError
from geocodec.stac.extension import MODEL_REL

#: Id of the child catalog that holds a collection's model Items.
MODELS_CATALOG = "models"
#: Links up a catalog's tree: an Item is often written before its Collection file (``geocodec stac item
#: --collection``); a catalog's own ``child`` / ``item`` links and the tree walk check the structure.
_SKIP_RELS = {"self", "root", "parent", "collection"}


def _local_path(href: str | None) -> str | None:
    """The file path of a local href (plain path or ``file://``), None for remote or unresolved ones."""
    if not href:
        return None
    u = urlparse(href)
    if u.scheme == "file":
        return u.path
    if u.scheme and len(u.scheme) > 1:  # http(s), s3, ... (a one-letter scheme is a Windows drive)
        return None
    return href if os.path.isabs(href) else None


def dangling_hrefs(obj: pystac.STACObject) -> list[str]:
    """Links and assets of ``obj`` whose local target does not exist ("rel -> path" each).

    Only hrefs that resolve to a local file are checked (relative ones need ``obj``'s self href);
    links to objects still in memory are not files yet, and remote hrefs are never fetched.
    """
    out = []
    for link in obj.links:
        if link.rel in _SKIP_RELS or link.is_resolved():
            continue
        path = _local_path(link.get_absolute_href())
        if path is not None and not os.path.exists(path):
            out.append(f"link {link.rel!r} -> {path}")
    for key, asset in getattr(obj, "assets", {}).items():
        path = _local_path(asset.get_absolute_href())
        if path is not None and not os.path.exists(path):
            out.append(f"asset {key!r} -> {path}")
    return out


def tree_dangling_hrefs(catalog: pystac.Catalog) -> list[str]:
    """``dangling_hrefs`` of a catalog and of every Item and child catalog in its tree.

    A catalog's ``child`` / ``item`` links are checked before they are followed, so a missing
    file is reported rather than raised by pystac while walking.
    """
    out, todo = [], [catalog]
    while todo:
        cat = todo.pop()
        bad = dangling_hrefs(cat)
        out += [f"{type(cat).__name__} {cat.id!r}: {b}" for b in bad]
        if bad:
            continue
        for o in (*cat.get_children(), *cat.get_items()):
            if isinstance(o, pystac.Catalog):
                todo.append(o)
            else:
                out += [f"{type(o).__name__} {o.id!r}: {b}" for b in dangling_hrefs(o)]
    return out


def _absolute_assets(item: pystac.Item) -> None:
    """Asset hrefs made absolute, so re-homing the Item (``normalize_hrefs``) leaves them where the files are."""
    for asset in item.assets.values():
        href = asset.get_absolute_href()
        if href is not None:
            asset.href = href


def adopt_model_items(collection: pystac.Collection, items: list[pystac.Item]) -> list[pystac.Item]:
    """Put the model Items ``items`` link to (rel ``geocodec:model``) into ``collection``'s tree.

    Each model Item (one per id) goes into a child catalog ``models``; the cube Items' links point
    at that object, so pystac writes them relative to wherever the catalog is saved. The model
    Items' weights hrefs become absolute: the weights live in the installed package or a registry
    folder, not in the catalog (``file:checksum`` says which file is meant, wherever it is).
    """
    models: dict[str, pystac.Item] = {}
    for it in items:
        for link in it.get_links(MODEL_REL):
            try:
                model = link.resolve_stac_object().target
            except Exception as e:  # noqa: BLE001 - pystac raises several types for a missing file
                raise InvalidInputError(f"Item {it.id!r}: its {MODEL_REL!r} link {link.href!r} cannot be read "
                                        f"({type(e).__name__}: {e}); write the model Item first "
                                        "(geocodec.stac.write_model_item) or pass it as a pystac.Item") from None
            if not isinstance(model, pystac.Item):
                raise InvalidInputError(f"Item {it.id!r}: its {MODEL_REL!r} link is not a STAC Item")
            model = models.setdefault(model.id, model)
            link.target = model
    if models:
        catalog = pystac.Catalog(id=MODELS_CATALOG, description="The geocodec models that decode these cubes "
                                 "(STAC Items with the MLM extension)")
        for model in models.values():
            _absolute_assets(model)
            catalog.add_item(model)
        collection.add_child(catalog)
    return list(models.values())
