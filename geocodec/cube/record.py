"""The group record of a geocodec cube: one typed ``CubeRecord``, and ``open_cube`` to read it.

Why: the store's ``geocodec`` group attribute used to be read and mapped by hand in four places.
Everything that needs a cube's metadata (engine, STAC, ``geocodec info``, the writer) now goes
through ``open_cube`` and gets a validated ``CubeRecord``. No torch and no decoding here.

``to_attrs()`` writes the same keys v0.1 wrote (so v0.1 readers keep working) plus the
integrity fields added in record format 2: ``cube_id``, ``append_dim``, per-acquisition entries
and per-chunk input fingerprints. ``from_attrs`` reads format 1 and 2 records.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from geocodec.errors import IncompleteCubeError, InvalidInputError
from geocodec.options import BandCounts

#: Record format written by this version (1 = v0.1: no cube id, no fingerprints, no acquisitions).
RECORD_FORMAT = 2
READABLE_FORMATS = (1, 2)
#: Name of the joint array inside the group.
ARRAY = "pair"
_REQUIRED = ("format_version", "model", "gamma", "optical_bands", "sar_bands", "array")


@dataclass(frozen=True)
class ModelRef:
    """The model a cube (or one acquisition of it) was written with."""

    name: str
    version: str
    sha256: str


@dataclass
class Acquisition:
    """One step along the append dimension (e.g. one date): how it was written and its quality."""

    label: str  #: the coordinate value, as a string (ISO date for datetimes)
    lmbda: float | None
    target_bpp: float | None
    gamma: float
    model: ModelRef
    quality: dict | None = None
    complete: bool = False
    #: Per-band [lo, hi] every chunk of this acquisition was coded with (None: each chunk its own).
    band_scaling: list[list[float]] | None = None
    #: Encode-time latent refinement steps this acquisition's chunks were coded with (0: none).
    refine_steps: int = 0

    def to_attrs(self) -> dict:
        out = {"label": self.label, "lmbda": self.lmbda, "target_bpp": self.target_bpp, "gamma": self.gamma,
               "model": asdict(self.model), "quality": _json_floats(self.quality), "complete": self.complete}
        if self.band_scaling is not None:
            out["band_scaling"] = self.band_scaling
        if self.refine_steps:
            out["refine_steps"] = self.refine_steps
        return out

    @classmethod
    def from_attrs(cls, d: dict) -> Acquisition:
        return cls(label=str(d["label"]), lmbda=d.get("lmbda"), target_bpp=d.get("target_bpp"),
                   gamma=float(d["gamma"]), model=ModelRef(**d["model"]), quality=d.get("quality"),
                   complete=bool(d.get("complete", False)), band_scaling=d.get("band_scaling"),
                   refine_steps=int(d.get("refine_steps") or 0))


@dataclass
class CubeRecord(BandCounts):
    """Typed form of the group attribute ``geocodec`` (docs/zarr-layout.md)."""

    model: ModelRef
    lmbda: float | None
    target_bpp: float | None
    gamma: float
    optical_bands: list[str]
    sar_bands: list[str]
    optical_dtype: str
    sar_dtype: str
    sar_scale: str = "db"
    optical_nodata: float | None = None
    sar_nodata: float | None = None
    array: str = ARRAY
    chunks: dict[str, int] = field(default_factory=dict)
    complete: bool = False
    quality: dict | None = None
    software: dict = field(default_factory=dict)
    format_version: int = RECORD_FORMAT
    #: 32 hex digits naming this cube; every chunk frame carries it (None in format-1 stores).
    cube_id: str | None = None
    #: The dimension the cube grows along with ``to_zarr(append_dim=...)`` (None: not appended).
    append_dim: str | None = None
    acquisitions: list[Acquisition] = field(default_factory=list)
    #: chunk key → fingerprint (hex) of the chunk's input and its coding settings.
    fingerprints: dict[str, str] = field(default_factory=dict)
    #: Shard size per array dim (None: unsharded).
    shards: dict[str, int] | None = None
    #: chunk key → error sums of a chunk sampled for ``quality`` (pooled over all writers and dates).
    quality_samples: dict[str, dict] = field(default_factory=dict)
    #: ``"cube"``: chunks coded with one per-band scaling (``band_scaling``, or per acquisition when
    #: appended), so the engine can synthesise neighbours together; ``"chunk"``: each chunk its own (v0.1).
    scaling: str = "chunk"
    #: Per-band [lo, hi] of a cube-scaled cube that is not appended to (optical bands first, SAR in dB).
    band_scaling: list[list[float]] | None = None
    #: Encode-time latent refinement steps the chunks were coded with (0: none; per date in
    #: ``acquisitions`` when appended). Written only when non-zero; decoding never needs it.
    refine_steps: int = 0
    #: What the optical numbers are (``geocodec.cube.optical_scale``): the write-time PSNR's peak and the
    #: units readers show. Written only when not reflectance × 10 000, so older records read as before.
    optical_scale: str = "reflectance-x10000"
    #: Unknown keys from a newer writer, kept as they are.
    extra: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ conversion
    def to_attrs(self) -> dict:
        """The JSON-able group attribute (v0.1 keys first; non-finite quality values become None)."""
        out = {
            "format_version": self.format_version, "model": asdict(self.model), "lmbda": self.lmbda,
            "target_bpp": self.target_bpp, "gamma": self.gamma, "optical_bands": list(self.optical_bands),
            "sar_bands": list(self.sar_bands), "optical_dtype": self.optical_dtype, "sar_dtype": self.sar_dtype,
            "sar_scale": self.sar_scale, "optical_nodata": self.optical_nodata, "sar_nodata": self.sar_nodata,
            "array": self.array, "chunks": dict(self.chunks), "complete": self.complete,
            "quality": _json_floats(self.quality), "software": dict(self.software),
        }
        if self.format_version >= 2:
            out.update(cube_id=self.cube_id, append_dim=self.append_dim, shards=self.shards,
                       acquisitions=[a.to_attrs() for a in self.acquisitions],
                       fingerprints=dict(sorted(self.fingerprints.items())),
                       quality_samples=dict(sorted(self.quality_samples.items())))
            if self.scaling != "chunk":  # a chunk-scaled record stays exactly as before
                out.update(scaling=self.scaling, band_scaling=self.band_scaling)
        if self.refine_steps:  # a record written without refinement stays exactly as before
            out["refine_steps"] = self.refine_steps
        if self.optical_scale != "reflectance-x10000":
            out["optical_scale"] = self.optical_scale
        out.update(self.extra)
        return out

    @classmethod
    def from_attrs(cls, attrs: dict, where: str = "store") -> CubeRecord:
        """Parse a ``geocodec`` group attribute; ``InvalidInputError`` naming what is missing or wrong."""
        if not isinstance(attrs, dict):
            raise InvalidInputError(f"{where} is not a geocodec store: its group attrs have no 'geocodec' record "
                                    "(write it with geocodec.to_zarr)")
        missing = [k for k in _REQUIRED if k not in attrs]
        if missing:
            raise InvalidInputError(f"{where}: the 'geocodec' record lacks {', '.join(missing)}")
        fv = attrs["format_version"]
        if fv not in READABLE_FORMATS:
            raise InvalidInputError(f"{where}: geocodec record format {fv!r}; this geocodec reads formats "
                                    f"{READABLE_FORMATS} (upgrade geocodec)")
        known = {"format_version", "model", "lmbda", "target_bpp", "gamma", "optical_bands", "sar_bands",
                 "optical_dtype", "sar_dtype", "sar_scale", "optical_nodata", "sar_nodata", "array", "chunks",
                 "complete", "quality", "software", "cube_id", "append_dim", "acquisitions", "fingerprints",
                 "shards", "quality_samples", "scaling", "band_scaling", "refine_steps", "optical_scale"}
        try:
            return cls(
                format_version=int(fv), model=ModelRef(**attrs["model"]), lmbda=attrs.get("lmbda"),
                target_bpp=attrs.get("target_bpp"), gamma=float(attrs["gamma"]),
                optical_bands=list(attrs["optical_bands"]), sar_bands=list(attrs["sar_bands"]),
                optical_dtype=attrs.get("optical_dtype", "uint16"), sar_dtype=attrs.get("sar_dtype", "float32"),
                sar_scale=attrs.get("sar_scale", "db"), optical_nodata=attrs.get("optical_nodata"),
                sar_nodata=attrs.get("sar_nodata"), array=attrs["array"], chunks=dict(attrs.get("chunks") or {}),
                complete=bool(attrs.get("complete", False)), quality=attrs.get("quality"),
                software=dict(attrs.get("software") or {}), cube_id=attrs.get("cube_id"),
                append_dim=attrs.get("append_dim"), shards=attrs.get("shards"),
                acquisitions=[Acquisition.from_attrs(a) for a in attrs.get("acquisitions") or ()],
                fingerprints=dict(attrs.get("fingerprints") or {}),
                quality_samples=dict(attrs.get("quality_samples") or {}),
                scaling=str(attrs.get("scaling") or "chunk"), band_scaling=attrs.get("band_scaling"),
                refine_steps=int(attrs.get("refine_steps") or 0),
                optical_scale=str(attrs.get("optical_scale") or "reflectance-x10000"),
                extra={k: v for k, v in attrs.items() if k not in known})
        except (TypeError, KeyError, ValueError) as e:
            raise InvalidInputError(f"{where}: malformed 'geocodec' record ({e})") from None

    # ------------------------------------------------------------------ questions
    def band_scalings(self) -> dict[str | None, list[list[float]]]:
        """Per-band [lo, hi] the chunks were coded with: ``{None: ...}`` for the whole cube, or per
        acquisition label when appended; empty for a chunk-scaled cube."""
        if self.scaling != "cube":
            return {}
        if self.append_dim is None:
            return {None: self.band_scaling} if self.band_scaling is not None else {}
        return {a.label: a.band_scaling for a in self.acquisitions if a.band_scaling is not None}

    def rate(self) -> dict:
        return {"lmbda": self.lmbda} if self.lmbda is not None else {"target_bpp": self.target_bpp}


def _json_floats(value):
    """Replace non-finite floats (JSON has none) by None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_floats(v) for v in value]
    return value


