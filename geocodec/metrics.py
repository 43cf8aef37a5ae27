"""Quality and rate-comparison metrics with documented peaks: PSNR, MS-SSIM, Bjøntegaard delta rate.

PSNR peaks are the documented data range of each modality, not the per-image maximum, so
numbers are comparable across images and codecs:

* optical: Sentinel-2 reflectance ×10000, range 0..10000 → ``PEAK_OPTICAL = 10000``;
* SAR: σ0 in dB over ``SAR_DB_MIN..SAR_DB_MAX`` = −50..+20 dB → ``PEAK_SAR_DB = 70``.
"""

from __future__ import annotations

import math

import numpy as np

PEAK_OPTICAL = 10000.0
PEAK_SAR_DB = 70.0
#: The documented SAR dB range (PEAK_SAR_DB = its width); also the JPEG 2000 baseline's uint16 map.
SAR_DB_MIN, SAR_DB_MAX = -50.0, 20.0
#: MS-SSIM's standard 5-scale weights (Wang et al. 2003), Gaussian window 11, σ 1.5.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
MS_SSIM_WIN = 11


def _valid_mask(ref: np.ndarray, test: np.ndarray, valid) -> np.ndarray:
    ok = np.ones(ref.shape, bool) if valid is None else np.broadcast_to(np.asarray(valid, bool), ref.shape)
    return ok & np.isfinite(ref) & np.isfinite(test)


def mse(ref, test, valid=None) -> float:
    """Mean squared error over valid, finite samples (float64)."""
    ref, test = np.asarray(ref), np.asarray(test)
    if ref.shape != test.shape:
        raise ValueError(f"shapes differ: {ref.shape} vs {test.shape}")
    ok = _valid_mask(ref, test, valid)
    if not ok.any():
        raise ValueError("no valid samples to compare")
    d = ref.astype(np.float64)[ok] - test.astype(np.float64)[ok]
    return float(np.mean(d * d))


def psnr(ref, test, peak: float, valid=None) -> float:
    """10·log10(peak² / MSE) over valid, finite samples (``inf`` when identical)."""
    m = mse(ref, test, valid)
    return math.inf if m == 0 else 10.0 * math.log10(peak * peak / m)


def ms_ssim_scales(height: int, width: int, win: int = MS_SSIM_WIN) -> int:
    """How many of the 5 MS-SSIM scales fit: scale k needs the smaller side > (win−1)·2^(k−1)."""
    side = min(height, width)
    n = 0
    while n < len(MS_SSIM_WEIGHTS) and side > (win - 1) * 2 ** n:
        n += 1
    return n


def ms_ssim(ref, test, data_range: float, *, min_scales: int = 3) -> float | None:
    """MS-SSIM of (C, H, W) arrays, averaged over bands, with ``data_range`` as the dynamic range.

    Images of at least 161 px per side use the standard 5 scales (identical to
    ``pytorch_msssim.ms_ssim``). Smaller images use the largest number of scales that fits
    (120 px → 4), with the first weights renormalised to sum to 1, which the result's users
    should note (``ms_ssim_scales`` tells how many); below ``min_scales`` scales it returns None.
    Non-finite samples (NaN nodata) are set to the reference band's valid mean in both
    images, so they count as identical. Pass non-negative data (e.g. SAR dB − SAR_DB_MIN): SSIM's
    luminance term assumes it.
    """
    import torch
    from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim

    ref = np.asarray(ref, np.float64)
    test = np.asarray(test, np.float64)
    if ref.shape != test.shape or ref.ndim != 3:
        raise ValueError(f"ms_ssim needs two (C, H, W) arrays of one shape; got {ref.shape} and {test.shape}")
    scales = ms_ssim_scales(*ref.shape[1:])
    if scales < max(1, min_scales):
        return None
    bad = ~(np.isfinite(ref) & np.isfinite(test))
    if bad.any():
        ref, test = ref.copy(), test.copy()
        for c in range(ref.shape[0]):
            ok = ~bad[c]
            fill = float(ref[c][ok].mean()) if ok.any() else 0.0
            ref[c][~ok] = fill
            test[c][~ok] = fill
    x = torch.from_numpy(ref)[None]
    y = torch.from_numpy(test)[None]
    weights = torch.tensor(MS_SSIM_WEIGHTS[:scales], dtype=torch.float64)
    weights = weights / weights.sum()
    win = _fspecial_gauss_1d(MS_SSIM_WIN, 1.5).repeat([x.shape[1], 1, 1, 1]).double()
    mcs = []
    for i in range(scales):
        ssim_c, cs = _ssim(x, y, win=win, data_range=data_range, size_average=False)
        if i < scales - 1:
            mcs.append(torch.relu(cs))
            pad = [s % 2 for s in x.shape[2:]]
            x = torch.nn.functional.avg_pool2d(x, kernel_size=2, padding=pad)
            y = torch.nn.functional.avg_pool2d(y, kernel_size=2, padding=pad)
    stack = torch.stack(mcs + [torch.relu(ssim_c)], dim=0)
    return float(torch.prod(stack ** weights.view(-1, 1, 1), dim=0).mean())


