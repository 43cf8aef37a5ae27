"""The staged training recipe: mixed paired / optical-only / SAR-only data, stages, probe,
warm start across architectures, resume with optimiser state, and the light and stride-8 variants."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import geocodec
from conftest import smooth_pair
from geocodec.model import JointCodecModel, ModelConfig
from geocodec.training import PairSet, TrainConfig, train
from geocodec.training.data import crop_size, random_crops
from geocodec.training.presets import TINY_MODEL
from geocodec.training.probe import probe_tiles


def _sets(rng):
    pairs = [smooth_pair(rng, 80, 80) for _ in range(4)]
    paired = PairSet([p[0].astype(np.float32) for p in pairs], [p[1] for p in pairs], "pairs", 0.5)
    optical = PairSet([smooth_pair(rng, 96, 96)[0].astype(np.float32) for _ in range(3)], [], "opt", 0.25)
    sar = PairSet([], [smooth_pair(rng, 70, 70)[1] for _ in range(3)], "sar", 0.25)
    return [paired, optical, sar]


def _cfg(out, **kw):
    base = dict(out_dir=str(out), steps=24, batch=2, crop=64, lr=1e-3, lr_final=5e-4, checkpoint_every=12,
                log_every=4, threads=1, device="cpu", model=dict(TINY_MODEL),
                stages=[{"name": "floor", "until": 0.5, "lmbda": [0.05, 0.1]}, {"name": "rd", "until": 1.0}])
    base.update(kw)
    return TrainConfig(**base)


def test_crops_fit_each_set_and_blank_the_missing_modality(rng):
    paired, optical, sar = _sets(rng)
    assert crop_size(paired, 128) == 80 and crop_size(sar, 128) == 64 and crop_size(optical, 64) == 64
    o, s = random_crops(optical, 3, 64, rng)
    assert o.shape == (3, 4, 64, 64) and s is None
    o, s = random_crops(sar, 2, 64, rng)
    assert o is None and s.shape == (2, 2, 64, 64)
    with pytest.raises(geocodec.GeocodecError):
        paired.extend(optical)


def test_mixed_staged_run_logs_stages_kinds_and_probe(tmp_path, rng):
    sets = _sets(rng)
    probe = probe_tiles([sets[0]])
    model, log = train(_cfg(tmp_path / "run"), sets, probe=probe, progress=False, log=lambda *_: None)
    assert [d["kind"] for d in log["data"]] == ["pair", "optical", "sar"]
    stages = [s["stage"] for s in log["steps"]]
    assert stages[0] == "floor" and stages[-1] == "rd"
    assert [p["step"] for p in log["probes"]] == [0, 12, 24]
    for p in log["probes"]:
        assert np.isfinite(p["floor_opt"]) and p["rd_0.003"]["bpp"] > 0
    # the rate falls with λ in the probe: the R-D points are measured, not copied
    last = log["probes"][-1]
    assert last["rd_0.003"]["bpp"] < last["rd_0.03"]["bpp"]
    # the γ probe (issue #21's γ target) at the middle of the model's λ range
    lmbda = np.sqrt(model.config.lmbda_min * model.config.lmbda_max)
    for p in log["probes"]:
        assert p["gamma_spread"]["lmbda"] == pytest.approx(lmbda)
        assert np.isfinite([p["gamma_spread"]["optical_phys"], p["gamma_spread"]["sar_phys"]]).all()


def test_gamma_probe_measures_what_gamma_changes(rng, monkeypatch):
    """A codec whose encoder ignored γ would move neither modality: the probe reads exactly 0 dB."""
    from geocodec.training.probe import run_probe

    model = geocodec.load_model("default", device="cpu").net  # trained: its γ moves the modalities
    tiles = probe_tiles([_sets(rng)[0]])
    moved = run_probe(model, tiles)["gamma_spread"]
    analysis = model.analysis
    monkeypatch.setattr(model, "analysis", lambda o, s, g, lam: analysis(o, s, torch.full_like(g, 0.5), lam))
    still = run_probe(model, tiles)["gamma_spread"]
    assert (moved["optical_phys"], moved["sar_phys"]) != (0.0, 0.0)
    assert (still["optical_phys"], still["sar_phys"]) == (0.0, 0.0)


def test_resume_restores_optimiser_state(tmp_path, rng):
    sets = _sets(rng)
    out = tmp_path / "run"
    train(_cfg(out, steps=12, warmup_steps=8), sets, progress=False, log=lambda *_: None)
    ckpt = load_file(str(out / "checkpoint.safetensors"))
    assert any(k.startswith("opt.") and k.endswith("exp_avg_sq") for k in ckpt)
    messages = []
    _, log = train(_cfg(out, steps=20, warmup_steps=8), sets, progress=False, log=messages.append)
    assert any("resumed from step 12" in m for m in messages)
    assert log["final_step"] == 20
    lrs = [s["lr"] for s in log["steps"] if s["step"] > 12]
    assert lrs[0] < lrs[1]  # the learning rate ramps up again after a resume


def test_resume_refuses_another_architecture(tmp_path, rng):
    """A stride-8 checkpoint has the shapes of a stride-16 model: resuming it under the other
    architecture would train a different model silently, so it is refused, naming the fix."""
    sets = _sets(rng)
    out = tmp_path / "run"
    train(_cfg(out, steps=4, model={**TINY_MODEL, "latent_stride": 8}), sets, progress=False, log=lambda *_: None)
    with pytest.raises(geocodec.GeocodecError, match=r"latent_stride=8.*latent_stride=16.*--model '\{\"latent_stride\": 8\}'"):
        train(_cfg(out, steps=8), sets, progress=False, log=lambda *_: None)
    _, log = train(_cfg(out, steps=8, model={**TINY_MODEL, "latent_stride": 8}), sets, progress=False,
                   log=lambda *_: None)
    assert log["final_step"] == 8 and log["model"]["latent_stride"] == 8


def test_warm_start_keeps_what_fits_across_architectures(tmp_path, rng):
    full = JointCodecModel(ModelConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in TINY_MODEL.items()}))
    path = tmp_path / "full.safetensors"
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in full.state_dict().items() if v.numel()}, str(path))
    messages = []
    light = dict(TINY_MODEL, encoder_blocks=[0, 1, 1], decoder_blocks=[1, 1, 0])
    model, _ = train(_cfg(tmp_path / "run", steps=1, model=light, init_from=str(path), lr=1e-9, lr_final=1e-9),
                     _sets(rng), progress=False, log=messages.append)
    assert any("initialised" in m for m in messages)
    # the blocks the light model keeps start from the full model's weights
    w = model.state_dict()["encoder.opt_stages.1.body.2.body.0.weight"]
    assert torch.allclose(w, full.state_dict()["encoder.opt_stages.1.body.2.body.0.weight"], atol=1e-6)
    assert "encoder.opt_stages.0.body.2.body.0.weight" not in model.state_dict()


@pytest.mark.parametrize("arch", [{"encoder_blocks": (0, 1, 1), "decoder_blocks": (1, 1, 0)},
                                  {"latent_stride": 8}])
def test_architecture_variants_code_real_bytes(tmp_path, rng, arch):
    """A model file of each variant round-trips through the public codec at a size that is not a
    multiple of the padding (the padding follows the model's latent stride)."""
    from geocodec.model_file import save_model_file

    cfg = ModelConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in TINY_MODEL.items()}, **arch)
    net = JointCodecModel(cfg)
    net.entropy.freeze_tables()
    path = tmp_path / "variant.safetensors"
    save_model_file(net.eval(), path, name="variant", version="0")
    opt, sar = smooth_pair(rng, 72, 88)
    data = geocodec.compress(opt, sar, lmbda=0.01, model=str(path), device="cpu")
    o, s = geocodec.decompress(data, model=str(path), device="cpu")
    assert o.shape == opt.shape and s.shape == sar.shape and o.dtype == opt.dtype
    assert net.latent_hw(72, 88) == ((8, 8) if cfg.latent_stride == 16 else (12, 12))  # padded to 128 or 96


