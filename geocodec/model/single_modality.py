"""Independent-coding baseline: the joint model's building blocks for ONE modality.

The paper's main comparison is joint coding against coding each modality with its own model
of the same design, trained on the same data with the same budget. ``SingleModalityModel`` is
that model: one encoder branch (the joint encoder's stages, no prompt plane, no fusion), the
same λ-gains, the same ``LatentEntropyModel`` and one ``SynthesisTransform``. Tensors only, like
the joint model: it trains with ``geocodec.training`` (``TrainConfig.modality = "optical"`` or
``"sar"``; loss ``geocodec.training.loss.single_rd_loss``), its weights files are
``geocodec.training.single_model_file`` and it codes real rANS bytes in
``geocodec.evaluation.baselines.independent``. An evaluation baseline, not a product codec: there
is no chunk format for it.
"""

from __future__ import annotations

import torch
from torch import nn

from geocodec.errors import InvalidInputError
from geocodec.model.config import ModelConfig
from geocodec.model.decoders import SynthesisTransform
from geocodec.model.encoder import _Stage
from geocodec.model.entropy import LatentEntropyModel
from geocodec.model.layers import LambdaGain, conv

MODALITIES = ("optical", "sar")
#: The branch encoder's latent stride (three stride-2 stages and a stride-2 latent convolution);
#: inputs are padded to 4× it, for the hyper-latent.
LATENT_STRIDE = 16


class BranchEncoder(nn.Module):
    """One branch of ``JointEncoder`` on its own: three stride-2 stages, then the latent conv."""

    def __init__(self, in_channels: int, features: int, latent_channels: int):
        super().__init__()
        f = features
        self.stages = nn.Sequential(_Stage(in_channels, f), _Stage(f, f), _Stage(f, f))
        self.to_latent = conv(f, latent_channels)

    def forward(self, x):
        return self.to_latent(self.stages(x))


class SingleModalityModel(nn.Module):
    """x (one modality, normalised) → ŷ → x̂, with the joint model's λ-gain and entropy model."""

    def __init__(self, config: ModelConfig, modality: str):
        super().__init__()
        if modality not in MODALITIES:
            raise InvalidInputError(f"modality={modality!r}: a single-modality model is 'optical' or 'sar'")
        c = config
        self.config = c
        self.modality = modality
        self.n_bands = c.n_optical if modality == "optical" else c.n_sar
        self.encoder = BranchEncoder(self.n_bands, c.features, c.latent_channels)
        self.encoder_gain = LambdaGain(c.latent_channels, c.lmbda_min, c.lmbda_max)
        self.decoder_gain = LambdaGain(c.latent_channels, c.lmbda_min, c.lmbda_max, direction=-1.0)
        self.entropy = LatentEntropyModel.from_config(c)
        self.decoder = SynthesisTransform(c.latent_channels, c.features, self.n_bands)

    @property
    def bands(self) -> tuple[str, ...]:
        return self.config.optical_bands if self.modality == "optical" else self.config.sar_bands

    def forward(self, x, lmbda):
        y = self.encoder(x) * self.encoder_gain(lmbda)
        y_hat, y_lik, z_lik = self.entropy(y)
        return {"x_hat": self.decoder(y_hat * self.decoder_gain(lmbda)),
                "y_likelihoods": y_lik, "z_likelihoods": z_lik}

    def aux_loss(self) -> torch.Tensor:
        return self.entropy.aux_loss()

    def padded_hw(self, height: int, width: int) -> tuple[int, int]:
        """The size an input of ``height`` × ``width`` is padded to before coding."""
        m = 4 * LATENT_STRIDE
        return -(-height // m) * m, -(-width // m) * m

    def latent_hw(self, height: int, width: int) -> tuple[int, int]:
        """The latent's size for an input of ``height`` × ``width`` (after padding)."""
        hp, wp = self.padded_hw(height, width)
        return hp // LATENT_STRIDE, wp // LATENT_STRIDE
