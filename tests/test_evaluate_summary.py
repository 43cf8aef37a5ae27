"""Set-level summary logic on hand-made records: averaging, envelopes, BD-rates, equal-bits check."""

from __future__ import annotations

import numpy as np
import pytest

from geocodec.evaluation.datasets import ValidationPair
from geocodec.evaluation.summary import summarize_set, winners


def _pair(name, h=100, w=100):
    return ValidationPair(name=name, dataset="t", optical=np.zeros((4, h, w), np.uint16),
                          sar=np.zeros((2, h, w), np.float32))


def _geo(gammas, lmbdas, bpp_of, q_of):
    return [{"gamma": g, "lmbda": lam, "bytes": 0, "header_bytes": 100, "bpp": bpp_of(g, lam),
             "psnr_optical": q_of(g, lam)[0], "psnr_sar": q_of(g, lam)[1]} for g in gammas for lam in lmbdas]


def _modality(rates_bits, psnrs, keys):
    return [{"setting": k, "bytes": b / 8, "psnr": p} for k, b, p in zip(keys, rates_bits, psnrs)]


@pytest.fixture
def setup():
    pairs = [_pair("a"), _pair("b")]
    px = 2 * 100 * 100
    lams = [0.001, 0.01, 0.1]
    # geocodec: bpp 0.2 / 0.4 / 0.8, PSNRs rise 3 dB per doubling; pair b is 1 dB better than pair a
    geo = [_geo([0.5], lams, lambda g, lam: {0.001: 0.2, 0.01: 0.4, 0.1: 0.8}[lam],
                lambda g, lam, d=d: (30 + d + 3 * np.log2(lam / 0.001) / np.log2(10), 28 + d + 3 * np.log2(lam / 0.001) / np.log2(10)))
           for d in (0.0, 1.0)]
    targets = [0.05, 0.1, 0.2, 0.4, 0.8]
    # JPEG 2000 per modality: bits = t·px/2 (half of the joint rate each); PSNR = 27 + 3·log2(t/0.05)
    j2k = [{"optical": _modality([t * px / 2 for t in targets], [27 + d + 3 * np.log2(t / 0.05) for t in targets],
                                 targets),
            "sar": _modality([t * px / 2 for t in targets], [25 + d + 3 * np.log2(t / 0.05) for t in targets],
                             targets), "sar_clipped_samples": 0} for d in (0.0, 1.0)]
    return pairs, geo, j2k


def test_curves_are_means_over_pairs(setup):
    pairs, geo, j2k = setup
    s = summarize_set(pairs, geo, (0.5,), image_codecs={"jpeg2000": j2k})
    c = s["geocodec"]["curves"]["0.5"]
    assert [p["bpp"] for p in c] == pytest.approx([0.2, 0.4, 0.8])
    assert c[0]["psnr_optical"] == pytest.approx(30.5) and c[0]["psnr_sar"] == pytest.approx(28.5)
    assert c[0]["quality"] == pytest.approx(29.5)
    assert s["geocodec"]["header_bpp_mean"] == pytest.approx(8 * 100 / 20000)


def test_jpeg2000_envelope_and_bd_rate_sign(setup):
    pairs, geo, j2k = setup
    s = summarize_set(pairs, geo, (0.5,), image_codecs={"jpeg2000": j2k})
    env = s["jpeg2000"]["envelope"]
    assert s["jpeg2000"]["n_combinations"] == 25
    assert [p["bpp"] for p in env] == sorted(p["bpp"] for p in env)
    # equal split t/t: joint bpp = t, quality = 26.5 + 3·log2(t/0.05); geocodec at 0.2 bpp has 29.5 dB
    # where JPEG 2000 (equal split) has 32.5 dB: geocodec is worse, the BD-rate is positive
    assert s["bd_rate_percent"]["geocodec_vs_jpeg2000"]["pchip"] > 0
    assert "checks" not in s  # results are reported, never judged by the library


def test_equal_bits_check_reads_both_jpeg2000_curves(setup):
    pairs, geo, j2k = setup
    s = summarize_set(pairs, geo, (0.5,), image_codecs={"jpeg2000": j2k})
    row = s["equal_bits_gamma_0.5"]["jpeg2000"]["points"][1]  # geocodec 0.4 bpp: 33.5 / 31.5 dB
    # JPEG 2000 optical reaches 33.5 dB at t = 0.05·2^(6/3) = 0.2 → 0.1 joint bpp; SAR 31.5 dB at t = 0.2 → 0.1
    assert row["baseline_bpp_optical"] == pytest.approx(0.1, rel=1e-6)
    assert row["baseline_bpp_sar"] == pytest.approx(0.1, rel=1e-6)
    assert row["baseline_bpp_needed"] == pytest.approx(0.2, rel=1e-6)
    assert row["beats_both"] is False  # JPEG 2000 needs 0.2 < 0.4 bpp


def test_a_better_codec_gets_a_negative_bd_rate(setup):
    pairs, _, j2k = setup
    # a codec at a quarter of JPEG 2000's (equal-split) bits for the same quality
    geo = [_geo([0.5], [0.001, 0.01, 0.1], lambda g, lam: {0.001: 0.025, 0.01: 0.05, 0.1: 0.1}[lam],
                lambda g, lam, d=d: {0.001: (27 + d + 3, 25 + d + 3), 0.01: (27 + d + 6, 25 + d + 6),
                                     0.1: (27 + d + 9, 25 + d + 9)}[lam]) for d in (0.0, 1.0)]
    s = summarize_set(pairs, geo, (0.5,), image_codecs={"jpeg2000": j2k})
    assert s["bd_rate_percent"]["geocodec_vs_jpeg2000"]["pchip"] == pytest.approx(-75.0, abs=1.0)
    assert s["bd_rate_percent"]["geocodec_vs_jpeg2000"]["overlap_db"] == pytest.approx([29.5, 35.5])
    assert s["equal_bits_gamma_0.5"]["jpeg2000"]["n_beating_both"] >= 2
    # geocodec's envelope lies above JPEG 2000's wherever both have points: one winning interval
    (w,) = s["winners"]
    assert w["winner"] == "geocodec" and w["runner_up"] == "jpeg2000" and w["min_lead_db"] > 0


def test_winners_split_the_rate_axis_where_curves_cross():
    # A: 30 dB at 0.1 bpp rising 1 dB per doubling; B: 28 dB at 0.1 bpp rising 3 dB per doubling
    # (in log rate); they cross at 0.2 bpp: A wins below, B above, and C (one point) never competes
    rates = [0.1, 0.2, 0.4, 0.8]
    a = [{"bpp": r, "quality": 30 + np.log2(r / 0.1)} for r in rates]
    b = [{"bpp": r, "quality": 28 + 3 * np.log2(r / 0.1)} for r in rates]
    segs = winners({"A": a, "B": b, "C": [{"bpp": 0.3, "quality": 99}]})
    assert [w["winner"] for w in segs] == ["A", "B"]
    assert segs[0]["from_bpp"] == pytest.approx(0.1) and segs[1]["to_bpp"] == pytest.approx(0.8)
    assert segs[0]["to_bpp"] < 0.2 < segs[1]["from_bpp"]
    assert segs[0]["max_lead_db"] == pytest.approx(2.0)  # at 0.1 bpp
    assert segs[1]["max_lead_db"] == pytest.approx(4.0)  # at 0.8 bpp: B 28 + 9 = 37 against A 30 + 3 = 33
    # only where two codecs have points is there a contest
    assert winners({"A": a, "B": [{"bpp": 5.0, "quality": 40}, {"bpp": 6.0, "quality": 41}]}) == []
