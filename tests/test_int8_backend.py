"""The optional ``backend="onnx-int8"`` decode: an exact deconvolution rewrite, a deterministic
int8 graph built from the loaded model, a small stated quality cost, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import geocodec
from conftest import smooth_pair
from geocodec.errors import InvalidInputError
from geocodec.metrics import PEAK_OPTICAL, PEAK_SAR_DB, psnr


def test_deconvolution_rewrite_is_exact(model):
    from geocodec.model.int8_synthesis import rewrite_deconvolutions

    y = torch.randn(2, model.net.config.latent_channels, 5, 7, generator=torch.Generator().manual_seed(0))
    for decoder in (model.net.optical_decoder, model.net.sar_decoder):
        with torch.inference_mode():
            ref, fast = decoder(y), rewrite_deconvolutions(decoder)(y)
        assert ref.shape == fast.shape
        torch.testing.assert_close(fast, ref, rtol=0, atol=1e-5)  # float32 summation order only


def test_int8_decode_is_deterministic_and_close(model):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    opt, sar = smooth_pair(np.random.default_rng(5), 96, 128)
    data = geocodec.compress(opt, sar, lmbda=0.01, device="cpu")
    ref_o, ref_s = geocodec.decompress(data, device="cpu")
    o1, s1 = geocodec.decompress(data, device="cpu", backend="onnx-int8")
    o2, s2 = geocodec.decompress(data, device="cpu", backend="onnx-int8")
    assert (o1.dtype, o1.shape, s1.dtype, s1.shape) == (ref_o.dtype, ref_o.shape, ref_s.dtype, ref_s.shape)
    assert o1.tobytes() == o2.tobytes() and s1.tobytes() == s2.tobytes()
    assert geocodec.decompress(data, modality="sar", device="cpu", backend="onnx-int8").tobytes() == s1.tobytes()
    cost_o = psnr(opt.astype(float), ref_o.astype(float), PEAK_OPTICAL) - psnr(opt.astype(float), o1.astype(float),
                                                                               PEAK_OPTICAL)
    cost_s = psnr(sar.astype(float), ref_s.astype(float), PEAK_SAR_DB) - psnr(sar.astype(float), s1.astype(float),
                                                                              PEAK_SAR_DB)
    assert -0.1 < cost_o < 0.3 and -0.1 < cost_s < 0.3, (cost_o, cost_s)
    assert not np.array_equal(o1, ref_o)  # it really ran the int8 graph


def test_unknown_backend_is_refused(model):
    data = (__import__("pathlib").Path(__file__).parent / "data" / "prechange" / "c64_l001_g05.geoc").read_bytes()
    with pytest.raises(InvalidInputError, match="backend='tensorrt'"):
        geocodec.decompress(data, device="cpu", backend="tensorrt")


def test_missing_onnxruntime_is_a_clear_error(model, monkeypatch):
    import sys

    from geocodec.errors import BackendUnavailableError
    from geocodec.model import int8_synthesis

    monkeypatch.setattr(int8_synthesis, "_sessions", {})
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    data = (__import__("pathlib").Path(__file__).parent / "data" / "prechange" / "c64_l001_g05.geoc").read_bytes()
    with pytest.raises(BackendUnavailableError, match=r"geocodec\[fast\]"):
        geocodec.decompress(data, device="cpu", backend="onnx-int8")
