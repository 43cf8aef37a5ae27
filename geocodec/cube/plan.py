"""Plan a cube write: validate the input, look at what the store holds, decide what this call writes.

Why apart from the writer: every check here runs before a single chunk is touched, so a refused
request (another model or band set, a misaligned region, an existing store under ``mode="w-"``)
never leaves a half-made cube. The decision is a ``Plan``: create, resume, append or region.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from geocodec.cube import inputs
from geocodec.cube import optical_scale as optical_scales
from geocodec.cube.chunk_size import check_chunk_sizes
from geocodec.cube.record import ARRAY, RECORD_FORMAT, CubeRecord, ModelRef
from geocodec.cube.store import local_root
from geocodec.errors import InvalidInputError
from geocodec.learned_gamma import LEARNED, gamma_function
from geocodec.options import DEFAULT_BACKEND
from geocodec.settings import (
    OPTICAL_DTYPES, SAR_DTYPES, SAR_SCALES, CodecSettings, check_gamma, check_rate, check_refine_steps)

#: Record fields that must agree for any write into an existing cube (append included).
_STRUCTURE = ("optical_bands", "sar_bands", "optical_dtype", "sar_dtype", "sar_scale", "optical_nodata",
              "sar_nodata", "array", "chunks", "shards", "optical_scale")
#: ... and, besides, for a resume or a region write (an append may change them per date).
_CODING = ("lmbda", "target_bpp", "gamma")


@dataclass
class WriteInput:
    opt: Any
    sar: Any
    model: ModelRef
    dims: tuple[str, ...]
    shape: tuple[int, ...]
    chunk: dict[str, int]
    shard: dict[str, int] | None
    settings: CodecSettings
    record: CubeRecord
    coords: dict
    crs: Any
    transform: Any


@dataclass
class Plan:
    action: Literal["create", "resume", "append", "region"]
    record: CubeRecord
    window: tuple[slice, ...]  #: the part of the array this call writes
    array_shape: tuple[int, ...]  #: the array's shape once written
    labels: list[str] = field(default_factory=list)  #: append-dim labels written (appends only)


def validated_input(ds, *, model, lmbda, target_bpp, gamma, chunks, shards, optical_nodata, sar_nodata,
                     sar_scale, append_dim, device: str, refine_steps: int = 0,
                     backend: str = DEFAULT_BACKEND, optical_scale: str | None = None) -> WriteInput:
    import xarray as xr

    from geocodec.registry import load_model

    if not isinstance(ds, xr.Dataset) or "optical" not in ds or "sar" not in ds:
        raise InvalidInputError("ds must be an xarray Dataset with 'optical' and 'sar' DataArrays "
                                "(geocodec.open_pair builds one from GeoTIFFs)")
    if sar_scale not in SAR_SCALES:
        raise InvalidInputError(f"sar_scale={sar_scale!r}: use 'db' or 'linear'")
    learned = isinstance(gamma, str) and gamma == LEARNED
    gamma = gamma if learned else check_gamma(gamma)
    refine_steps = check_refine_steps(refine_steps)
    if append_dim is not None and append_dim not in ds["optical"].dims:
        if append_dim in ds.coords and ds[append_dim].ndim == 0:
            ds = ds.expand_dims(append_dim)  # one acquisition given with a scalar coordinate
        else:
            raise InvalidInputError(f"append_dim={append_dim!r} is not a dim of ds.optical {ds['optical'].dims} nor "
                                    "a scalar coordinate of ds")
    inputs.check_grid(ds)
    m = load_model(model, device)
    opt, sar = ds["optical"], ds["sar"]
    order = inputs.band_order(opt, "optical", m.optical_bands)
    if order != list(range(len(order))):  # reorder only when needed (fancy indexing copies)
        opt = opt.isel({opt.dims[-3]: order})
    order = inputs.band_order(sar, "sar", m.sar_bands)
    if order != list(range(len(order))):
        sar = sar.isel({sar.dims[-3]: order})
    if opt.dtype.name not in OPTICAL_DTYPES:
        raise InvalidInputError(f"optical has dtype {opt.dtype.name}; supported: {', '.join(OPTICAL_DTYPES)}")
    if sar.dtype.name not in SAR_DTYPES:
        raise InvalidInputError(f"sar has dtype {sar.dtype.name}; supported: {', '.join(SAR_DTYPES)}")
    lead = tuple(opt.dims[:-3])
    if append_dim is not None and lead[:1] != (append_dim,):
        raise InvalidInputError(f"append_dim={append_dim!r} must be the first dim of ds.optical, got {opt.dims}")
    dims = (*lead, "band", "y", "x")
    n_opt, n_sar = len(m.optical_bands), len(m.sar_bands)
    shape = (*opt.shape[:-3], n_opt + n_sar, *opt.shape[-2:])
    sizes = inputs.chunk_sizes(chunks, (*lead, opt.dims[-3], "y", "x"), shape)
    sizes["band"] = sizes.pop(opt.dims[-3])
    chunk = {d: sizes[d] for d in dims}
    check_chunk_sizes(chunk, {"y": shape[-2], "x": shape[-1]}, m.net.config.pad_multiple)
    if append_dim is not None and chunk[append_dim] != 1:
        raise InvalidInputError(f"appending along {append_dim!r} needs chunks of 1 along it, got {chunk[append_dim]}")
    shard = inputs.shard_sizes(shards, chunk, dims, shape)
    lam, target = check_rate(lmbda, target_bpp, m.lmbda_range)
    if learned:  # one γ for the whole cube: the model's learned γ at the cube's λ
        if target is not None:
            raise InvalidInputError('gamma="learned" in a cube needs lmbda (the cube records one γ); '
                                    "compress / compress_batch take it with target_bpp")
        gamma = check_gamma(float(np.float32(gamma_function(m.net.config)(lam))))
    model_ref = model if isinstance(model, (str, Path)) else m.name
    settings = CodecSettings(
        model=str(model_ref), model_version=m.version, model_sha256=m.sha256, lmbda=lam, target_bpp=target,
        gamma=gamma, optical_bands=n_opt, optical_dtype=opt.dtype.name, sar_scale=sar_scale,
        optical_nodata=inputs.nodata_value(optical_nodata, ds["optical"]),
        sar_nodata=inputs.nodata_value(sar_nodata, ds["sar"]), refine_steps=refine_steps, device=device,
        backend=backend)
    ref = ModelRef(m.name, m.version, m.sha256)
    record = CubeRecord(
        model=ref, lmbda=lam, target_bpp=target, gamma=gamma, optical_bands=list(m.optical_bands),
        sar_bands=list(m.sar_bands), optical_dtype=opt.dtype.name, sar_dtype=sar.dtype.name, sar_scale=sar_scale,
        optical_nodata=settings.optical_nodata, sar_nodata=settings.sar_nodata, array=ARRAY, chunks=chunk,
        software=_software(), format_version=RECORD_FORMAT, append_dim=append_dim, shards=shard,
        refine_steps=refine_steps,
        optical_scale=optical_scales.resolve(optical_scale, opt, opt.dtype, settings.optical_nodata))
    coords = {d: ds.coords[d].variable for d in (*lead, "y", "x") if d in ds.coords}
    crs, transform = inputs.crs_and_transform(ds["optical"])
    return WriteInput(opt, sar, ref, dims, shape, chunk, shard, settings, record, coords, crs, transform)


def _software() -> dict:
    import compressai
    import torch
    import zarr

    import geocodec

    return {"geocodec": geocodec.__version__, "torch": torch.__version__, "compressai": compressai.__version__,
            "zarr": zarr.__version__}


def existing_cube(zstore, where: str, mode: str):
    """(zarr Group, CubeRecord) of what the store holds, None when empty; an error for foreign content."""
    import zarr

    try:
        group = zarr.open_group(zstore, mode="r", use_consolidated=False)
    except Exception:  # noqa: BLE001 - nothing (readable) there
        root = local_root(zstore)
        if mode != "w" and root is not None and root.exists() and any(root.iterdir()):
            raise InvalidInputError(f"{root} exists and is not a Zarr store; pass mode='w' to replace it") from None
        return None
    attrs = dict(group.attrs).get("geocodec")
    if attrs is None:
        if mode == "w" or (not list(group.keys()) and not dict(group.attrs)):
            return None
        raise InvalidInputError(f"{where} already holds a Zarr group that is not a geocodec cube; pass mode='w' "
                                "to replace it")
    return group, CubeRecord.from_attrs(attrs, where)


def _differences(old: CubeRecord, new: CubeRecord, keys) -> list[str]:
    out = [k for k in keys if getattr(old, k) != getattr(new, k)]
    if old.model.sha256 != new.model.sha256:
        out.insert(0, "model")
    return out


def label(value) -> str:
    v = np.asarray(value)
    if v.dtype.kind == "M":
        return str(np.datetime_as_string(v, unit="auto"))
    return str(v.item() if v.ndim == 0 else v)


def stored_labels(zstore, dim: str) -> list[str]:
    """The append coordinate's values in the store, decoded as xarray decodes them (CF times)."""
    import xarray as xr

    with xr.open_zarr(zstore, consolidated=False, chunks=None, decode_times=True) as z:
        return [label(v) for v in z[dim].values]