def decode_agreement(ref, test) -> dict:
    """How closely two decodes of the same chunks agree (docs/reliability.md, decode contract layer c).

    Per band of (C, H, W) arrays, over samples finite in both: the largest |Δ| in the arrays' unit
    (DN, dB) and the PSNR of ``test`` against ``ref`` with the band's own range in ``ref`` as the
    peak (``inf`` when identical). Not a quality metric: both arrays are decodes, neither the input.
    """
    ref, test = np.asarray(ref, np.float64), np.asarray(test, np.float64)
    if ref.shape != test.shape or ref.ndim != 3:
        raise ValueError(f"decode_agreement needs two (C, H, W) arrays of one shape; got {ref.shape}, {test.shape}")
    if not np.array_equal(np.isfinite(ref), np.isfinite(test)):
        raise ValueError("the two decodes differ in where their non-finite (NaN) samples are")
    max_abs, psnrs = [], []
    for r, t in zip(ref, test):
        ok = np.isfinite(r)
        d = np.abs(r[ok] - t[ok])
        peak = float(np.ptp(r[ok])) if ok.any() else 0.0
        max_abs.append(float(d.max()) if d.size else 0.0)
        psnrs.append(psnr(r, t, max(peak, 1e-12), ok) if ok.any() else math.inf)
    return {"max_abs": max_abs, "psnr_db": psnrs, "min_psnr_db": min(psnrs)}


# ---------------------------------------------------------------------------- R-D curves
def pareto_envelope(rates, qualities) -> list[int]:
    """Indexes of the points on the upper R-D envelope: sorted by rate, strictly increasing quality
    (every other point is beaten by one that costs no more bits)."""
    order = sorted(range(len(rates)), key=lambda i: (rates[i], -qualities[i]))
    keep, best = [], -math.inf
    for i in order:
        if qualities[i] > best:
            keep.append(i)
            best = qualities[i]
    return keep


def _monotone(rates, quality):
    r = np.asarray(rates, np.float64)
    q = np.asarray(quality, np.float64)
    keep = pareto_envelope(list(r), list(q))
    r, q = r[keep], q[keep]
    if len(r) < 2:
        raise ValueError("an R-D curve needs at least 2 points with increasing rate and quality")
    if np.any(r <= 0):
        raise ValueError("rates must be positive")
    return np.log(r), q


def bd_rate(rates_anchor, quality_anchor, rates_test, quality_test, *, method: str = "pchip") -> float | None:
    """Bjøntegaard delta rate (%) of the test curve against the anchor at equal quality.

    Negative = the test codec needs fewer bits. log-rate is fitted as a function of quality
    (``method='pchip'``: monotone piecewise-cubic, as in the current common test conditions;
    ``'cubic'``: the original third-order polynomial, needs ≥ 4 points per curve) and
    integrated over the overlapping quality interval. Curves are first reduced to their
    upper envelope. Returns None when the quality ranges do not overlap.
    """
    la, qa = _monotone(rates_anchor, quality_anchor)
    lt, qt = _monotone(rates_test, quality_test)
    lo, hi = max(qa.min(), qt.min()), min(qa.max(), qt.max())
    if not hi > lo:
        return None
    if method == "pchip":
        from scipy.integrate import trapezoid
        from scipy.interpolate import PchipInterpolator

        xs = np.linspace(lo, hi, 1001)
        ia = trapezoid(PchipInterpolator(qa, la)(xs), xs)
        it = trapezoid(PchipInterpolator(qt, lt)(xs), xs)
    elif method == "cubic":
        if len(qa) < 4 or len(qt) < 4:
            raise ValueError("cubic BD-rate needs at least 4 envelope points per curve")
        pa, pt = np.polyint(np.polyfit(qa, la, 3)), np.polyint(np.polyfit(qt, lt, 3))
        ia = np.polyval(pa, hi) - np.polyval(pa, lo)
        it = np.polyval(pt, hi) - np.polyval(pt, lo)
    else:
        raise ValueError(f"method={method!r}: use 'pchip' or 'cubic'")
    return float((math.exp((it - ia) / (hi - lo)) - 1.0) * 100.0)


def rate_at_quality(rates, quality, q: float) -> float | None:
    """Rate a curve needs for quality ``q`` (log-rate linear between envelope points); None outside."""
    lr, qq = _monotone(rates, quality)
    if q < qq[0] or q > qq[-1]:
        return None
    return float(math.exp(np.interp(q, qq, lr)))
