"""``open_dataset``: from a STAC Item (object, dict or href) to a lazy xarray Dataset, safely.

Before anything is decoded the Item is validated offline (a tampered Item fails its
schemas), checked against the store it points to (model, settings, bands and write-time
quality must be what the store's own attrs record) and the decoding model is resolved: its
sha256 must be the one the Item records. Then the store is opened with the asset's
``xarray:open_kwargs`` (engine ``geocodec``); chunks are decoded only when read.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

import pystac

if TYPE_CHECKING:
    import xarray as xr

    from geocodec.registry import GeocodecModel

from geocodec.errors import InvalidInputError, ModelMismatchError
from geocodec.options import Modality
from geocodec.stac.errors import InvalidStacError, ProvenanceError
from geocodec.cube.record import CubeRecord, open_cube
from geocodec.stac.extension import GeocodecExtension
from geocodec.stac.item import ZARR_MEDIA_TYPES, record_fields
from geocodec.stac.schemas import SCHEMA_URI, validate
from geocodec.stac.store import store_size_and_checksum

ENGINE = "geocodec"
MODALITIES = (None, *get_args(Modality))


def load_item(item_or_href) -> pystac.Item:
    """A pystac Item from an Item, a dict, or the path/URL of its JSON."""
    if isinstance(item_or_href, pystac.Item):
        return item_or_href
    if isinstance(item_or_href, dict):
        try:
            return pystac.Item.from_dict(item_or_href)
        except Exception as e:  # noqa: BLE001 - pystac raises many types for malformed dicts
            raise InvalidStacError(f"not a STAC Item: {e}") from None
    if isinstance(item_or_href, (str, os.PathLike)):
        href = os.fspath(item_or_href)
        if "://" not in href and not Path(href).is_file():
            raise InvalidInputError(f"STAC Item file {href!r} does not exist")
        try:
            return pystac.Item.from_file(href)
        except Exception as e:  # noqa: BLE001
            raise InvalidStacError(f"{href} is not a readable STAC Item: {e}") from None
    raise InvalidInputError(f"expected a pystac.Item, a dict or an Item href, got {type(item_or_href).__name__}")


def zarr_asset(item: pystac.Item, key: str | None = None) -> tuple[str, pystac.Asset]:
    """The geocodec Zarr asset: ``key``, or the one Zarr asset (``application/vnd.zarr``) opened by engine geocodec."""
    if key is not None:
        if key not in item.assets:
            raise InvalidStacError(f"Item {item.id!r} has no asset {key!r} (assets: {sorted(item.assets)})")
        return key, item.assets[key]
    found = [(k, a) for k, a in item.assets.items()
             if a.media_type in ZARR_MEDIA_TYPES
             and a.extra_fields.get("xarray:open_kwargs", {}).get("engine") == ENGINE]
    if len(found) != 1:
        raise InvalidStacError(f"Item {item.id!r} has {len(found)} Zarr assets opened by engine {ENGINE!r}; "
                               "pass asset= to choose one")
    return found[0]


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.0) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def check_item_matches_store(item: pystac.Item, record: CubeRecord, where: str) -> None:
    """The Item must describe the store: the fields ``create_item`` would write from the store's
    record (model, settings, bands, write-time quality) must be the Item's."""
    ext = GeocodecExtension.ext(item)
    expected = record_fields(record)
    m_item, m_store = ext.model, expected["model"]
    if m_item.sha256 != m_store.sha256:
        raise ModelMismatchError(
            f"STAC Item {item.id!r} records model {m_item.name!r} v{m_item.version} (sha256 "
            f"{m_item.sha256[:16]}…), but the store at {where} was written by model {m_store.name!r} "
            f"v{m_store.version} (sha256 {m_store.sha256[:16]}…): the Item does not describe this store")
    pairs = {
        "model name": (m_item.name, m_store.name),
        "model version": (m_item.version, m_store.version),
        "format_version": (ext.format_version, expected["format_version"]),
        "lambda": (ext.lmbda, expected["lmbda"]),
        "target_bpp": (ext.target_bpp, expected["target_bpp"]),
        "gamma": (ext.gamma, expected["gamma"]),
        "refine_steps": (ext.refine_steps, expected["refine_steps"]),
        "modalities (bands, dtypes, scale, nodata)": (ext.modalities, expected["modalities"]),
        "write-time quality": (ext.quality, expected["quality"]),
    }
    bad = [f"{k}: Item says {a!r}, store says {b!r}" for k, (a, b) in pairs.items() if not _same(a, b)]
    if bad:
        raise ProvenanceError(f"STAC Item {item.id!r} does not match the store at {where}: " + "; ".join(bad))


def _weights_found(model: str) -> str:
    """What a weights path that failed to match holds, for the error message ('' if nothing there)."""
    from geocodec.registry import model_summary

    p = Path(model)
    if p.suffix != ".safetensors" or not p.is_file():
        return ""
    try:
        meta = model_summary(p)
    except Exception:  # noqa: BLE001 - an unreadable file: the main message says enough
        return ""
    return (f"; the weights now at {p} are model {meta.get('name')!r} v{meta.get('version')} "
            f"(sha256 {str(meta.get('sha256'))[:16]}…)")


