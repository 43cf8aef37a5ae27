"""The task loss of Valsesia & Bianchi (2025, eq. 4): R(ŷ) + R(ẑ) + λ·CE[v, C(D_opt(ŷ), D_sar(ŷ))].

Rate is counted as in ``geocodec.training.loss`` (bits per pixel location, both modalities). The
classification term is BCE for multi-label targets and CE for single-label ones. ``ce_scale`` puts
the CE term in the units of the codec's λ, as ``DISTORTION_SCALE`` (255²) does for MSE: the codec's
λ ∈ [0.001, 0.1] conditions its gains, and λ·CE alone would leave the task term negligible beside
the rate at every λ; ``ce_scale = 1`` is eq. 4 literally.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from geocodec.training.task.labels import MULTI

#: Default ``ce_scale``: at λ = 0.01 a CE of 0.1 nat weighs 1 bit per location.
CE_SCALE = 1000.0


def classification_loss(logits: torch.Tensor, targets: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-sample BCE (mean over classes; multi-label) or CE (single-label)."""
    logits = logits.float()
    if kind == MULTI:
        return F.binary_cross_entropy_with_logits(logits, targets.float(), reduction="none").mean(1)
    return F.cross_entropy(logits, targets.long(), reduction="none")


def task_loss(rate: torch.Tensor, logits: torch.Tensor, targets: torch.Tensor, lmbda: torch.Tensor, kind: str,
              ce_scale: float = CE_SCALE):
    """Batch mean of rate + λ·ce_scale·CE; returns (loss, per-sample CE)."""
    ce = classification_loss(logits, targets, kind)
    return (rate + lmbda * ce_scale * ce).mean(), ce
