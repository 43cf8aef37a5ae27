"""`geocodec evaluate` end to end on one pair (synthetic GeoTIFFs in CI; a real pair when available)."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

import geocodec
from conftest import smooth_pair
from geocodec.evaluation.baselines import jpeg2000, jpegxl
from geocodec.errors import InvalidInputError
from geocodec.metrics import PEAK_OPTICAL, PEAK_SAR_DB, psnr


def _cli(argv):
    from geocodec.commands import evaluate as evaluate_cmd

    parser = argparse.ArgumentParser(prog="geocodec")
    evaluate_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def _write(path, a, nodata=None):
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(path, "w", driver="GTiff", height=a.shape[1], width=a.shape[2], count=a.shape[0],
                       dtype=a.dtype.name, crs="EPSG:32633", transform=from_origin(0, 0, 10, 10),
                       nodata=nodata) as dst:
        dst.write(a)


@pytest.fixture(scope="module")
def indep_models(tmp_path_factory):
    """Two tiny single-modality models (seconds) standing in for the trained baselines."""
    from geocodec.training.data import PairSet
    from geocodec.training.single_model_file import save_single_model
    from geocodec.training.loop import train
    from geocodec.training.presets import preset

    out = tmp_path_factory.mktemp("indep")
    rng = np.random.default_rng(5)
    opt, sar = zip(*(smooth_pair(rng, 64, 64) for _ in range(3)))
    pairs = PairSet([o.astype(np.float32) for o in opt], list(sar))
    paths = []
    for m in ("optical", "sar"):
        model, _ = train(preset("tiny", out_dir=str(out / m), modality=m, steps=10), pairs, progress=False,
                         log=lambda *_: None)
        paths.append(out / f"{m}.safetensors")
        save_single_model(model, paths[-1], name=f"tiny-{m}")
    return paths


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, indep_models):
    tmp = tmp_path_factory.mktemp("eval")
    rng = np.random.default_rng(11)
    opt, sar = smooth_pair(rng, 64, 64)
    _write(tmp / "s2.tif", opt)
    _write(tmp / "s1.tif", sar)
    out = tmp / "out"
    assert _cli(["evaluate", "--pair", str(tmp / "s2.tif"), str(tmp / "s1.tif"), "--lambdas", "2",
                 "--lambdas-indep", "2", "--gammas", "0.1,0.5", "--j2k-targets", "0.1,0.4,1.5",
                 "--jxl-distances", "1,4,16", "--seam-chunk", "32", "--seam-lambdas", "0.01", "--seam-overlap", "8",
                 "--target-fractions", "0.5", "--target-bpps", "0.05,50", "--indep-optical", str(indep_models[0]),
                 "--indep-sar", str(indep_models[1]), "--out", str(out)]) == 0
    return json.loads((out / "evaluation.json").read_text()), out, opt, sar


def test_writes_strict_json_and_plots(evaluated):
    result, out, _, _ = evaluated
    assert set(result["sets"]) == {"pairs"}
    for name in result["plots"]:
        assert (out / name).stat().st_size > 10_000
    assert {"rd_joint_pairs.png", "rd_modalities_pairs.png", "target_bpp.png"} <= set(result["plots"])
    summary = (out / "summary.md").read_text()
    assert "## pairs (1 pairs, 64x64)" in summary and "## Chunk seams" in summary
    json.loads((out / "evaluation.json").read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))


def test_recorded_points_are_reproducible_measurements(evaluated):
    result, _, opt, sar = evaluated
    pair = result["sets"]["pairs"]["pairs"][0]
    rec = next(r for r in pair["geocodec"] if r["gamma"] == 0.5)
    data = geocodec.compress(opt, sar, lmbda=rec["lmbda"], gamma=0.5, device="cpu")
    o, s = geocodec.decompress(data, device="cpu")
    assert rec["bytes"] == len(data)
    assert rec["bpp"] == pytest.approx(8 * len(data) / (2 * 64 * 64))
    assert rec["psnr_optical"] == pytest.approx(psnr(opt, o, PEAK_OPTICAL))
    assert rec["psnr_sar"] == pytest.approx(psnr(sar, s, PEAK_SAR_DB))
    assert rec["header_bytes"] == geocodec.inspect(data)["bytes"]["header"]


def test_summary_curves_envelopes_and_baselines(evaluated):
    result, _, _, _ = evaluated
    s = result["sets"]["pairs"]["summary"]
    assert set(s["geocodec"]["curves"]) == {"0.1", "0.5"}
    assert all(len(c) == 2 for c in s["geocodec"]["curves"].values())
    env = s["geocodec"]["envelope"]
    assert [p["bpp"] for p in env] == sorted(p["bpp"] for p in env)
    assert all(p["quality"] == pytest.approx((p["psnr_optical"] + p["psnr_sar"]) / 2) for p in env)
    ind = s["independent"]
    assert ind["n_combinations"] == 4
    # the independent envelope is the Pareto front of all optical × SAR λ combinations, each charged
    # both payloads plus one geocodec header
    pair = result["sets"]["pairs"]["pairs"][0]
    header = pair["geocodec"][0]["header_bytes"]
    combos = [(8 * (header + o["bytes"] + sr["bytes"]) / (2 * 64 * 64), (o["psnr"] + sr["psnr"]) / 2)
              for o in pair["independent"]["optical"] for sr in pair["independent"]["sar"]]
    front = [c for c in combos if not any(d[0] <= c[0] and d[1] > c[1] for d in combos)]
    assert sorted((round(p["bpp"], 9), round(p["quality"], 9)) for p in ind["envelope"]) == \
        sorted({(round(r, 9), round(q, 9)) for r, q in front})
    assert "geocodec_vs_independent" in s["bd_rate_percent"]
    for codec in (jpeg2000, jpegxl):
        name = codec.__name__.rsplit(".", 1)[-1]
        if codec.available():
            assert s[name]["n_combinations"] == 9
            assert f"geocodec_vs_{name}" in s["bd_rate_percent"]
            assert len(s["equal_bits_gamma_0.5"][name]["points"]) == 2
            assert {r["setting"] for r in pair[name]["optical"]} == set(result["baselines"][name]["settings"])
    assert s["winners"] and all(w["from_bpp"] <= w["to_bpp"] for w in s["winners"])


def test_seams_measured_on_a_scene_of_several_chunks(evaluated):
    result, _, opt, _ = evaluated
    (seam,) = result["seams"]  # the 64 px pair in 32 px chunks: 2 × 2 chunks
    assert seam["chunk"] == 32 and seam["shape"] == [64, 64]
    assert [(d["scaling"], d["overlap_px"], d["decoded_together"]) for d in seam["decoded"]] == \
        [("per-chunk", 0, False), ("per-scene", 0, False), ("per-chunk", 8, False), ("per-chunk", 0, True),
         ("per-scene", 0, True)]
    per_chunk, per_scene, overlapped, _, together = seam["decoded"]
    assert together["bpp"] == per_scene["bpp"]  # decoding with the neighbours costs no bytes
    assert overlapped["bpp"] > per_chunk["bpp"]  # the overlap's bytes are counted
    for d in seam["decoded"]:
        for m in ("optical", "sar"):
            assert d[m]["border"] > 0 and d[m]["elsewhere"] > 0
            assert d[m]["ratio"] == pytest.approx(d[m]["border"] / d[m]["elsewhere"])


def test_target_bitrate_sweep(evaluated):
    result, _, _, _ = evaluated
    rows = result["sets"]["pairs"]["pairs"][0]["target_bpp"]
    assert [r["kind"] for r in rows] == ["range_fraction", "absolute", "absolute"]
    inside, tiny, huge = rows
    lo, hi = inside["range_bpp"]
    assert inside["reachable"] and lo <= inside["target_bpp"] <= hi
    assert not tiny["reachable"] and not huge["reachable"]
    assert tiny["achieved_bpp"] == pytest.approx(lo, rel=0.03)  # clamped to λ_min
    assert huge["achieved_bpp"] == pytest.approx(hi, rel=0.03)  # clamped to λ_max
    for r in rows:
        assert r["ratio"] == pytest.approx(r["achieved_bpp"] / r["target_bpp"])
        assert r["passes"] == (abs(r["ratio"] - 1) <= 0.03 if r["reachable"] else True)


def test_bad_arguments_are_clear_errors(tmp_path):
    with pytest.raises(InvalidInputError, match="nothing to evaluate"):
        _cli(["evaluate", "--out", str(tmp_path)])
    with pytest.raises(InvalidInputError, match="≥ 2"):
        _cli(["evaluate", "--data-root", str(tmp_path), "--lambdas", "1"])
    with pytest.raises(InvalidInputError, match="no validation data"):
        _cli(["evaluate", "--data-root", str(tmp_path), "--out", str(tmp_path / "o")])
    with pytest.raises(InvalidInputError, match="unknown.*webp"):
        _cli(["evaluate", "--data-root", str(tmp_path), "--baselines", "jpeg2000,webp"])


def test_one_real_pair(shared_data, tmp_path):
    assert _cli(["evaluate", "--data-root", str(shared_data), "--sets", "bigearthnet-geotiff", "--max-pairs", "1",
                 "--lambdas", "2", "--gammas", "0.5", "--j2k-targets", "0.1,0.5", "--jxl-distances", "2,8",
                 "--target-fractions", "0.5", "--target-bpps", "", "--seam-chunk", "0", "--no-plots",
                 "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "evaluation.json").read_text())
    (pair,) = result["sets"]["bigearthnet-geotiff"]["pairs"]
    assert pair["shape"] == [120, 120] and len(pair["geocodec"]) == 2
    assert all(r["ms_ssim_optical"] is not None for r in pair["geocodec"])  # 4 scales at 120 px