@dataclass
class Cube:
    """An opened cube: its Zarr group, its record, and where it lives. Reads metadata only."""

    group: Any  #: zarr.Group
    record: CubeRecord
    store: Any  #: zarr Store
    store_ref: Any  #: what to hand a Dask worker to reopen it (a path/URL string, or the Store itself)

    @property
    def array(self):
        """The joint zarr array ``pair`` (…, band, y, x)."""
        return self.group[self.record.array]

    @property
    def settings(self):
        """The ``CodecSettings`` the array's codec metadata pins."""
        from geocodec.cube.store import codec_settings

        return codec_settings(self.array)


def open_cube(store, *, allow_incomplete: bool = False, storage_options: dict | None = None,
              mode: str = "r") -> Cube:
    """Open a geocodec cube's group and parse its record (metadata only; no torch, no decoding).

    Parameters
    ----------
    store
        A path, a URL (``file://``, ``memory://``, ``s3://`` … through fsspec) or a zarr Store.
    allow_incomplete
        Open a cube whose write has not finished; by default that raises ``IncompleteCubeError``.
    storage_options
        fsspec options for a URL (e.g. credentials), as in ``xarray.open_zarr``.
    mode
        ``"r"`` (read only) or ``"r+"``.

    Returns
    -------
    Cube
        ``.group``, ``.record`` (a ``CubeRecord``), ``.array``, ``.settings``, ``.store``, ``.store_ref``.
    """
    import zarr

    from geocodec.cube.store import open_store

    zstore, ref = open_store(store, read_only=mode == "r", storage_options=storage_options)
    where = str(store) if isinstance(store, (str, Path)) else type(store).__name__
    try:
        group = zarr.open_group(zstore, mode=mode)
    except Exception as e:  # noqa: BLE001 - zarr raises several types for "no group here"
        raise InvalidInputError(f"{where} is not a readable Zarr group: {e}") from None
    record = CubeRecord.from_attrs(dict(group.attrs).get("geocodec"), where)
    if not record.complete and not allow_incomplete:
        raise IncompleteCubeError(
            f"{where} is an incomplete geocodec cube (its write has not finished or was interrupted): re-run "
            "geocodec.to_zarr with the same arguments (mode='a') to finish it, or pass allow_incomplete=True "
            "to read the chunks written so far (missing ones read as fill)")
    return Cube(group=group, record=record, store=zstore, store_ref=ref)


# ---------------------------------------------------------------------------- plain reads
#: Set to 1 to let plain Zarr reads decode a cube whose write has not finished.
ALLOW_INCOMPLETE_ENV = "GEOCODEC_ALLOW_INCOMPLETE"


def refuse_incomplete(settings) -> None:
    """Plain Zarr reads (the storage codecs) of a cube still being written raise instead of mixing fill and data.

    ``settings``: the ``CodecSettings`` the array's codec pins (its ``complete`` flag).
    """
    if settings.complete is False and os.environ.get(ALLOW_INCOMPLETE_ENV) != "1":
        raise IncompleteCubeError(
            "this geocodec cube is incomplete (a write is running or was interrupted): chunks not yet written "
            "would read as NaN. Finish it with geocodec.to_zarr(..., mode='a'), or set "
            f"{ALLOW_INCOMPLETE_ENV}=1 to read what is there")
