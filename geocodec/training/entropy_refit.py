"""A lighter entropy model for a trained codec, fitted on its frozen latents.

Entropy decoding runs the parameter nets at every latent position, so their widths
(``ModelConfig``: ``context_channels``, ``parameter_channels``, ``spatial_kernel``, ``hyper_kernel``)
set its time. With the analysis frozen the latents are fixed, and a lighter entropy model only has
to predict them: it is fitted on rate alone. It starts from the trained nets, pruned: the hidden
channels with the largest weight norms in and out, the central taps of shrunk kernels
(``scripts/entropy_refit.py`` measures what that costs on a fixed bank of latents).
``geocodec train --config entropy`` starts from the same pruned nets and fits them for longer, on
fresh training crops, with the training loop's checkpoints and probe (``train_only="entropy"``).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from geocodec.model.config import ModelConfig
from geocodec.model.entropy import LatentEntropyModel
from geocodec.training.loss import bits_per_location
from geocodec.training.optimiser import optimiser_parameters


_TABLES = ("_offset", "_quantized_cdf", "_cdf_length")


def _keep(score: torch.Tensor, n: int) -> torch.Tensor:
    return torch.sort(torch.topk(score, n).indices).values


def _copy(dst: nn.Module, src: nn.Module, out_idx=None, in_idx=None) -> None:
    """dst ← src's weights restricted to ``out_idx`` / ``in_idx`` channels, kernels centre-cropped."""
    if isinstance(src, nn.ConvTranspose2d):
        raise TypeError("transposed layers keep their shape here")
    w = src.weight.detach()
    if out_idx is not None:
        w = w[out_idx]
    if in_idx is not None:
        w = w[:, in_idx]
    k, kd = w.shape[-1], dst.weight.shape[-1]
    off = (k - kd) // 2
    dst.weight.data.copy_(w[..., off:off + kd, off:off + kd])
    b = src.bias.detach()
    dst.bias.data.copy_(b[out_idx] if out_idx is not None else b)


def _prune_pair(dst_a, dst_b, src_a, src_b) -> torch.Tensor:
    """Two layers with a hidden width between them: ``dst_a`` keeps the hidden channels of largest
    norm product (returned; the caller copies ``dst_b``'s inputs from them)."""
    n = dst_a.weight.shape[0]
    score = src_a.weight.detach().flatten(1).norm(dim=1) * src_b.weight.detach().transpose(0, 1).flatten(1).norm(dim=1)
    idx = _keep(score, n)
    _copy(dst_a, src_a, out_idx=idx)
    return idx


def pruned_student(teacher: LatentEntropyModel, config: ModelConfig) -> LatentEntropyModel:
    """A lighter entropy model initialised from ``teacher`` (same latent, groups and hyper-latent)."""
    student = LatentEntropyModel.from_config(config)
    t, s = teacher.latent_codec, student.latent_codec
    s.hyper.h_a.load_state_dict(t.hyper.h_a.state_dict())
    # the prior's weights, not its coding tables (a loaded model has them, a fresh student not yet)
    prior = {k: v for k, v in t.hyper.entropy_bottleneck.state_dict().items() if k not in _TABLES}
    s.hyper.entropy_bottleneck.load_state_dict(prior, strict=False)
    th, sh = list(t.hyper.h_s), list(s.hyper.h_s)
    for a, b in zip(th[:-1], sh[:-1]):
        if isinstance(a, (nn.Conv2d, nn.ConvTranspose2d)):
            b.load_state_dict(a.state_dict())
    _copy(sh[-1], th[-1])
    for k in range(len(teacher.groups)):
        if k:  # channel context: conv → LeakyReLU → conv
            ta, _, tb = t.y.channel_context[f"y{k}"]
            sa, _, sb = s.y.channel_context[f"y{k}"]
            idx = _prune_pair(sa, sb, ta, tb)
            _copy(sb, tb, in_idx=idx)
        tcb, scb = t.y.latent_codec[f"y{k}"], s.y.latent_codec[f"y{k}"]
        _copy(scb.context_prediction, tcb.context_prediction)
        t1, _, t2, _, t3 = tcb.entropy_parameters
        s1, _, s2, _, s3 = scb.entropy_parameters
        i1 = _prune_pair(s1, s2, t1, t2)
        score = t2.weight.detach()[:, i1].flatten(1).norm(dim=1) * t3.weight.detach().transpose(0, 1).flatten(1).norm(dim=1)
        i2 = _keep(score, s2.weight.shape[0])
        _copy(s2, t2, out_idx=i2, in_idx=i1)
        _copy(s3, t3, in_idx=i2)
    return student


def fit(student: LatentEntropyModel, bank: list[torch.Tensor], stride: int, minutes: float, lr: float,
        log=print) -> list[dict]:
    """Adam on the rate (bits per pixel location; ``stride``: the latent's) of latent batches drawn
    from ``bank`` for ``minutes`` of CPU time, the bottleneck's quantiles on their own loss as in
    training. Returns the rate logged every 50 steps."""
    main, aux = optimiser_parameters(student)
    opt, aux_opt = torch.optim.Adam(main, lr=lr), torch.optim.Adam(aux, lr=1e-3)
    student.train()
    t0, step, history, running = time.process_time(), 0, [], []
    rng = np.random.default_rng(1)
    while time.process_time() - t0 < 60 * minutes:
        y = bank[int(rng.integers(len(bank)))]
        _, y_lik, z_lik = student(y)
        h, w = (stride * n for n in y.shape[-2:])
        rate = bits_per_location({"y_likelihoods": y_lik, "z_likelihoods": z_lik}, h, w).mean()
        opt.zero_grad(set_to_none=True)
        rate.backward()
        torch.nn.utils.clip_grad_norm_(main, 1.0)
        opt.step()
        a = student.aux_loss()
        aux_opt.zero_grad(set_to_none=True)
        a.backward()
        aux_opt.step()
        running.append(rate.item())
        step += 1
        if step % 50 == 0:
            history.append({"step": step, "cpu_s": time.process_time() - t0, "bits_per_location": float(np.mean(running))})
            log(f"step {step}: {history[-1]['bits_per_location']:.4f} bits per location")
            running = []
    student.eval()
    return history
