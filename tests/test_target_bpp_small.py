"""Target-bitrate mode on a small pair: hits reachable targets within ±3 %, clamps unreachable ones."""

from __future__ import annotations

import math

import numpy as np
import pytest

import geocodec
from conftest import smooth_pair
from geocodec.codec import TARGET_TOLERANCE
from geocodec.errors import InvalidInputError


@pytest.fixture(scope="module")
def pair():
    return smooth_pair(np.random.default_rng(21), 64, 48)  # padded to one 64×64 block: fast


@pytest.fixture(scope="module")
def range_bpp(pair, model):
    lo, hi = model.lmbda_range
    opt, sar = pair
    i_lo = geocodec.inspect(geocodec.compress(opt, sar, lmbda=lo, device="cpu"))
    i_hi = geocodec.inspect(geocodec.compress(opt, sar, lmbda=hi, device="cpu"))
    assert i_hi["bpp"] > i_lo["bpp"]  # the model's λ range spans some rates
    return i_lo["bpp"], i_hi["bpp"], i_lo["bytes"], i_hi["bytes"]


@pytest.mark.parametrize("fraction", [0.25, 0.75])
def test_reachable_target_is_met_within_tolerance(pair, range_bpp, model, fraction):
    b_lo, b_hi = range_bpp[:2]
    target = math.exp(math.log(b_lo) + fraction * (math.log(b_hi) - math.log(b_lo)))
    opt, sar = pair
    data = geocodec.compress(opt, sar, target_bpp=target, device="cpu")
    info = geocodec.inspect(data)
    assert abs(info["bpp"] / target - 1) <= TARGET_TOLERANCE
    assert info["target_bpp"] == pytest.approx(target)
    lo, hi = model.lmbda_range
    assert lo * (1 - 1e-6) <= info["lmbda"] <= hi * (1 + 1e-6)  # float32 in the header
    o, s = geocodec.decompress(data, device="cpu")  # an ordinary chunk: decodes without extra input
    assert o.shape == opt.shape and s.shape == sar.shape


def test_unreachable_targets_clamp_to_the_range_ends(pair, range_bpp, model):
    opt, sar = pair
    lo, hi = model.lmbda_range
    low = geocodec.inspect(geocodec.compress(opt, sar, target_bpp=range_bpp[0] / 10, device="cpu"))
    high = geocodec.inspect(geocodec.compress(opt, sar, target_bpp=range_bpp[1] * 10, device="cpu"))
    # the same coded latent as λ_min / λ_max (the header differs only by the recorded target)
    assert low["lmbda"] == pytest.approx(lo, rel=1e-6)
    assert (low["bytes"]["z"], low["bytes"]["y"]) == (range_bpp[2]["z"], range_bpp[2]["y"])
    assert high["lmbda"] == pytest.approx(hi, rel=1e-6)
    assert (high["bytes"]["z"], high["bytes"]["y"]) == (range_bpp[3]["z"], range_bpp[3]["y"])


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), "x"])
def test_invalid_targets_are_refused(pair, bad):
    opt, sar = pair
    with pytest.raises(InvalidInputError, match="target_bpp"):
        geocodec.compress(opt, sar, target_bpp=bad, device="cpu")


def test_target_and_lambda_are_exclusive(pair):
    opt, sar = pair
    with pytest.raises(InvalidInputError, match="exactly one"):
        geocodec.compress(opt, sar, target_bpp=0.5, lmbda=0.01, device="cpu")
