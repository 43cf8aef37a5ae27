"""Building blocks: residual blocks, the per-pixel 3-token attention fusion, λ modulation."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from geocodec.precision import fp32


def conv(in_ch: int, out_ch: int, kernel: int = 5, stride: int = 2) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2)


def deconv(in_ch: int, out_ch: int, kernel: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(
        in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, output_padding=stride - 1
    )


def is_subpixel_deconv(m: nn.Module) -> bool:
    """A ``deconv`` of this module's shape (5×5, stride 2, padding 2, output padding 1)."""
    return (isinstance(m, nn.ConvTranspose2d) and m.kernel_size == (5, 5) and m.stride == (2, 2)
            and m.padding == (2, 2) and m.output_padding == (1, 1) and m.groups == 1 and m.dilation == (1, 1))


def subpixel_weight(w_t: torch.Tensor) -> torch.Tensor:
    """A 5×5, stride-2, padding-2, output-padding-1 transposed convolution's weight (in, out, 5, 5) as
    the (4·out, in, 3, 3) weight of a 3×3 padding-1 convolution whose output ``PixelShuffle(2)``
    interleaves into the transposed convolution's: the same products, without the zero-stuffed input.

    Output pixel (2m + r) of the transposed convolution sums input pixels m + d (d ∈ {−1, 0, 1})
    times kernel tap k = r + 2 − 2d (when 0 ≤ k < 5); each output phase (ry, rx) becomes 1/4 of the
    output channels (channel 4c + 2ry + rx, PixelShuffle's order); taps outside the kernel are 0."""
    c_in, c_out = w_t.shape[:2]
    w = w_t.new_zeros(c_out, 2, 2, c_in, 3, 3)
    for ry in range(2):
        for rx in range(2):
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    ky, kx = ry + 2 - 2 * dy, rx + 2 - 2 * dx
                    if 0 <= ky < 5 and 0 <= kx < 5:
                        w[:, ry, rx, :, dy + 1, dx + 1] = w_t[:, :, ky, kx].T
    return w.reshape(4 * c_out, c_in, 3, 3).contiguous()


class ResidualBlock(nn.Module):
    """conv3x3 → LeakyReLU → conv3x3, plus the identity."""

    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(ch, ch, 3, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ch, ch, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class TokenFusion(nn.Module):
    """Progressive attentive fusion (Valsesia & Bianchi 2025, Fig. 2).

    For every pixel i the three branch features form a length-3 sequence
    z_i = [h_opt_i; h_joint_i; h_sar_i] of F features each; one self-attention step
    softmax(q kᵀ/√F) v mixes them, and each output (plus its input) continues down its branch.
    Implemented with 1×1 convolutions so it runs on whole feature maps at once.
    """

    def __init__(self, features: int):
        super().__init__()
        self.q = nn.Conv2d(features, features, 1)
        self.k = nn.Conv2d(features, features, 1)
        self.v = nn.Conv2d(features, features, 1)
        self.out = nn.Conv2d(features, features, 1)
        self.scale = 1.0 / math.sqrt(features)

    def forward(self, h_opt, h_joint, h_sar):
        if not self.training and not torch.onnx.is_in_onnx_export():  # ONNX: see _per_pixel
            return self._per_pixel(h_opt, h_joint, h_sar)
        tokens = torch.stack([h_opt, h_joint, h_sar], dim=1)  # B,3,F,H,W
        b, t, f, hh, ww = tokens.shape
        flat = tokens.reshape(b * t, f, hh, ww)
        q = self.q(flat).reshape(b, t, f, hh, ww)
        k = self.k(flat).reshape(b, t, f, hh, ww)
        v = self.v(flat).reshape(b, t, f, hh, ww)
        # 3×3 per-pixel attention written as broadcast products: on CPU this is several times faster
        # than the equivalent einsum, and it never materialises more than one (B,3,F,H,W) tensor.
        scores = torch.stack([(q[:, i:i + 1] * k).sum(2) for i in range(t)], dim=1) * self.scale  # B,3,3,H,W
        attn = scores.softmax(dim=2)
        mixed = sum(attn[:, :, j:j + 1] * v[:, j:j + 1] for j in range(t)).reshape(b * t, f, hh, ww)
        fused = tokens + self.out(mixed).reshape(b, t, f, hh, ww)
        return fused[:, 0], fused[:, 1], fused[:, 2]

    def _per_pixel(self, h_opt, h_joint, h_sar):
        """The same attention for inference, laid out per pixel: tokens (B, H, W, 3, F), q, k and v
        each one GEMM, and the 3 × 3 attention as batched products. The form above is the one
        training compiles (inductor fuses its element-wise passes); run eagerly, and above all on
        channels_last bf16 maps, its passes over (B, 3, F, H, W) copies cost up to 6× this one
        (one 128² fusion, one thread, AMX host: bf16 channels_last 104 → 17 ms, fp32 88 → 41 ms).
        ONNX export keeps the form above: its 1×1 convolutions are what ``onnx-int8`` quantises,
        where this form's q·kᵀ would become an int8 MatMul (0.8 dB lost on a test pair)."""
        tokens = torch.stack([h.permute(0, 2, 3, 1) for h in (h_opt, h_joint, h_sar)], dim=3)  # B,H,W,3,F
        # three GEMMs, not one of 3F split after: contiguous operands halve the batched products' time
        q, k, v = (F.linear(tokens, m.weight.flatten(1), m.bias) for m in (self.q, self.k, self.v))
        attn = (torch.matmul(q, k.transpose(-1, -2)) * self.scale).softmax(dim=-1)  # B,H,W,3,3
        mixed = torch.matmul(attn.to(v.dtype), v)
        fused = tokens + F.linear(mixed, self.out.weight.flatten(1), self.out.bias)
        return tuple(fused[..., i, :].permute(0, 3, 1, 2) for i in range(3))


class LambdaGain(nn.Module):
    """Bottleneck gain conditioned on λ (after Mijares i Verdú et al. 2023).

    The gain is an analytic baseline times a learned per-channel correction:
    ``g(λ) = (λ/λ_mid)^(±1/2) · exp(MLP(t))`` with ``t`` = log λ normalised to [0, 1] over the
    model's range. The baseline is the MSE-optimal quantiser step law (step ∝ 1/√λ), so the
    rate responds to λ from the first training step; the encoder uses exponent +½ (finer
    quantisation at high λ), the decoder −½ (undo it). One network serves the whole range.
    """

    def __init__(self, channels: int, lmbda_min: float, lmbda_max: float, hidden: int = 64,
                 direction: float = 1.0):
        super().__init__()
        self.log_min = math.log(lmbda_min)
        self.log_span = math.log(lmbda_max) - self.log_min
        self.direction = float(direction)
        self.mlp = nn.Sequential(
            nn.Linear(1, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, channels),
        )

    def forward(self, lmbda: torch.Tensor) -> torch.Tensor:
        """``lmbda`` (B,) → gains (B, C, 1, 1), fp32 also under bf16 autocast (a tiny MLP)."""
        with fp32():
            log_l = torch.log(lmbda.to(self.mlp[0].weight.dtype))
            t = (log_l - self.log_min) / self.log_span
            base = self.direction * 0.5 * (log_l - (self.log_min + 0.5 * self.log_span))
            g = torch.exp(base[:, None] + self.mlp(t[:, None]))
        return g[:, :, None, None]
