"""Input preparation for the numpy codec: validate user arrays and options, normalise them per band.

Why here: everything ``compress`` refuses is refused in this module, before the network runs —
shapes, band counts, dtypes, sizes over ``bitstream.MAX_PIXELS``, samples outside a modality's
physical range (with the value, its position and, for a constant fill strip, the ``*_nodata=`` to
pass), ``sar_scale``, γ, λ / target and a fixed cube scaling (docs/reliability.md).
"""

from __future__ import annotations

import math
import sys
import warnings
from dataclasses import dataclass
from os import PathLike

import numpy as np
import torch

from geocodec import bitstream
from geocodec.errors import InvalidInputError, SuspiciousInputWarning
from geocodec.normalize import BandScaling, apply_scaling, fit_scaling, linear_to_db
from geocodec.options import OPTICAL_DTYPES, SAR_DTYPES, SAR_SCALES
from geocodec.registry import GeocodecModel
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


def f32(x: float) -> float:
    """``x`` as the float32 a chunk header stores (λ is compared and coded at this precision)."""
    return float(np.float32(x))


def check_rate_for(model: GeocodecModel, lmbda, target_bpp) -> tuple[float | None, float | None]:
    """Exactly one of λ (inside the model's range) and a target bpp."""
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
class PreparedModality:
    """One modality of one item, ready for the network."""

    normalized: np.ndarray  # (C, H, W) float32
    scaling: BandScaling
    dtype: str
    nodata: float | None
    nan_mask: np.ndarray | None
    nodata_mask: np.ndarray | None
    big_endian: bool = False


def prepare_modality(x, what, n_bands, band_names, allowed, nodata, linear=False, fixed=None) -> PreparedModality:
    a = _as_array(x, what)
    if a.ndim != 3:
        raise InvalidInputError(f"{what} must have shape (bands, H, W); got {a.ndim}-d shape {a.shape}")
    if a.shape[0] != n_bands:
        hint = (f": it looks like (H, W, bands); pass np.moveaxis({what}, -1, 0)" if a.shape[-1] == n_bands
                else "")
        raise InvalidInputError(f"{what} has {a.shape[0]} bands but the model expects {n_bands} "
                                f"({', '.join(band_names)}){hint}")
    if a.shape[1] < 1 or a.shape[2] < 1:
        raise InvalidInputError(f"{what} has an empty spatial shape {a.shape[1:]}")
    check_size(what, *a.shape[1:])
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
    check_physical_range(what, a, values, valid, lo, hi, "dB" if what == "sar" else "")
    if what == "sar" and not linear:
        _warn_if_linear(values[valid])
    values = np.where(valid, values, 0.0)
    scaling = fit_scaling(values, valid)
    if fixed is not None:  # a scaling chosen for the whole cube; the clamp range stays this item's own
        scaling = BandScaling(fixed[:, 0].copy(), fixed[:, 1].copy(), scaling.vmin, scaling.vmax)
    return PreparedModality(
        normalized=apply_scaling(values, scaling, valid),
        scaling=scaling,
        dtype=a.dtype.name,
        nodata=nodata if nodata_mask is not None else None,
        nan_mask=nan_mask if nan_mask is not None and nan_mask.any() else None,
        nodata_mask=nodata_mask if nodata_mask is not None and nodata_mask.any() else None,
        big_endian=big_endian,
    )


#: SAR "in dB" is judged linear σ0 by its distribution, not its maximum (a few bright targets reach
#: 5 or more in linear power): a median in [0, this] and nearly all samples in [0, 10] (noise-
#: subtracted products may hold a few slightly negative samples). Real dB backscatter is mostly
#: −30…−5 dB (median well below 0); linear σ0 mostly 0.001…0.5.
LINEAR_LOOKING_MEDIAN = 1.0
LINEAR_LOOKING_SHARE = 0.99


def looks_linear(valid_values: np.ndarray) -> bool:
    """Whether SAR passed as dB is, by its distribution, linear power."""
    v = np.asarray(valid_values, np.float64).ravel()
    if not v.size:
        return False
    share = float(np.mean((v >= 0) & (v <= 10.0)))
    return 0 <= float(np.median(v)) <= LINEAR_LOOKING_MEDIAN and share >= LINEAR_LOOKING_SHARE


def _warn_if_linear(valid_values: np.ndarray) -> None:
    """Linear σ0 passed as dB codes without error but wastes the model (it was trained on dB): say so."""
    if looks_linear(valid_values):
        v = np.asarray(valid_values, np.float64)
        share = np.mean((v >= 0) & (v <= 10))
        warnings.warn(f"SAR looks like linear σ0, not dB (median {np.median(v):.3g}, {share:.1%} of samples in "
                      f"[0, 10], max {v.max():.3g}); pass sar_scale='linear' "
                      "(decoding then returns linear values too)", SuspiciousInputWarning, stacklevel=4)


def check_size(what: str, h: int, w: int) -> None:
    if h > bitstream.MAX_SIDE or w > bitstream.MAX_SIDE or h * w > bitstream.MAX_PIXELS:
        raise InvalidInputError(
            f"{what} is {h}×{w} px, more than one chunk can hold (at most {bitstream.MAX_PIXELS} px and "
            f"{bitstream.MAX_SIDE} px per side): split it into tiles, or use geocodec.to_zarr(..., chunks=512), "
            "which chunks it for you")


def check_physical_range(what, raw, values, valid, lo: float, hi: float, unit: str) -> None:
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
class PreparedPair:
    optical: PreparedModality
    sar: PreparedModality
    height: int
    width: int
    gamma: float
    sar_linear: bool

    def padded(self, net) -> tuple[int, int]:
        return net.padded_hw(self.height, self.width)


def pad(x: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    h, w = x.shape[-2:]
    return np.pad(x, ((0, 0), (0, hw[0] - h), (0, hw[1] - w)), mode="edge")


def check_fixed_scaling(model: GeocodecModel, scaling) -> np.ndarray | None:
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


def prepare_pair(model, optical, sar, gamma, optical_nodata, sar_nodata, sar_scale, fixed=None) -> PreparedPair:
    if sar_scale not in SAR_SCALES:
        raise InvalidInputError(f"sar_scale={sar_scale!r}: use 'db' (σ0 in dB) or 'linear' (σ0 power)")
    n_opt = len(model.optical_bands)
    opt = prepare_modality(optical, "optical", n_opt, model.optical_bands,
                            OPTICAL_DTYPES, optical_nodata, fixed=None if fixed is None else fixed[:n_opt])
    sr = prepare_modality(sar, "sar", len(model.sar_bands), model.sar_bands, SAR_DTYPES, sar_nodata,
                           linear=sar_scale == "linear", fixed=None if fixed is None else fixed[n_opt:])
    if opt.normalized.shape[1:] != sr.normalized.shape[1:]:
        raise InvalidInputError(f"optical {opt.normalized.shape[1:]} and sar {sr.normalized.shape[1:]} "
                                "must have the same H, W (co-registered on one grid)")
    h, w = opt.normalized.shape[1:]
    return PreparedPair(opt, sr, h, w, check_gamma(gamma), sar_scale == "linear")

