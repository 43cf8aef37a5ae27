"""Round trips of the numpy API: shapes, dtypes, masks, determinism, per-modality decoding."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import geocodec
from conftest import smooth_pair


@pytest.mark.parametrize("h,w", [(1, 1), (1, 70), (65, 3), (64, 64), (100, 130)])
def test_any_shape_round_trips(rng, h, w):
    opt, sar = smooth_pair(rng, h, w)
    data = geocodec.compress(opt, sar, lmbda=0.01, device="cpu")
    o, s = geocodec.decompress(data, device="cpu")
    assert o.shape == opt.shape and o.dtype == opt.dtype
    assert s.shape == sar.shape and s.dtype == sar.dtype
    # values stay inside each band's original range (the header clamps to it)
    assert o.min() >= opt.min() and o.max() <= opt.max()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32])
def test_optical_dtypes(rng, dtype):
    opt, sar = smooth_pair(rng, 48, 40)
    if dtype == np.uint8:
        opt = (opt // 20).astype(np.uint8)
    opt = opt.astype(dtype)
    o = geocodec.decompress(geocodec.compress(opt, sar, lmbda=0.02, device="cpu"), "optical", device="cpu")
    assert o.dtype == np.dtype(dtype) and o.shape == opt.shape
    err = np.abs(o.astype(np.float64) - opt.astype(np.float64)).mean() / np.ptp(opt.astype(np.float64))
    assert err < 0.1, "decoded optical is not close to the input"


def test_nan_and_nodata_positions_exact(rng):
    opt, sar = smooth_pair(rng, 70, 90)
    opt[:, :5, :] = 0  # border nodata on every band
    opt[2, 30:40, 30:45] = 0  # a hole in one band only
    sar[0, rng.random((70, 90)) < 0.05] = np.nan
    sar[1, 60:, 80:] = np.nan
    data = geocodec.compress(opt, sar, lmbda=0.005, optical_nodata=0, device="cpu")
    o, s = geocodec.decompress(data, device="cpu")
    np.testing.assert_array_equal(o == 0, opt == 0)  # nodata exactly where it was, nowhere else
    np.testing.assert_array_equal(np.isnan(s), np.isnan(sar))
    info = geocodec.inspect(data)
    assert info["optical_nodata"] == 0
    assert info["masked_samples"]["sar_nan"] == int(np.isnan(sar).sum())


def test_float_optical_nan_and_sar_nodata(rng):
    opt, sar = smooth_pair(rng, 40, 40)
    opt = (opt / 10000).astype(np.float32)
    opt[1, 3, 3] = np.nan
    sar[:, 0, :] = -9999.0
    o, s = geocodec.decompress(
        geocodec.compress(opt, sar, lmbda=0.01, sar_nodata=-9999, device="cpu"), device="cpu")
    np.testing.assert_array_equal(np.isnan(o), np.isnan(opt))
    np.testing.assert_array_equal(s == -9999.0, sar == -9999.0)


def test_linear_sar_round_trip(rng):
    opt, sar_db = smooth_pair(rng, 64, 64)
    sar_lin = np.power(10, sar_db / 10).astype(np.float32)
    sar_lin[0, :2, :] = 0.0  # zeros as nodata
    data = geocodec.compress(opt, sar_lin, lmbda=0.05, sar_scale="linear", sar_nodata=0, device="cpu")
    s = geocodec.decompress(data, "sar", device="cpu")
    assert geocodec.inspect(data)["sar_scale"] == "linear"
    np.testing.assert_array_equal(s == 0, sar_lin == 0)
    valid = sar_lin > 0
    db_err = np.abs(10 * np.log10(s[valid]) - 10 * np.log10(sar_lin[valid])).mean()
    assert db_err < 3.0


def test_per_modality_decode_is_bit_identical_to_joint_decode(rng):
    opt, sar = smooth_pair(rng, 96, 80)
    data = geocodec.compress(opt, sar, lmbda=0.01, device="cpu")
    o_both, s_both = geocodec.decompress(data, "both", device="cpu")
    np.testing.assert_array_equal(geocodec.decompress(data, "optical", device="cpu"), o_both)
    np.testing.assert_array_equal(geocodec.decompress(data, "sar", device="cpu"), s_both)


def test_single_modality_decode_runs_only_that_decoder(rng, model, monkeypatch):
    opt, sar = smooth_pair(rng, 64, 64)
    data = geocodec.compress(opt, sar, lmbda=0.01, device="cpu")
    calls = []
    real = type(model.net).synthesize
    monkeypatch.setattr(type(model.net), "synthesize", lambda self, y, m: calls.append(m) or real(self, y, m))
    geocodec.decompress(data, "sar", device="cpu", backend="torch")  # the fp32 network, spied on
    assert calls == ["sar"]


def test_same_input_same_bytes(rng):
    opt, sar = smooth_pair(rng, 64, 96)
    a = geocodec.compress(opt, sar, lmbda=0.02, gamma=0.3, device="cpu")
    b = geocodec.compress(opt.copy(), sar.copy(), lmbda=0.02, gamma=0.3, device="cpu")
    assert a == b


def test_decode_in_fresh_process_matches(rng, tmp_path):
    opt, sar = smooth_pair(rng, 64, 64)
    data = geocodec.compress(opt, sar, lmbda=0.01, device="cpu")
    o, s = geocodec.decompress(data, device="cpu")
    (tmp_path / "chunk.bin").write_bytes(data)
    code = (
        "import sys, numpy as np, geocodec\n"
        "o, s = geocodec.decompress(open(sys.argv[1], 'rb').read(), device='cpu')\n"
        "np.save(sys.argv[2], o); np.save(sys.argv[3], s)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "chunk.bin"), str(tmp_path / "o.npy"),
                    str(tmp_path / "s.npy")], check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "o.npy"), o)
    np.testing.assert_array_equal(np.load(tmp_path / "s.npy"), s)


def test_compress_batch_mixed_sizes(rng):
    pairs = [smooth_pair(rng, 64, 64), smooth_pair(rng, 30, 50), smooth_pair(rng, 64, 64)]
    chunks = geocodec.compress_batch(pairs, lmbda=0.01, gamma=[0.2, 0.5, 0.8], device="cpu")
    assert len(chunks) == 3
    for (opt, sar), data, g in zip(pairs, chunks, [0.2, 0.5, 0.8]):
        o, s = geocodec.decompress(data, device="cpu")
        assert o.shape == opt.shape and s.shape == sar.shape
        assert geocodec.inspect(data)["gamma"] == pytest.approx(g)


def test_inspect_reports_header(rng, model):
    opt, sar = smooth_pair(rng, 64, 80)
    data = geocodec.compress(opt, sar, lmbda=0.02, gamma=0.7, device="cpu")
    info = geocodec.inspect(data)
    assert info["model"] == {"name": model.name, "version": model.version, "sha256": model.sha256}
    assert info["lmbda"] == pytest.approx(0.02) and info["gamma"] == pytest.approx(0.7)
    assert info["optical_shape"] == (4, 64, 80) and info["sar_shape"] == (2, 64, 80)
    assert info["optical_dtype"] == "uint16" and info["sar_dtype"] == "float32"
    assert info["bytes"]["total"] == len(data)
    assert info["bpp"] == pytest.approx(8 * len(data) / (2 * 64 * 80))


def test_load_model_contract(model):
    assert model.name == "default"
    assert len(model.sha256) == 64
    assert model.optical_bands == ("B02", "B03", "B04", "B08")
    assert model.sar_bands == ("VV", "VH")
    lo, hi = model.lmbda_range
    assert 0 < lo < hi
