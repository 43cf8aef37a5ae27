"""The shipped model on the real validation pairs: λ buys bits and quality, γ trades modalities."""

from __future__ import annotations

import numpy as np
import pytest

import geocodec
from geocodec.metrics import PEAK_OPTICAL, PEAK_SAR_DB, psnr
from geocodec.validation import load_validation_sets


@pytest.fixture(scope="module")
def pairs(shared_data):
    return [p for ps in load_validation_sets(shared_data).values() for p in ps]


def _measure(p, **kw):
    data = geocodec.compress(p.optical, p.sar, optical_nodata=p.optical_nodata, device="cpu", **kw)
    o, s = geocodec.decompress(data, device="cpu")
    return (geocodec.inspect(data)["bpp"], psnr(p.optical, o, PEAK_OPTICAL), psnr(p.sar, s, PEAK_SAR_DB))


def test_there_are_seven_validation_pairs(pairs):
    assert len(pairs) == 7


def test_higher_lambda_more_bits_and_quality(pairs, model):
    lo, hi = model.lmbda_range
    for p in pairs:
        bpp_lo, opt_lo, sar_lo = _measure(p, lmbda=lo * 2)
        bpp_hi, opt_hi, sar_hi = _measure(p, lmbda=hi / 2)
        assert bpp_hi > bpp_lo, p.name
        assert opt_hi > opt_lo, p.name
        assert sar_hi > sar_lo, p.name


def test_gamma_trades_optical_for_sar_fidelity_at_equal_rate(pairs):
    for p in pairs:
        bpp_o, opt_o, sar_o = _measure(p, target_bpp=0.6, gamma=0.9)
        bpp_s, opt_s, sar_s = _measure(p, target_bpp=0.6, gamma=0.1)
        assert bpp_o == pytest.approx(bpp_s, rel=0.07), p.name  # both within ±3 % of the target
        assert opt_o > opt_s, p.name
        assert sar_o < sar_s, p.name
