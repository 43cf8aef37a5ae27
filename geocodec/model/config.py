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
    #: Downsampling of the latent y (16 or 8); the hyper-latent z is 4× coarser again.
    latent_stride: int = 16
    #: Residual blocks after each of the encoder's three branch stages (full → coarse resolution).
    encoder_blocks: tuple[int, ...] = (1, 1, 1)
    #: Residual blocks after each of the decoders' first three upsampling steps (coarse → fine).
    decoder_blocks: tuple[int, ...] = (1, 1, 1)
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if sum(self.groups) != self.latent_channels:
            raise ValueError(f"groups {self.groups} must sum to latent_channels={self.latent_channels}")
        if not 0 < self.lmbda_min < self.lmbda_max:
            raise ValueError(f"invalid λ range ({self.lmbda_min}, {self.lmbda_max})")
        if self.latent_stride not in (8, 16):
            raise ValueError(f"latent_stride must be 8 or 16, got {self.latent_stride}")
        for name in ("encoder_blocks", "decoder_blocks"):
            blocks = getattr(self, name)
            if len(blocks) != 3 or any(b not in (0, 1) for b in blocks):
                raise ValueError(f"{name} must be three 0/1 flags, got {blocks}")

    @property
    def pad_multiple(self) -> int:
        """Inputs are padded to a multiple of this: the latent stride, ×4 for the hyper-latent."""
        return 4 * self.latent_stride

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
        for key in ("optical_bands", "sar_bands", "groups", "encoder_blocks", "decoder_blocks"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)
