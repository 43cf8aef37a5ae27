"""Optional fast CPU coding: the model's networks as ONNX Runtime graphs (``backend="onnx"`` / ``"onnx-int8"``).

On a CPU the synthesis networks are about 60 % of a decode and the analysis network about 80 % of
an encode. This backend builds, from the loaded model at run time (no extra weight files), one
graph per network (the analysis transform, each modality's synthesis transform):

1. an exact float copy of the network in which every 5×5 stride-2 transposed convolution is
   rewritten as a 3×3 convolution to 4× the channels followed by ``PixelShuffle(2)`` (the same
   sums in another order: float32 rounding apart, identical), which CPU kernels run well, and a
   stride-1 one (a stride-8 model's first synthesis step) as the plain convolution it is;
2. its ONNX graph (``torch.onnx.export``, dynamic batch, height and width);
3. for ``"onnx-int8"``, a statically quantised QDQ graph (int8 weights per channel, uint8
   activations), calibrated on fixed synthetic pairs (seeded) and the latents the model's own
   encoder makes from them, so every build on every machine calibrates identically.

``"onnx"`` computes what the torch networks compute, to float32 rounding. ``"onnx-int8"`` is lossy
beyond the codec itself (the PSNR and rate cost is measured in ``benchmarks/throughput.py`` and
stated in the README). Both are deterministic: a session with fixed threads maps the same input to
the same output. On encode only the analysis transform changes, so the chunks are ordinary chunks
that any backend decodes; on decode only the synthesis changes. Entropy coding is never touched.
Needs ``onnxruntime`` and ``onnx`` (the ``fast`` extra).
"""

from __future__ import annotations

import io
import tempfile
import threading
from pathlib import Path

import numpy as np
import torch
from torch import nn

from geocodec.errors import BackendUnavailableError
from geocodec.model.layers import is_subpixel_deconv, subpixel_weight

#: Calibration: fixed seeds, sizes and rates (λ spread over the model's range, γ over [0, 1]).
CALIBRATION_SEEDS = (11, 12, 13, 14, 15, 16)
CALIBRATION_SIZE = 128

_sessions: dict[tuple[str, str], object] = {}
_build_lock = threading.Lock()


def _require():
    try:
        import onnx  # noqa: F401
        import onnxruntime
        from onnxruntime import quantization  # noqa: F401
    except ImportError as e:
        raise BackendUnavailableError(
            f"backend='onnx' and 'onnx-int8' need onnxruntime and onnx ({e.name} is missing): "
            "pip install 'geocodec[fast]', or use backend='torch'") from None
    return onnxruntime


class _PixelShuffleDeconv(nn.Module):
    """A 5×5, stride-2, padding-2, output-padding-1 ``ConvTranspose2d`` as 3×3 conv + PixelShuffle(2)
    (``layers.subpixel_weight``: the same sums in another order)."""

    def __init__(self, t: nn.ConvTranspose2d):
        super().__init__()
        assert is_subpixel_deconv(t), "only the codec's 5×5 stride-2 deconvolutions are rewritten"
        self.conv = nn.Conv2d(t.in_channels, 4 * t.out_channels, 3, padding=1)
        self.conv.weight.data = subpixel_weight(t.weight.detach())
        self.conv.bias.data = t.bias.detach().repeat_interleave(4)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x):
        return self.shuffle(self.conv(x))


def _as_convolution(t: nn.ConvTranspose2d) -> nn.Conv2d:
    """A stride-1 ``ConvTranspose2d`` (the first synthesis step of a stride-8 model) as the ordinary
    convolution it is: the kernel flipped and its in/out axes swapped, same padding (same sums)."""
    k, p = t.kernel_size[0], t.padding[0]
    assert t.stride == (1, 1) and t.kernel_size == (k, k) and t.padding == (p, p) and 2 * p == k - 1 \
        and t.output_padding == (0, 0) and t.groups == 1 and t.dilation == (1, 1), \
        f"only same-size stride-1 transposed convolutions are rewritten as convolutions, not {t}"
    conv = nn.Conv2d(t.in_channels, t.out_channels, k, padding=p)
    conv.weight.data = t.weight.detach().transpose(0, 1).flip(2, 3).contiguous()
    conv.bias.data = t.bias.detach().clone()
    return conv


