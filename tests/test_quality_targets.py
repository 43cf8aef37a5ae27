"""The quality targets of issue #21, as stated, on the Spain 256² validation tiles (never trained on).

* Rate range: from ≤ 0.05 to ≥ 2 joint bpp over the model's λ range (γ = 0.5).
* No plateau: above 0.5 joint bpp, each doubling of the rate adds at least 1 dB to each modality.
* The γ prompt works: at equal λ, γ 0.1 → 0.9 moves optical up and SAR down by at least 1 dB each.

The shipped models (v1.0.0, v1.1.0, v1.2.0, v1.3.0, v1.4.0, and v1.5.0, the current default) meet none of them; the model card
says so and by how much. The assertions are real: they are marked ``xfail(strict=True)`` for those
models only, so a model that meets a target makes its test XPASS, which fails the run until the mark
is removed.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import xfail_known_miss

#: Shipped model sha256 → the targets it is known to miss (see geocodec/weights/default.md).
KNOWN_MISSES = {
    "01a6e466497bbaf71c02c84241f6f776722dc84c1f420a25ea6a946b69eae12f": {"range", "plateau", "gamma"},  # v1.0.0
    "e5d283ac2710aa64f29b162b8c0f6737600aaa2efa8a0c2ca9afc5b8699fd183": {"range", "plateau", "gamma"},  # v1.1.0
    "d9f0900320da677447d083d5ff52296570fcc0ec7668307295dec4fe7afde64f": {"range", "plateau", "gamma"},  # v1.2.0
    "5de9c9d2458949107dd2cf485f9530d526db2f77f5b2473838da92dd12115f29": {"range", "plateau", "gamma"},  # v1.3.0
    "bb9fd621ddd60749402730afe0a803747a8bcd208f032a34c352072a662e7cdb": {"range", "plateau", "gamma"},  # v1.4.0
    "0255966c02fb3a2747ca3f1506a48c108ebc5128211a53a92c5fb87d8cd7c14d": {"range", "plateau", "gamma"},  # v1.5.0
}


@pytest.fixture(scope="module")
def spain_tiles(shared_data):
    from geocodec.evaluation.datasets import load_sen1floods11_spain_tiles

    return load_sen1floods11_spain_tiles(shared_data / "sen1floods11-spain")


def _mean_curve(model, tiles, lmbdas, gamma):
    from geocodec.evaluation.sweeps import sweep_geocodec

    per_tile = sweep_geocodec(model, tiles, lmbdas, [gamma], device="cpu", with_ms_ssim=False)
    keys = ("bpp", "psnr_optical", "psnr_sar")
    return {k: np.array([np.mean([recs[i][k] for recs in per_tile]) for i in range(len(lmbdas))]) for k in keys}


def _known_miss(request, model, target: str) -> None:
    xfail_known_miss(request, model, {sha: f"model v{model.version} misses the {target} target"
                                      for sha, missed in KNOWN_MISSES.items() if target in missed})


def test_rate_range_reaches_low_and_high_rates(request, model, spain_tiles):
    _known_miss(request, model, "range")
    lo, hi = model.lmbda_range
    c = _mean_curve(model, spain_tiles, [lo, hi], 0.5)
    assert c["bpp"][0] <= 0.05 and c["bpp"][1] >= 2.0, \
        f"joint rate spans {c['bpp'][0]:.3f}…{c['bpp'][1]:.3f} bpp over λ {lo:g}…{hi:g} (target ≤ 0.05 … ≥ 2)"


def test_quality_rises_with_rate_above_half_a_bit(request, model, spain_tiles):
    _known_miss(request, model, "plateau")
    lo, hi = model.lmbda_range
    c = _mean_curve(model, spain_tiles, np.geomspace(lo, hi, 9).tolist(), 0.5)
    assert np.all(np.diff(c["bpp"]) > 0), f"rate does not rise with λ: {c['bpp']}"
    high = c["bpp"] >= 0.5
    assert high.sum() >= 2, f"fewer than two λ points above 0.5 bpp: {np.round(c['bpp'], 3)}"
    bpp = c["bpp"][high]
    for k in ("psnr_optical", "psnr_sar"):
        q = c[k][high]
        per_doubling = np.diff(q) / np.diff(np.log2(bpp))  # between neighbouring λ points
        assert per_doubling.min() >= 1.0, \
            f"{k}: {np.round(per_doubling, 2)} dB per doubling of rate between {np.round(bpp, 3)} bpp (target ≥ 1 dB)"


def test_gamma_trades_optical_against_sar(request, model, spain_tiles):
    _known_miss(request, model, "gamma")
    lam = float(np.sqrt(np.prod(model.lmbda_range)))
    sar_first = _mean_curve(model, spain_tiles, [lam], 0.1)
    optical_first = _mean_curve(model, spain_tiles, [lam], 0.9)
    d_opt = float(optical_first["psnr_optical"][0] - sar_first["psnr_optical"][0])
    d_sar = float(sar_first["psnr_sar"][0] - optical_first["psnr_sar"][0])
    assert d_opt >= 1.0 and d_sar >= 1.0, f"γ 0.1 → 0.9 moves optical by {d_opt:+.2f} dB and SAR by {-d_sar:+.2f} dB " \
                                          "(target: ≥ +1 dB optical and ≤ −1 dB SAR)"
