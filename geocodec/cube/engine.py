"""xarray engine "geocodec": a geocodec Zarr cube as lazy ``optical`` and ``sar`` variables.

``xr.open_dataset(store, engine="geocodec", chunks={})`` gives ``optical`` (..., optical_band,
y, x) and ``sar`` (..., sar_band, y, x) in their original dtypes, with the store's coords and
CRS. Each variable is backed by its own ``ModalityArray`` (``geocodec.cube.modality_array``)
that reads the chunk frames and runs only its modality's decoder; the entropy decoding both
share goes through a per-process cache, so computing both variables entropy-decodes each chunk once.

It behaves like xarray's zarr engine: the standard ``open_dataset`` decoding options are
honoured (CF decoding is xarray's own ``decode_cf``), attributes are CF and netCDF-safe (the
group record is a JSON string), and opening reads metadata only: torch is imported when a
chunk is first decoded, not before.
"""

from __future__ import annotations

import json
import os
from typing import Any, Literal

import numpy as np
from xarray.backends import BackendEntrypoint
from xarray.core import indexing

from geocodec.cube import provenance
from geocodec.cube.modality_array import READ_BATCH, ModalityArray, fill_for
from geocodec.cube.record import open_cube
from geocodec.cube.optical_scale import CF_UNITS, DEFAULT as DEFAULT_SCALE
from geocodec.cube.store import array_dims, looks_like_geocodec_store, store_label
from geocodec.errors import CorruptStreamError, InvalidInputError
from geocodec.options import DEFAULT_BACKEND, Backend
from geocodec.settings import check_backend, check_device

__all__ = ["READ_BATCH", "GeocodecBackendEntrypoint", "ModalityArray"]

#: What decoded SAR samples are, by the record's ``sar_scale``: (units, CF standard_name or None).
#: CF's standard name for σ0 has canonical units "1"; a dB value is not convertible to it, so
#: SAR in dB gets units and a long name but no standard_name.
SAR_UNITS = {"db": ("dB", None), "linear": ("1", "surface_backwards_scattering_coefficient_of_radar_wave")}

#: Standard ``open_dataset`` options this engine honours (besides ``drop_variables``).
DECODE_OPTIONS = ("mask_and_scale", "decode_times", "concat_characters", "decode_coords", "use_cftime",
                  "decode_timedelta")


def modality_attrs(record: dict, which: Literal["optical", "sar"], has_grid_mapping: bool) -> dict[str, Any]:
    """CF attributes of one modality variable, in their encoded (on-disk) form.

    ``long_name`` is one name per band (rioxarray writes them as GeoTIFF band descriptions);
    ``_FillValue`` and ``grid_mapping`` are attributes here and move to ``.encoding`` when
    xarray decodes them (``mask_and_scale=True``, ``decode_coords="all"``), as with any CF file.
    """
    bands = [str(b) for b in record[f"{which}_bands"]]
    attrs: dict[str, Any] = {"long_name": tuple(bands)}
    if which == "optical":
        # the scale the optical came in (reflectance × 10 000 unless the record says otherwise)
        attrs["units"] = CF_UNITS[record.get("optical_scale") or DEFAULT_SCALE]
        attrs["description"] = f"Sentinel-2 reflectance bands {', '.join(bands)}"
    else:
        units, standard_name = SAR_UNITS.get(record.get("sar_scale", "db"), SAR_UNITS["db"])
        attrs["units"] = units
        if standard_name:
            attrs["standard_name"] = standard_name
        attrs["description"] = f"Sentinel-1 backscatter sigma0, polarisations {', '.join(bands)}"
    nodata = record.get(f"{which}_nodata")
    if nodata is not None:
        attrs["_FillValue"] = np.array(nodata, dtype=record[f"{which}_dtype"])[()]
    elif np.dtype(record[f"{which}_dtype"]).kind == "f":
        attrs["_FillValue"] = np.nan
    if has_grid_mapping:
        attrs["grid_mapping"] = "spatial_ref"
    return attrs


#: Record keys that describe the store's chunks, not the data: left out of the Dataset's attrs
#: (one digest per chunk would make a multi-megabyte attribute on a big cube).
STORE_ONLY_KEYS = ("fingerprints", "quality_samples")


def record_attrs(record: dict) -> dict[str, str]:
    """Dataset attrs: the group record as a JSON string (netCDF attributes cannot be dicts)."""
    kept = {k: v for k, v in record.items() if k not in STORE_ONLY_KEYS}
    return {"Conventions": "CF-1.8", "geocodec": json.dumps(kept, allow_nan=True, sort_keys=True)}


