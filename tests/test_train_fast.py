"""Fast CPU training (issue #21): the bf16 path trains the same objective as fp32, the choice honours
the oneDNN ISA cap, small resumable checkpoints, the open-ended schedule and pseudo-pairs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from conftest import smooth_pair
from geocodec.model import JointCodecModel, ModelConfig
from geocodec.precision import autocast, resolve_precision, to_layout
from geocodec.training import PairSet, TrainConfig, train
from geocodec.training.data import training_batch
from geocodec.training.loss import rd_loss
from geocodec.training.presets import TINY_MODEL, preset
from geocodec.training.schedule import learning_rate

TINY = ModelConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in TINY_MODEL.items()})


def _sets(rng):
    pairs = [smooth_pair(rng, 80, 80) for _ in range(3)]
    return [PairSet([p[0].astype(np.float32) for p in pairs], [p[1] for p in pairs], "pairs", 0.5),
            PairSet([smooth_pair(rng, 96, 96)[0].astype(np.float32) for _ in range(2)], [], "opt", 0.25),
            PairSet([], [smooth_pair(rng, 70, 70)[1] for _ in range(2)], "sar", 0.25)]


def _cfg(out, **kw):
    base = dict(out_dir=str(out), steps=8, batch=2, crop=64, lr=1e-3, lr_final=1e-4, checkpoint_every=4,
                log_every=2, threads=1, device="cpu", model=dict(TINY_MODEL))
    base.update(kw)
    return TrainConfig(**base)


def test_precision_choice_and_errors():
    assert resolve_precision("fp32") == "fp32"
    assert resolve_precision("auto") in ("fp32", "bf16")
    with pytest.raises(Exception, match="precision must be one of"):
        resolve_precision("fp8")


def test_auto_precision_honours_the_onednn_isa_cap():
    """A host without AVX-512 (emulated by the cap, which oneDNN reads when torch loads) trains in fp32."""
    code = "from geocodec.precision import resolve_precision; print(resolve_precision('auto'))"
    env = dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX2")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "fp32"


def test_bf16_loss_terms_match_fp32(rng):
    """Same weights, same batch, same noise: bf16 autocast changes the loss by well under a percent,
    and the rate is computed in fp32 (the entropy model leaves the autocast region)."""
    torch.manual_seed(0)
    net = JointCodecModel(TINY).train()
    o, s = (np.stack(a) for a in zip(*[smooth_pair(rng, 64, 64) for _ in range(2)]))
    from geocodec.normalize import normalize_batch

    x, y = torch.from_numpy(normalize_batch(o.astype(np.float32))), torch.from_numpy(normalize_batch(s))
    g, lam = torch.tensor([0.3, 0.7]), torch.tensor([0.01, 0.05])
    stats = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(1)
        with torch.no_grad(), autocast(precision):
            out = to_layout(net, precision)(to_layout(x, precision), to_layout(y, precision), g, lam)
            assert out["y_likelihoods"].dtype == torch.float32  # rates stay fp32
            _, stats[precision] = rd_loss(to_layout(net, precision), to_layout(x, precision),
                                          to_layout(y, precision), g, lam)
    assert abs(stats["bf16"]["loss"] - stats["fp32"]["loss"]) < 0.01 * abs(stats["fp32"]["loss"])
    assert abs(stats["bf16"]["psnr_opt"] - stats["fp32"]["psnr_opt"]) < 0.1
    assert abs(stats["bf16"]["bpp_joint"] - stats["fp32"]["bpp_joint"]) < 0.01 * stats["fp32"]["bpp_joint"] + 1e-3


def test_bf16_moments_halve_the_checkpoint_and_resume(tmp_path, rng):
    sets = _sets(rng)
    sizes = {}
    for dtype in ("fp32", "bf16"):
        out = tmp_path / dtype
        train(_cfg(out, steps=4, moments_dtype=dtype, precision="bf16"), sets, progress=False, log=lambda *_: None)
        ckpt = load_file(str(out / "checkpoint.safetensors"))
        moments = [v for k, v in ckpt.items() if k.startswith("opt.") and k.endswith("exp_avg")]
        assert moments and all(v.dtype == (torch.bfloat16 if dtype == "bf16" else torch.float32) for v in moments)
        assert all(v.dtype == torch.float32 for k, v in ckpt.items() if k.startswith("model.") and v.is_floating_point())
        assert "rng.torch" in ckpt
        sizes[dtype] = sum(v.numel() * v.element_size() for v in moments)
    assert sizes["bf16"] * 2 == sizes["fp32"]
    messages = []
    resumed = _cfg(tmp_path / "bf16", steps=8, moments_dtype="bf16", precision="bf16")
    resumed.lr /= 3  # a resume may step the learning rate down; the log says so per session
    _, log = train(resumed, sets, progress=False, log=messages.append)
    assert any("resumed from step 4" in m for m in messages) and log["final_step"] == 8
    assert [s["precision"] for s in log["sessions"]] == ["bf16", "bf16"]
    assert log["sessions"][1]["lr"] == pytest.approx(log["sessions"][0]["lr"] / 3)
    assert np.isfinite(log["steps"][-1]["loss"])


def test_wsd_schedule_is_constant_then_decays_and_stops(tmp_path, rng):
    cfg = _cfg(tmp_path, schedule="wsd", warmup_steps=4, lr=1e-3, lr_final=1e-4)
    assert learning_rate(cfg, 0.9, 2, None) == pytest.approx(5e-4)  # warm-up
    assert learning_rate(cfg, 0.9, 100, None) == pytest.approx(1e-3)  # no fixed end
    assert learning_rate(cfg, 0.9, 100, 0.5) == pytest.approx(5.5e-4)
    assert learning_rate(cfg, 0.9, 100, 1.0) == pytest.approx(1e-4)
    out = tmp_path / "run"
    train(_cfg(out, steps=4, schedule="wsd"), _sets(rng), progress=False, log=lambda *_: None)
    messages = []
    _, log = train(_cfg(out, steps=10_000, schedule="wsd", decay_minutes=0.02), _sets(rng), progress=False,
                   log=messages.append)
    assert any("decay of 0.02 min done" in m for m in messages)
    assert log["final_step"] < 10_000
    assert json.loads((out / "train_log.json").read_text())["final_step"] == log["final_step"]


def test_pseudo_pairs_give_both_modalities_real_content(tmp_path, rng):
    sets = _sets(rng)
    crops = [64, 64, 64]
    o, s, kind = training_batch(sets, 1, 3, crops, rng, (4, 2), pseudo_pairs=True)
    assert kind == "pseudo" and o.shape == (3, 4, 64, 64) and s.shape == (3, 2, 64, 64)
    assert s.std() > 0 and o.std() > 0  # no blank plane
    o, s, kind = training_batch(sets, 2, 3, crops, rng, (4, 2), pseudo_pairs=True)
    assert kind == "pseudo" and o.std() > 0 and s.std() > 0
    o, s, kind = training_batch(sets, 1, 3, crops, rng, (4, 2), pseudo_pairs=False)
    assert kind == "optical" and not s.any()  # the default blank plane
    _, log = train(_cfg(tmp_path / "run", steps=6, pseudo_pairs=True), sets, progress=False, log=lambda *_: None)
    assert log["final_step"] == 6 and np.isfinite(log["steps"][-1]["loss"])


def test_recipe_preset_is_the_open_ended_run():
    cfg = preset("recipe")
    assert cfg.schedule == "wsd" and cfg.moments_dtype == "bf16" and cfg.precision == "auto"
    assert cfg.checkpoint_minutes and cfg.checkpoint_minutes <= 10 and cfg.threads == 1


def test_optimiser_choice_soap_trains_checkpoints_and_resumes(tmp_path, rng):
    """--optimizer soap (optional dependency): trains, checkpoints without its preconditioner, resumes."""
    from geocodec.errors import InvalidInputError
    from geocodec.training.loop import make_optimiser

    with pytest.raises(InvalidInputError, match="optimizer must be one of"):
        make_optimiser("lion", [torch.nn.Parameter(torch.zeros(2))], 1e-3)
    pytest.importorskip("pytorch_optimizer")
    out = tmp_path / "soap"
    _, log = train(_cfg(out, steps=4, optimizer="soap"), _sets(rng), progress=False, log=lambda *_: None)
    assert log["final_step"] == 4 and all(np.isfinite(s["loss"]) for s in log["steps"])
    tensors = load_file(str(out / "checkpoint.safetensors"))
    assert any(k.startswith("opt.") and k.endswith("exp_avg") for k in tensors)
    messages = []
    _, log = train(_cfg(out, steps=6, optimizer="soap"), _sets(rng), progress=False, log=messages.append)
    assert log["final_step"] == 6 and any("starts afresh" in m for m in messages)
