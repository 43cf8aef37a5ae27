"""The entropy model's widths are part of the architecture (``ModelConfig``): what entropy decoding
costs per latent position. Old models keep their identity; lighter nets code exactly, through a file."""

from __future__ import annotations

import json

import pytest
import torch

from geocodec.model.config import ModelConfig
from geocodec.model.joint import JointCodecModel
from geocodec.model.latent_coding import anchor_mask
from geocodec.model_file import load_model_file, save_model_file
from geocodec.training.presets import TINY_MODEL

LIGHT = {"context_channels": 8, "parameter_channels": (24, 16), "spatial_kernel": 3, "hyper_kernel": 1}


def _tiny(**widths) -> ModelConfig:
    base = {k: tuple(v) if isinstance(v, list) else v for k, v in TINY_MODEL.items()}
    return ModelConfig(**base, **widths)


def test_default_widths_stay_out_of_the_sealed_config():
    text = _tiny().to_json()
    for key in LIGHT:
        assert key not in json.loads(text)  # so every earlier model keeps its sha256
    light = _tiny(**LIGHT)
    assert ModelConfig.from_json(light.to_json()) == light


@pytest.mark.parametrize("bad", [{"spatial_kernel": 4}, {"hyper_kernel": 5}, {"parameter_channels": (32,)},
                                 {"context_channels": 0}])
def test_bad_widths_are_refused_by_name(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        _tiny(**bad)


def test_light_entropy_nets_code_exactly_through_a_weights_file(tmp_path):
    torch.manual_seed(0)
    model = JointCodecModel(_tiny(**LIGHT)).eval()
    nets = model.entropy.latent_codec.y.latent_codec["y2"]
    assert nets.context_prediction.kernel_size == (3, 3)
    assert [m.out_channels for m in nets.entropy_parameters if isinstance(m, torch.nn.Conv2d)] == [24, 16, 32]
    assert model.entropy.latent_codec.hyper.h_s[-1].kernel_size == (1, 1)
    model.entropy.freeze_tables()
    path = tmp_path / "light.safetensors"
    save_model_file(model, path, name="light", version="0.0.1")
    loaded, _ = load_model_file(path)
    assert loaded.config == model.config
    y = torch.randn(2, 32, 8, 12, generator=torch.Generator().manual_seed(1)) * 3
    streams = loaded.entropy.compress(y)
    y_hat = loaded.entropy.decompress(streams, (8, 12), "cpu")
    assert (y_hat - y).abs().max() <= 0.5 + 1e-6  # ŷ = μ + round(y − μ): the decoder found every μ
    again = model.entropy.decompress(streams, (8, 12), "cpu")  # the original model decodes the file's chunks
    assert torch.equal(again, y_hat)


def test_the_3x3_spatial_context_has_the_exact_non_anchor_form():
    model = JointCodecModel(_tiny(**LIGHT)).eval()
    ctx = model.entropy.coder._integer().context[-1]
    a = torch.round(torch.randn(1, ctx.weight.shape[1], 8, 12, generator=torch.Generator().manual_seed(2),
                                dtype=torch.float64) * 4096)
    positions = (~anchor_mask(8, 12).reshape(-1)).nonzero().squeeze(1)
    assert torch.equal(ctx.at_non_anchors(a), ctx.at(a, positions))


def test_pruning_to_the_same_widths_keeps_the_entropy_model():
    from geocodec.training.entropy_refit import pruned_student

    torch.manual_seed(3)
    teacher = JointCodecModel(_tiny()).eval()
    same = pruned_student(teacher.entropy, teacher.config).eval()
    y = torch.randn(1, 32, 8, 8, generator=torch.Generator().manual_seed(4)) * 3
    with torch.no_grad():
        (_, ly, lz), (_, sy, sz) = teacher.entropy(y), same(y)
    assert torch.equal(ly, sy) and torch.equal(lz, sz)


def test_a_pruned_lighter_entropy_model_codes_exactly():
    from geocodec.training.entropy_refit import pruned_student

    torch.manual_seed(5)
    teacher = JointCodecModel(_tiny()).eval()
    light = pruned_student(teacher.entropy, _tiny(**LIGHT)).eval()
    light.freeze_tables()
    y = torch.randn(1, 32, 8, 8, generator=torch.Generator().manual_seed(6)) * 3
    y_hat = light.decompress(light.compress(y), (8, 8), "cpu")
    assert (y_hat - y).abs().max() <= 0.5 + 1e-6
