"""The joint codec model: γ-prompted joint encoder, λ gain, ELIC entropy model, two decoders."""

from __future__ import annotations

import torch
from torch import nn

from geocodec.model.config import ModelConfig
from geocodec.model.decoders import SynthesisTransform
from geocodec.model.encoder import JointEncoder
from geocodec.model.entropy import LatentEntropyModel, LatentStreams
from geocodec.model.latent_coding import CURRENT_NETS
from geocodec.model.layers import LambdaGain

#: Padding multiple of the original architecture (latent stride 16, ×4 for the hyper-latent z);
#: a model's own is ``model.config.pad_multiple``.
STRIDE = 64


class JointCodecModel(nn.Module):
    """Tensors in, tensors (or rANS substreams) out. Knows nothing of bytes layouts or files."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        c = config
        self.config = c
        self.encoder = JointEncoder(c.n_optical, c.n_sar, c.features, c.latent_channels,
                                    c.encoder_blocks, c.latent_stride)
        self.encoder_gain = LambdaGain(c.latent_channels, c.lmbda_min, c.lmbda_max)
        self.decoder_gain = LambdaGain(c.latent_channels, c.lmbda_min, c.lmbda_max, direction=-1.0)
        self.entropy = LatentEntropyModel.from_config(c)
        self.optical_decoder = SynthesisTransform(c.latent_channels, c.features, c.n_optical,
                                                  c.decoder_blocks, c.latent_stride)
        self.sar_decoder = SynthesisTransform(c.latent_channels, c.features, c.n_sar,
                                              c.decoder_blocks, c.latent_stride)

    # -- training --------------------------------------------------------------
    def forward(self, x_opt, x_sar, gamma, lmbda):
        y = self.analysis(x_opt, x_sar, gamma, lmbda)
        y_hat, y_lik, z_lik = self.entropy(y)
        y_dec = y_hat * self.decoder_gain(lmbda)
        return {
            "optical": self.optical_decoder(y_dec),
            "sar": self.sar_decoder(y_dec),
            "y_likelihoods": y_lik,
            "z_likelihoods": z_lik,
        }

    def aux_loss(self) -> torch.Tensor:
        return self.entropy.aux_loss()

    # -- coding ----------------------------------------------------------------
    def padded_hw(self, height: int, width: int) -> tuple[int, int]:
        """The size an input of ``height`` × ``width`` is padded to before coding."""
        m = self.config.pad_multiple
        return -(-height // m) * m, -(-width // m) * m

    def latent_hw(self, height: int, width: int) -> tuple[int, int]:
        """The latent's size for an input of ``height`` × ``width`` (after padding)."""
        hp, wp = self.padded_hw(height, width)
        return hp // self.config.latent_stride, wp // self.config.latent_stride

    def analysis(self, x_opt, x_sar, gamma, lmbda) -> torch.Tensor:
        """Normalised, padded inputs → gained latent y (ready to quantise)."""
        return self.encoder(x_opt, x_sar, gamma) * self.encoder_gain(lmbda)

    def compress_latent(self, y: torch.Tensor, seeds: list[int] | None = None,
                        nets: str = CURRENT_NETS) -> list[LatentStreams]:
        """``nets``: the entropy-parameter nets of the chunk's format (``latent_coding.NETS_BY_FORMAT``)."""
        return self.entropy.compress(y, seeds, nets)

    @torch.inference_mode()
    def decompress_latent(self, streams: list[LatentStreams], latent_hw, lmbda: torch.Tensor,
                          seeds: list[int] | None = None, symbols: list | None = None,
                          nets: str = CURRENT_NETS) -> torch.Tensor:
        """→ ŷ, the dequantised latent (before the decoder's λ gain): in format 3 the same bytes on
        every machine. ``symbols`` collects the entropy decoder's integers per item."""
        return self.entropy.decompress(streams, latent_hw, lmbda.device, seeds, symbols, nets)

    @torch.inference_mode()
    def decoder_input(self, y_hat: torch.Tensor, lmbda: torch.Tensor) -> torch.Tensor:
        """ŷ × the decoder's λ gain: what the synthesis transforms take. Kept apart from ŷ because
        the gain is a float MLP (GEMMs, SiLU, exp) whose last bits depend on the CPU's kernels."""
        return y_hat * self.decoder_gain(lmbda.to(y_hat.device))

    @torch.inference_mode()
    def synthesize(self, y_dec: torch.Tensor, modality: str) -> torch.Tensor:
        decoder = self.optical_decoder if modality == "optical" else self.sar_decoder
        return decoder(y_dec)
