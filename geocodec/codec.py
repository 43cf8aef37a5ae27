"""numpy-level compress / decompress / inspect: validate → normalise → model → bitstream.

The one place that turns user arrays into a chunk's bytes and back. Batches of pairs with the
same padded size go through the network together (one device batch); entropy coding is per
item. Everything the decoder needs is in the chunk header.

Reliability rules (docs/reliability.md): inputs outside a modality's physical range are refused
with the value and its position (an undeclared fill value gets a hint to pass ``*_nodata``);
one call codes at most ``bitstream.MAX_PIXELS``; latents the rANS coder cannot represent are a
clean error, never a hang; and decoding runs chunk by chunk, so a chunk decodes to the same
bytes whatever batch it arrives in.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from os import PathLike

import numpy as np
import torch
from numpy.typing import ArrayLike

from geocodec import bitstream
from geocodec.chunk_info import inspect  # noqa: F401 - public name, torch-free home
from geocodec.errors import (
    CorruptStreamError,
    EntropyParameterMismatchError,
    InvalidInputError,
    ModelMismatchError,
)
from geocodec.model.entropy import EntropyMismatch, LatentStreams, PayloadMismatch, SymbolRangeError
from geocodec.options import (  # noqa: F401
    BACKENDS, MODALITIES, OPTICAL_DTYPES, SAR_DTYPES, SAR_SCALES, Backend, Modality, SarScale)
from geocodec.normalize import BandScaling, apply_scaling, db_to_linear, fit_scaling, invert_scaling, linear_to_db
from geocodec.registry import GeocodecModel, find_model_for, load_model
from geocodec.settings import check_gamma, check_rate

#: Physical ranges of valid samples. Anything outside is a fill value or corrupt data; coding it
#: would wreck the whole chunk's scaling, so it is refused (pass ``*_nodata`` or use NaN).
#: Optical: reflectance ×10000 as Sentinel-2 L1C/L2A store it (slightly negative BOA values
#: included), or reflectance in [0, 1]. SAR: σ0 in dB (linear inputs are checked after conversion).
OPTICAL_RANGE = (-1000.0, 65535.0)
SAR_DB_RANGE = (-120.0, 60.0)

#: What ``model=`` accepts: a registered name, a ``.safetensors`` path, or a loaded model.
ModelSpec = str | PathLike | GeocodecModel
#: What ``device=`` accepts: ``"auto"``, ``"cpu"``, ``"cuda[:N]"`` or a ``torch.device``.
Device = str | torch.device

#: Target-bitrate mode: relative tolerance and the most entropy-coding passes per item.
TARGET_TOLERANCE = 0.03
TARGET_MAX_PASSES = 10


# ---------------------------------------------------------------------------- validation
def _check_gamma(gamma) -> float:
    return check_gamma(gamma)


def _check_rate(model: GeocodecModel, lmbda, target_bpp) -> tuple[float | None, float | None]:
    return check_rate(lmbda, target_bpp, model.lmbda_range)


def _as_array(x, what: str) -> np.ndarray:
    if hasattr(x, "values") and not isinstance(x, np.ndarray):  # xarray / pandas
        x = x.values
    try:
        a = np.asarray(x)
    except Exception as e:  # noqa: BLE001 - anything not array-like
        raise InvalidInputError(f"{what} must be a numpy array, got {type(x).__name__} ({e})") from None
    return a


@dataclass
class _Modality:
    """One modality of one item, ready for the network."""

    normalized: np.ndarray  # (C, H, W) float32
    scaling: BandScaling
    dtype: str
    nodata: float | None
    nan_mask: np.ndarray | None
    nodata_mask: np.ndarray | None
    big_endian: bool = False


def _prepare_modality(x, what, n_bands, band_names, allowed, nodata, linear=False, fixed=None) -> _Modality:
    a = _as_array(x, what)
    if a.ndim != 3:
        raise InvalidInputError(f"{what} must have shape (bands, H, W); got {a.ndim}-d shape {a.shape}")
    if a.shape[0] != n_bands:
        raise InvalidInputError(f"{what} has {a.shape[0]} bands but the model expects {n_bands} "
                                f"({', '.join(band_names)})")
    if a.shape[1] < 1 or a.shape[2] < 1:
        raise InvalidInputError(f"{what} has an empty spatial shape {a.shape[1:]}")
    _check_size(what, *a.shape[1:])
    if a.dtype.name not in allowed:
        raise InvalidInputError(f"{what} has dtype {a.dtype.name}; supported: {', '.join(allowed)}")
    big_endian = a.dtype.byteorder == ">" or (a.dtype.byteorder == "=" and sys.byteorder == "big")
    if nodata is not None:
        try:
            nodata = float(nodata)
        except (TypeError, ValueError):
            raise InvalidInputError(f"{what} nodata must be a number, got {nodata!r}") from None
    is_float = a.dtype.kind == "f"
    nan_mask = np.isnan(a) if is_float else None
    if is_float and np.isinf(a).any():
        raise InvalidInputError(f"{what} contains ±inf values; only NaN (kept exactly) or a nodata value "
                                "may mark missing samples")
    nodata_mask = None
    if nodata is not None and not math.isnan(nodata):
        nodata_mask = a == nodata
    elif nodata is not None and not is_float:
        raise InvalidInputError(f"{what} nodata=NaN is impossible for dtype {a.dtype.name}")
    invalid = np.zeros(a.shape, bool)
    for m in (nan_mask, nodata_mask):
        if m is not None:
            invalid |= m
    values = a.astype(np.float64)
    if linear:
        bad = (values <= 0) & ~invalid
        if bad.any():
            raise InvalidInputError(f"{what}: sar_scale='linear' needs σ0 > 0, but {int(bad.sum())} samples are "
                                    "≤ 0 and not marked as nodata (pass sar_nodata=0 if 0 means missing)")
        values = np.where(invalid, 0.0, linear_to_db(np.where(invalid, 1.0, values)))
    valid = ~invalid
    lo, hi = SAR_DB_RANGE if what == "sar" else OPTICAL_RANGE
    _check_physical_range(what, a, values, valid, lo, hi, "dB" if what == "sar" else "")
    values = np.where(valid, values, 0.0)
    scaling = fit_scaling(values, valid)
    if fixed is not None:  # a scaling chosen for the whole cube; the clamp range stays this item's own
        scaling = BandScaling(fixed[:, 0].copy(), fixed[:, 1].copy(), scaling.vmin, scaling.vmax)
    return _Modality(
        normalized=apply_scaling(values, scaling, valid),
        scaling=scaling,
        dtype=a.dtype.name,
        nodata=nodata if nodata_mask is not None else None,
        nan_mask=nan_mask if nan_mask is not None and nan_mask.any() else None,
        nodata_mask=nodata_mask if nodata_mask is not None and nodata_mask.any() else None,
        big_endian=big_endian,
    )


def _check_size(what: str, h: int, w: int) -> None:
    if h > bitstream.MAX_SIDE or w > bitstream.MAX_SIDE or h * w > bitstream.MAX_PIXELS:
        raise InvalidInputError(
            f"{what} is {h}×{w} px, more than one chunk can hold (at most {bitstream.MAX_PIXELS} px and "
            f"{bitstream.MAX_SIDE} px per side): split it into tiles, or use geocodec.to_zarr(..., chunks=512), "
            "which chunks it for you")


def _check_physical_range(what, raw, values, valid, lo: float, hi: float, unit: str) -> None:
    """Refuse valid samples outside [lo, hi], naming the first one; a constant block gets a nodata hint."""
    bad = valid & ~((values >= lo) & (values <= hi))
    if not bad.any():
        return
    n = int(bad.sum())
    b, r, c = (int(v) for v in np.argwhere(bad)[0])
    v0 = raw[b, r, c].item()
    offending = raw[bad]
    where = f"band {b}, row {r}, col {c}"
    rng = f"[{lo:g}, {hi:g}]{' ' + unit if unit else ''}"
    if n > 1 and (offending == raw[b, r, c]).all():
        rows, cols = np.nonzero(bad.any(axis=0))
        raise InvalidInputError(
            f"{what}: {n} samples equal {v0!r} (rows {rows.min()}–{rows.max()}, cols {cols.min()}–{cols.max()}, "
            f"first at {where}), outside the physical range {rng}: this looks like an undeclared fill value; "
            f"pass {what}_nodata={v0!r} to keep those samples exactly as nodata, or set them to NaN")
    raise InvalidInputError(
        f"{what} value {v0!r} at {where} is outside the physical range {rng} ({n} such sample"
        f"{'s' if n > 1 else ''}): mark missing samples with NaN or {what}_nodata=, or correct the input")


@dataclass
class _Item:
    optical: _Modality
    sar: _Modality
    height: int
    width: int
    gamma: float
    sar_linear: bool

    def padded(self, net) -> tuple[int, int]:
        return net.padded_hw(self.height, self.width)


def _pad(x: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    h, w = x.shape[-2:]
    return np.pad(x, ((0, 0), (0, hw[0] - h), (0, hw[1] - w)), mode="edge")


def _check_fixed_scaling(model: GeocodecModel, scaling) -> np.ndarray | None:
    """``compress_batch(scaling=...)``: (bands, 2) float32 per-band (lo, hi), optical bands first, SAR in dB."""
    if scaling is None:
        return None
    n = len(model.optical_bands) + len(model.sar_bands)
    try:
        a = np.asarray(scaling, dtype=np.float32)
    except (TypeError, ValueError):
        raise InvalidInputError(f"scaling must be a ({n}, 2) array of per-band (lo, hi)") from None
    if a.shape != (n, 2) or not np.isfinite(a).all() or not (a[:, 1] > a[:, 0]).all():
        raise InvalidInputError(f"scaling must be a ({n}, 2) array of finite per-band (lo, hi) with hi > lo "
                                f"({len(model.optical_bands)} optical then {len(model.sar_bands)} SAR bands); "
                                f"got shape {a.shape}")
    return a


def _prepare(model, optical, sar, gamma, optical_nodata, sar_nodata, sar_scale, fixed=None) -> _Item:
    if sar_scale not in SAR_SCALES:
        raise InvalidInputError(f"sar_scale={sar_scale!r}: use 'db' (σ0 in dB) or 'linear' (σ0 power)")
    n_opt = len(model.optical_bands)
    opt = _prepare_modality(optical, "optical", n_opt, model.optical_bands,
                            OPTICAL_DTYPES, optical_nodata, fixed=None if fixed is None else fixed[:n_opt])
    sr = _prepare_modality(sar, "sar", len(model.sar_bands), model.sar_bands, SAR_DTYPES, sar_nodata,
                           linear=sar_scale == "linear", fixed=None if fixed is None else fixed[n_opt:])
    if opt.normalized.shape[1:] != sr.normalized.shape[1:]:
        raise InvalidInputError(f"optical {opt.normalized.shape[1:]} and sar {sr.normalized.shape[1:]} "
                                "must have the same H, W (co-registered on one grid)")
    h, w = opt.normalized.shape[1:]
    return _Item(opt, sr, h, w, _check_gamma(gamma), sar_scale == "linear")


# ---------------------------------------------------------------------------- encoding
def _header(model: GeocodecModel, item: _Item, lmbda: float, target) -> bitstream.Chunk:
    """The chunk's header fields (no payload yet): known before entropy coding starts."""
    masks = {}
    for name, m in (("optical_nan", item.optical.nan_mask), ("optical_nodata", item.optical.nodata_mask),
                    ("sar_nan", item.sar.nan_mask), ("sar_nodata", item.sar.nodata_mask)):
        if m is not None:
            masks[name] = m
    sc = [item.optical.scaling, item.sar.scaling]
    scaling = np.concatenate([np.stack([s.lo, s.hi, s.vmin, s.vmax], axis=1) for s in sc])
    return bitstream.Chunk(
        model_name=model.name, model_version=model.version, model_sha256=model.sha256,
        lmbda=lmbda, gamma=item.gamma, height=item.height, width=item.width,
        optical_dtype=item.optical.dtype, sar_dtype=item.sar.dtype, scaling=scaling,
        n_optical=item.optical.normalized.shape[0], n_sar=item.sar.normalized.shape[0],
        z=b"", y=b"", checks=[], sar_linear=item.sar_linear,
        target_bpp=target, optical_nodata=item.optical.nodata, sar_nodata=item.sar.nodata, masks=masks,
        optical_big_endian=item.optical.big_endian, sar_big_endian=item.sar.big_endian,
    )