def test_encoder_only_training_keeps_every_decoder_side_tensor(tmp_path, rng):
    """``train_only="encoder"``: the encoder side learns; decoders, decoder gain and entropy model
    (everything a bitstream's decoding depends on) stay bit-identical, through a resume too."""
    start = JointCodecModel(ModelConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in TINY_MODEL.items()}))
    path = tmp_path / "start.safetensors"
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in start.state_dict().items() if v.numel()}, str(path))
    before = {k: v.clone() for k, v in start.state_dict().items()}
    out = tmp_path / "run"
    messages = []
    train(_cfg(out, steps=6, checkpoint_every=3, init_from=str(path), train_only="encoder"), _sets(rng),
          progress=False, log=messages.append)
    model, log = train(_cfg(out, steps=10, checkpoint_every=3, init_from=str(path), train_only="encoder"),
                       _sets(rng), progress=False, log=messages.append)
    assert any("resumed from step 6" in m for m in messages)
    assert [d["kind"] for d in log["data"]] == ["pair"]  # blank-plane batches teach an encoder nothing
    after = model.state_dict()
    side = ("encoder.", "encoder_gain.", "entropy.h_a.")
    changed = [k for k in before if before[k].numel() and not torch.equal(before[k], after[k])]
    assert changed and all(k.startswith(side) for k in changed)
    assert any(k.startswith("encoder.") for k in changed)
    with pytest.raises(ValueError, match="train_only"):
        train(_cfg(tmp_path / "bad", train_only="decoder"), _sets(rng), progress=False, log=lambda *_: None)


