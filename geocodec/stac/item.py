"""``create_item``: one STAC Item per geocodec Zarr store, with full provenance.

The Item records the model (name, version, sha256, framework), λ or the target bpp, γ, which
bands are optical and which SAR, and the quality the writer measured, as geocodec extension
fields; the grid through proj, the bands through eo/raster/sar, the store's size and checksum
through file, and the software through processing. Its Zarr asset carries
``xarray:open_kwargs = {"engine": "geocodec"}`` so generic STAC→xarray readers open it.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import numpy as np
import pystac
from pystac.extensions.eo import EOExtension
from pystac.extensions.file import FileExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import RasterExtension
from pystac.extensions.sar import SarExtension
from pystac.extensions.xarray_assets import XarrayAssetsExtension

from geocodec.cube.record import CubeRecord
from geocodec.errors import InvalidInputError
from geocodec.stac import bands as band_meta, open_kwargs
from geocodec.stac.extension import MODEL_PROP, MODEL_REL, GeocodecExtension, ModelRef
from geocodec.stac.hrefs import item_file, relative_href, save_item
from geocodec.stac.schemas import EXTENSION_URIS, validate
from geocodec.stac.store import Grid, StoreFacts, finite_or_none, read_store, store_size_and_checksum

ASSET_KEY = "zarr"
ZARR_MEDIA_TYPE = pystac.MediaType.VND_ZARR  # "application/vnd.zarr" (pystac's ZARR is the deprecated vnd+zarr)
#: Media types a reader accepts for the Zarr asset (Items written before 0.2 used the deprecated one).
ZARR_MEDIA_TYPES = (pystac.MediaType.VND_ZARR, "application/vnd+zarr")
MODEL_FRAMEWORK = "pytorch"
#: ``xarray:open_kwargs`` of the Zarr asset: what xpystac (or anyone) passes to ``xarray.open_dataset``
#: (plus ``expect``, the Item's claims about the store: ``geocodec.stac.open_kwargs``).
OPEN_KWARGS = open_kwargs.BASE


def _corners(grid: Grid) -> list[tuple[float, float]]:
    from affine import Affine

    tr = Affine(*grid.transform[:6])
    return [tr * (col, row) for col, row in ((0, 0), (0, grid.height), (grid.width, grid.height), (grid.width, 0))]


def _georef(grid: Grid) -> tuple[dict | None, list[float] | None, dict[str, Any], float | None]:
    """(geometry, bbox) in WGS84, ``ProjectionExtension.apply`` arguments and the pixel size in metres."""
    proj: dict[str, Any] = {"shape": [grid.height, grid.width]}
    if grid.transform is None:
        return None, None, proj, None
    proj["transform"] = [float(v) for v in grid.transform]
    corners = _corners(grid)
    xs, ys = zip(*corners)
    proj["bbox"] = [min(xs), min(ys), max(xs), max(ys)]
    if grid.crs_wkt is None:
        return None, None, proj, None
    from pyproj import CRS, Transformer

    crs = CRS.from_wkt(grid.crs_wkt)
    epsg = crs.to_epsg()
    if epsg:
        proj["code"] = f"EPSG:{epsg}"
    else:
        proj["wkt2"] = crs.to_wkt()
    to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    lon_min, lat_min, lon_max, lat_max = to_ll.transform_bounds(*proj["bbox"], densify_pts=21)
    lon, lat = to_ll.transform(list(xs), list(ys))
    ring = [[float(x), float(y)] for x, y in zip(lon, lat)]
    area2 = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1]))
    if area2 < 0:  # RFC 7946: exterior rings counter-clockwise
        ring.reverse()
    ring.append(ring[0])
    geometry = {"type": "Polygon", "coordinates": [ring]}
    a, b = grid.transform[0], grid.transform[1]
    unit = crs.axis_info[0].unit_name if crs.axis_info else ""
    pixel = abs(a) if (b == 0 and crs.is_projected and unit in ("metre", "meter")) else None
    return geometry, [lon_min, lat_min, lon_max, lat_max], proj, pixel


def as_datetime(value, name: str = "datetime") -> dt.datetime | None:
    """An aware datetime (UTC when no zone is given) from a datetime, date, numpy datetime64 or ISO 8601 string."""
    if value is None or isinstance(value, dt.datetime):
        t = value
    elif isinstance(value, dt.date):
        t = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, (str, np.datetime64)):
        text = str(np.datetime_as_string(value, unit="us")) if isinstance(value, np.datetime64) else value
        try:
            t = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInputError(f"{name}={value!r} is not an ISO 8601 date/time (e.g. '2019-01-01' or "
                                    "'2019-01-01T10:30:00Z')") from None
    else:
        raise InvalidInputError(f"{name} must be a datetime or an ISO 8601 string, got {type(value).__name__}")
    return t if t is None or t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def _when(facts: StoreFacts, datetime, start_datetime, end_datetime):
    datetime, start_datetime, end_datetime = (as_datetime(v, k) for v, k in (
        (datetime, "datetime"), (start_datetime, "start_datetime"), (end_datetime, "end_datetime")))
    if datetime is not None or (start_datetime is not None and end_datetime is not None):
        return datetime, start_datetime, end_datetime
    if len(facts.times) == 1:
        return facts.times[0], None, None
    if facts.times:
        return None, min(facts.times), max(facts.times)
    raise InvalidInputError(f"{facts.path} has no 'time' coordinate: pass datetime= (or start_datetime= and "
                            "end_datetime=) to say when the data was acquired")


def record_fields(rec: CubeRecord) -> dict[str, Any]:
    """The one mapping from a cube's record to ``GeocodecExtension.apply`` arguments.

    ``create_item`` writes these; ``open_dataset`` compares an Item with them (its store's).
    """
    return {
        "format_version": rec.format_version,
        "model": ModelRef(name=rec.model.name, version=str(rec.model.version), sha256=rec.model.sha256,
                          framework=MODEL_FRAMEWORK, framework_version=str(rec.software.get("torch", ""))),
        "lmbda": rec.lmbda,
        "target_bpp": rec.target_bpp,
        "gamma": rec.gamma,
        "modalities": {
            "optical": {"bands": list(rec.optical_bands), "data_type": rec.optical_dtype,
                        "nodata": rec.optical_nodata},
            "sar": {"bands": list(rec.sar_bands), "data_type": rec.sar_dtype, "scale": rec.sar_scale,
                    "nodata": rec.sar_nodata},
        },
        "quality": finite_or_none(rec.quality or {}),
        "array": rec.array,
        "chunks": dict(rec.chunks),
        "refine_steps": rec.refine_steps or None,  # only when the record has it
    }


def _geocodec_fields(facts: StoreFacts) -> dict[str, Any]:
    """``record_fields`` of a store that can be catalogued (complete, with quality and software)."""
    rec = facts.record
    if not rec.complete:  # first: an unfinished write also lacks the quality it would have measured
        raise InvalidInputError(f"{facts.path} is an incomplete geocodec store (its write was interrupted, or "
                                "regions are still missing): finish it (re-run geocodec.to_zarr with mode='a' and "
                                "the same arguments) before cataloguing it")
    if not isinstance(rec.quality, dict):
        raise InvalidInputError(f"{facts.path}: the 'geocodec' record has no write-time 'quality' "
                                "(bpp, PSNR per modality); the STAC Item must carry it")
    if "torch" not in rec.software:
        raise InvalidInputError(f"{facts.path}: the 'geocodec' record does not say which torch version "
                                "('software'.'torch') the model ran with")
    return record_fields(rec)


def _processing(facts: StoreFacts) -> dict[str, Any]:
    a = facts.attrs
    m = a["model"]
    rate = f"λ={a['lmbda']}" if a.get("lmbda") is not None else f"target {a.get('target_bpp')} bpp"
    return {
        "processing:software": {str(k): str(v) for k, v in (a.get("software") or {}).items() if v is not None},
        "processing:lineage": (f"Learned joint SAR+optical compression (geocodec) with model {m['name']} "
                               f"v{m['version']}, {rate}, γ={a['gamma']}"),
    }


def _sar_settings(overrides: dict | None) -> dict[str, Any]:
    """Sentinel-1 IW GRD defaults, overridden by ``overrides`` (keys with or without ``sar:``)."""
    out = dict(band_meta.SENTINEL1_IW_GRD)
    for k, v in (overrides or {}).items():
        out[k.removeprefix("sar:")] = v
    return out


def model_link(model_item: str | os.PathLike | pystac.Item, model: ModelRef) -> pystac.Link:
    """The link from a cube Item to the STAC Item of the model that encoded it (rel ``geocodec:model``)."""
    target = model_item if isinstance(model_item, pystac.Item) else os.fspath(model_item)
    return pystac.Link(rel=MODEL_REL, target=target, media_type=pystac.MediaType.JSON,
                       title=f"geocodec model {model.name} v{model.version} (sha256 {model.sha256[:12]}…)")


def create_item(store: str | os.PathLike, *, item_id: str | None = None, href: str | None = None,
                datetime: dt.datetime | str | None = None, start_datetime: dt.datetime | str | None = None,
                end_datetime: dt.datetime | str | None = None, properties: dict | None = None,
                sar: dict | None = None, collection: str | pystac.Collection | None = None,
                model_item: str | os.PathLike | pystac.Item | None = None,
                checksum: bool = True, validate_item: bool = True) -> pystac.Item:
    """A validated STAC Item for the geocodec Zarr store at ``store`` (a local directory).

    Parameters
    ----------
    store
        Path of a complete geocodec Zarr store.
    item_id
        Item id (default: the store's name without ``.zarr``).
    href
        The Zarr asset's href (default: the store's absolute path; ``write_item_for_store``
        makes it relative to the Item file).
    datetime, start_datetime, end_datetime
        Acquisition time (a datetime or an ISO 8601 string such as ``"2019-01-01"``; UTC when no
        zone is given); needed when the store has no ``time`` coordinate.
    properties
        Extra Item properties (platform, instruments, ...).
    sar
        Overrides of the sar extension's Sentinel-1 IW GRD defaults (``SarExtension.apply`` names).
    collection
        Collection (or its id) the Item belongs to.
    model_item
        The model's STAC Item (or its href), linked with rel ``geocodec:model``; see ``create_model_item``.
    checksum
        Hash the whole store for ``file:checksum`` (reads every byte).
    validate_item
        Validate offline against the packaged schemas before returning.

    Returns
    -------
    pystac.Item
    """
    facts = read_store(store)
    geometry, bbox, proj, pixel = _georef(facts.grid)
    when, start, end = _when(facts, datetime, start_datetime, end_datetime)
    a = facts.attrs
    fields = _geocodec_fields(facts)
    span = {} if start is None else {"start_datetime": pystac.utils.datetime_to_str(start),
                                     "end_datetime": pystac.utils.datetime_to_str(end)}
    item = pystac.Item(id=item_id or facts.path.name.removesuffix(".zarr"), geometry=geometry, bbox=bbox,
                       datetime=when, properties=span)
    GeocodecExtension.ext(item, add_if_missing=True).apply(**fields)
    ProjectionExtension.ext(item, add_if_missing=True).apply(**proj)
    if proj.get("code") is None and proj.get("wkt2") is None:
        item.properties["proj:code"] = None  # unknown CRS: the projection schema wants the key, null allowed
    SarExtension.ext(item, add_if_missing=True).apply(
        polarizations=band_meta.sar_polarizations(list(a["sar_bands"])), **_sar_settings(sar))
    item.properties.update(_processing(facts))
    item.stac_extensions.append(EXTENSION_URIS["processing"])  # pystac has no class for processing
    item.properties.update(properties or {})

    asset = pystac.Asset(
        href=href or str(facts.path), media_type=ZARR_MEDIA_TYPE, roles=["data"],
        title="geocodec-compressed co-registered SAR + optical cube (Zarr)",
        description=(f"Joint array '{facts.array}' {tuple(facts.dims)} with bands "
                     f"{', '.join(facts.bands)} (optical then SAR), each chunk one geocodec bitstream; "
                     "open with xarray engine 'geocodec'"),
        extra_fields={"bands": band_meta.common_bands(a)})
    item.add_asset(ASSET_KEY, asset)
    XarrayAssetsExtension.ext(asset, add_if_missing=True).open_kwargs = open_kwargs.for_record(facts.record)
    EOExtension.ext(asset, add_if_missing=True).apply(bands=band_meta.eo_bands(list(a["optical_bands"])))
    RasterExtension.ext(asset, add_if_missing=True).apply(bands=band_meta.raster_bands(a, pixel))
    if checksum:
        size, digest = store_size_and_checksum(facts.path)
        FileExtension.ext(asset, add_if_missing=True).apply(size=size, checksum=digest)
    if model_item is not None:
        item.add_link(model_link(model_item, fields["model"]))
    if collection is not None:
        item.collection_id = collection.id if isinstance(collection, pystac.Collection) else str(collection)
    if validate_item:
        validate(item)
    return item


def write_item_for_store(store: str | os.PathLike, path: str | os.PathLike, *,
                         model_item: str | os.PathLike | None = None, **kw: Any) -> pystac.Item:
    """Create the Item for ``store`` and save it as JSON at ``path``, validated offline.

    The asset href (and the model link, if any) are written relative to the Item file, so the
    pair can be moved together; pystac resolves them against the Item's self link, and the
    geocodec engine opens ``item.assets["zarr"]`` from wherever the Item is read.
    This is what ``geocodec encode ... --stac item.json`` calls.

    Parameters
    ----------
    store
        Path of a complete geocodec Zarr store.
    path
        Where to write the Item JSON.
    model_item
        Path of the model's Item JSON (``write_model_item``), linked with rel ``geocodec:model``.
    **kw
        ``create_item`` arguments (``datetime``, ``item_id``, ``href``, ``checksum``, ...).

    Returns
    -------
    pystac.Item
        The saved Item, its self href set to ``path``.
    """
    path = item_file(path)
    if model_item is not None:
        model_item = Path(model_item).expanduser().resolve()
        if not model_item.is_file():
            raise InvalidInputError(f"model Item {model_item} does not exist (write it with "
                                    "geocodec.stac.write_model_item or `geocodec stac model`)")
    item = create_item(store, model_item=None, **kw)
    if model_item is not None:
        ref = ModelRef.from_dict(item.properties[MODEL_PROP])
        item.add_link(model_link(relative_href(model_item, path), ref))
    item.set_self_href(str(path))
    if "href" not in kw:
        item.assets[ASSET_KEY].href = relative_href(item.assets[ASSET_KEY].href, path)
    return save_item(item, path)
