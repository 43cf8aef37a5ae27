"""A synthesis transform as fused oneDNN convolutions: the ``"torch-bf16"`` decoders on a CPU.

Why: at a chunk's sizes a bf16 synthesis spends about a fifth of its time outside its
convolutions: LeakyReLU and the residual additions are each a pass over the largest activations,
and every call re-lays out the weights. oneDNN applies an activation or an addition as a
*post-op* of the convolution that produces it, on its fp32 accumulator, before the one rounding
to bf16; these are the operators ``torch.compile`` emits on CPUs (``torch.ops.mkldnn
._convolution_pointwise`` and its transposed and binary forms), called here without compiling, on
weights reordered once into oneDNN's own layout. Measured on an AMX host (one thread, a 256² chunk
of ``default``): 7.4 → 5.6 ms per decoder, and closer to fp32 than the unfused bf16 layers (each
fused result is rounded once instead of twice; ``benchmarks/decode_tolerance.py``).

Only what ``SynthesisTransform`` is made of is fused (convolutions and transposed convolutions,
each optionally followed by LeakyReLU, residual blocks, identities); ``fuse`` returns None for any
other layer, or where this torch or CPU has no such kernel (no oneDNN, or no bf16 support under
``ONEDNN_MAX_CPU_ISA``), and the caller then runs the module itself.
"""

from __future__ import annotations

import torch
from torch import nn

from geocodec.model.layers import ResidualBlock

_ONE = [1, 1]


def available() -> bool:
    """Whether this torch has oneDNN's fused convolution operators on the CPU."""
    mkldnn = getattr(torch.ops, "mkldnn", None)
    return (torch.backends.mkldnn.is_available() and mkldnn is not None
            and hasattr(mkldnn, "_convolution_pointwise") and hasattr(mkldnn, "_convolution_transpose_pointwise"))


class _Conv:
    """One convolution (or transposed convolution) with its activation as a post-op."""

    def __init__(self, m: nn.Module, slope: float | None, input_shape: list[int]):
        ops, self.transposed = torch.ops.mkldnn, isinstance(m, nn.ConvTranspose2d)
        if m.groups != 1 or tuple(m.dilation) != (1, 1) or m.bias is None or m.padding_mode != "zeros":
            raise TypeError(f"{m} is not one of the convolutions the fused synthesis runs")
        self.padding, self.stride = list(m.padding), list(m.stride)
        self.output_padding = list(m.output_padding) if self.transposed else None
        self.attr, self.scalars = ("leaky_relu", [slope]) if slope is not None else ("none", [])
        w = m.weight.detach()
        self.weight = (ops._reorder_convolution_transpose_weight(w, self.padding, self.output_padding, self.stride,
                                                                 _ONE, 1, input_shape) if self.transposed
                       else ops._reorder_convolution_weight(w, self.padding, self.stride, _ONE, 1, input_shape))
        self.bias = m.bias.detach()

    def __call__(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        ops = torch.ops.mkldnn
        if self.transposed:
            return ops._convolution_transpose_pointwise(x, self.weight, self.bias, self.padding, self.output_padding,
                                                        self.stride, _ONE, 1, self.attr, self.scalars, "")
        if residual is not None:  # conv(x) + residual, added on the accumulator
            return ops._convolution_pointwise.binary(x, residual, self.weight, self.bias, self.padding, self.stride,
                                                     _ONE, 1, "add", None, None, [], "")
        return ops._convolution_pointwise(x, self.weight, self.bias, self.padding, self.stride, _ONE, 1,
                                          self.attr, self.scalars, "")


class _Residual:
    """``ResidualBlock``: conv → LeakyReLU (post-op) → conv + the identity (post-op)."""

    def __init__(self, block: ResidualBlock, input_shape: list[int]):
        first, act, second = block.body
        self.first, self.second = _Conv(first, act.negative_slope, input_shape), _Conv(second, None, input_shape)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(self.first(x), residual=x)


class FusedSynthesis(nn.Module):
    """A ``SynthesisTransform``'s body (bf16 weights) as fused steps; takes and returns bf16
    channels_last tensors like the module it was made from (a Module, so forward hooks see it)."""

    def __init__(self, steps: list):
        super().__init__()
        self.steps = steps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for step in self.steps:
            x = step(x)
        return x


def _shape_after(step: "_Conv", shape: list[int], channels: int) -> list[int]:
    """The (N, C, H, W) of a convolution's output for an input of ``shape``: the next reorder's size
    hint (a hint only: the reordered weights serve inputs of any size)."""
    n, _, h, w = shape
    s = step.stride[0]
    return [n, channels, h * s, w * s] if step.transposed else [n, channels, h // s, w // s]


def fuse(decoder: nn.Module, latent_channels: int, probe_hw: tuple[int, int] = (32, 32)) -> FusedSynthesis | None:
    """``decoder`` (a bf16 ``SynthesisTransform`` copy) as a ``FusedSynthesis``, checked once on a
    probe latent against the module itself (same shape, finite, within bf16 rounding); None where
    it cannot be fused here."""
    if not available() or next(decoder.parameters()).device.type != "cpu":
        return None
    mods = [m for m in decoder.body if not isinstance(m, nn.Identity)]
    shape = [1, latent_channels, *probe_hw]
    steps, i = [], 0
    try:
        while i < len(mods):
            m = mods[i]
            if isinstance(m, ResidualBlock):
                steps.append(_Residual(m, shape))
                i += 1
                continue
            if not isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                return None
            act = mods[i + 1] if i + 1 < len(mods) and isinstance(mods[i + 1], nn.LeakyReLU) else None
            steps.append(_Conv(m, act.negative_slope if act is not None else None, shape))
            shape = _shape_after(steps[-1], shape, m.out_channels)
            i += 2 if act is not None else 1
        fused = FusedSynthesis(steps)
        probe = torch.zeros(1, latent_channels, *probe_hw, dtype=torch.bfloat16).contiguous(
            memory_format=torch.channels_last)
        with torch.inference_mode():
            got, want = fused(probe), decoder(probe)
        if got.shape != want.shape or not bool(torch.isfinite(got).all()):
            return None
        if float((got.float() - want.float()).abs().max()) > 0.05 * (float(want.float().abs().max()) + 1.0):
            return None  # not the module's arithmetic: run the module
        return fused
    except (RuntimeError, TypeError):  # no bf16 kernel for this CPU / ISA cap, or a layer it cannot fuse
        return None