def _same_coords(group, inp: WriteInput, window: tuple[slice, ...], skip: str | None = None) -> list[str]:
    """The dims whose coordinates differ from the cube's in ``window`` (compared decoded: CF times too)."""
    from geocodec.cube.region import stored_coords

    bad = []
    coords = stored_coords(group.store) if any(d != skip and d in group for d in inp.coords) else {}
    for d, var in inp.coords.items():
        if d == skip or d not in coords:
            continue
        ax = inp.dims.index(d)
        stored = coords[d][window[ax]]
        if stored.shape != var.shape or not np.array_equal(np.asarray(stored), np.asarray(var.values)):
            bad.append(d)
    return bad


def plan_write(inp: WriteInput, existing, mode: str, append_dim: str | None, region: dict | None, where: str) -> Plan:
    full = tuple(slice(0, s) for s in inp.shape)
    if existing is None:
        if mode == "r+" or region is not None:
            raise InvalidInputError(f"{where} holds no geocodec cube to write a region of; create it first "
                                    "(geocodec.to_zarr(full_ds, store, compute=False) writes its metadata)")
        return Plan("create", inp.record, full, inp.shape,
                     [label(v) for v in inp.coords[append_dim].values] if append_dim else [])
    group, old = existing
    arr = group[old.array]
    if mode == "w-":
        diff = _differences(old, inp.record, _STRUCTURE + _CODING)
        what = (f"a different cube ({', '.join(diff)} differ)" if diff else "a geocodec cube written with the same "
                "settings")
        raise InvalidInputError(f"{where} already holds {what}; mode='w-' never touches an existing store: pass "
                                "mode='a' to resume or append, or mode='w' to replace it")
    diff = _differences(old, inp.record, _STRUCTURE)
    if diff:
        raise InvalidInputError(f"{where} holds a geocodec cube with another {', '.join(diff)}: a cube keeps one "
                                "model, band set, dtypes and chunking; write elsewhere, or pass mode='w' to replace it")
    record = old
    dims = tuple(arr.metadata.dimension_names or arr.attrs.get("_ARRAY_DIMENSIONS") or ())
    if dims != inp.dims:
        raise InvalidInputError(f"{where} holds an array with dims {dims}; this data has {inp.dims}")
    if region is not None:
        window = _region_window(region, inp, tuple(arr.shape), group)
        _check_coding(old, inp, where, ("refine_steps",))
        return Plan("region", record, window, tuple(arr.shape))
    if append_dim is not None:
        if old.append_dim not in (None, append_dim):
            raise InvalidInputError(f"{where} grows along {old.append_dim!r}, not {append_dim!r}")
        stored = stored_labels(group.store, append_dim) if append_dim in group else []
        labels = [label(v) for v in inp.coords[append_dim].values]
        if tuple(arr.shape[1:]) != tuple(inp.shape[1:]):
            raise InvalidInputError(f"{where} holds {append_dim} slices of shape {tuple(arr.shape[1:])}; this data "
                                    f"has {tuple(inp.shape[1:])}")
        ax0 = slice(None)
        bad = _same_coords(group, inp, (ax0,) * len(inp.dims), skip=append_dim)
        if bad:
            raise InvalidInputError(f"{where}: this data's {', '.join(bad)} coordinates differ from the cube's")
        present = [x in stored for x in labels]
        if all(present):  # an interrupted append, run again: resume those positions
            idx = [stored.index(x) for x in labels]
            if idx != list(range(idx[0], idx[0] + len(idx))):
                raise InvalidInputError(f"{where}: {append_dim} values {labels} are not consecutive in the cube")
            window = (slice(idx[0], idx[-1] + 1), *full[1:])
            return Plan("resume", record, window, tuple(arr.shape), labels)
        if any(present):
            raise InvalidInputError(f"{where} already holds {append_dim} = "
                                    f"{[x for x, p in zip(labels, present) if p]}; append only new values")
        n0 = arr.shape[0]
        return Plan("append", record, (slice(n0, n0 + len(labels)), *full[1:]),
                     (n0 + len(labels), *arr.shape[1:]), labels)
    if tuple(arr.shape) != tuple(inp.shape) or _same_coords(group, inp, full):
        raise InvalidInputError(f"{where} holds a geocodec cube of another shape or grid; pass append_dim= to "
                                "grow it, region= to write a window, or mode='w' to replace it")
    _check_coding(old, inp, where)
    return Plan("resume", record, full, tuple(arr.shape))