def test_entropy_only_training_changes_only_the_entropy_model(tmp_path, rng):
    """``train_only="entropy"`` (the ``entropy`` preset): a lighter entropy model for fixed transforms.
    Every analysis, gain and synthesis tensor stays bit-identical; the narrower nets start pruned from
    the source model's (not random) and learn the rate; the result codes and decodes."""
    from geocodec.registry import load_model
    from geocodec.training.entropy_refit import pruned_student
    from geocodec.training.presets import PRESETS

    assert PRESETS["entropy"].train_only == "entropy" and PRESETS["entropy"].init_from == "default"
    source = load_model("default", device="cpu").net
    light = {**json.loads(source.config.to_json()), "context_channels": 16, "parameter_channels": [32, 24],
             "spatial_kernel": 3, "hyper_kernel": 1}
    light.pop("extra")
    out = tmp_path / "run"
    model, log = train(_cfg(out, steps=4, checkpoint_every=2, batch=1, crop=64, init_from="default",
                            train_only="entropy", model=light, stages=[{"name": "rate", "until": 1.0}]),
                       _sets(rng), progress=False, log=lambda *_: None)
    before, after = source.state_dict(), model.state_dict()
    frozen = [k for k in before if not k.startswith("entropy.") and before[k].numel()]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)
    assert all("bpp_joint" in s and "psnr_opt" not in s for s in log["steps"])
    # the narrower nets started from the pruned source nets, and training moved them
    pruned = pruned_student(source.entropy, model.config).state_dict()
    k = "nets.aggregate.3.0.weight"
    assert after[f"entropy.{k}"].shape == pruned[k].shape == (32, 512, 1, 1)
    assert not torch.equal(after[f"entropy.{k}"], pruned[k])
    assert torch.allclose(after[f"entropy.{k}"], pruned[k], atol=0.05)
    path = tmp_path / "light.safetensors"
    from geocodec.model_file import save_model_file

    save_model_file(model, path, name="light", version="0.0.1")
    from geocodec.registry import trust_model_file

    trust_model_file(path)
    opt, sar = smooth_pair(rng, 64, 64)
    data = geocodec.compress(opt, sar, lmbda=0.01, model=str(path), device="cpu")
    o, s = geocodec.decompress(data, model=str(path), device="cpu")
    assert o.shape == opt.shape and s.shape == sar.shape
