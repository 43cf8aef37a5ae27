"""The shipped model on the real validation pairs: λ buys bits and quality, γ trades modalities."""

from __future__ import annotations

import numpy as np
import pytest

import geocodec
from geocodec.metrics import PEAK_OPTICAL, PEAK_SAR_DB, psnr
from geocodec.evaluation.datasets import load_validation_sets

from conftest import xfail_known_miss


@pytest.fixture(scope="module")
def pairs(shared_data):
    sets = load_validation_sets(shared_data, ["bigearthnet-geotiff", "sen1floods11-spain"])
    return [p for ps in sets.values() for p in ps]


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


#: Shipped model sha256 → why its γ prompt does not pass (geocodec/weights/default.md, "v1.1.0: results").
GAMMA_MISSES = {
    "e5d283ac2710aa64f29b162b8c0f6737600aaa2efa8a0c2ca9afc5b8699fd183":
        "v1.1.0: γ moves each modality by about ±0.03 dB, so SAR does not drop on every pair",
}


#: What the 3 % tolerance of target-bitrate mode alone can move a PSNR by: 3 % of rate is 0.04
#: doublings, and near 0.3 bpp these models gain 2–3 dB per doubling.
RATE_NOISE_DB = 0.1


@pytest.mark.parametrize("target", [0.3, 0.6])
def test_gamma_trades_optical_for_sar_fidelity_at_equal_rate(request, pairs, model, target):
    """γ=0.9 vs γ=0.1 at the same rate (target-bitrate mode). SAR fidelity must drop on average
    over the seven pairs and rise on none by more than the rate tolerance alone can move it
    (``RATE_NOISE_DB``); optical fidelity must rise on average (v1.0.0's γ effect is a few tenths of a
    dB, v1.1.0's a few hundredths: a strict xfail for it, see geocodec/weights/default.md)."""
    xfail_known_miss(request, model, GAMMA_MISSES)
    d_opt, d_sar = [], []
    for p in pairs:
        bpp_o, opt_o, sar_o = _measure(p, target_bpp=target, gamma=0.9)
        bpp_s, opt_s, sar_s = _measure(p, target_bpp=target, gamma=0.1)
        assert bpp_o == pytest.approx(target, rel=0.03) and bpp_s == pytest.approx(target, rel=0.03), p.name
        assert sar_o < sar_s + RATE_NOISE_DB, p.name
        d_opt.append(opt_o - opt_s)
        d_sar.append(sar_o - sar_s)
    assert np.mean(d_opt) > 0, d_opt
    assert np.mean(d_sar) < 0, d_sar