def _bpp(data: bytes, item: _Item) -> float:
    return 8 * len(data) / (2 * item.height * item.width)


def _f32(x: float) -> float:
    return float(np.float32(x))


def _encode_group(model: GeocodecModel, items: list[_Item], lmbda, target) -> list[bytes]:
    """Encode items of one padded size as one device batch."""
    net, dev = model.net, model.device
    hw = items[0].padded(net)
    x_opt = torch.from_numpy(np.stack([_pad(i.optical.normalized, hw) for i in items])).to(dev)
    x_sar = torch.from_numpy(np.stack([_pad(i.sar.normalized, hw) for i in items])).to(dev)
    gamma = torch.tensor([i.gamma for i in items], dtype=torch.float32, device=dev)
    with torch.inference_mode():
        features = net.encoder(x_opt, x_sar, gamma)  # the analysis transform runs once per item

        def code(lmbdas: list[float], which: list[int] | None = None) -> list[bytes]:
            which = list(range(len(items))) if which is None else which
            lam = torch.tensor(lmbdas, dtype=torch.float32, device=dev)
            headers = [_header(model, items[i], lm, target) for i, lm in zip(which, lmbdas)]
            try:
                streams = net.compress_latent(features[which] * net.encoder_gain(lam),
                                              [bitstream.header_crc(h) for h in headers])
            except SymbolRangeError as e:
                raise InvalidInputError(
                    f"cannot code this input: {e}. Some samples lie far outside their band's spread (the "
                    "0.5–99.5 percentile range); mark outliers as NaN or *_nodata") from None
            for h, st in zip(headers, streams):
                h.z, h.y, h.checks = st.z, st.y, st.checks
            return [bitstream.pack(h) for h in headers]

        if target is None:
            return code([_f32(lmbda)] * len(items))
        return _search_rate(model, items, code, target)


