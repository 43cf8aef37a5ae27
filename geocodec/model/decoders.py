"""Synthesis transforms: one per modality, each reading only the shared decoded latent."""

from __future__ import annotations

from torch import nn

from geocodec.model.layers import ResidualBlock, deconv


class SynthesisTransform(nn.Module):
    """ŷ (stride 16 or 8) → one modality's normalised bands. Independent of the other modality.

    ``blocks`` switches the residual block after each of the first three upsampling steps; a
    switched-off block is an identity, so the state-dict keys stay those of the full decoder.
    The one at half resolution is about half of a full decoder's cost. With ``latent_stride=8``
    the first step keeps the resolution (a stride-1 transposed convolution, same weights' shape).
    """

    def __init__(self, latent_channels: int, features: int, out_channels: int,
                 blocks: tuple[int, ...] = (1, 1, 1), latent_stride: int = 16):
        super().__init__()
        f = features
        first = (deconv(latent_channels, f) if latent_stride == 16
                 else nn.ConvTranspose2d(latent_channels, f, 5, stride=1, padding=2))

        def block(on):
            return ResidualBlock(f) if on else nn.Identity()

        self.body = nn.Sequential(
            first,
            nn.LeakyReLU(0.2, inplace=True),
            block(blocks[0]),
            deconv(f, f),
            nn.LeakyReLU(0.2, inplace=True),
            block(blocks[1]),
            deconv(f, f),
            nn.LeakyReLU(0.2, inplace=True),
            block(blocks[2]),
            deconv(f, out_channels),
        )

    def forward(self, y_hat):
        return self.body(y_hat)
