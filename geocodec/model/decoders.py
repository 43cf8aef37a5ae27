"""Synthesis transforms: one per modality, each reading only the shared decoded latent."""

from __future__ import annotations

from torch import nn

from geocodec.model.layers import ResidualBlock, deconv


class SynthesisTransform(nn.Module):
    """ŷ (stride 16) → one modality's normalised bands. Independent of the other modality."""

    def __init__(self, latent_channels: int, features: int, out_channels: int):
        super().__init__()
        f = features
        self.body = nn.Sequential(
            deconv(latent_channels, f),
            nn.LeakyReLU(0.2, inplace=True),
            ResidualBlock(f),
            deconv(f, f),
            nn.LeakyReLU(0.2, inplace=True),
            ResidualBlock(f),
            deconv(f, f),
            nn.LeakyReLU(0.2, inplace=True),
            ResidualBlock(f),
            deconv(f, out_channels),
        )

    def forward(self, y_hat):
        return self.body(y_hat)