def _search_rate(model, items, code, target) -> list[bytes]:
    """Target-bitrate mode: per item, find λ with joint bpp within ±3 % of ``target``.

    Regula falsi (Illinois) on log bpp vs log λ, all items of the batch searched together;
    every pass is one entropy-coding pass that reuses the analysis transform. When the target
    lies outside what the model's λ range can reach, the nearest end of the range is used.
    """
    lo_l, hi_l = (math.log(v) for v in model.lmbda_range)
    n = len(items)
    f = lambda data, it: math.log(_bpp(data, it) / target)  # noqa: E731
    lo_bytes, hi_bytes = code([_f32(math.exp(lo_l))] * n), code([_f32(math.exp(hi_l))] * n)
    passes = 2
    best = [None] * n
    state = []  # per item: [t_lo, f_lo, t_hi, f_hi, side]
    for i, it in enumerate(items):
        f_lo, f_hi = f(lo_bytes[i], it), f(hi_bytes[i], it)
        cands = [(abs(f_lo), lo_bytes[i]), (abs(f_hi), hi_bytes[i])]
        best[i] = min(cands, key=lambda c: c[0])
        done = f_lo >= 0 or f_hi <= 0 or best[i][0] <= math.log1p(TARGET_TOLERANCE * 0.5)
        state.append(None if done else [lo_l, f_lo, hi_l, f_hi, 0])
    while passes < TARGET_MAX_PASSES and any(s is not None for s in state):
        active = [i for i, s in enumerate(state) if s is not None]
        ts = {}
        for i in active:
            t_lo, f_lo, t_hi, f_hi, _ = state[i]
            t = t_lo - f_lo * (t_hi - t_lo) / (f_hi - f_lo) if f_hi != f_lo else 0.5 * (t_lo + t_hi)
            ts[i] = min(max(t, t_lo + 0.02 * (t_hi - t_lo)), t_hi - 0.02 * (t_hi - t_lo))
        out = code([_f32(math.exp(ts[i])) for i in active], active)
        passes += 1
        for i, data in zip(active, out):
            s = state[i]
            ft = f(data, items[i])
            if abs(ft) < best[i][0]:
                best[i] = (abs(ft), data)
            if abs(ft) <= math.log1p(TARGET_TOLERANCE * 0.5):
                state[i] = None
            elif ft < 0:  # too few bits: raise λ (Illinois: halve the stale end's value)
                s[0], s[1] = ts[i], ft
                if s[4] == -1:
                    s[3] /= 2
                s[4] = -1
            else:
                s[2], s[3] = ts[i], ft
                if s[4] == 1:
                    s[1] /= 2
                s[4] = 1
    return [b for _, b in best]


