"""The quality contract of issue #8, measured on the Spain 256² validation tiles (never trained on).

* No plateau: in the upper half of the model's rate range, each doubling of the joint rate adds
  at least 1 dB to each modality.
* The γ prompt works: at equal λ, γ 0.1 → 0.9 moves optical up and SAR down by at least 1 dB each.

The shipped model (v1.0.0) does not meet either target; the model card says so and by how much.
The assertions are real: they are marked ``xfail(strict=True)`` for that model only, so a model
that meets a target makes its test XPASS, which fails the run until the mark is removed.
"""

from __future__ import annotations

import numpy as np
import pytest

#: Shipped model sha256 → the targets it is known to miss (see geocodec/weights/default.md).
KNOWN_MISSES = {
    "01a6e466497bbaf71c02c84241f6f776722dc84c1f420a25ea6a946b69eae12f": {"plateau", "gamma"},
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
    if target in KNOWN_MISSES.get(model.sha256, ()):
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"model v{model.version} misses the {target} target"))


def test_quality_rises_with_rate_in_the_upper_half(request, model, spain_tiles):
    _known_miss(request, model, "plateau")
    lo, hi = model.lmbda_range
    lmbdas = np.geomspace(np.sqrt(lo * hi), hi, 4).tolist()  # the upper half of the λ range, log scale
    c = _mean_curve(model, spain_tiles, lmbdas, 0.5)
    assert np.all(np.diff(c["bpp"]) > 0), f"rate does not rise with λ: {c['bpp']}"
    doublings = np.log2(c["bpp"][-1] / c["bpp"][0])
    for k in ("psnr_optical", "psnr_sar"):
        gain = (c[k][-1] - c[k][0]) / doublings
        assert gain >= 1.0, f"{k}: {gain:.2f} dB per doubling of rate between {c['bpp'][0]:.3f} and " \
                            f"{c['bpp'][-1]:.3f} bpp (target ≥ 1 dB)"


def test_gamma_trades_optical_against_sar(request, model, spain_tiles):
    _known_miss(request, model, "gamma")
    lam = float(np.sqrt(np.prod(model.lmbda_range)))
    sar_first = _mean_curve(model, spain_tiles, [lam], 0.1)
    optical_first = _mean_curve(model, spain_tiles, [lam], 0.9)
    d_opt = float(optical_first["psnr_optical"][0] - sar_first["psnr_optical"][0])
    d_sar = float(sar_first["psnr_sar"][0] - optical_first["psnr_sar"][0])
    assert d_opt >= 1.0 and d_sar >= 1.0, f"γ 0.1 → 0.9 moves optical by {d_opt:+.2f} dB and SAR by {-d_sar:+.2f} dB " \
                                          "(target: ≥ +1 dB optical and ≤ −1 dB SAR)"
