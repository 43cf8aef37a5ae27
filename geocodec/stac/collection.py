"""``create_collection``: a STAC Collection over geocodec Items, summarising their provenance.

Summaries list every model (name, version, sha256, framework) and the ranges of λ, target
bpp and γ, so a catalogue shows at Collection level which models and settings made its cubes.
geocodec is declared as a provider with the processor role and its software versions.
"""

from __future__ import annotations

from collections.abc import Iterable

import pystac

from geocodec.errors import InvalidInputError
from geocodec.stac.schemas import EXTENSION_URIS, SCHEMA_URI, validate_dict


def _numbers(items, key) -> dict | None:
    vals = [it.properties.get(key) for it in items]
    vals = [float(v) for v in vals if v is not None]
    if not vals:
        return None
    return {"minimum": min(vals), "maximum": max(vals)}


def _summaries(items: list[pystac.Item]) -> pystac.Summaries:
    models = []
    for it in items:
        m = it.properties["geocodec:model"]
        if m not in models:
            models.append(m)
    s: dict = {"geocodec:model": models,
               "geocodec:format_version": sorted({it.properties["geocodec:format_version"] for it in items})}
    for key in ("geocodec:lambda", "geocodec:target_bpp", "geocodec:gamma"):
        r = _numbers(items, key)
        if r is not None:
            s[key] = r
    pols = sorted({p for it in items for p in it.properties.get("sar:polarizations", [])})
    if pols:
        s["sar:polarizations"] = pols
    return pystac.Summaries(s)


def _software(items: list[pystac.Item]) -> dict[str, str]:
    out: dict[str, str] = {}
    for it in items:
        for k, v in it.properties.get("processing:software", {}).items():
            if k in out and out[k] != v:
                out[k] = f"{out[k]}, {v}" if v not in out[k].split(", ") else out[k]
            else:
                out.setdefault(k, v)
    return out


def create_collection(items: Iterable[pystac.Item], *, collection_id: str, description: str,
                      title: str | None = None, license: str = "other",
                      providers: list[pystac.Provider] | None = None,
                      validate_collection: bool = True) -> pystac.Collection:
    """A validated Collection holding ``items`` (geocodec Items made by ``create_item``).

    Extent and summaries come from the Items; the Items are added as children (their
    ``collection`` is set). Save it with ``collection.normalize_hrefs(dir)`` and
    ``collection.save(pystac.CatalogType.SELF_CONTAINED)``.
    """
    items = list(items)
    if not items:
        raise InvalidInputError("create_collection needs at least one Item")
    for it in items:
        if SCHEMA_URI not in it.stac_extensions:
            raise InvalidInputError(f"Item {it.id!r} is not a geocodec Item (no {SCHEMA_URI} in stac_extensions)")
    processor = pystac.Provider(
        name="geocodec", roles=[pystac.ProviderRole.PROCESSOR],
        description="Learned joint compression of co-registered Sentinel-1 SAR and Sentinel-2 optical imagery",
        extra_fields={"processing:software": _software(items)})
    collection = pystac.Collection(
        id=collection_id, description=description, title=title, license=license,
        extent=pystac.Extent.from_items(items), providers=[*(providers or []), processor],
        summaries=_summaries(items),
        stac_extensions=[SCHEMA_URI, EXTENSION_URIS["processing"]],
    )
    if "sar:polarizations" in collection.summaries.to_dict():
        collection.stac_extensions.append(EXTENSION_URIS["sar"])
    collection.add_items(items)
    if validate_collection:
        d = collection.to_dict(include_self_link=False)
        d["links"] = [link for link in d["links"] if link.get("href")]  # item links get hrefs when saved
        validate_dict(d)
    return collection
