"""Named training configurations: ``tiny`` (CI, seconds), ``cpu`` (the shipped default on 2 CPU
cores, about an hour), ``gpu`` (a longer, larger-batch run for one CUDA device).

All three train the shipped architecture (``ModelConfig()`` defaults) except ``tiny``, which
shrinks it so a CI machine can show the loss going down in seconds.
"""

from __future__ import annotations

from dataclasses import replace

from geocodec.errors import InvalidInputError
from geocodec.train import TrainConfig

#: A deliberately small architecture for smoke tests (same layers, fewer channels).
TINY_MODEL = {"features": 16, "latent_channels": 32, "hyper_channels": 16, "groups": [8, 8, 16]}

PRESETS: dict[str, TrainConfig] = {
    # 60 steps of 4 crops of 64 px on a shrunken model: seconds on one core; a higher learning
    # rate so the loss curve (one entry per 10 steps) visibly goes down.
    "tiny": TrainConfig(steps=60, batch=4, crop=64, lr=1e-3, lr_final=5e-4, checkpoint_every=30,
                        log_every=10, threads=1, device="cpu", model=dict(TINY_MODEL)),
    # The shipped default: 8 crops of 64 px, cosine decay over 9000 steps or 80 minutes (2 threads).
    "cpu": TrainConfig(steps=9000, batch=8, crop=64, max_minutes=80.0, threads=2, device="auto"),
    # One GPU: larger crops and batch, ten times the steps (about 1–2 h on a recent GPU).
    "gpu": TrainConfig(steps=90000, batch=16, crop=128, lr=1e-4, lr_final=1e-5, checkpoint_every=1000,
                       device="cuda"),
}


def preset(name: str, **overrides) -> TrainConfig:
    """The named configuration with ``overrides`` (None values are ignored)."""
    if name not in PRESETS:
        raise InvalidInputError(f"unknown training configuration {name!r}: choose one of {sorted(PRESETS)}")
    cfg = PRESETS[name]
    cfg = replace(cfg, model=dict(cfg.model))
    return replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
