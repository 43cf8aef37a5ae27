"""The ``"torch-bf16"`` backend: the analysis and synthesis transforms in bf16 autocast + channels_last.

On a CPU with bf16 units (Intel AMX, AVX512-BF16 on Intel and AMD Zen 4) or a CUDA GPU with bf16,
the networks' convolutions run several times faster in bf16 than in fp32 (``geocodec.precision``
decides, and ``precision.resolve_backend`` picks this backend for ``backend="auto"`` there). Only
the networks that do not define the bitstream's decoding run here:

* the analysis transform (``JointEncoder``), when encoding: it only changes *which* latent is coded;
  the λ gain, quantisation and the entropy model stay fp32 / float64, so the chunk is an ordinary chunk;
* the synthesis transforms, when decoding: they only change how the (bit-identical) ŷ becomes pixels.

Each network runs as a cached copy of the model's own, so the model that the ``"torch"`` reference
uses is never changed: the analysis copy keeps fp32 weights in channels_last layout and runs in
autocast (its attention's softmax and norms stay fp32 there); the synthesis copies hold their
weights in bf16 and run on bf16 tensors without autocast, on a CPU as fused oneDNN convolutions
(``fused_synthesis``: LeakyReLU and the residual additions as post-ops, weights reordered once),
elsewhere as the module's own bf16 layers (what autocast would run, without casting every weight
at every call). bf16 rounds each convolution's inputs and outputs; the cost against fp32 is
measured in ``benchmarks/decode_tolerance.py`` and ``benchmarks/throughput.py`` and stated in the README. One input maps to the same output on one
machine whatever the thread count; decoding is per chunk (batch of one) as for fp32.
"""

from __future__ import annotations

import copy
import threading
import weakref

import torch
from torch import nn

from geocodec import precision
from geocodec.model import fused_synthesis

_copies: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # net → {part: channels_last copy}
#: The parts that run as pure bf16 copies (weights cast once); the analysis runs in autocast.
SYNTHESIS_PARTS = ("optical", "sar")
_lock = threading.Lock()


def network(net: nn.Module, part: str) -> nn.Module:
    """The channels_last copy of ``net``'s ``part`` (``"analysis"``, ``"optical"``, ``"sar"``), made once."""
    parts = _copies.get(net)
    if parts is None or part not in parts:
        with _lock:
            parts = _copies.setdefault(net, {})
            if part not in parts:
                source = {"analysis": net.encoder, "optical": net.optical_decoder, "sar": net.sar_decoder}[part]
                net_copy = precision.to_layout(copy.deepcopy(source), "bf16").eval()
                if part in SYNTHESIS_PARTS:
                    net_copy = net_copy.to(torch.bfloat16)
                    net_copy = fused_synthesis.fuse(net_copy, net.config.latent_channels) or net_copy
                parts[part] = net_copy
    return parts[part]


def synthesize(model, y_dec: torch.Tensor, modality: str) -> torch.Tensor:
    """Gained latents (N, M, h, w) → that modality's normalised bands (N, C, H, W) float32."""
    decoder = network(model.net, modality)
    with torch.inference_mode():
        out = decoder(precision.to_layout(y_dec, "bf16").to(torch.bfloat16))
    return out.to(torch.float32, memory_format=torch.contiguous_format)  # one pass: dtype and layout


def analyse(model, x_opt: torch.Tensor, x_sar: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """The analysis transform in bf16: normalised, padded inputs and γ → float32 features (N, M, h, w)
    (before the λ gain, which the caller applies in fp32 as for ``"torch"``)."""
    encoder = network(model.net, "analysis")
    with torch.inference_mode(), precision.autocast("bf16", x_opt.device):
        out = encoder(precision.to_layout(x_opt, "bf16"), precision.to_layout(x_sar, "bf16"), gamma)
    return out.float().contiguous()