def compress_batch(pairs: Iterable[tuple[ArrayLike, ArrayLike]], *, lmbda: float | None = None,
                   gamma: float | Sequence[float] = 0.5, model: ModelSpec = "default", device: Device = "auto",
                   target_bpp: float | None = None, optical_nodata: float | None = None,
                   sar_nodata: float | None = None, sar_scale: SarScale = "db", batch_size: int = 16,
                   scaling: ArrayLike | None = None) -> list[bytes]:
    """Compress many co-registered (optical, sar) pairs, one chunk each, in device batches.

    Pairs of the same padded size share a batch; every chunk decodes on its own.

    Parameters
    ----------
    pairs
        ``(optical, sar)`` tuples, as for ``compress``; sizes may differ between pairs.
    lmbda, target_bpp, model, device, optical_nodata, sar_nodata, sar_scale
        As for ``compress``.
    gamma
        One γ for every pair, or one per pair.
    batch_size
        Most pairs per device batch.
    scaling
        None fits each pair's own per-band range (``geocodec.normalize``); a (bands, 2) array of
        per-band (lo, hi) (optical bands first, SAR in dB) codes every pair on that one scale, e.g. a
        whole cube's, so that neighbouring chunks share it (each keeps its own clamp range; the
        header still carries the scaling).

    Returns
    -------
    list of bytes
        One self-contained chunk per pair, in the order given.

    Raises
    ------
    geocodec.errors.InvalidInputError
        A pair, a value or an option is not accepted (the message names it).
    """
    m = load_model(model, device)
    lam, target = _check_rate(m, lmbda, target_bpp)
    fixed = _check_fixed_scaling(m, scaling)
    pairs = list(pairs)
    gammas = list(gamma) if isinstance(gamma, (list, tuple, np.ndarray)) else [gamma] * len(pairs)
    if len(gammas) != len(pairs):
        raise InvalidInputError(f"got {len(gammas)} gamma values for {len(pairs)} pairs")
    items = []
    for k, pair in enumerate(pairs):
        try:
            optical, sar = pair
        except (TypeError, ValueError):
            raise InvalidInputError(f"pair {k} is not an (optical, sar) tuple") from None
        try:
            items.append(_prepare(m, optical, sar, gammas[k], optical_nodata, sar_nodata, sar_scale, fixed))
        except InvalidInputError as e:
            if len(pairs) == 1:
                raise
            raise InvalidInputError(f"pair {k}: {e}") from None
    out: list[bytes | None] = [None] * len(items)
    groups: dict[tuple[int, int], list[int]] = {}
    for k, it in enumerate(items):
        groups.setdefault(it.padded(m.net), []).append(k)
    # no model lock: coding only reads the model, so Dask threads encode in parallel
    for idx in groups.values():
        for start in range(0, len(idx), max(1, batch_size)):
            part = idx[start:start + batch_size]
            for k, data in zip(part, _encode_group(m, [items[k] for k in part], lam, target)):
                out[k] = data
    return out