def rewrite_deconvolutions(module: nn.Module) -> nn.Module:
    """A float copy of ``module`` with every transposed convolution as conv + PixelShuffle (stride 2)
    or as a plain convolution (stride 1)."""
    import copy

    out = copy.deepcopy(module).float().cpu().eval()

    def swap(parent: nn.Module):
        for name, child in parent.named_children():
            if isinstance(child, nn.ConvTranspose2d):
                setattr(parent, name, _as_convolution(child) if child.stride == (1, 1) else _PixelShuffleDeconv(child))
            else:
                swap(child)

    swap(out)
    for m in out.modules():  # in-place activations would not survive export as separate nodes cleanly
        if isinstance(m, nn.LeakyReLU):
            m.inplace = False
    return out


def _calibration_inputs(model) -> list[tuple[torch.Tensor, ...]]:
    """Fixed synthetic pairs, normalised as the codec normalises them, with γ and λ spread over
    their ranges: (x_opt, x_sar, γ, λ), each a batch of one on the model's device.

    Made here from the network alone (not through ``geocodec.codec``) so that the model layer never
    calls back up into the codec; the same tensors the codec would feed the network.
    """
    from scipy.ndimage import gaussian_filter

    from geocodec.normalize import apply_scaling, fit_scaling

    net, dev = model.net, model.device
    lo, hi = model.lmbda_range
    lams = np.exp(np.linspace(np.log(lo), np.log(hi), len(CALIBRATION_SEEDS)))
    s = CALIBRATION_SIZE
    assert net.padded_hw(s, s) == (s, s), "calibration pairs need no padding"
    out = []
    for k, seed in enumerate(CALIBRATION_SEEDS):
        rng = np.random.default_rng(seed)
        base = gaussian_filter(rng.standard_normal((s, s)), 3 + k)
        base = (base - base.min()) / (np.ptp(base) + 1e-9)
        opt = np.stack([300 + 4000 * base ** (1 + 0.3 * b) + 60 * gaussian_filter(rng.standard_normal((s, s)), 1)
                        for b in range(len(model.optical_bands))]).astype(np.uint16)
        sar = np.stack([-18 + 12 * base + rng.normal(0, 1.5, (s, s)) - 6 * b
                        for b in range(len(model.sar_bands))]).astype(np.float32)
        x_opt, x_sar = (torch.from_numpy(apply_scaling(v, fit_scaling(v))[None]).to(dev)
                        for v in (opt.astype(np.float64), sar.astype(np.float64)))
        lam = torch.tensor([float(np.float32(lams[k]))], dtype=torch.float32, device=dev)
        gamma = torch.tensor([k / (len(CALIBRATION_SEEDS) - 1)], dtype=torch.float32, device=dev)
        out.append((x_opt, x_sar, gamma, lam))
    return out


def _calibration_feeds(model, part: str) -> list[dict[str, np.ndarray]]:
    """The graph inputs of ``part`` for the calibration pairs: what that network sees in use
    (for a decoder, the gained latents ŷ after a round trip through the entropy coder)."""
    net = model.net
    feeds = []
    for x_opt, x_sar, gamma, lam in _calibration_inputs(model):
        if part == "analysis":
            feeds.append({"optical": x_opt.cpu().numpy(), "sar": x_sar.cpu().numpy(), "gamma": gamma.cpu().numpy()})
            continue
        with torch.inference_mode():
            streams = net.compress_latent(net.analysis(x_opt, x_sar, gamma, lam))
            y_dec = net.decoder_input(net.decompress_latent(streams, net.latent_hw(*x_opt.shape[-2:]), lam), lam)
        feeds.append({"latent": y_dec.cpu().numpy()})
    return feeds


