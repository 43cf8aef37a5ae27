"""Encode-time latent refinement: a better latent for the same decoders, at a price in encode time.

The analysis transform predicts a latent in one pass; the shipped encoder is under-trained, and
gradient steps on the latent itself, against the model's own rate–distortion objective
(R(ŷ)+R(ẑ) + λ·255²·(γ·D_opt + (1−γ)·D_sar), the training loss) with the decoders and the entropy
model fixed, find a latent that costs fewer bits for the same quality or gives more quality for the
same bits (the "iterative inference" of Campos et al. 2019 and Yang et al. 2020, with
straight-through rounding). Only the encoder side changes: the chunk format, the decoders and
every decoded chunk stay exactly as they are, so refined chunks decode with any geocodec reader.

Deterministic: no noise, fixed step count, the best latent seen is kept per item (never worse than
the unrefined one under the objective). Gradients are taken with respect to the latent only, so
the shared model's weights are never touched and threads may refine with one model at once.
"""

from __future__ import annotations

import torch

#: Adam step size on the latent (quantisation step 1). Measured on the validation tiles with the
#: shipped model: 0.05 gained 0.3–0.7 dB optical at about equal rate in 20 steps
#: (benchmarks/refinement.py; model card, "Encode-time refinement").
STEP_SIZE = 0.05
#: λ is expressed as in CompressAI: λ·255²·MSE on [0, 1] data (geocodec.training.loss).
DISTORTION_SCALE = 255.0**2


def _distortion(x_hat: torch.Tensor, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return (((x_hat - x) ** 2) * weight).flatten(1).sum(1) / weight.flatten(1).sum(1).clamp_min(1.0)


def refine_latent(net, y: torch.Tensor, x_opt: torch.Tensor, x_sar: torch.Tensor, gamma: torch.Tensor,
                  lmbda: torch.Tensor, w_opt: torch.Tensor, w_sar: torch.Tensor, steps: int,
                  step_size: float = STEP_SIZE) -> torch.Tensor:
    """``steps`` Adam steps on the gained latent ``y`` (B, M, h, w) → the best latent per item.

    ``x_opt``/``x_sar``: the normalised, padded inputs; ``w_opt``/``w_sar``: per-sample weights of
    the same shape (1 where a sample counts, 0 for padding and NaN / nodata positions, which are
    restored exactly from their masks whatever the latent says)."""
    if steps <= 0:
        return y
    with torch.no_grad():
        dec_gain = net.decoder_gain(lmbda)
    pixels = w_opt[:, :1].flatten(1).sum(1).clamp_min(1.0)  # pixel locations per item
    gamma = gamma.to(y.dtype)
    best, best_loss = y.detach().clone(), None
    with torch.enable_grad():
        latent = best.clone().requires_grad_(True)
        opt = torch.optim.Adam([latent], lr=step_size)
        for step in range(steps + 1):
            y_hat, y_lik, z_lik = net.entropy(latent)
            y_dec = y_hat * dec_gain
            d_opt = _distortion(net.optical_decoder(y_dec), x_opt, w_opt)
            d_sar = _distortion(net.sar_decoder(y_dec), x_sar, w_sar)
            bits = -(torch.log2(y_lik).flatten(1).sum(1) + torch.log2(z_lik).flatten(1).sum(1))
            loss = bits / pixels + lmbda * DISTORTION_SCALE * (gamma * d_opt + (1 - gamma) * d_sar)
            with torch.no_grad():
                better = torch.ones_like(loss, dtype=torch.bool) if best_loss is None else loss < best_loss
                best[better] = latent.detach()[better]
                best_loss = loss.detach() if best_loss is None else torch.minimum(best_loss, loss.detach())
            if step == steps:
                break
            (grad,) = torch.autograd.grad(loss.sum(), latent)
            latent.grad = grad
            opt.step()
            latent.grad = None
    return best
