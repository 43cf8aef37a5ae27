"""The rate–distortion loss: R(ŷ)+R(ẑ) + λ·255²·(γ·D_opt + (1−γ)·D_sar) (paper eq. 3)."""

from __future__ import annotations

import torch

DISTORTION_SCALE = 255.0**2  # λ is expressed as in CompressAI (λ·255²·MSE on [0, 1] data)


def rd_loss(model, x_opt, x_sar, gamma, lmbda):
    """Per-sample rate–distortion loss on normalised data; returns (loss, stats dict).

    A batch of one modality only (optical-only or SAR-only data) comes with γ = 1 or γ = 0 and a
    blank plane for the missing input: the missing modality then has weight 0, as in eq. 3."""
    out = model(x_opt, x_sar, gamma, lmbda)
    b, _, h, w = x_opt.shape
    bits = -(torch.log2(out["y_likelihoods"]).flatten(1).sum(1) + torch.log2(out["z_likelihoods"]).flatten(1).sum(1))
    rate = bits / (h * w)  # bits per pixel location (both modalities)
    d_opt = ((out["optical"] - x_opt) ** 2).flatten(1).mean(1)
    d_sar = ((out["sar"] - x_sar) ** 2).flatten(1).mean(1)
    loss = (rate + lmbda * DISTORTION_SCALE * (gamma * d_opt + (1 - gamma) * d_sar)).mean()
    stats = {
        "loss": loss.item(),
        "bpp_joint": rate.mean().item() / 2,
        "psnr_opt": (-10 * torch.log10(d_opt.mean())).item(),
        "psnr_sar": (-10 * torch.log10(d_sar.mean())).item(),
    }
    return loss, stats
