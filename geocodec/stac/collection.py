"""``create_collection``: a STAC Collection over geocodec Items, summarising their provenance.

Summaries list every model (name, version, sha256, framework) and the ranges of λ, target
bpp and γ, so a catalogue shows at Collection level which models and settings made its cubes
(written through ``GeocodecExtension.summaries`` and pystac's sar class). geocodec is declared
as a provider with the processor role and its software versions. The licence is a real one,
with its ``license`` link: by default the Copernicus Sentinel data legal notice.
"""

from __future__ import annotations

from collections.abc import Iterable

import pystac

from pystac.extensions.sar import Polarization, SarExtension

from geocodec.errors import InvalidInputError
from geocodec.stac.extension import GAMMA_PROP, LAMBDA_PROP, TARGET_BPP_PROP, GeocodecExtension, ModelRef
from geocodec.stac.links import adopt_model_items
from geocodec.stac.schemas import EXTENSION_URIS, SCHEMA_URI, validate_dict

#: What the cubes hold is Copernicus Sentinel data: its legal notice is their licence (not SPDX-listed).
SENTINEL_LICENSE = "other"
SENTINEL_LICENSE_HREF = "https://sentinel.esa.int/documents/247904/690755/Sentinel_Data_Legal_Notice"


def _numbers(items, key) -> dict | None:
    vals = [it.properties.get(key) for it in items]
    vals = [float(v) for v in vals if v is not None]
    if not vals:
        return None
    return {"minimum": min(vals), "maximum": max(vals)}


def _apply_summaries(collection: pystac.Collection, items: list[pystac.Item]) -> None:
    """geocodec summaries (models, format versions, λ / target bpp / γ ranges) and SAR polarisations."""
    models: list[ModelRef] = []
    for it in items:
        m = GeocodecExtension.ext(it).model
        if m is not None and m not in models:
            models.append(m)
    summ = GeocodecExtension.summaries(collection, add_if_missing=True)
    summ.models = models
    summ.format_versions = sorted({GeocodecExtension.ext(it).format_version for it in items})
    for prop in ("lmbda", "target_bpp", "gamma"):
        r = _numbers(items, {"lmbda": LAMBDA_PROP, "target_bpp": TARGET_BPP_PROP, "gamma": GAMMA_PROP}[prop])
        if r is not None:
            setattr(summ, prop, pystac.RangeSummary(minimum=r["minimum"], maximum=r["maximum"]))
    pols = sorted({str(p) for it in items for p in (SarExtension.ext(it).polarizations or [])
                   if SarExtension.has_extension(it)})
    if pols:
        SarExtension.summaries(collection, add_if_missing=True).polarizations = [Polarization(p) for p in pols]


def license_link(license: str, href: str | None) -> pystac.Link:
    """The ``license`` link: ``href``, or the SPDX page of an SPDX identifier."""
    if href is None:
        if license == "other":
            raise InvalidInputError("license='other' needs license_href= (the URL of the license text)")
        href = f"https://spdx.org/licenses/{license}.html"
    title = ("Legal notice on the use of Copernicus Sentinel data" if href == SENTINEL_LICENSE_HREF
             else f"License: {license}")
    return pystac.Link(rel=pystac.RelType.LICENSE, target=href, media_type=pystac.MediaType.HTML, title=title)


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
                      title: str | None = None, license: str = SENTINEL_LICENSE,
                      license_href: str | None = SENTINEL_LICENSE_HREF,
                      providers: list[pystac.Provider] | None = None,
                      validate_collection: bool = True, include_models: bool = True) -> pystac.Collection:
    """A validated Collection holding ``items`` (geocodec Items made by ``create_item``).

    Extent and summaries come from the Items; the Items are added as children (their
    ``collection`` is set), and the model Items they link to (rel ``geocodec:model``) go into a
    child catalog ``models``, so that saving writes them too. Save it with
    ``collection.normalize_hrefs(dir)`` and ``collection.save(pystac.CatalogType.SELF_CONTAINED)``:
    every href is then relative within ``dir``, except the model weights (absolute: they stay in
    the installed package or your registry folder; ``file:checksum`` names the file's bytes), and
    the catalog can be moved as one folder, with the cubes' stores in it.

    Parameters
    ----------
    items
        geocodec Items (``create_item``).
    collection_id, description, title
        The Collection's id, description and title.
    license, license_href
        SPDX identifier or ``"other"``, and the URL of the license text (a ``license`` link).
        Default: the Copernicus Sentinel data legal notice, the licence of the data compressed.
        An SPDX identifier without ``license_href`` links its SPDX page.
    providers
        Further providers (geocodec is added as the processor).
    validate_collection
        Validate offline before returning.
    include_models
        Put the linked model Items into the ``models`` child catalog (False: leave the links as they
        are, for Items that stay where they were saved, as ``geocodec stac item --collection`` does).

    Returns
    -------
    pystac.Collection
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
        stac_extensions=[EXTENSION_URIS["processing"]],
    )
    collection.add_link(license_link(license, license_href))
    _apply_summaries(collection, items)
    collection.add_items(items)
    if include_models:
        adopt_model_items(collection, items)
    if validate_collection:
        d = collection.to_dict(include_self_link=False)
        d["links"] = [link for link in d["links"] if link.get("href")]  # item links get hrefs when saved
        validate_dict(d)
    return collection