def compress(optical: ArrayLike, sar: ArrayLike, *, lmbda: float | None = None, gamma: float = 0.5,
             model: ModelSpec = "default", device: Device = "auto", target_bpp: float | None = None,
             optical_nodata: float | None = None, sar_nodata: float | None = None,
             sar_scale: SarScale = "db") -> bytes:
    """Compress one co-registered optical + SAR pair into one chunk (one bitstream, both modalities).

    Parameters
    ----------
    optical
        ``(C_opt, H, W)`` optical bands in the model's order (``load_model().optical_bands``), dtype
        uint8, uint16, int16 or float32 (reflectance × 10 000 for Sentinel-2 L2A/L1C counts).
    sar
        ``(C_sar, H, W)`` σ0, float32 or float64, in dB (or linear power with ``sar_scale="linear"``),
        on the same grid as ``optical``.
    lmbda
        The rate parameter, inside the model's ``lmbda_range``: larger λ, more bits and quality.
        Give exactly one of ``lmbda`` and ``target_bpp``.
    gamma
        γ ∈ [0, 1], where the bits go: 1 favours optical fidelity, 0 SAR fidelity.
    model
        A registered model name, a ``.safetensors`` path or a loaded model (``load_model``).
    device
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda[:N]"``.
    target_bpp
        Instead of λ: the joint bits per pixel (total bits / (2·H·W)) to reach, within ±3 %.
    optical_nodata, sar_nodata
        Values that mark missing samples; their positions (and NaN in float inputs) are coded
        losslessly and come back exactly.
    sar_scale
        ``"db"`` (σ0 in dB) or ``"linear"`` (σ0 in linear power: coded in dB, returned linear).

    Returns
    -------
    bytes
        One self-contained chunk: header (model, λ, γ, shape, dtypes, scaling) and rANS payload
        (``geocodec.inspect`` reads the header; docs/bitstream.md describes the layout).

    Raises
    ------
    geocodec.errors.InvalidInputError
        Bad shapes, dtypes, γ, λ; more than ``bitstream.MAX_PIXELS`` px; a valid sample outside
        ``OPTICAL_RANGE`` / ``SAR_DB_RANGE`` (the message names the value, its position and, for a
        constant fill strip, the ``*_nodata=`` to pass); or a latent the entropy coder cannot
        represent. Never hangs (docs/reliability.md).
    geocodec.errors.UnknownModelError
        ``model`` names no registered model or readable weights file.
    """
    return compress_batch([(optical, sar)], lmbda=lmbda, gamma=gamma, model=model, device=device,
                          target_bpp=target_bpp, optical_nodata=optical_nodata, sar_nodata=sar_nodata,
                          sar_scale=sar_scale)[0]