def _check_coding(old: CubeRecord, inp: WriteInput, where: str, also: tuple[str, ...] = ()) -> None:
    """λ, γ (and ``also``) must be the cube's. ``refine_steps`` may differ on a resume: it changes only
    how chunks are encoded, so the resume re-encodes every chunk of the window (fingerprints differ)."""
    if old.append_dim is not None:
        return  # each date keeps its own λ and γ; the request applies to the dates written now
    diff = _differences(old, inp.record, _CODING + also)
    if diff:
        raise InvalidInputError(f"{where} already holds a different geocodec cube ({', '.join(diff)} differ); pass "
                                "mode='w' to replace it, or write elsewhere")


def _region_window(region: dict, inp: WriteInput, shape: tuple[int, ...], group) -> tuple[slice, ...]:
    if not isinstance(region, dict):
        raise InvalidInputError(f"region must be a dict {{dim: slice}}, got {type(region).__name__}")
    unit = inp.shard or inp.chunk
    window = []
    for ax, d in enumerate(inp.dims):
        sl = region.get(d, slice(None))
        if not isinstance(sl, slice) or sl.step not in (None, 1):
            raise InvalidInputError(f"region[{d!r}] must be a slice with step 1, got {sl!r}")
        start, stop, _ = sl.indices(shape[ax])
        if start % unit[d] or (stop % unit[d] and stop != shape[ax]):
            raise InvalidInputError(f"region[{d!r}] = {start}:{stop} does not align with the cube's "
                                    f"{'shards' if inp.shard else 'chunks'} of {unit[d]} along {d!r}: parallel "
                                    "writers must not share a chunk")
        if stop - start != inp.shape[ax]:
            raise InvalidInputError(f"region[{d!r}] spans {stop - start} but ds has {inp.shape[ax]} along {d!r}")
        window.append(slice(start, stop))
    bad = _same_coords(group, inp, tuple(window))
    if bad:
        raise InvalidInputError(f"ds's {', '.join(bad)} coordinates are not the cube's at region {region}")
    return tuple(window)
