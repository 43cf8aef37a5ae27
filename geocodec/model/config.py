"""Architecture hyper-parameters of a geocodec model, stored as JSON in the weights file."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

from geocodec.options import BandCounts


#: Largest sizes a config may ask for: far above any useful model, far below an allocation that
#: could exhaust memory (a weights file is data, and a forged one must not take the machine down).
MAX_FEATURES = 256
MAX_LATENT_CHANNELS = 384
MAX_HYPER_CHANNELS = 256
MAX_BANDS = 64
MAX_GROUPS = 16


@dataclass(frozen=True)
class ModelConfig(BandCounts):
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
    #: Hidden channels of each channel-context net (ELIC: 96).
    context_channels: int = 96
    #: Hidden channels of each group's parameter-aggregation net (ELIC: 192, 128).
    parameter_channels: tuple[int, ...] = (192, 128)
    #: Kernel of the checkerboard spatial context (5 or 3) and of the hyper-synthesis's last layer
    #: (3 or 1): with the widths above, what entropy decoding costs per latent position.
    spatial_kernel: int = 5
    hyper_kernel: int = 3
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        def count(v, what, hi):
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= hi:
                raise ValueError(f"{what}={v!r} must be an integer in [1, {hi}]")

        count(self.features, "features", MAX_FEATURES)
        count(self.latent_channels, "latent_channels", MAX_LATENT_CHANNELS)
        count(self.hyper_channels, "hyper_channels", MAX_HYPER_CHANNELS)
        count(len(self.groups), "number of groups", MAX_GROUPS)
        for g in self.groups:
            count(g, "group size", MAX_LATENT_CHANNELS)
        for what, bands in (("optical_bands", self.optical_bands), ("sar_bands", self.sar_bands)):
            count(len(bands), f"number of {what}", MAX_BANDS)
            if not all(isinstance(b, str) and 0 < len(b) <= 32 for b in bands):
                raise ValueError(f"{what} must be short band names, got {bands!r}")
        for what, v in (("lmbda_min", self.lmbda_min), ("lmbda_max", self.lmbda_max)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"{what}={v!r} must be a finite number")
        if not isinstance(self.extra, dict):
            raise ValueError("extra must be a JSON object")
        if sum(self.groups) != self.latent_channels:
            raise ValueError(f"groups {self.groups} must sum to latent_channels={self.latent_channels}")
        if not 0 < self.lmbda_min < self.lmbda_max:
            raise ValueError(f"invalid λ range ({self.lmbda_min}, {self.lmbda_max})")
        if self.latent_stride not in (8, 16):
            raise ValueError(f"latent_stride must be 8 or 16, got {self.latent_stride}")
        count(self.context_channels, "context_channels", MAX_FEATURES)
        if len(self.parameter_channels) != 2:
            raise ValueError(f"parameter_channels must be two widths, got {self.parameter_channels}")
        for v in self.parameter_channels:
            count(v, "parameter_channels", MAX_FEATURES)
        if self.spatial_kernel not in (3, 5) or self.hyper_kernel not in (1, 3):
            raise ValueError(f"spatial_kernel must be 3 or 5 and hyper_kernel 1 or 3, got "
                             f"{self.spatial_kernel} and {self.hyper_kernel}")
        for name in ("encoder_blocks", "decoder_blocks"):
            blocks = getattr(self, name)
            if len(blocks) != 3 or any(b not in (0, 1) for b in blocks):
                raise ValueError(f"{name} must be three 0/1 flags, got {blocks}")

    @property
    def pad_multiple(self) -> int:
        """Inputs are padded to a multiple of this: the latent stride, ×4 for the hyper-latent."""
        return 4 * self.latent_stride

    def parameter_bounds(self) -> tuple[int, int]:
        """Loose lower and upper bounds on the model's number of stored values (weights + CDF tables).

        A weights file whose header declares a total outside them does not hold this model: it
        is refused before the model is built."""
        f, m, hc, g = self.features, self.latent_channels, self.hyper_channels, len(self.groups)
        core = f * f + m * m + hc * hc + m * f
        return 40 * core, 400 * core + 400 * g * m + 60_000 * g + 4096 * hc + 1_000_000

    def to_json(self) -> str:
        """Canonical JSON (it is sealed into the model's sha256). Architecture options added after
        the first format are left out at their defaults, so older models keep their identity."""
        d = dataclasses.asdict(self)
        for key in _OPTIONAL_FIELDS:
            if d[key] == _DEFAULTS[key]:
                del d[key]
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ModelConfig":
        d = json.loads(text)
        for key in ("optical_bands", "sar_bands", "groups", "encoder_blocks", "decoder_blocks", "parameter_channels"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


#: Fields newer than the first weights format, written only when they differ from the default.
_OPTIONAL_FIELDS = ("latent_stride", "encoder_blocks", "decoder_blocks", "context_channels", "parameter_channels",
                    "spatial_kernel", "hyper_kernel")
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(ModelConfig) if f.name in _OPTIONAL_FIELDS}