def decoding_model(item: pystac.Item, href: str, device: str = "auto") -> GeocodecModel:
    """The model the geocodec engine will decode the store with, resolved exactly as the engine does
    (the model the array's codec metadata pins, found in this installation); its sha256 must be the
    one the Item records, or ``ModelMismatchError`` says which is which.
    """
    rec = item.properties["geocodec:model"]
    settings = open_cube(href, allow_incomplete=True).settings
    if settings.model_sha256 != rec["sha256"]:
        raise ModelMismatchError(
            f"STAC Item {item.id!r} records model {rec['name']!r} v{rec['version']} (sha256 {rec['sha256'][:16]}…), "
            f"but the array at {href} pins model {settings.model!r} v{settings.model_version} (sha256 "
            f"{settings.model_sha256[:16]}…)")
    try:
        m = settings.load_for_decoding(device)
    except ModelMismatchError as e:
        raise ModelMismatchError(f"STAC Item {item.id!r} needs model {rec['name']!r} v{rec['version']} (sha256 "
                                 f"{rec['sha256'][:16]}…) to decode, but {e}{_weights_found(settings.model)}") from None
    if m.sha256 != rec["sha256"]:
        raise ModelMismatchError(
            f"STAC Item {item.id!r} was encoded by model {rec['name']!r} v{rec['version']} (sha256 "
            f"{rec['sha256'][:16]}…), but the model that would decode it is {m.name!r} v{m.version} "
            f"(sha256 {m.sha256[:16]}…)")
    return m


def verify_store_checksum(asset: pystac.Asset, path: str) -> None:
    expected = asset.extra_fields.get("file:checksum")
    if expected is None:
        raise ProvenanceError("verify_checksum=True, but the asset records no file:checksum")
    size, digest = store_size_and_checksum(path)
    if digest != expected or size != asset.extra_fields.get("file:size", size):
        raise ProvenanceError(f"the store at {path} has changed since its STAC Item was made: checksum "
                              f"{digest[:20]}… (size {size}) != recorded {expected[:20]}…")


def open_dataset(item_or_href: pystac.Item | dict[str, Any] | str | os.PathLike, modality: Modality | None = None,
                 *, asset: str | None = None, device: str = "auto", validate_item: bool = True,
                 verify_checksum: bool = False, **open_kwargs: Any) -> xr.Dataset:
    """Open the geocodec cube a STAC Item describes as a lazy (Dask-backed) xarray Dataset, safely.

    Before anything is decoded the Item is validated offline, checked against the store it
    points to (``ProvenanceError``), and the decoding model is resolved: its sha256 must be the
    one the Item records (``ModelMismatchError``).

    Parameters
    ----------
    item_or_href
        A pystac Item, its dict, or the path/URL of its JSON.
    modality
        None or ``"both"``: ``optical`` and ``sar``; ``"optical"`` / ``"sar"``: only that
        variable, so only that decoder ever runs.
    asset
        Key of the Zarr asset (default: the one opened by engine ``geocodec``).
    device
        Device the decoders run on.
    validate_item
        Validate the Item offline first.
    verify_checksum
        Re-hash the whole store against ``file:checksum`` (reads every byte).
    **open_kwargs
        Passed to ``xarray.open_dataset`` over the asset's ``xarray:open_kwargs`` (default
        ``chunks={}``: one Dask chunk per stored chunk). ``allow_incomplete`` is honoured only
        from here, never from the Item.

    Returns
    -------
    xarray.Dataset
        Lazy: chunks are decoded when read.

    Raises
    ------
    InvalidStacError
        Not a valid geocodec Item.
    ProvenanceError
        The Item does not describe the store it points to.
    geocodec.errors.ModelMismatchError
        The decoding model is not the one the Item records.
    """
    import xarray as xr

    if modality not in MODALITIES:
        raise InvalidInputError(f"modality={modality!r}: use None, 'both', 'optical' or 'sar'")
    item = load_item(item_or_href)
    if SCHEMA_URI not in item.stac_extensions:
        raise InvalidStacError(f"Item {item.id!r} is not a geocodec Item: stac_extensions lacks {SCHEMA_URI}")
    if validate_item:
        validate(item)
    key, a = zarr_asset(item, asset)
    href = a.get_absolute_href()
    if href is None:
        raise InvalidStacError(f"asset {key!r} of Item {item.id!r} has no resolvable href")
    check_item_matches_store(item, open_cube(href, allow_incomplete=True).record, href)
    decoding_model(item, href, device)
    if verify_checksum:
        verify_store_checksum(a, href)
    # The Item's open kwargs may say how to open, never what to accept: reading an incomplete
    # store is the caller's decision alone.
    from_item = {k: v for k, v in a.extra_fields.get("xarray:open_kwargs", {}).items() if k != "allow_incomplete"}
    kwargs = {"chunks": {}, **from_item, **open_kwargs}
    if kwargs.get("engine") != ENGINE:
        raise InvalidStacError(f"asset {key!r} opens with engine {kwargs.get('engine')!r}, not {ENGINE!r}")
    if modality in ("optical", "sar"):
        kwargs["drop_variables"] = [*kwargs.get("drop_variables", []), "sar" if modality == "optical" else "optical"]
    if device != "auto":
        kwargs.setdefault("device", device)
    ds = xr.open_dataset(href, **kwargs)
    ds.attrs["stac_item"] = item.id
    return ds
