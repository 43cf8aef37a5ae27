"""Joint analysis transform: optical, SAR and joint branches with progressive attentive fusion."""

from __future__ import annotations

import torch
from torch import nn

from geocodec.model.layers import ResidualBlock, TokenFusion, conv


class _Stage(nn.Module):
    """One stride-2 downsampling step of a branch: conv5x5/2 → LeakyReLU → residual block.

    ``block=False`` replaces the residual block by an identity (same state-dict keys otherwise):
    at the finest resolution it is most of the encoder's cost for little of its quality."""

    def __init__(self, in_ch: int, out_ch: int, block: bool = True):
        super().__init__()
        self.body = nn.Sequential(conv(in_ch, out_ch), nn.LeakyReLU(0.2, inplace=True),
                                  ResidualBlock(out_ch) if block else nn.Identity())

    def forward(self, x):
        return self.body(x)


class JointEncoder(nn.Module):
    """x_opt, x_sar, γ → latent y (stride 16, or 8 with ``latent_stride=8``).

    The γ prompt is a constant plane: γ concatenated to the optical input and 1−γ to the SAR
    input; the joint branch starts from the concatenation of both prompted inputs. After each
    of the three branch stages the three feature maps are fused per pixel (``TokenFusion``);
    the last convolution runs on the joint branch only, which becomes y.
    """

    def __init__(self, n_optical: int, n_sar: int, features: int, latent_channels: int,
                 blocks: tuple[int, ...] = (1, 1, 1), latent_stride: int = 16):
        super().__init__()
        f = features

        def branch(in_ch):
            return nn.ModuleList([_Stage(in_ch, f, bool(blocks[0])), _Stage(f, f, bool(blocks[1])),
                                  _Stage(f, f, bool(blocks[2]))])

        self.opt_stages = branch(n_optical + 1)
        self.sar_stages = branch(n_sar + 1)
        self.joint_stages = branch(n_optical + n_sar + 2)
        self.fusions = nn.ModuleList([TokenFusion(f) for _ in range(3)])
        self.to_latent = conv(f, latent_channels, stride=2 if latent_stride == 16 else 1)

    def forward(self, x_opt: torch.Tensor, x_sar: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
        """``gamma`` has shape (B,)."""
        g = gamma.to(x_opt.dtype)[:, None, None, None]
        h_opt = torch.cat([x_opt, g.expand(-1, 1, *x_opt.shape[-2:])], dim=1)
        h_sar = torch.cat([x_sar, (1 - g).expand(-1, 1, *x_sar.shape[-2:])], dim=1)
        h_joint = torch.cat([h_opt, h_sar], dim=1)
        for opt_stage, joint_stage, sar_stage, fuse in zip(
            self.opt_stages, self.joint_stages, self.sar_stages, self.fusions
        ):
            h_opt, h_joint, h_sar = fuse(opt_stage(h_opt), joint_stage(h_joint), sar_stage(h_sar))
        return self.to_latent(h_joint)