# ---------------------------------------------------------------------------- decoding
def _model_for_chunk(c: bitstream.Chunk, model, device) -> GeocodecModel:
    if model is not None:
        m = load_model(model, device)
        if m.sha256 != c.model_sha256:
            raise ModelMismatchError(
                f"chunk was written by model {c.model_name!r} v{c.model_version} (sha256 {c.model_sha256[:16]}…), "
                f"not by the requested model {m.name!r} v{m.version} (sha256 {m.sha256[:16]}…)")
        return m
    m = find_model_for(c.model_name, c.model_sha256, device)
    if m is None:
        raise ModelMismatchError(
            f"chunk was written by model {c.model_name!r} v{c.model_version} (sha256 {c.model_sha256[:16]}…), "
            "which this installation does not have; pass model= the weights file that wrote it")
    return m


def restore(xn: np.ndarray, c: bitstream.Chunk, which: str) -> np.ndarray:
    """Normalised decoder output (C, height, width) of chunk ``c`` → values in its dtype, nodata/NaN restored."""
    return _restore(xn, c, which)


def _restore(xn: np.ndarray, c: bitstream.Chunk, which: str) -> np.ndarray:
    if which == "optical":
        sc, dtype, nodata = c.scaling[:c.n_optical], c.optical_dtype, c.optical_nodata
    else:
        sc, dtype, nodata = c.scaling[c.n_optical:], c.sar_dtype, c.sar_nodata
    x = invert_scaling(xn, BandScaling(sc[:, 0], sc[:, 1], sc[:, 2], sc[:, 3]))
    if which == "sar" and c.sar_linear:
        x = db_to_linear(x)
    dt = np.dtype(dtype)
    if dt.kind in "ui":
        info = np.iinfo(dt)
        x = np.clip(np.rint(x), info.min, info.max)
    x = x.astype(dt)
    nodata_mask = c.masks.get(f"{which}_nodata")
    big_endian = c.optical_big_endian if which == "optical" else c.sar_big_endian
    nan_mask = c.masks.get(f"{which}_nan")
    if nodata is not None:
        # a valid sample must never read back as nodata
        clash = x == nodata
        if nodata_mask is not None:
            clash &= ~nodata_mask
        if clash.any():
            if dt.kind in "ui":
                bump = nodata + 1 if nodata < np.iinfo(dt).max else nodata - 1
            else:
                bump = np.nextafter(dt.type(nodata), dt.type(np.inf))
            x[clash] = bump
        if nodata_mask is not None:
            x[nodata_mask] = nodata
    if nan_mask is not None:
        x[nan_mask] = np.nan
    if big_endian != (sys.byteorder == "big"):
        x = x.astype(dt.newbyteorder(">" if big_endian else "<"))
    return x


