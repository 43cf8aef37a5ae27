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

import pystac

from geocodec.errors import InvalidInputError
from geocodec.stac import bands as band_meta
from geocodec.stac.schemas import EXTENSION_URIS, validate
from geocodec.stac.store import Grid, StoreFacts, finite_or_none, read_store, store_size_and_checksum

ASSET_KEY = "zarr"
ZARR_MEDIA_TYPE = pystac.MediaType.ZARR  # "application/vnd+zarr"
MODEL_FRAMEWORK = "pytorch"


def _corners(grid: Grid) -> list[tuple[float, float]]:
    a, b, c, d, e, f = grid.transform[:6]
    w, h = grid.width, grid.height
    pts = [(0, 0), (0, h), (w, h), (w, 0)]
    return [(a * col + b * row + c, d * col + e * row + f) for col, row in pts]


def _georef(grid: Grid) -> tuple[dict | None, list[float] | None, dict[str, Any], float | None]:
    """(geometry, bbox) in WGS84, the proj: fields and the pixel size in metres (if known)."""
    proj: dict[str, Any] = {"proj:shape": [grid.height, grid.width]}
    if grid.transform is None:
        proj["proj:code"] = None
        return None, None, proj, None
    proj["proj:transform"] = [float(v) for v in grid.transform]
    corners = _corners(grid)
    xs, ys = zip(*corners)
    proj["proj:bbox"] = [min(xs), min(ys), max(xs), max(ys)]
    if grid.crs_wkt is None:
        proj["proj:code"] = None
        return None, None, proj, None
    from pyproj import CRS, Transformer

    crs = CRS.from_wkt(grid.crs_wkt)
    epsg = crs.to_epsg()
    proj["proj:code"] = f"EPSG:{epsg}" if epsg else None
    if epsg is None:
        proj["proj:wkt2"] = crs.to_wkt()
    to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    lon_min, lat_min, lon_max, lat_max = to_ll.transform_bounds(*proj["proj:bbox"], densify_pts=21)
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


def _when(facts: StoreFacts, datetime, start_datetime, end_datetime):
    if datetime is not None or (start_datetime is not None and end_datetime is not None):
        return datetime, start_datetime, end_datetime
    if len(facts.times) == 1:
        return facts.times[0], None, None
    if facts.times:
        return None, min(facts.times), max(facts.times)
    raise InvalidInputError(f"{facts.path} has no 'time' coordinate: pass datetime= (or start_datetime= and "
                            "end_datetime=) to say when the data was acquired")


def _geocodec_fields(facts: StoreFacts) -> dict[str, Any]:
    a = facts.attrs
    if not isinstance(a.get("quality"), dict):
        raise InvalidInputError(f"{facts.path}: the 'geocodec' attrs have no write-time 'quality' record "
                                "(bpp, PSNR per modality); the STAC Item must carry it")
    if a.get("complete") is False:
        raise InvalidInputError(f"{facts.path} is an incomplete geocodec store (its write was interrupted): "
                                "finish it (re-run geocodec.to_zarr with the same arguments) before cataloguing it")
    software = a.get("software") or {}
    if "torch" not in software:
        raise InvalidInputError(f"{facts.path}: the 'geocodec' attrs do not record the torch version "
                                "('software'.'torch') the model ran with")
    model = a["model"]
    return {
        "geocodec:format_version": int(a["format_version"]),
        "geocodec:model": {"name": model["name"], "version": str(model["version"]), "sha256": model["sha256"],
                           "framework": MODEL_FRAMEWORK, "framework_version": str(software["torch"])},
        "geocodec:lambda": a.get("lmbda"),
        "geocodec:target_bpp": a.get("target_bpp"),
        "geocodec:gamma": float(a["gamma"]),
        "geocodec:modalities": {
            "optical": {"bands": list(a["optical_bands"]), "data_type": a["optical_dtype"],
                        "nodata": a.get("optical_nodata")},
            "sar": {"bands": list(a["sar_bands"]), "data_type": a["sar_dtype"],
                    "scale": a.get("sar_scale", "db"), "nodata": a.get("sar_nodata")},
        },
        "geocodec:quality": finite_or_none(a["quality"]),
        "geocodec:array": facts.array,
        "geocodec:chunks": {str(k): int(v) for k, v in (a.get("chunks") or {}).items()},
    }


