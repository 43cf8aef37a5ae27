"""The ``"torch-bf16"`` backend (bf16 autocast + channels_last analysis and synthesis) and
``backend="auto"``: ordinary chunks, the fp32 model untouched, a small measured cost, every read path."""

from __future__ import annotations

import numpy as np
import pytest

import geocodec
from conftest import smooth_pair
from geocodec.metrics import PEAK_OPTICAL, PEAK_SAR_DB, psnr
from geocodec.precision import cpu_bf16_units

native = pytest.mark.skipif(cpu_bf16_units() is None, reason="no native bf16 units on this CPU")


def _cost(ref, test, orig, peak):
    return psnr(orig.astype(float), ref.astype(float), peak) - psnr(orig.astype(float), test.astype(float), peak)


@native
def test_bf16_encode_makes_ordinary_chunks_at_a_small_cost(model):
    # bf16 analysis picks other latents: on one small pair that moves PSNR by up to ±0.2 dB either
    # way (noise of which latents), so the cost is the mean over several pairs
    costs = []
    for seed in range(3, 9):
        opt, sar = smooth_pair(np.random.default_rng(seed), 128, 160)
        ref = geocodec.compress(opt, sar, lmbda=0.01, device="cpu", backend="torch")
        data = geocodec.compress(opt, sar, lmbda=0.01, device="cpu", backend="torch-bf16")
        if seed == 3:
            assert data == geocodec.compress(opt, sar, lmbda=0.01, device="cpu", backend="torch-bf16")  # deterministic
            assert ref == geocodec.compress(opt, sar, lmbda=0.01, device="cpu", backend="torch")  # fp32 model untouched
        ref_o, ref_s = geocodec.decompress(ref, device="cpu", backend="torch")
        o, s = geocodec.decompress(data, device="cpu", backend="torch")
        assert abs(len(data) / len(ref) - 1) < 0.02
        costs.append((_cost(ref_o, o, opt, PEAK_OPTICAL), _cost(ref_s, s, sar, PEAK_SAR_DB)))
    mean_o, mean_s = np.mean(costs, axis=0)
    assert mean_o < 0.1 and mean_s < 0.1
    assert np.abs(costs).max() < 0.4


@native
def test_bf16_decode_costs_little_and_leaves_fp32_alone(model):
    opt, sar = smooth_pair(np.random.default_rng(4), 96, 128)
    data = geocodec.compress(opt, sar, lmbda=0.01, device="cpu", backend="torch")
    ref_o, ref_s = geocodec.decompress(data, device="cpu", backend="torch")
    o, s = geocodec.decompress(data, device="cpu", backend="torch-bf16")
    assert not np.array_equal(o, ref_o)  # it really ran in bf16
    assert abs(_cost(ref_o, o, opt, PEAK_OPTICAL)) < 0.05 and abs(_cost(ref_s, s, sar, PEAK_SAR_DB)) < 0.05
    assert geocodec.decompress(data, modality="sar", device="cpu", backend="torch-bf16").tobytes() == s.tobytes()
    o2, s2 = geocodec.decompress(data, device="cpu", backend="torch")
    assert o2.tobytes() == ref_o.tobytes() and s2.tobytes() == ref_s.tobytes()


@native
@pytest.mark.parametrize("seamless", [False, True])
def test_engine_reads_through_bf16(model, tmp_path, seamless):
    import xarray as xr

    from zarr_data import dataset

    store = str(tmp_path / "c.zarr")
    geocodec.to_zarr(dataset(64, 128, seed=9), store, lmbda=0.01, chunks=64, device="cpu", progress=False,
                     quality_chunks=1, backend="torch-bf16")
    reads = {}
    for b in ("torch", "torch-bf16", "auto"):
        with xr.open_dataset(store, engine="geocodec", backend=b, seamless=seamless) as ds:
            reads[b] = ds["optical"].values
    assert np.array_equal(reads["auto"], reads["torch-bf16"])  # auto is bf16 here
    assert not np.array_equal(reads["torch"], reads["torch-bf16"])
    assert np.abs(reads["torch"].astype(float) - reads["torch-bf16"]).max() < 100
