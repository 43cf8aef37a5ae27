"""The bf16 decoders as fused oneDNN convolutions (``geocodec.model.fused_synthesis``): the same
transform as the module's own bf16 layers within bf16 rounding, at least as close to fp32, for
any latent size, and the module itself wherever fusing is not possible."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from geocodec.model import bf16_backend, fused_synthesis
from geocodec.precision import cpu_bf16_units, to_layout

native = pytest.mark.skipif(cpu_bf16_units() is None or not fused_synthesis.available(),
                            reason="no native bf16 units or no oneDNN fused convolutions here")


def _bf16_copy(decoder: nn.Module) -> nn.Module:
    return to_layout(copy.deepcopy(decoder), "bf16").eval().to(torch.bfloat16)


def _run(net, y):
    with torch.inference_mode():
        return net(y.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)).float()


@native
@pytest.mark.parametrize("which", ["optical_decoder", "sar_decoder"])
@pytest.mark.parametrize("hw", [(16, 16), (9, 13)])
def test_fused_decoder_is_the_bf16_decoder_and_no_further_from_fp32(model, which, hw):
    decoder = getattr(model.net, which)
    plain = _bf16_copy(decoder)
    fused = fused_synthesis.fuse(plain, model.net.config.latent_channels)
    assert isinstance(fused, fused_synthesis.FusedSynthesis)
    y = torch.randn(1, model.net.config.latent_channels, *hw, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        ref = decoder(y).float()
    got, bf16 = _run(fused, y), _run(plain, y)
    assert got.shape == ref.shape
    scale = float(ref.abs().max())
    assert float((got - bf16).abs().max()) < 0.05 * scale  # bf16 rounding, not another transform
    rms = lambda d: float(d.pow(2).mean().sqrt())  # noqa: E731
    assert rms(got - ref) <= 1.05 * rms(bf16 - ref)  # each result rounded once, not twice
    assert torch.equal(_run(fused, y), got)  # deterministic


@native
def test_the_backend_decodes_through_the_fused_decoders(model):
    assert isinstance(bf16_backend.network(model.net, "optical"), fused_synthesis.FusedSynthesis)
    assert isinstance(bf16_backend.network(model.net, "sar"), fused_synthesis.FusedSynthesis)
    assert not isinstance(bf16_backend.network(model.net, "analysis"), fused_synthesis.FusedSynthesis)


def test_a_layer_it_cannot_fuse_leaves_the_module_to_run(model):
    decoder = _bf16_copy(model.net.optical_decoder)
    decoder.body.append(nn.Sigmoid())
    assert fused_synthesis.fuse(decoder, model.net.config.latent_channels) is None
