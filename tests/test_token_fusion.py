"""``TokenFusion``'s two forms, per-pixel for inference and the element-wise one training compiles,
compute the same attention (fp32, to float rounding), in any layout and batch size."""

from __future__ import annotations

import pytest
import torch

from geocodec.model.layers import TokenFusion


@pytest.mark.parametrize("channels_last", [False, True])
def test_inference_form_is_the_training_form(channels_last):
    torch.manual_seed(0)
    fusion = TokenFusion(16)
    maps = [torch.randn(2, 16, 7, 11) for _ in range(3)]
    if channels_last:
        maps = [m.contiguous(memory_format=torch.channels_last) for m in maps]
    with torch.no_grad():
        trained = fusion.train()(*maps)
        inferred = fusion.eval()(*maps)
    for a, b in zip(trained, inferred):
        assert a.shape == b.shape == (2, 16, 7, 11)
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(trained[0], maps[0])  # it really mixed the tokens
