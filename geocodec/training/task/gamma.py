"""γ as a learned parameter, one per trained λ: γ_k = sigmoid(θ_k), so it stays in (0, 1).

The paper learns γ jointly with the networks (eq. 4). The codec is one λ-conditioned model, so one
finetune covers every λ point; each point gets its own γ because the best split of the bits between
the modalities moves with the rate (0.5–0.8 in the paper). Initialised at 0.5 (θ = 0).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class LearnedGamma(nn.Module):
    def __init__(self, lmbdas, init: float = 0.5):
        super().__init__()
        if not 0.0 < init < 1.0:
            raise ValueError(f"γ init must lie in (0, 1), got {init}")
        self.register_buffer("lmbdas", torch.tensor([float(v) for v in lmbdas], dtype=torch.float32))
        self.logit = nn.Parameter(torch.full((len(lmbdas),), math.log(init / (1 - init))))

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        """γ of each sample's λ point (``index`` into the λ list)."""
        return torch.sigmoid(self.logit[index])

    def values(self) -> list[float]:
        return torch.sigmoid(self.logit.detach()).tolist()