def _stac_target(obj) -> tuple[Any, dict[str, Any], Any]:
    """(href resolved against the Item's self link, the asset's xarray:open_kwargs, the owning Item or None)
    of a pystac Asset/Item."""
    import pystac

    asset = obj
    if isinstance(obj, pystac.Item):
        found = [a for a in obj.assets.values()
                 if a.extra_fields.get("xarray:open_kwargs", {}).get("engine") == "geocodec"]
        if len(found) != 1:
            raise InvalidInputError(f"STAC Item {obj.id!r} has {len(found)} assets opened by engine 'geocodec'; "
                                    "pass the asset itself (item.assets[key])")
        asset = found[0]
    href = asset.get_absolute_href()
    if href is None:
        raise InvalidInputError(f"STAC asset {asset.href!r} has no resolvable href (its Item has no self link)")
    kwargs = {k: v for k, v in asset.extra_fields.get("xarray:open_kwargs", {}).items()
              if k not in ("engine", "chunks", "allow_incomplete")}
    storage = asset.extra_fields.get("xarray:storage_options")
    if storage:
        kwargs["storage_options"] = storage
    item = obj if isinstance(obj, pystac.Item) else asset.owner
    return href, kwargs, item if isinstance(item, pystac.Item) else None


def _check_provenance(record, where: str, item, expect) -> None:
    """The owning Item's claims and the open kwargs' ``expect`` must describe the store
    (``geocodec.cube.provenance``)."""
    if item is not None and any(k.startswith("geocodec:") for k in item.properties):
        provenance.check(provenance.item_claims(item.properties), record, where, f"STAC Item {item.id!r}")
    if expect is not None:
        provenance.check(expect, record, where, "the asset's xarray:open_kwargs 'expect'")


def _check_relative_path(path) -> None:
    """A relative path that is not there: often a STAC asset's href, passed on as written (xpystac)."""
    if not isinstance(path, (str, os.PathLike)) or "://" in str(path) or os.path.isabs(path) or os.path.exists(path):
        return
    raise InvalidInputError(
        f"{path} does not exist (relative to the working directory {os.getcwd()}). If it is a STAC asset's "
        "relative href: xpystac (engine='stac') passes asset.href as written, not resolved against its Item; "
        "open the asset with xr.open_dataset(asset) (engine 'geocodec' resolves it against the Item's self "
        "href), or call item.make_asset_hrefs_absolute() first")


