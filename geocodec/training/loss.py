"""The rate–distortion loss: R(ŷ)+R(ẑ) + λ·255²·(γ·D_opt + (1−γ)·D_sar) (paper eq. 3).

``rd_loss`` trains the joint model; ``rate_loss`` its entropy model alone; ``single_rd_loss`` the single-modality baseline
(``geocodec.model.single_modality``), with γ fixed to its modality. Both count the rate the same way.
"""

from __future__ import annotations

import torch

from geocodec.model.refine import DISTORTION_SCALE  # λ as in CompressAI (λ·255²·MSE on [0, 1] data)


def bits_per_location(out: dict, h: int, w: int) -> torch.Tensor:
    """Per sample: −log2 of the likelihoods of ŷ and ẑ, per pixel location."""
    bits = -(torch.log2(out["y_likelihoods"]).flatten(1).sum(1) + torch.log2(out["z_likelihoods"]).flatten(1).sum(1))
    return bits / (h * w)


def _mse(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return ((x_hat.float() - x) ** 2).flatten(1).mean(1)  # fp32 also for a bf16 decoder output


def _psnr(d: torch.Tensor) -> float:
    return (-10 * torch.log10(d.mean())).item()


def rd_loss(model, x_opt, x_sar, gamma, lmbda):
    """Per-sample rate–distortion loss on normalised data; returns (loss, stats dict).

    A batch of one modality only (optical-only or SAR-only data) comes with γ = 1 or γ = 0 and a
    blank plane for the missing input: the missing modality then has weight 0, as in eq. 3."""
    out = model(x_opt, x_sar, gamma, lmbda)
    rate = bits_per_location(out, *x_opt.shape[-2:])  # bits per pixel location (both modalities)
    d_opt, d_sar = _mse(out["optical"], x_opt), _mse(out["sar"], x_sar)
    loss = (rate + lmbda * DISTORTION_SCALE * (gamma * d_opt + (1 - gamma) * d_sar)).mean()
    stats = {"loss": loss.item(), "bpp_joint": rate.mean().item() / 2, "psnr_opt": _psnr(d_opt),
             "psnr_sar": _psnr(d_sar)}
    return loss, stats


def rate_loss(model, x_opt, x_sar, gamma, lmbda):
    """R(ŷ)+R(ẑ) alone, for training the entropy model of fixed transforms (``train_only="entropy"``).

    For a fixed analysis transform the latent y does not depend on the entropy model, so its rate is
    the entropy model's whole job; the distortion depends on it only through the means ŷ is rounded
    around (ŷ = round(y − μ) + μ), a sub-step offset the decoders are trained to absorb. Skipping the
    decoders (and the analysis's backward pass) makes a step several times cheaper than ``rd_loss``;
    the R-D evaluation of the result measures what that approximation costs."""
    with torch.no_grad():
        y = model.analysis(x_opt, x_sar, gamma, lmbda)
    _, y_lik, z_lik = model.entropy(y.float())
    rate = bits_per_location({"y_likelihoods": y_lik, "z_likelihoods": z_lik}, *x_opt.shape[-2:])
    loss = rate.mean()
    value = loss.item()
    return loss, {"loss": value, "bpp_joint": value / 2}


def single_rd_loss(model, x_opt, x_sar, lmbda):
    """R(ŷ)+R(ẑ) + λ·255²·D for a single-modality model's modality (eq. 3 with γ fixed to it)."""
    x = x_opt if model.modality == "optical" else x_sar
    out = model(x, lmbda)
    rate = bits_per_location(out, *x.shape[-2:])
    d = _mse(out["x_hat"], x)
    loss = (rate + lmbda * DISTORTION_SCALE * d).mean()
    return loss, {"loss": loss.item(), "bpp": rate.mean().item(), "psnr": _psnr(d)}