def _processing(facts: StoreFacts) -> dict[str, Any]:
    a = facts.attrs
    m = a["model"]
    rate = f"λ={a['lmbda']}" if a.get("lmbda") is not None else f"target {a.get('target_bpp')} bpp"
    return {
        "processing:software": {str(k): str(v) for k, v in (a.get("software") or {}).items() if v is not None},
        "processing:lineage": (f"Learned joint SAR+optical compression (geocodec) with model {m['name']} "
                               f"v{m['version']}, {rate}, γ={a['gamma']}"),
    }


def create_item(store, *, item_id: str | None = None, href: str | None = None,
                datetime: dt.datetime | None = None, start_datetime: dt.datetime | None = None,
                end_datetime: dt.datetime | None = None, properties: dict | None = None,
                sar: dict | None = None, collection: str | pystac.Collection | None = None,
                checksum: bool = True, validate_item: bool = True) -> pystac.Item:
    """A validated STAC Item for the geocodec Zarr store at ``store`` (a local directory).

    ``href`` is the asset's href (default: the store's absolute path). Without a ``time``
    coordinate in the store, give ``datetime`` (or ``start_datetime``/``end_datetime``).
    ``sar`` overrides the sar extension defaults (Sentinel-1 IW GRD, C band); ``properties``
    adds Item properties (platform, instruments, ...). ``checksum=False`` skips hashing the
    store (``file:checksum``), which reads every byte of it.
    """
    facts = read_store(store)
    geometry, bbox, proj, pixel = _georef(facts.grid)
    when, start, end = _when(facts, datetime, start_datetime, end_datetime)
    a = facts.attrs
    props: dict[str, Any] = {}
    props.update(_geocodec_fields(facts))
    props.update(proj)
    props.update(band_meta.SENTINEL1_IW_GRD)
    props["sar:polarizations"] = band_meta.sar_polarizations(list(a["sar_bands"]))
    props.update(sar or {})
    props.update(_processing(facts))
    if start is not None:
        props["start_datetime"] = pystac.utils.datetime_to_str(start)
        props["end_datetime"] = pystac.utils.datetime_to_str(end)
    props.update(properties or {})

    item = pystac.Item(
        id=item_id or facts.path.name.removesuffix(".zarr"),
        geometry=geometry, bbox=bbox, datetime=when, properties=props,
        stac_extensions=list(EXTENSION_URIS.values()),
    )
    asset_fields: dict[str, Any] = {
        "xarray:open_kwargs": {"engine": "geocodec"},
        "eo:bands": band_meta.eo_bands(list(a["optical_bands"]), list(a["sar_bands"]), a.get("sar_scale", "db")),
        "raster:bands": band_meta.raster_bands(a, facts.dtype, pixel),
    }
    if checksum:
        size, digest = store_size_and_checksum(facts.path)
        asset_fields.update({"file:size": size, "file:checksum": digest})
    else:
        item.stac_extensions.remove(EXTENSION_URIS["file"])
    item.add_asset(ASSET_KEY, pystac.Asset(
        href=href or str(facts.path), media_type=ZARR_MEDIA_TYPE, roles=["data"],
        title="geocodec-compressed co-registered SAR + optical cube (Zarr)",
        description=(f"Joint array '{facts.array}' {tuple(facts.dims)} with bands "
                     f"{', '.join(facts.bands)} (optical then SAR), each chunk one geocodec bitstream; "
                     "open with xarray engine 'geocodec'"),
        extra_fields=asset_fields))
    if collection is not None:
        item.collection_id = collection.id if isinstance(collection, pystac.Collection) else str(collection)
    if validate_item:
        validate(item)
    return item


def write_item_for_store(store, path, **kw) -> pystac.Item:
    """Create the Item for ``store`` and save it as JSON at ``path``, validated offline.

    The asset href is written relative to the Item file, so the pair can be moved together.
    This is what ``geocodec encode ... --stac item.json`` calls.
    """
    path = Path(path).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    item = create_item(store, **kw)
    item.set_self_href(str(path))
    if "href" not in kw:
        rel = os.path.relpath(Path(item.assets[ASSET_KEY].href), path.parent)
        item.assets[ASSET_KEY].href = Path(rel).as_posix()
    item.save_object(include_self_link=False, dest_href=str(path))
    return item
