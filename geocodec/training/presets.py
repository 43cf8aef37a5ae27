"""Named training configurations.

* ``tiny``: CI, seconds, a shrunken model.
* ``cpu``: the v1.0.0 recipe (one stage, 64 px crops), kept to reproduce that model.
* ``recipe``: the one open-ended CPU run (issue #21) that continues across sessions with
  ``--resume`` until the quality targets are met: bf16 autocast + channels_last + compiled
  transforms where the CPU has bf16 units, a warm-up–stable–decay schedule with no fixed end
  (export candidates with ``--decay-minutes`` on a copy), checkpoints every 10 minutes with bf16
  Adam moments (≤ 40 MB), crops up to 128 px, all data, the architecture chosen by equal-time
  runs (``LONG_MODEL``; model card), one torch thread (``OMP_WAIT_POLICY=PASSIVE``). Since v1.5.0
  its entropy model is the lighter ``FAST_ENTROPY`` (issue #18): the run continues from the branch
  that trained those nets with the transforms (model card, "v1.5.0: what changed").
* ``light``: the second CPU attempt (not shipped): the light architecture (no residual block at
  the finest encoder and decoder resolution), a high-λ floor stage then the full-range rate
  stage, a 150-minute cosine budget.
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
* ``entropy``: a lighter entropy model (``FAST_ENTROPY``: about half the multiply-adds of entropy
  decoding) for the shipped model's fixed transforms, trained on the rate alone
  (``train_only="entropy"``); its analysis and synthesis weights are copied unchanged, so only the
  rate (and the rounding offsets) can differ from the shipped model's (issue #18).
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
#: The open-ended run's architecture (issue #21): v1.0.0's layers at latent stride 8 (4× the latent
#: values of stride 16, the same weights' shapes) with a λ range that reaches high rates (≥ 2 joint
#: bpp) and low ones (≤ 0.05 bpp). Chosen at equal time in the model card: branched from the
#: stride-16 run's step 7000, after 0.63 CPU-hours stride 8 had higher floors on both validation
#: sets (SAR +0.5 dB) than the stride-16 run after the same time, about equal low-rate R-D, and
#: a rate range past 1.8 bpp where stride 16 stops near 1.
LONG_MODEL = {"lmbda_min": 0.0005, "lmbda_max": 0.8, "latent_stride": 8}
#: A lighter entropy model for the stride-8 transforms: narrower channel-context (96 → 64) and
#: parameter nets ((192, 128) → (128, 96)), a 3×3 checkerboard context and a 1×1 last hyper-synthesis
#: layer: 0.59 G instead of 1.14 G multiply-adds in the entropy decoding of a 256² chunk (counted from the
#: layer shapes at stride 8).
FAST_ENTROPY = {"context_channels": 64, "parameter_channels": [128, 96], "spatial_kernel": 3, "hyper_kernel": 1}
#: Where the recorded CPU runs started: v1.0.0, kept reachable under this name since v1.1.0 (itself
#: the ``recipe`` run's export) replaced it as ``default``. ``finetune``, ``encoder`` and task
#: finetuning start from the shipped ``default``, whatever it is.
LINEAGE_START = "default@1.0.0"
#: Floor stage (high λ only) for the first 30 % of the run, then the whole λ range.
STAGES = [{"name": "floor", "until": 0.3, "lmbda": [0.03, 0.1]}, {"name": "rd", "until": 1.0}]

PRESETS: dict[str, TrainConfig] = {
    "tiny": TrainConfig(steps=60, batch=4, crop=64, lr=1e-3, lr_final=5e-4, checkpoint_every=30,
                        log_every=10, threads=1, device="cpu", model=dict(TINY_MODEL)),
    "cpu": TrainConfig(steps=9000, batch=8, crop=64, max_minutes=80.0, threads=2, device="auto"),
    "light": TrainConfig(steps=20000, batch=8, crop=128, lr=1e-4, lr_final=1e-5, max_minutes=150.0,
                          checkpoint_every=100, log_every=25, threads=1, device="auto",
                          model=dict(LIGHT_MODEL), init_from=LINEAGE_START, stages=list(STAGES), warmup_steps=50),
    "recipe": TrainConfig(steps=10_000_000, batch=8, crop=128, lr=1e-4, lr_final=1e-5, pseudo_pairs=True, checkpoint_every=500,
                        checkpoint_minutes=10.0, log_every=25, probe_every=500, threads=1, device="auto",
                        model={**LONG_MODEL, **FAST_ENTROPY}, init_from=LINEAGE_START, warmup_steps=100, schedule="wsd",
                        moments_dtype="bf16", compile=True, precision="auto"),
    "gpu": TrainConfig(steps=90000, batch=16, crop=128, lr=1e-4, lr_final=1e-5, checkpoint_every=1000,
                       log_every=100, device="cuda", model=dict(LIGHT_MODEL), init_from=LINEAGE_START,
                       stages=list(STAGES), warmup_steps=200),
    "finetune": TrainConfig(steps=20000, batch=8, crop=128, lr=5e-5, lr_final=1e-5, max_minutes=140.0,
                            checkpoint_every=100, log_every=25, threads=1, device="auto",
                            init_from="default", stages=[{"name": "rd", "until": 1.0}], warmup_steps=50),
    "encoder": TrainConfig(steps=20000, batch=8, crop=128, lr=1e-4, lr_final=1e-5, max_minutes=75.0,
                           checkpoint_every=100, log_every=25, threads=1, device="auto", init_from="default",
                           stages=[{"name": "rd", "until": 1.0}], warmup_steps=50, train_only="encoder"),
    "entropy": TrainConfig(steps=10_000_000, batch=8, crop=128, lr=1e-4, lr_final=1e-5, max_minutes=90.0,
                           pseudo_pairs=True, checkpoint_every=1000, checkpoint_minutes=10.0, log_every=25,
                           probe_every=1000, threads=1, device="auto", model={**LONG_MODEL, **FAST_ENTROPY},
                           init_from="default", warmup_steps=100, moments_dtype="bf16", precision="auto",
                           stages=[{"name": "rate", "until": 1.0}], train_only="entropy"),
}


def preset(name: str, **overrides) -> TrainConfig:
    """The named configuration with ``overrides`` (None values are ignored)."""
    if name not in PRESETS:
        raise InvalidInputError(f"unknown training configuration {name!r}: choose one of {sorted(PRESETS)}")
    cfg = PRESETS[name]
    cfg = replace(cfg, model=dict(cfg.model), stages=[dict(s) for s in cfg.stages])
    return replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
