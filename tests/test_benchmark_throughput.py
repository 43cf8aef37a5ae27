"""``benchmarks/throughput.py`` keeps running (its figures feed the README): one round on two small
synthetic pairs, every backend, checked for the structure and the sense of what it reports."""

from __future__ import annotations

import importlib.util
import json
from argparse import Namespace
from pathlib import Path

import pytest

from geocodec.evaluation.baselines import jpeg2000

pytestmark = pytest.mark.skipif(not jpeg2000.available(), reason="OpenJPEG (libopenjp2) not installed")
SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "throughput.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("throughput_bench", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_one_round_with_every_backend(bench, model, tmp_path):
    backends = ["torch"]  # beside the default (backend="auto")
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401

        backends += ["onnx", "onnx-int8"]
    except ImportError:
        pass
    args = Namespace(device="cpu", lmbda=0.01, batch_size=1, rounds=1, backends=backends, model="default")
    r = bench.bench_tile(bench.synthetic_tiles(64, 2), 64, args, tmp_path, real=False)
    ops = set(bench.OPERATIONS)
    assert set(r["ms_per_pair"]["geocodec"]) == ops and set(r["ms_per_pair"]["openjpeg"]) == ops
    for base in ("openjpeg", "zstd"):
        for op in ops:
            assert r["geocodec_over"][base][op]["cpu"] > 0
    assert 0 < r["bpp"]["geocodec"] < 16 and r["bpp"]["zstd"] > r["bpp"]["geocodec"]
    from geocodec.precision import resolve_backend

    assert r["default_backend"] == r["backends"]["auto"]["resolved"] == resolve_backend("auto", "cpu")
    for b in backends:
        v = r["backends"][b]
        assert set(v["over_openjpeg"]) == ops and v["encode_bpp"] > 0
        assert abs(v["decode_psnr_db"]["optical"] - r["backends"]["auto"]["decode_psnr_db"]["optical"]) < 1
    if "jpegxl" in r["ms_per_pair"]:  # the JPEG XL anchor, its distance matched to geocodec's bytes
        assert 0.1 <= r["jpegxl_distance"] <= 25 and 0.5 < r["bpp"]["jpegxl"] / r["bpp"]["geocodec"] < 2
        assert r["psnr_db"]["jpegxl"]["optical"] > 20
    goals = r["goals"]  # issue #18's goals: every decode over OpenJPEG decoding both, encode over its encode
    from geocodec.model import native

    if native.kernels() is not None:  # the default codec without its C kernels: the same bytes, decoded
        backends.append("torch-entropy")
        assert r["backends"]["torch-entropy"]["decode_psnr_db"] == r["backends"]["auto"]["decode_psnr_db"]
    assert set(goals["rows"]) == {"geocodec", *(f"geocodec-{b}" for b in backends)}
    both = r["ms_per_pair"]["openjpeg"]["decode_both"]["cpu"]
    for key, row in goals["rows"].items():
        v = row["decode_optical"]
        assert v["ratio_cpu"] == pytest.approx(r["ms_per_pair"][key]["decode_optical"]["cpu"] / both)
        assert v["met"] == (v["ratio_cpu"] <= bench.GOALS["decode_optical"])
    assert all(v > 0 for v in r["parts_ms"].values()) and set(r["parts_ms"]) == {
        "entropy_decode", "synthesis_optical", "synthesis_sar"}
    table = bench.markdown([r])
    assert table.count("\n| 64² |") == 4 * (1 + len(backends)) + len(goals["rows"])
    json.dumps(r)  # the JSON the script writes
