"""What a STAC Item (or its asset's ``xarray:open_kwargs``) claims about a cube, checked by the engine.

Why here, in the cube layer: the xarray engine is a STAC door too. ``xr.open_dataset(item.assets["zarr"])``
hands it the asset (and so its Item), and xpystac hands it the asset's href with its
``xarray:open_kwargs``, which carry these claims as ``expect``. Either way the engine compares the
claims with the store's own record before anything is decoded, as ``geocodec.stac.open_dataset``
does, and a tampered Item is a ``ProvenanceError``. ``geocodec.stac.validate`` checks that the
``expect`` of an asset agrees with its Item's properties, so neither can be edited alone.

Claims use the record's vocabulary; ``ITEM_PROPERTIES`` is where each sits in an Item (the
geocodec STAC extension's fields).
"""

from __future__ import annotations

import math
from typing import Any

from geocodec.errors import ProvenanceError

#: claim → (Item property, key inside it or None)
ITEM_PROPERTIES: dict[str, tuple[str, str | None]] = {
    "model_name": ("geocodec:model", "name"),
    "model_version": ("geocodec:model", "version"),
    "model_sha256": ("geocodec:model", "sha256"),
    "format_version": ("geocodec:format_version", None),
    "lmbda": ("geocodec:lambda", None),
    "target_bpp": ("geocodec:target_bpp", None),
    "gamma": ("geocodec:gamma", None),
    "refine_steps": ("geocodec:refine_steps", None),
    "modalities": ("geocodec:modalities", None),
    "quality": ("geocodec:quality", None),
}
#: quality figures compared (the rest of the quality dict is descriptive)
QUALITY_KEYS = ("bpp", "psnr_optical", "psnr_sar")


def _finite(v):
    return None if isinstance(v, float) and not math.isfinite(v) else v


def claims(record) -> dict[str, Any]:
    """The claims an Item of this cube makes (``create_item`` writes them; also as the asset's ``expect``)."""
    q = record.quality or {}
    return {
        "cube_id": record.cube_id,
        "model_name": record.model.name, "model_version": str(record.model.version),
        "model_sha256": record.model.sha256, "format_version": record.format_version,
        "lmbda": record.lmbda, "target_bpp": record.target_bpp, "gamma": record.gamma,
        "refine_steps": record.refine_steps or None,
        "modalities": {
            "optical": {"bands": list(record.optical_bands), "data_type": record.optical_dtype,
                        "nodata": record.optical_nodata},
            "sar": {"bands": list(record.sar_bands), "data_type": record.sar_dtype, "scale": record.sar_scale,
                    "nodata": record.sar_nodata},
        },
        "quality": {k: _finite(q.get(k)) for k in QUALITY_KEYS},
    }


def item_claims(properties: dict) -> dict[str, Any]:
    """The claims an Item's properties make (only those it has)."""
    out = {}
    for claim, (prop, key) in ITEM_PROPERTIES.items():
        if prop not in properties:
            continue
        v = properties[prop]
        if key is not None:
            if not isinstance(v, dict) or key not in v:
                continue
            v = v[key]
        if claim == "quality" and isinstance(v, dict):
            v = {k: v.get(k) for k in QUALITY_KEYS}
        out[claim] = v
    return out


def _same(a, b) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.0)
    return a == b


def _name(claim: str) -> str:
    prop, key = ITEM_PROPERTIES.get(claim, (claim, None))
    return f"{prop}.{key}" if key else prop


def disagreements(claimed: dict, actual: dict) -> list[str]:
    """``field: x vs y`` for every claim both make that differs (named by its Item field where it has one)."""
    return [f"{_name(k)}: {claimed[k]!r} vs {actual[k]!r}" for k in claimed
            if k in actual and not _same(claimed[k], actual[k])]


def check(claimed: dict, record, where: str, source: str) -> None:
    """Raise ``ProvenanceError`` when ``claimed`` (from ``source``) does not describe the cube's ``record``."""
    if not isinstance(claimed, dict):
        raise ProvenanceError(f"{source}: 'expect' must be a dict of claims about the cube, "
                              f"got {type(claimed).__name__}")
    bad = disagreements(claimed, claims(record))
    if bad:
        raise ProvenanceError(f"{source} does not describe the store at {where} (claimed vs stored): "
                              + "; ".join(bad) + ". Re-create the Item from the store (geocodec stac item), or "
                              "open the store it was made for")