def _network(model, part: str) -> tuple[nn.Module, tuple, list[str], dict]:
    """The float network of ``part`` (rewritten for export), an example input, input names, axes."""
    net = model.net
    c = net.config
    if part == "analysis":
        example = (torch.zeros(1, c.n_optical, 64, 64), torch.zeros(1, c.n_sar, 64, 64), torch.zeros(1))
        axes = {"optical": {0: "n", 2: "h", 3: "w"}, "sar": {0: "n", 2: "h", 3: "w"}, "gamma": {0: "n"},
                "output": {0: "n", 2: "a", 3: "b"}}
        return rewrite_deconvolutions(net.encoder), example, ["optical", "sar", "gamma"], axes
    decoder = net.optical_decoder if part == "optical" else net.sar_decoder
    axes = {"latent": {0: "n", 2: "h", 3: "w"}, "output": {0: "n", 2: "H", 3: "W"}}
    return rewrite_deconvolutions(decoder), (torch.zeros(1, c.latent_channels, 4, 4),), ["latent"], axes


def _graph(model, part: str, int8: bool) -> bytes:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    module, example, names, axes = _network(model, part)
    buf = io.BytesIO()
    torch.onnx.export(module, example, buf, input_names=names, output_names=["output"], dynamic_axes=axes,
                      opset_version=17, dynamo=False)
    if not int8:
        return buf.getvalue()
    feeds = iter(_calibration_feeds(model, part))

    class Reader(CalibrationDataReader):
        def get_next(self):
            return next(feeds, None)

    import logging

    quiet = logging.getLogger()  # onnxruntime.quantization advises on the root logger
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with tempfile.TemporaryDirectory(prefix="geocodec-int8-") as tmp:
            f32, q8 = Path(tmp) / "f32.onnx", Path(tmp) / "int8.onnx"
            f32.write_bytes(buf.getvalue())
            quantize_static(str(f32), str(q8), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
            return q8.read_bytes()
    finally:
        quiet.setLevel(level)


def session(model, part: str, backend: str):
    """The ONNX Runtime session of one model's network (``"analysis"``, ``"optical"`` or ``"sar"``)
    for ``backend`` (``"onnx"`` or ``"onnx-int8"``), built on first use, then cached."""
    key = (model.sha256, part, backend)
    if key not in _sessions:
        ort = _require()
        with _build_lock:
            if key not in _sessions:
                opts = ort.SessionOptions()
                opts.intra_op_num_threads = max(1, torch.get_num_threads())
                opts.inter_op_num_threads = 1
                opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
                _sessions[key] = ort.InferenceSession(_graph(model, part, backend == "onnx-int8"),
                                                      sess_options=opts, providers=["CPUExecutionProvider"])
    return _sessions[key]


def _numpy(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().float().cpu().numpy())


def synthesize(model, y_dec: torch.Tensor, modality: str, backend: str = "onnx-int8") -> np.ndarray:
    """Decoded latents (N, M, h, w) → that modality's normalised bands (N, C, H, W) float32."""
    return session(model, modality, backend).run(None, {"latent": _numpy(y_dec)})[0]


def analyse(model, x_opt: torch.Tensor, x_sar: torch.Tensor, gamma: torch.Tensor, backend: str) -> torch.Tensor:
    """The analysis transform (``JointEncoder``) through ONNX Runtime: normalised, padded inputs and
    γ → features on the model's device (the λ gain is applied by the caller, as for torch)."""
    out = session(model, "analysis", backend).run(
        None, {"optical": _numpy(x_opt), "sar": _numpy(x_sar), "gamma": _numpy(gamma)})[0]
    return torch.from_numpy(out).to(x_opt.device)
