"""Architecture hyper-parameters of a geocodec model, stored as JSON in the weights file."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model's layers from its weights file.

    ``groups`` are the uneven ELIC channel groups of the latent (they sum to ``latent_channels``).
    ``lmbda_min``/``lmbda_max`` bound the rate parameter the λ-modulation network was trained on.
    """

    optical_bands: tuple[str, ...] = ("B02", "B03", "B04", "B08")
    sar_bands: tuple[str, ...] = ("VV", "VH")
    features: int = 64
    latent_channels: int = 128
    hyper_channels: int = 64
    groups: tuple[int, ...] = (16, 16, 32, 64)
    lmbda_min: float = 0.001
    lmbda_max: float = 0.1
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if sum(self.groups) != self.latent_channels:
            raise ValueError(f"groups {self.groups} must sum to latent_channels={self.latent_channels}")
        if not 0 < self.lmbda_min < self.lmbda_max:
            raise ValueError(f"invalid λ range ({self.lmbda_min}, {self.lmbda_max})")

    @property
    def n_optical(self) -> int:
        return len(self.optical_bands)

    @property
    def n_sar(self) -> int:
        return len(self.sar_bands)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ModelConfig":
        d = json.loads(text)
        for key in ("optical_bands", "sar_bands", "groups"):
            d[key] = tuple(d[key])
        return cls(**d)
