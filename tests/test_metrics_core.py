"""PSNR with documented peaks, MS-SSIM (incl. small images), Bjøntegaard delta rate, R-D envelopes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from geocodec.metrics import (
    PEAK_OPTICAL,
    PEAK_SAR_DB,
    bd_rate,
    ms_ssim,
    ms_ssim_scales,
    pareto_envelope,
    psnr,
    rate_at_quality,
)


def test_documented_peaks():
    assert PEAK_OPTICAL == 10000.0
    assert PEAK_SAR_DB == 70.0


def test_psnr_of_a_known_error():
    ref = np.full((2, 8, 8), 1000, np.uint16)
    test = ref + np.uint16(10)  # MSE = 100
    assert psnr(ref, test, PEAK_OPTICAL) == pytest.approx(10 * math.log10(1e8 / 100))
    assert psnr(ref, ref, PEAK_OPTICAL) == math.inf


def test_psnr_ignores_nan_and_invalid_samples():
    ref = np.zeros((1, 4, 4), np.float32)
    test = ref.copy()
    test[0, 0, 0] = 7.0  # one bad sample, masked below
    ref[0, 1, 1] = np.nan
    test[0, 1, 1] = np.nan
    valid = np.ones(ref.shape, bool)
    valid[0, 0, 0] = False
    assert psnr(ref, test, PEAK_SAR_DB, valid) == math.inf
    assert psnr(ref, test, PEAK_SAR_DB) == pytest.approx(10 * math.log10(70.0**2 / (49.0 / 15)))


def test_psnr_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(np.zeros((1, 4, 4)), np.zeros((1, 4, 5)), 1.0)


def _smooth(rng, c, h, w):
    from scipy.ndimage import gaussian_filter

    return np.stack([gaussian_filter(rng.standard_normal((h, w)), 3) for _ in range(c)]) * 800 + 3000


def test_ms_ssim_matches_pytorch_msssim_at_five_scales(rng):
    from pytorch_msssim import ms_ssim as reference

    ref = _smooth(rng, 2, 192, 176)
    test = ref + rng.normal(0, 60, ref.shape)
    expected = float(reference(torch.from_numpy(ref)[None], torch.from_numpy(test)[None], data_range=PEAK_OPTICAL))
    assert ms_ssim_scales(192, 176) == 5
    assert ms_ssim(ref, test, PEAK_OPTICAL) == pytest.approx(expected, rel=1e-6)


def test_ms_ssim_small_images_use_fewer_scales(rng):
    assert ms_ssim_scales(120, 120) == 4
    assert ms_ssim_scales(64, 64) == 3
    ref = _smooth(rng, 4, 120, 120)
    assert ms_ssim(ref, ref, PEAK_OPTICAL) == pytest.approx(1.0)
    mild = ms_ssim(ref, ref + rng.normal(0, 30, ref.shape), PEAK_OPTICAL)
    strong = ms_ssim(ref, ref + rng.normal(0, 300, ref.shape), PEAK_OPTICAL)
    assert 0 < strong < mild < 1
    assert ms_ssim(ref[:, :32, :32], ref[:, :32, :32], PEAK_OPTICAL) is None  # < 3 scales fit


def test_ms_ssim_treats_nan_as_identical(rng):
    ref = _smooth(rng, 1, 64, 64)
    test = ref + rng.normal(0, 50, ref.shape)
    ref_nan, test_nan = ref.copy(), test.copy()
    ref_nan[0, :8] = np.nan
    test_nan[0, :8] = np.nan
    v = ms_ssim(ref_nan, test_nan, PEAK_OPTICAL)
    assert v is not None and math.isfinite(v) and v > ms_ssim(ref, test, PEAK_OPTICAL)


def test_pareto_envelope_keeps_only_undominated_points():
    rates = [0.1, 0.2, 0.3, 0.25, 0.5]
    quality = [30, 29, 33, 34, 33.5]
    assert pareto_envelope(rates, quality) == [0, 3]


@pytest.mark.parametrize("method", ["pchip", "cubic"])
def test_bd_rate_of_a_curve_needing_half_the_bits(method):
    q = np.array([30.0, 32.0, 34.0, 36.0, 38.0])
    anchor = np.exp(q / 6.0) * 0.01
    assert bd_rate(anchor, q, anchor * 0.5, q, method=method) == pytest.approx(-50.0, abs=1e-6)
    assert bd_rate(anchor, q, anchor, q, method=method) == pytest.approx(0.0, abs=1e-9)
    assert bd_rate(anchor, q, anchor * 1.25, q, method=method) == pytest.approx(25.0, abs=1e-6)


def test_bd_rate_uses_only_the_overlapping_quality_range():
    q = np.array([30.0, 32.0, 34.0, 36.0])
    r = np.array([0.1, 0.2, 0.4, 0.8])
    assert bd_rate(r, q, r * 2, q + 10) is None  # qualities 40..46 vs 30..36: no overlap
    # shifted curve: same rates give +1 dB → at equal quality it needs fewer bits
    assert bd_rate(r, q, r, q + 1) < 0


def test_bd_rate_needs_two_points():
    with pytest.raises(ValueError, match="at least 2 points"):
        bd_rate([0.1], [30], [0.1, 0.2], [30, 31])


def test_rate_at_quality_interpolates_in_log_rate():
    r = [0.1, 0.4]
    q = [30.0, 34.0]
    assert rate_at_quality(r, q, 32.0) == pytest.approx(0.2)
    assert rate_at_quality(r, q, 35.0) is None