@dataclass
class DecodedLatent:
    """One chunk after entropy decoding: its header and the dequantised, gained latent ŷ.

    Entropy decoding (sequential rANS) is the costly, modality-independent half of decoding;
    keeping its result lets a reader synthesise optical and SAR from one decode.
    """

    chunk: bitstream.Chunk
    latent: torch.Tensor  # (M, h', w') float32 on the CPU: the latent of the padded chunk
    model: GeocodecModel

    @property
    def nbytes(self) -> int:
        masks = sum(m.size for m in self.chunk.masks.values())  # bool: 1 byte each
        return self.latent.numel() * self.latent.element_size() + masks + len(self.chunk.z) + len(self.chunk.y)


def _expected_checks(c: bitstream.Chunk, m: GeocodecModel) -> int:
    # format 1 chunks carry one check per coding stage; format 2 adds the 2 × u16 payload check
    return m.net.entropy.n_stages + (2 if c.format_version >= 2 else 0)


def _check_against_model(c: bitstream.Chunk, m: GeocodecModel) -> None:
    if c.n_optical != len(m.optical_bands) or c.n_sar != len(m.sar_bands) or len(c.checks) != _expected_checks(c, m):
        raise CorruptStreamError("chunk header does not match its model's band or stage counts")
    lo, hi = m.lmbda_range
    if not (_f32(lo) * (1 - 1e-6) <= c.lmbda <= _f32(hi) * (1 + 1e-6)):
        raise CorruptStreamError(f"chunk header has λ={c.lmbda:g}, outside its model's range [{lo}, {hi}]")


def entropy_decode(chunks, device="auto", model=None) -> list[DecodedLatent]:
    """Parse, verify and entropy-decode chunks (no synthesis).

    Each chunk is decoded on its own (batch of one, in input order), so its latent does not
    depend on which other chunks arrived with it: decoding is reproducible bit for bit.
    """
    parsed = [bitstream.unpack(d) for d in chunks]
    models: dict[tuple, GeocodecModel] = {}
    results: list[DecodedLatent] = []
    for c in parsed:
        key = (c.model_sha256, c.model_name)
        if key not in models:
            models[key] = _model_for_chunk(c, model, device)
        m = models[key]
        _check_against_model(c, m)
        lam = torch.tensor([c.lmbda], dtype=torch.float32, device=m.device)
        try:  # no model lock: coding only reads the model, so Dask threads decode in parallel
            y_dec = m.net.decompress_latent([LatentStreams(z=c.z, y=c.y, checks=c.checks)],
                                            m.net.latent_hw(c.height, c.width), lam, [c.header_crc])
        except EntropyMismatch as e:
            raise EntropyParameterMismatchError(
                f"cannot decode chunk safely: {e}. Either its payload is corrupt (restore it from a copy), "
                "or it was encoded on another kind of device (decode there, or re-encode)") from None
        except PayloadMismatch as e:
            raise CorruptStreamError(f"geocodec chunk payload is corrupt: {e}") from None
        results.append(DecodedLatent(chunk=c, latent=y_dec[0].cpu(), model=m))
    return results