class GeocodecBackendEntrypoint(BackendEntrypoint):
    """Open a geocodec Zarr cube with lazy, per-modality decoding.

    ``xr.open_dataset(store, engine="geocodec")``; the store may also be a pystac ``Asset``
    (or ``Item``) whose ``xarray:open_kwargs`` name this engine: its href is resolved against
    the Item's self link, so an Item read from disk opens wherever it is read, and the Item is
    checked against the store's record first (``ProvenanceError``), as ``geocodec.stac.open_dataset``
    does. ``expect=`` (what an Item's ``xarray:open_kwargs`` carry, so xpystac passes it) is checked too.
    """

    description = "geocodec Zarr cubes: lazy optical and SAR variables, each decoded on its own"
    url = "https://github.com/geocodec/geocodec"
    open_dataset_parameters = ("filename_or_obj", "drop_variables", *DECODE_OPTIONS, "consolidated",
                               "storage_options", "zarr_format", "device", "allow_incomplete", "seamless", "backend",
                               "expect")

    def guess_can_open(self, filename_or_obj) -> bool:
        if isinstance(filename_or_obj, (str, os.PathLike)):
            return looks_like_geocodec_store(filename_or_obj)
        if type(filename_or_obj).__module__.startswith("pystac"):  # an Asset, or an Item with one such asset
            assets = getattr(filename_or_obj, "assets", None) or {"": filename_or_obj}
            return sum((getattr(a, "extra_fields", None) or {}).get("xarray:open_kwargs", {}).get("engine")
                       == "geocodec" for a in assets.values()) == 1
        return False

    def open_dataset(
        self,
        filename_or_obj,
        *,
        mask_and_scale: bool = False,
        decode_times: bool = True,
        concat_characters: bool = True,
        decode_coords: bool | Literal["coordinates", "all"] = "all",
        drop_variables: str | list[str] | None = None,
        use_cftime: bool | None = None,
        decode_timedelta: bool | None = None,
        consolidated: bool | None = None,
        storage_options: dict[str, Any] | None = None,
        zarr_format: Literal[2, 3] | None = None,
        device: str | None = None,
        allow_incomplete: bool = False,
        seamless: bool | None = None,
        backend: Backend = DEFAULT_BACKEND,
        expect: dict | None = None,
    ):
        """A lazy Dataset of the cube: ``optical`` and ``sar``, each decoded only when read.

        Parameters
        ----------
        filename_or_obj
            Path, URL (fsspec), zarr Store, or a pystac Asset/Item of a geocodec cube.
        mask_and_scale
            False (default) keeps the original dtypes, with nodata in ``_FillValue``; True
            masks nodata to NaN (floats), as xarray's CF decoding does.
        decode_times, concat_characters, decode_coords, use_cftime, decode_timedelta
            As in ``xarray.open_dataset`` (applied by xarray's own ``decode_cf``).
        drop_variables
            Variables to leave out; dropping ``optical`` or ``sar`` means its decoder never runs.
        consolidated, storage_options, zarr_format
            As in xarray's zarr engine.
        device
            Device the decoders run on (default ``$GEOCODEC_DEVICE`` or auto).
        allow_incomplete
            Read a store whose write was interrupted (missing chunks read as fill).
        seamless
            Synthesise each chunk together with a margin of its neighbours' latents and crop, so
            chunk borders show no seam (``geocodec.cube.overlap``; deterministic per chunk). None
            (default): on for cubes written with ``scaling="cube"``, off for chunk-scaled (v0.1)
            cubes, which decode as before. False is faster (each chunk alone, as plain Zarr reads do).
        backend
            What runs the decoders, as in ``geocodec.decompress``: ``"auto"`` (default: bf16 where
            native, else fp32), ``"torch"`` (fp32), ``"torch-bf16"``, ``"onnx"`` or ``"onnx-int8"`` (ONNX Runtime graphs, faster on a CPU; ``geocodec[fast]``).
        expect
            Claims about the cube (``geocodec.cube.provenance.claims``; STAC Items put them in the asset's
            ``xarray:open_kwargs``): a store they do not describe raises ``ProvenanceError``.

        Returns
        -------
        xarray.Dataset
        """
        import xarray as xr

        item = None
        if not isinstance(filename_or_obj, (str, os.PathLike)) and type(filename_or_obj).__module__.startswith(
                "pystac"):
            filename_or_obj, asset_kwargs, item = _stac_target(filename_or_obj)
            expect = expect if expect is not None else asset_kwargs.get("expect")
            if consolidated is None:
                consolidated = asset_kwargs.get("consolidated")
            storage_options = storage_options or asset_kwargs.get("storage_options")
        else:
            _check_relative_path(filename_or_obj)
        check_backend(backend)
        check_device(device)
        drop = {drop_variables} if isinstance(drop_variables, str) else set(drop_variables or ())
        cube = open_cube(filename_or_obj, allow_incomplete=allow_incomplete, storage_options=storage_options)
        if zarr_format is not None and cube.group.metadata.zarr_format != zarr_format:
            raise InvalidInputError(f"{filename_or_obj} is a Zarr v{cube.group.metadata.zarr_format} store, "
                                    f"not v{zarr_format}")
        rec = cube.record
        _check_provenance(rec, str(filename_or_obj), item, expect)
        record = rec.to_attrs()
        store, store_ref, name, arr = cube.store, cube.store_ref, rec.array, cube.array
        settings = cube.settings
        dims = array_dims(arr)
        if dims[-3:] != ("band", "y", "x"):
            raise InvalidInputError(f"array {name!r} has dims {dims}; expected (..., 'band', 'y', 'x')")
        n_opt, n_sar = rec.n_optical, rec.n_sar
        if arr.shape[-3] != n_opt + n_sar or settings.optical_bands != n_opt:
            raise CorruptStreamError(f"array {name!r} has {arr.shape[-3]} bands; the record lists {n_opt} optical "
                                     f"+ {n_sar} SAR")
        # Everything but the joint array, undecoded: one decode_cf below decodes it all together.
        raw = xr.open_dataset(store, engine="zarr", chunks=None, drop_variables=[name, "band"],
                              consolidated=consolidated, zarr_format=zarr_format, decode_cf=False)
        variables = {k: v.load() for k, v in raw.variables.items() if k not in drop}
        for k, v in variables.items():  # an index has no missing values: zarr's NaN fill is encoding, not data
            if v.dims == (k,) and "_FillValue" in v.attrs:
                v.encoding["_FillValue"] = v.attrs.pop("_FillValue")
        store_id = store_label(store_ref)
        lead = dims[:-3]
        for which, bands in (("optical", record["optical_bands"]), ("sar", record["sar_bands"])):
            if which in drop:
                continue
            dtype = record[f"{which}_dtype"]
            nodata = record.get(f"{which}_nodata")
            lazy = ModalityArray(
                store_ref, store_id, name, which, (*arr.shape[:-3], len(bands), *arr.shape[-2:]), dtype,
                tuple(arr.chunks), settings, len(bands), fill_for(dtype, nodata), device,
                allow_missing=not rec.complete,
                seamless=rec.scaling == "cube" if seamless is None else bool(seamless), backend=backend)
            band_dim = f"{which}_band"
            attrs = modality_attrs(record, which, has_grid_mapping="spatial_ref" in raw.variables)
            var = xr.Variable((*lead, band_dim, "y", "x"), indexing.LazilyIndexedArray(lazy), attrs=attrs)
            var.encoding["preferred_chunks"] = {**{d: c for d, c in zip(lead, arr.chunks)}, band_dim: len(bands),
                                                "y": arr.chunks[-2], "x": arr.chunks[-1]}
            variables[which] = var
            if band_dim not in drop:
                variables[band_dim] = xr.Variable(band_dim, np.asarray([str(b) for b in bands]),
                                                  attrs={"long_name": f"{which} band"})
        ds = xr.Dataset(variables, attrs=record_attrs(record))
        ds = ds.set_coords([k for k in ds.data_vars if k not in ("optical", "sar", "spatial_ref")])
        return xr.decode_cf(ds, mask_and_scale=mask_and_scale, decode_times=decode_times,
                            concat_characters=concat_characters, decode_coords=decode_coords,
                            use_cftime=use_cftime, decode_timedelta=decode_timedelta)
