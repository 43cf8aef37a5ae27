"""Encode-time latent refinement (``refine_steps``): same decoders and format, better R-D objective.

Runs the shipped model on honest synthetic pairs (small, so CI stays fast); the real-tile gains are
measured by ``geocodec evaluate --refine-steps`` and reported in the model card.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import geocodec
from geocodec.codec import decompress_batch
from geocodec.errors import InvalidInputError
from geocodec.metrics import PEAK_OPTICAL, PEAK_SAR_DB, psnr
from geocodec.model.refine import DISTORTION_SCALE

from conftest import smooth_pair, xfail_known_miss


@pytest.fixture(scope="module")
def pairs():
    rng = np.random.default_rng(11)
    return [smooth_pair(rng, 64, 64), smooth_pair(rng, 48, 80)]


def _objective(chunks, pairs, lmbda, gamma, backend="auto"):
    """The rate–distortion objective the refinement minimises, on real bytes and decoded values
    (physical-unit MSE scaled to [0, 1] by the documented peaks)."""
    out = []
    for data, (o, s), (do, ds) in zip(chunks, pairs, decompress_batch(chunks, device="cpu", backend=backend)):
        bpp = 8 * len(data) / (o.shape[1] * o.shape[2])
        mse_o = np.mean((do.astype(np.float64) - o) ** 2) / PEAK_OPTICAL**2
        mse_s = np.mean((ds.astype(np.float64) - s) ** 2) / PEAK_SAR_DB**2
        out.append(bpp + lmbda * DISTORTION_SCALE * (gamma * mse_o + (1 - gamma) * mse_s))
    return np.array(out)


#: Shipped model sha256 → why refinement does not yet raise quality on each test pair (model card).
QUALITY_MISSES = {
    "5de9c9d2458949107dd2cf485f9530d526db2f77f5b2473838da92dd12115f29":
        "v1.3.0: in fp32, −0.23 dB at equal bytes on the 64 × 64 pair (+0.60 dB on the other); the step size "
        "chosen on v1.0.0 is not chosen for it yet",
    "bb9fd621ddd60749402730afe0a803747a8bcd208f032a34c352072a662e7cdb":
        "v1.4.0: in fp32, −0.18 dB at equal bytes on the 48 × 80 pair (+0.25 dB on the 64 × 64 one); the step "
        "size chosen on v1.0.0 is not chosen for it yet",
    "0255966c02fb3a2747ca3f1506a48c108ebc5128211a53a92c5fb87d8cd7c14d":
        "v1.5.0: in fp32, +0.007 dB on the 48 × 80 pair at 0.8 % fewer bytes (+0.35 dB on the 64 × 64 one); the "
        "step size chosen on v1.0.0 is not chosen for it yet",
}


def test_refined_chunks_decode_with_the_same_decoders_and_gain_quality(request, pairs, model):
    # fp32 throughout, as for the objective below: bf16 analysis and synthesis move the outcome by
    # themselves, so on a bf16 host (auto) the result would differ from one without bf16 units
    kw = dict(lmbda=0.03, device="cpu", backend="torch")
    plain = geocodec.compress_batch(pairs, **kw)
    refined = geocodec.compress_batch(pairs, refine_steps=15, **kw)
    assert refined != plain
    # the format whose exact nets reproduce the means refinement optimises against (encode.REFINED_FORMAT)
    assert {geocodec.inspect(c)["format_version"] for c in refined} == {3}
    xfail_known_miss(request, model, QUALITY_MISSES)
    for (o, s), a, b in zip(pairs, decompress_batch(plain, device="cpu", backend="torch"),
                            decompress_batch(refined, device="cpu", backend="torch")):
        assert b[0].shape == o.shape and b[0].dtype == o.dtype and b[1].dtype == s.dtype
        gain = (psnr(o, b[0], PEAK_OPTICAL) + psnr(s, b[1], PEAK_SAR_DB)) - (psnr(o, a[0], PEAK_OPTICAL) + psnr(s, a[1], PEAK_SAR_DB))
        assert gain > 0.1, f"refinement gained only {gain:.3f} dB (sum of both modalities)"


#: Shipped model sha256 → why refinement at ``refine.STEP_SIZE`` (chosen on v1.0.0) does not yet
#: lower its objective on real bytes (model card, "Encode-time refinement").
REAL_BYTES_MISSES = {
    "e5d283ac2710aa64f29b162b8c0f6737600aaa2efa8a0c2ca9afc5b8699fd183":
        "v1.1.0 (stride 8): the estimated objective falls, the real-bytes one rises 1–2 %; its step size is not chosen yet",
}


def test_refinement_lowers_the_objective_on_real_bytes(request, pairs, model):
    """Rate is not bought with quality or vice versa: the objective on real bytes, summed over the
    pairs, improves. (Summed: v1.2.0's gain per pair is 0.07 % and 0.75 % in fp32, a margin of a few
    bits on the smaller pair that one rounding flip on another host could cross.)"""
    xfail_known_miss(request, model, REAL_BYTES_MISSES)
    # fp32 throughout: on a bf16 host "auto" rounds analysis and synthesis to bf16, which moves a
    # margin of a few per cent by itself, so the outcome would depend on the host
    kw = dict(lmbda=0.03, device="cpu", backend="torch")
    plain = geocodec.compress_batch(pairs, **kw)
    refined = geocodec.compress_batch(pairs, refine_steps=15, **kw)
    assert _objective(refined, pairs, 0.03, 0.5, "torch").sum() < _objective(plain, pairs, 0.03, 0.5, "torch").sum()


def test_refinement_is_deterministic_and_leaves_the_model_untouched(pairs, model):
    before = {k: v.clone() for k, v in model.net.state_dict().items()}
    a = geocodec.compress_batch(pairs, lmbda=0.01, device="cpu", refine_steps=5)
    b = geocodec.compress_batch(pairs, lmbda=0.01, device="cpu", refine_steps=5)
    assert a == b
    after = model.net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in model.net.parameters())


def test_nan_and_nodata_positions_survive_refinement():
    o, s = smooth_pair(np.random.default_rng(3), 64, 64)
    s[:, 10:20, 5:30] = np.nan
    o[:, 40:, :8] = 0
    data = geocodec.compress(o, s, lmbda=0.01, device="cpu", optical_nodata=0, refine_steps=5)
    do, ds = geocodec.decompress(data, device="cpu")
    assert np.array_equal(np.isnan(ds), np.isnan(s))
    assert np.array_equal(do == 0, o == 0)


@pytest.mark.parametrize("bad", [-1, 1.5, "10", True, 10**6])
def test_bad_refine_steps_is_a_clear_error(pairs, bad):
    with pytest.raises(InvalidInputError, match="refine_steps"):
        geocodec.compress(*pairs[0], lmbda=0.01, device="cpu", refine_steps=bad)
