"""The entropy model composed from ``compressai.latent_codecs`` against the hand-written one it replaced.

``data/entropy_forward.npz`` holds y (seeded normal × 3, 6×10 latents: not a multiple of the hyper
padding, so the hyper map is trimmed) and the outputs of the previous ``LatentEntropyModel.forward``
(commit fbc2592) with the shipped default model: in eval mode, and in train mode right after
``torch.manual_seed(0)`` (noise quantisation of the likelihoods). Coding is covered bit for bit by
``test_entropy_bitexact.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import geocodec
from geocodec.model.entropy import LatentEntropyModel, to_module_keys
from geocodec.model.joint import JointCodecModel
from geocodec.registry import resolve_weights
from geocodec.training.loop import _warm_start, optimiser_parameters

from conftest import registered_name

REFERENCE = np.load(Path(__file__).parent / "data" / "entropy_forward.npz")
ROOT = Path(__file__).resolve().parents[1]


#: The registry name of the model of the reference outputs (``default@1.0.0`` since v1.1.0).
NAME = registered_name(str(REFERENCE["model_sha256"]))


@pytest.fixture(scope="module")
def default():
    return geocodec.load_model(NAME, device="cpu")


@pytest.fixture(scope="module")
def old_keys(default):
    """The entropy tensors of the shipped weights file, under the keys it stores them with."""
    tensors = load_file(str(resolve_weights(NAME).path))
    return {k[len("entropy."):]: v for k, v in tensors.items() if k.startswith("entropy.")}


def _fresh(default) -> LatentEntropyModel:
    c = default.net.config
    return LatentEntropyModel(c.latent_channels, c.hyper_channels, c.groups)


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_training_forward_matches_previous_implementation(default, mode):
    """Same outputs as the hand-written model (fixture made single-threaded with the old code); the
    tolerance covers float32 reduction order under other thread counts, while a wrong composition
    (swapped means/scales, another input order) is off by whole units."""
    entropy = _fresh(default)
    entropy.load_state_dict(default.net.entropy.state_dict())
    entropy.train(mode == "train")
    torch.manual_seed(0)
    with torch.no_grad():
        out = entropy(torch.from_numpy(REFERENCE["y"]))
    for name, got in zip(("y_hat", "y_lik", "z_lik"), out):
        np.testing.assert_allclose(got.numpy(), REFERENCE[f"{mode}_{name}"], rtol=1e-5, atol=2e-5, err_msg=name)


def test_old_key_state_dict_loads_strictly(default, old_keys):
    entropy = _fresh(default)
    result = entropy.load_state_dict(old_keys, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    tree = dict(entropy.named_parameters(remove_duplicate=False)) | dict(entropy.named_buffers(remove_duplicate=False))
    renamed = to_module_keys(old_keys, len(entropy.groups))
    assert set(renamed) == set(tree)  # every tensor of the module tree comes from the file
    for key, value in renamed.items():
        assert torch.equal(tree[key], value), key
    saved = entropy.state_dict()  # and saves them back under the keys they came with
    assert set(saved) == set(old_keys)
    assert all(torch.equal(saved[k], v) for k, v in old_keys.items())


def test_module_tree_keys_load_too(default, old_keys):
    entropy = _fresh(default)
    entropy.load_state_dict(to_module_keys(old_keys, len(entropy.groups)), strict=True)
    assert all(torch.equal(entropy.state_dict()[k], v) for k, v in old_keys.items())


def test_warm_start_from_old_key_file_fits_every_tensor(default):
    """Everything but the hyper-latent CDF tables, which a fresh model holds empty (as before the
    recomposition) and ``freeze_tables`` recomputes at export."""
    model = JointCodecModel(default.net.config)
    _warm_start(model, NAME, lambda _: None)
    file = load_file(str(resolve_weights(NAME).path))
    own = model.state_dict()
    assert set(own) == set(file)
    differ = {k for k in own if own[k].shape != file[k].shape or not torch.equal(own[k], file[k])}
    assert differ == {f"entropy.z_model.{b}" for b in ("_quantized_cdf", "_offset", "_cdf_length")}


def test_recipe_checkpoint_moments_fit_the_optimiser_order():
    """Adam moments are numbered by parameter order: a checkpoint written before the recomposition
    must resume with every moment on the parameter it belongs to."""
    run = ROOT / "checkpoints" / "recipe"
    if not (run / "checkpoint.safetensors").exists():
        pytest.skip("no recipe checkpoint")
    from geocodec.model.config import ModelConfig

    model_cfg = json.loads((run / "train_log.json").read_text())["model"]
    model = JointCodecModel(ModelConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in model_cfg.items()}))
    main, aux = optimiser_parameters(model)
    tensors = load_file(str(run / "checkpoint.safetensors"))
    for prefix, params in (("opt", main), ("aux", aux)):
        moments = {int(k.split(".")[1]): v for k, v in tensors.items()
                   if k.startswith(prefix + ".") and k.endswith(".exp_avg")}
        assert sorted(moments) == list(range(len(params)))
        assert all(moments[i].shape == p.shape for i, p in enumerate(params)), prefix