def _check_backend(backend) -> str:
    if backend not in BACKENDS:
        raise InvalidInputError(f"backend={backend!r}: use one of {BACKENDS}")
    return backend


def synthesize(latents: list[DecodedLatent], modality: str = "both", backend: Backend = "torch") -> list:
    """Run only the requested decoder(s) on entropy-decoded latents → arrays as ``decompress`` gives.

    One latent at a time (batch of one): the result never depends on the batch it came in.
    """
    if modality not in MODALITIES:
        raise InvalidInputError(f"modality={modality!r}: use one of {MODALITIES}")
    _check_backend(backend)
    results: list = []
    for d in latents:
        m, c = d.model, d.chunk
        y_dec = d.latent[None].to(m.device)
        dec = {}
        for which in ("optical", "sar"):
            if modality in (which, "both"):
                if backend == "onnx-int8":
                    from geocodec.model import int8_synthesis

                    x = int8_synthesis.synthesize(m, y_dec, which)[0]
                else:
                    x = m.net.synthesize(y_dec, which).float().cpu().numpy()[0]
                dec[which] = _restore(x[:, :c.height, :c.width], c, which)
        results.append((dec["optical"], dec["sar"]) if modality == "both" else dec[modality])
    return results


def decompress_batch(chunks, modality: str = "both", device="auto", model=None, backend: Backend = "torch") -> list:
    """Decode many chunks, each on its own (the bytes a chunk decodes to never depend on its batch)."""
    if modality not in MODALITIES:
        raise InvalidInputError(f"modality={modality!r}: use one of {MODALITIES}")
    _check_backend(backend)
    return synthesize(entropy_decode(chunks, device=device, model=model), modality, backend)


def decompress(data: bytes, modality: Modality = "both", device: Device = "auto",
               model: ModelSpec | None = None,
               backend: Backend = "torch") -> tuple[np.ndarray, np.ndarray] | np.ndarray:
    """Decode one chunk into the arrays that were compressed (or one of them).

    Parameters
    ----------
    data
        A chunk from ``compress`` / ``compress_batch``.
    modality
        ``"both"``, or ``"optical"`` / ``"sar"`` to run only that modality's decoder (entropy
        decoding is shared, so one modality costs about 0.6–0.7× of both).
    device
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda[:N]"``.
    model
        The model to decode with (name, path or loaded model); by default the registered model the
        chunk names, verified by its sha256. A different model is refused.
    backend
        ``"torch"`` (exact) or ``"onnx-int8"``: the decoders as int8 ONNX Runtime graphs built from
        the model (faster on a CPU, slightly lossier; needs ``geocodec[fast]``).

    Returns
    -------
    (optical, sar) or numpy.ndarray
        For ``modality="both"`` the pair, else that modality's array: the shapes and dtypes that were
        compressed, NaN and nodata exactly where they were, values clamped to each band's range.

    Raises
    ------
    geocodec.errors.CorruptStreamError
        ``data`` is not an intact geocodec chunk.
    geocodec.errors.ModelMismatchError
        ``model`` is not the model that wrote the chunk.
    geocodec.errors.EntropyParameterMismatchError
        This device computes the entropy parameters differently from the encoder's (re-encode, or
        decode on the kind of device that encoded).
    """
    return decompress_batch([data], modality=modality, device=device, model=model, backend=backend)[0]
