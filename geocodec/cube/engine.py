"""xarray engine "geocodec": a geocodec Zarr cube as lazy ``optical`` and ``sar`` variables.

``xr.open_dataset(store, engine="geocodec", chunks={})`` gives ``optical`` (..., optical_band,
y, x) and ``sar`` (..., sar_band, y, x) in their original dtypes, with the store's coords and
CRS. Each variable is backed by its own ``BackendArray`` that reads the chunk frames and runs
only its modality's decoder; the entropy decoding both share goes through a per-process cache
(``geocodec.cube.cache``), so computing both variables entropy-decodes each chunk once.

It behaves like xarray's zarr engine: the standard ``open_dataset`` decoding options are
honoured (CF decoding is xarray's own ``decode_cf``), attributes are CF and netCDF-safe (the
group record is a JSON string), and opening reads metadata only: torch is imported when a
chunk is first decoded, not before.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
from pathlib import Path
from typing import Any, Literal

import numpy as np
from xarray.backends import BackendArray, BackendEntrypoint
from xarray.core import indexing

from geocodec.cube.cache import LATENTS
from geocodec.cube.record import open_cube
from geocodec.cube.store import array_dims, looks_like_geocodec_store, open_store, read_frames, store_label
from geocodec.errors import CorruptStreamError, InvalidInputError

#: Chunks decoded together when one read spans many (one device batch).
READ_BATCH = 16


class ModalityArray(BackendArray):
    """One modality of the joint array; indexing decodes only that modality of the chunks it touches."""

    def __init__(self, store_ref, store_id: str, array: str, which: str, shape: tuple[int, ...], dtype,
                 chunks: tuple[int, ...], settings, n_bands: int, fill, device: str | None,
                 allow_missing: bool):
        self.store_ref, self.store_id, self.array, self.which = store_ref, store_id, array, which
        self.shape, self.dtype = shape, np.dtype(dtype)
        self.chunks = chunks  # of the joint array (band axis: all bands)
        self.settings, self.n_bands, self.fill = settings, n_bands, fill
        self.device, self.allow_missing = device, allow_missing
        self._arr = None
        self._lock = threading.Lock()

    def __getstate__(self):  # picklable for dask.distributed: reopen the store on the worker
        state = self.__dict__.copy()
        state["_arr"], state["_lock"] = None, None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _zarr_array(self):
        with self._lock:
            if self._arr is None:
                import zarr

                store = open_store(self.store_ref, read_only=True)[0] if isinstance(self.store_ref, (str, Path)) \
                    else self.store_ref
                self._arr = zarr.open_group(store, mode="r")[self.array]
            return self._arr

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.BASIC, self._getitem)

    # ------------------------------------------------------------------ decoding
    def _latents(self, arr, keys: list[str], coords: list[tuple[int, ...]]) -> list:
        from geocodec.cube.chunks import ChunkCoder, frame_crc  # torch: only once something decodes

        coder = ChunkCoder(self.settings, device=self.device, batch_size=READ_BATCH)
        raw = dict(zip(keys, read_frames(arr, coords)))
        where = dict(zip(keys, coords))
        missing = [k for k, v in raw.items() if v is None]
        if missing and not self.allow_missing:
            raise CorruptStreamError(f"chunk(s) {missing[:3]} of {self.store_id} are missing although the store "
                                     "says it is complete")
        present = [k for k in keys if raw[k] is not None]
        cache_keys = [(self.store_id, self.array, k, frame_crc(raw[k]), len(raw[k])) for k in present]
        values = LATENTS.get_many(cache_keys, lambda ck: coder.entropy_decode_frames(
            [raw[c[2]] for c in ck], indexes=[where[c[2]] for c in ck]))
        by_key = dict(zip(present, values))
        return [by_key.get(k) for k in keys]

    def _decode_region(self, arr, lo: tuple[int, ...], hi: tuple[int, ...]) -> np.ndarray:
        """Dense block [lo, hi) over the non-band axes, all of this modality's bands."""
        nd = len(self.shape)
        band_ax = nd - 3
        out_shape = tuple(self.n_bands if a == band_ax else hi[a] - lo[a] for a in range(nd))
        out = np.full(out_shape, self.fill, dtype=self.dtype)
        ranges = [range(0, 1) if a == band_ax else range(lo[a] // self.chunks[a], -(-hi[a] // self.chunks[a]))
                  for a in range(nd)]
        coords = list(itertools.product(*ranges))
        from geocodec.cube.chunks import synthesize_items

        for start in range(0, len(coords), READ_BATCH):
            part = coords[start:start + READ_BATCH]
            keys = [arr.metadata.encode_chunk_key(c) for c in part]
            latents = self._latents(arr, keys, part)
            flat = [item for items in latents if items is not None for item in items]
            decoded = iter(synthesize_items(flat, self.which))
            for c, items in zip(part, latents):
                if items is None:
                    continue
                lead = tuple(min(self.chunks[a], self.shape[a] - c[a] * self.chunks[a]) for a in range(band_ax))
                for lead_idx in itertools.product(*(range(n) for n in self.chunks[:band_ax])):
                    arr_item = next(decoded)  # one per item, None for an item stored as nothing
                    if arr_item is None or any(li >= n for li, n in zip(lead_idx, lead)):
                        continue
                    g = [c[a] * self.chunks[a] + lead_idx[a] for a in range(band_ax)]
                    if any(not lo[a] <= g[a] < hi[a] for a in range(band_ax)):
                        continue
                    y0, x0 = c[-2] * self.chunks[-2], c[-1] * self.chunks[-1]
                    h, w = arr_item.shape[-2:]
                    ys, ye = max(lo[-2], y0), min(hi[-2], y0 + h)
                    xs, xe = max(lo[-1], x0), min(hi[-1], x0 + w)
                    if ys >= ye or xs >= xe:
                        continue
                    dst = tuple(g[a] - lo[a] for a in range(band_ax)) + (slice(None), slice(ys - lo[-2], ye - lo[-2]),
                                                                         slice(xs - lo[-1], xe - lo[-1]))
                    out[dst] = arr_item[:, ys - y0:ye - y0, xs - x0:xe - x0].astype(self.dtype, copy=False)
        return out

    def _getitem(self, key: tuple) -> np.ndarray:
        arr = self._zarr_array()
        nd = len(self.shape)
        band_ax = nd - 3
        lo, hi, local = [], [], []
        for a, (k, n) in enumerate(zip(key, self.shape)):
            if a == band_ax:
                lo.append(0)
                hi.append(n)
                local.append(k)
            elif isinstance(k, slice):
                start, stop, step = k.indices(n)
                if step < 0 or stop <= start:  # xarray's adapter never sends these; keep it simple and exact
                    idx = np.arange(start, stop, step)
                    if idx.size == 0:
                        lo.append(0)
                        hi.append(0)
                        local.append(slice(0, 0))
                        continue
                    lo.append(int(idx.min()))
                    hi.append(int(idx.max()) + 1)
                    local.append(idx - idx.min())
                else:
                    last = start + (len(range(start, stop, step)) - 1) * step
                    lo.append(start)
                    hi.append(last + 1)
                    local.append(slice(0, last + 1 - start, step))
            else:
                i = int(k)
                lo.append(i)
                hi.append(i + 1)
                local.append(0)
        if any(h <= lo_ for lo_, h in zip(lo, hi)):
            block = np.empty(tuple(max(0, h - lo_) if a != band_ax else self.n_bands
                                   for a, (lo_, h) in enumerate(zip(lo, hi))), self.dtype)
        else:
            block = self._decode_region(arr, tuple(lo), tuple(hi))
        return block[tuple(local)]


#: What decoded SAR samples are, by the record's ``sar_scale``: (units, CF standard_name or None).
#: CF's standard name for σ0 has canonical units "1"; a dB value is not convertible to it, so
#: SAR in dB gets units and a long name but no standard_name.
SAR_UNITS = {"db": ("dB", None), "linear": ("1", "surface_backwards_scattering_coefficient_of_radar_wave")}

#: Standard ``open_dataset`` options this engine honours (besides ``drop_variables``).
DECODE_OPTIONS = ("mask_and_scale", "decode_times", "concat_characters", "decode_coords", "use_cftime",
                  "decode_timedelta")


def _fill_for(dtype: str, nodata):
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return np.nan
    return nodata if nodata is not None else 0


def modality_attrs(record: dict, which: Literal["optical", "sar"], has_grid_mapping: bool) -> dict[str, Any]:
    """CF attributes of one modality variable, in their encoded (on-disk) form.

    ``long_name`` is one name per band (rioxarray writes them as GeoTIFF band descriptions);
    ``_FillValue`` and ``grid_mapping`` are attributes here and move to ``.encoding`` when
    xarray decodes them (``mask_and_scale=True``, ``decode_coords="all"``), as with any CF file.
    """
    bands = [str(b) for b in record[f"{which}_bands"]]
    attrs: dict[str, Any] = {"long_name": tuple(bands)}
    if which == "optical":
        # The writer's PSNR peak says what the integers are: reflectance × 10 000 (Sentinel-2 DN).
        peak = (record.get("quality") or {}).get("psnr_peak_optical", 10000.0)
        attrs["units"] = "1e-4" if peak == 10000.0 else "1"
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


def record_attrs(record: dict) -> dict[str, str]:
    """Dataset attrs: the group record as a JSON string (netCDF attributes cannot be dicts)."""
    return {"Conventions": "CF-1.8", "geocodec": json.dumps(record, allow_nan=True, sort_keys=True)}


def _stac_target(obj) -> tuple[Any, dict[str, Any]]:
    """(href resolved against the Item's self link, the asset's xarray:open_kwargs) of a pystac Asset/Item."""
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
    return href, kwargs


class GeocodecBackendEntrypoint(BackendEntrypoint):
    """Open a geocodec Zarr cube with lazy, per-modality decoding.

    ``xr.open_dataset(store, engine="geocodec")``; the store may also be a pystac ``Asset``
    (or ``Item``) whose ``xarray:open_kwargs`` name this engine: its href is resolved against
    the Item's self link, so an Item read from disk opens wherever it is read.
    """

    description = "geocodec Zarr cubes: lazy optical and SAR variables, each decoded on its own"
    url = "https://github.com/geocodec/geocodec"
    open_dataset_parameters = ("filename_or_obj", "drop_variables", *DECODE_OPTIONS, "consolidated",
                               "storage_options", "zarr_format", "device", "allow_incomplete")

    def guess_can_open(self, filename_or_obj) -> bool:
        if isinstance(filename_or_obj, (str, os.PathLike)):
            return looks_like_geocodec_store(filename_or_obj)
        if type(filename_or_obj).__module__.startswith("pystac"):
            extra = getattr(filename_or_obj, "extra_fields", None) or {}
            return extra.get("xarray:open_kwargs", {}).get("engine") == "geocodec"
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

        Returns
        -------
        xarray.Dataset
        """
        import xarray as xr

        if not isinstance(filename_or_obj, (str, os.PathLike)) and type(filename_or_obj).__module__.startswith(
                "pystac"):
            filename_or_obj, asset_kwargs = _stac_target(filename_or_obj)
            if consolidated is None:
                consolidated = asset_kwargs.get("consolidated")
            storage_options = storage_options or asset_kwargs.get("storage_options")
        drop = {drop_variables} if isinstance(drop_variables, str) else set(drop_variables or ())
        cube = open_cube(filename_or_obj, allow_incomplete=allow_incomplete, storage_options=storage_options)
        if zarr_format is not None and cube.group.metadata.zarr_format != zarr_format:
            raise InvalidInputError(f"{filename_or_obj} is a Zarr v{cube.group.metadata.zarr_format} store, "
                                    f"not v{zarr_format}")
        rec = cube.record
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
        store_id = store_label(store_ref)
        lead = dims[:-3]
        for which, bands in (("optical", record["optical_bands"]), ("sar", record["sar_bands"])):
            if which in drop:
                continue
            dtype = record[f"{which}_dtype"]
            nodata = record.get(f"{which}_nodata")
            backend = ModalityArray(
                store_ref, store_id, name, which, (*arr.shape[:-3], len(bands), *arr.shape[-2:]), dtype,
                tuple(arr.chunks), settings, len(bands), _fill_for(dtype, nodata), device,
                allow_missing=not rec.complete)
            band_dim = f"{which}_band"
            attrs = modality_attrs(record, which, has_grid_mapping="spatial_ref" in raw.variables)
            var = xr.Variable((*lead, band_dim, "y", "x"), indexing.LazilyIndexedArray(backend), attrs=attrs)
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
