"""Named training configurations.

* ``tiny``: CI, seconds, a shrunken model.
* ``cpu``: the v1.0.0 recipe (one stage, 64 px crops), kept to reproduce that model.
* ``recipe``: the current default model's recipe on CPU: the light architecture (no residual
  block at the finest encoder and decoder resolution), crops up to 128 px, all data (pairs,
  optical-only and SAR-only sets mixed by weight), a high-λ floor stage then the full-range rate
  stage, warm-started from the shipped model where shapes fit, a time budget, and one torch
  thread (run it with ``OMP_WAIT_POLICY=PASSIVE`` on a shared machine).
* ``gpu``: the same recipe for one CUDA device, with a bigger batch and more steps.
* ``finetune``: continues the shipped model at its own (full) architecture on all data with
  128 px crops, the whole λ range from the first step and a lower learning rate: every step starts
  from a trained model, so none of the budget goes to re-learning dropped layers.
* ``encoder``: only the shipped model's encoder side learns (analysis transform, its λ gain, h_a),
  on the paired data, against the fixed decoders and entropy model. Encode-time refinement showed
  how far that encoder is from the latents its own decoders can use; this amortises that search
  into the encoder, so chunks improve at no encode or decode cost and decoders stay as they are.
  Measured on this project's 56 pairs: worse than v1.0.0 on both validation sets (more rate than
  quality; model card, "Third attempt"), so it is a tool for users with more paired data.
"""

from __future__ import annotations

from dataclasses import replace

from geocodec.errors import InvalidInputError
from geocodec.training.loop import TrainConfig

#: A deliberately small architecture for smoke tests (same layers, fewer channels).
TINY_MODEL = {"features": 16, "latent_channels": 32, "hyper_channels": 16, "groups": [8, 8, 16]}
#: The light architecture: the finest-resolution residual blocks are off (half the encoder's and
#: the decoders' cost; see geocodec/weights/default.md for the equal-time comparison).
LIGHT_MODEL = {"encoder_blocks": [0, 1, 1], "decoder_blocks": [1, 1, 0]}
#: Floor stage (high λ only) for the first 30 % of the run, then the whole λ range.
STAGES = [{"name": "floor", "until": 0.3, "lmbda": [0.03, 0.1]}, {"name": "rd", "until": 1.0}]

PRESETS: dict[str, TrainConfig] = {
    "tiny": TrainConfig(steps=60, batch=4, crop=64, lr=1e-3, lr_final=5e-4, checkpoint_every=30,
                        log_every=10, threads=1, device="cpu", model=dict(TINY_MODEL)),
    "cpu": TrainConfig(steps=9000, batch=8, crop=64, max_minutes=80.0, threads=2, device="auto"),
    "recipe": TrainConfig(steps=20000, batch=8, crop=128, lr=1e-4, lr_final=1e-5, max_minutes=150.0,
                          checkpoint_every=100, log_every=25, threads=1, device="auto",
                          model=dict(LIGHT_MODEL), init_from="default", stages=list(STAGES), warmup_steps=50),
    "gpu": TrainConfig(steps=90000, batch=16, crop=128, lr=1e-4, lr_final=1e-5, checkpoint_every=1000,
                       log_every=100, device="cuda", model=dict(LIGHT_MODEL), init_from="default",
                       stages=list(STAGES), warmup_steps=200),
    "finetune": TrainConfig(steps=20000, batch=8, crop=128, lr=5e-5, lr_final=1e-5, max_minutes=140.0,
                            checkpoint_every=100, log_every=25, threads=1, device="auto",
                            init_from="default", stages=[{"name": "rd", "until": 1.0}], warmup_steps=50),
    "encoder": TrainConfig(steps=20000, batch=8, crop=128, lr=1e-4, lr_final=1e-5, max_minutes=75.0,
                           checkpoint_every=100, log_every=25, threads=1, device="auto", init_from="default",
                           stages=[{"name": "rd", "until": 1.0}], warmup_steps=50, train_only="encoder"),
}


def preset(name: str, **overrides) -> TrainConfig:
    """The named configuration with ``overrides`` (None values are ignored)."""
    if name not in PRESETS:
        raise InvalidInputError(f"unknown training configuration {name!r}: choose one of {sorted(PRESETS)}")
    cfg = PRESETS[name]
    cfg = replace(cfg, model=dict(cfg.model), stages=[dict(s) for s in cfg.stages])
    return replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
