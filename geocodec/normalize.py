"""Per-chunk, per-band range-adaptive scaling; dB ↔ linear; nodata / NaN masks.

The one place that decides how raw samples become network inputs and back. Scaling maps the
band's 0.5–99.5 percentile range of valid samples to [0, 1] (robust to a few outliers) and the
decoded values are clamped to the band's true [min, max], both stored in the bitstream header.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LOW_PERCENTILE, HIGH_PERCENTILE = 0.5, 99.5
SPAN_FLOOR_DIVISOR = 1024.0


@dataclass
class BandScaling:
    """Per-band affine map (lo → 0, hi → 1) and the clamp range of the original values."""

    lo: np.ndarray
    hi: np.ndarray
    vmin: np.ndarray
    vmax: np.ndarray


def fit_scaling(x: np.ndarray, valid: np.ndarray | None = None) -> BandScaling:
    """Fit scaling on ``x`` (C, H, W), using only positions where ``valid`` is True."""
    c = x.shape[0]
    lo = np.zeros(c, np.float32)
    hi = np.ones(c, np.float32)
    vmin = np.zeros(c, np.float32)
    vmax = np.zeros(c, np.float32)
    for i in range(c):
        v = x[i] if valid is None else x[i][valid[i]]
        if v.size == 0:
            continue
        v = v.astype(np.float64, copy=False)
        a, b = np.percentile(v, [LOW_PERCENTILE, HIGH_PERCENTILE])
        vmin[i], vmax[i] = v.min(), v.max()
        if not b > a:  # (nearly) constant band: any unit range works, the clamp makes it exact
            a, b = v.min(), v.min() + 1.0
        # a band that is constant but for a few outliers must not blow them up to values the
        # entropy coder cannot represent: the span is at least 1/1024 of the full range
        floor = (float(vmax[i]) - float(vmin[i])) / SPAN_FLOOR_DIVISOR
        if b - a < floor:
            a, b = max(float(vmin[i]), a - floor / 2), max(float(vmin[i]), a - floor / 2) + floor
        lo[i], hi[i] = a, b
        if not hi[i] > lo[i]:  # float32 rounding collapsed the range
            hi[i] = lo[i] + np.float32(max(1.0, abs(float(lo[i])) * 1e-6))
    return BandScaling(lo, hi, vmin, vmax)


def apply_scaling(x: np.ndarray, scaling: BandScaling, valid: np.ndarray | None = None) -> np.ndarray:
    """Raw (C, H, W) → float32 in ~[0, 1]; invalid positions filled with the band's valid mean."""
    lo = scaling.lo.astype(np.float64)[:, None, None]
    span = (scaling.hi.astype(np.float64) - scaling.lo.astype(np.float64))[:, None, None]
    out = ((x.astype(np.float64) - lo) / span).astype(np.float32)
    if valid is not None and not valid.all():
        for i in range(out.shape[0]):
            ok = valid[i]
            fill = float(out[i][ok].mean()) if ok.any() else 0.5
            out[i][~ok] = fill
    return out


def invert_scaling(xn: np.ndarray, scaling: BandScaling) -> np.ndarray:
    """Normalised (C, H, W) → float64 in original units, clamped to each band's [min, max]."""
    lo = scaling.lo.astype(np.float64)[:, None, None]
    span = (scaling.hi.astype(np.float64) - scaling.lo.astype(np.float64))[:, None, None]
    x = xn.astype(np.float64)  # the one copy; the rest in place (a decode's cost is per pixel)
    x *= span
    x += lo
    return np.clip(x, scaling.vmin.astype(np.float64)[:, None, None], scaling.vmax.astype(np.float64)[:, None, None], out=x)


def linear_to_db(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return 10.0 * np.log10(x)


def db_to_linear(x: np.ndarray) -> np.ndarray:
    return np.power(10.0, x / 10.0)


def normalize_batch(x: np.ndarray) -> np.ndarray:
    """Training helper: scale each (C, H, W) item of a (B, C, H, W) batch like the codec does."""
    out = np.empty(x.shape, np.float32)
    for b in range(x.shape[0]):
        valid = np.isfinite(x[b])
        out[b] = apply_scaling(np.where(valid, x[b], 0), fit_scaling(x[b], valid), valid)
    return out
