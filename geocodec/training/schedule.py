"""Learning-rate schedules: a fixed-length cosine, or warm-up–stable–decay for open-ended runs.

A cosine schedule needs its end in advance (steps or a time budget). A run that goes on across
working sessions, for as long as the quality still rises, has no such end: ``wsd`` holds the
learning rate constant after the warm-up, and a candidate for export is made by a short linear
decay to ``lr_final`` (``decay_minutes``) on a copy of the run, which the main run never takes.
"""

from __future__ import annotations

import math

SCHEDULES = ("cosine", "wsd")


def check_schedule(schedule: str, decay_minutes: float | None) -> None:
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, not {schedule!r}")
    if decay_minutes is not None and not decay_minutes > 0:
        raise ValueError(f"decay_minutes must be > 0, got {decay_minutes}")


def learning_rate(cfg, frac: float, since_start: int, decay_progress: float | None) -> float:
    """The learning rate of one step.

    ``frac``: the run's progress (step / steps, or elapsed / max_minutes, whichever is further);
    ``since_start``: steps since this process started (the warm-up after a fresh start or resume);
    ``decay_progress``: 0…1 through a ``decay_minutes`` decay, or None when not decaying."""
    if cfg.schedule == "cosine":
        lr = cfg.lr_final + 0.5 * (cfg.lr - cfg.lr_final) * (1 + math.cos(math.pi * min(frac, 1.0)))
    elif decay_progress is None:
        lr = cfg.lr
    else:
        lr = cfg.lr + (cfg.lr_final - cfg.lr) * min(decay_progress, 1.0)
    if cfg.warmup_steps:
        lr *= min(1.0, since_start / cfg.warmup_steps)
    return lr
