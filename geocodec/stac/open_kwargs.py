"""The ``xarray:open_kwargs`` of a cube's Zarr asset: how to open it, and what the opener must find.

Why: generic STAC readers (xpystac) open an asset with ``xr.open_dataset(asset.href,
**open_kwargs)`` and never look at the Item. So the kwargs carry the Item's claims about the
store as ``expect`` (``geocodec.cube.provenance``), which the geocodec engine checks against the
store's record; ``check`` (run by ``geocodec.stac.validate``) makes sure they agree with the Item's
own properties, so a tampered Item is caught whichever door it is opened through.
"""

from __future__ import annotations

from typing import Any

from geocodec.cube import provenance
from geocodec.stac.errors import InvalidStacError

ENGINE = "geocodec"
#: how to open: the geocodec engine, lazily (one Dask chunk per stored chunk)
BASE: dict[str, Any] = {"engine": ENGINE, "chunks": {}}


def for_record(record) -> dict[str, Any]:
    """The asset's ``xarray:open_kwargs`` for a cube with this record: ``BASE`` and the claims as ``expect``."""
    return {**BASE, "expect": provenance.claims(record)}


def check(item: dict) -> None:
    """Every geocodec asset's ``expect`` must agree with the Item's properties (``InvalidStacError``
    naming what differs)."""
    props = item.get("properties") or {}
    claimed = provenance.item_claims(props)
    for key, asset in (item.get("assets") or {}).items():
        kwargs = asset.get("xarray:open_kwargs") or {}
        if kwargs.get("engine") != ENGINE or "expect" not in kwargs:
            continue
        expect = kwargs["expect"]
        if not isinstance(expect, dict):
            raise InvalidStacError(f"STAC Item {item.get('id')!r}: asset {key!r} has a non-dict xarray:open_kwargs "
                                   "'expect'")
        bad = provenance.disagreements(expect, claimed)
        if bad:
            raise InvalidStacError(
                f"STAC Item {item.get('id')!r}: the xarray:open_kwargs of asset {key!r} disagree with the Item's "
                f"properties (open_kwargs vs properties): {'; '.join(bad)}. One of them was edited: re-create the "
                "Item from its store (geocodec stac item)")
