"""Numeric precision of the networks' convolutions: the one place that decides fp32 or bf16.

bf16 autocast with channels_last runs convolutions on the CPU's bf16 units (Intel AMX, or
AVX512-BF16 on Intel and AMD Zen 4), several times faster than fp32, and keeps fp32 master weights:
only the convolution inputs and outputs are rounded. The entropy model's likelihoods, the rates and
the distortions stay fp32 (callers leave the autocast region for them; see ``fp32``).

The choice honours ``ONEDNN_MAX_CPU_ISA``: oneDNN reads it once, when torch loads, and a cap
below the bf16 ISAs (``AVX2``, ``AVX512_CORE``, …) means oneDNN would emulate bf16 slowly, so
``auto`` then chooses fp32 as on a CPU without bf16 units.
"""

from __future__ import annotations

import contextlib
import os

import torch

from geocodec.options import PRECISIONS

#: oneDNN ISA names (``ONEDNN_MAX_CPU_ISA``) at or above which bf16 convolutions run natively.
_BF16_ISAS = ("AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16",
              "AVX10_1_512", "AVX10_1_512_AMX", "AVX10_1_512_AMX_FP16", "AVX10_2_512", "AVX10_2_512_AMX_2",
              "DEFAULT", "ALL")


def cpu_bf16_units() -> str | None:
    """``"amx"``, ``"avx512_bf16"`` or None: the bf16 hardware oneDNN may use here (cap included)."""
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", os.environ.get("DNNL_MAX_CPU_ISA", "")).strip().upper()
    if cap and cap not in _BF16_ISAS:
        return None
    cpu = getattr(torch, "cpu", None)
    if cpu is not None and getattr(cpu, "_is_amx_tile_supported", lambda: False)():
        return "amx"
    if cpu is not None and getattr(cpu, "_is_avx512_bf16_supported", lambda: False)():
        return "avx512_bf16"
    return None


def resolve_precision(precision: str, device: torch.device | str = "cpu") -> str:
    """``"fp32"`` or ``"bf16"`` for ``precision`` on ``device``; ``auto`` picks bf16 where it is native."""
    if precision not in PRECISIONS:
        from geocodec.errors import InvalidInputError

        raise InvalidInputError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    dev = torch.device(device)
    if precision != "auto":
        if precision == "bf16" and dev.type == "cpu" and cpu_bf16_units() is None:
            import warnings

            warnings.warn("precision='bf16' on a CPU without native bf16 units (or with ONEDNN_MAX_CPU_ISA "
                          "capping them): it runs, but slower than fp32", RuntimeWarning, stacklevel=2)
        return precision
    if dev.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_bf16_units() else "fp32"


def describe(precision: str, device: torch.device | str = "cpu") -> str:
    """One line for logs: what runs the convolutions."""
    dev = torch.device(device)
    if precision == "fp32":
        return f"fp32 on {dev.type}"
    units = cpu_bf16_units() if dev.type == "cpu" else "cuda"
    return f"bf16 autocast + channels_last on {dev.type} ({units or 'emulated'}), fp32 weights, rates and losses"


def autocast(precision: str, device: torch.device | str = "cpu"):
    """The context the networks' forward runs in: bf16 autocast, or nothing for fp32."""
    dev = torch.device(device)
    if precision == "bf16":
        return torch.autocast(dev.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def fp32():
    """Leave an enclosing autocast region (for likelihoods, rates and distortions)."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(torch.autocast("cpu", enabled=False))
        if torch.cuda.is_available():
            stack.enter_context(torch.autocast("cuda", enabled=False))
        yield


def to_layout(module_or_tensor, precision: str):
    """channels_last for bf16 (the layout oneDNN's bf16 kernels want), unchanged for fp32."""
    if precision == "bf16":
        if isinstance(module_or_tensor, torch.Tensor):
            return module_or_tensor.contiguous(memory_format=torch.channels_last) \
                if module_or_tensor.dim() == 4 else module_or_tensor
        return module_or_tensor.to(memory_format=torch.channels_last)
    return module_or_tensor


def resolve_backend(backend: str, device: torch.device | str = "cpu") -> str:
    """The network backend ``backend`` runs as on ``device``: ``"auto"`` becomes ``"torch-bf16"`` where
    ``resolve_precision("auto", device)`` says bf16 (CPU with AMX / AVX512-BF16, not capped by
    ``ONEDNN_MAX_CPU_ISA``; CUDA with bf16), else ``"torch"`` (fp32). Other backends pass through.
    The one place ``backend="auto"`` is decided, for encoding and decoding alike."""
    if backend != "auto":
        return backend
    return "torch-bf16" if resolve_precision("auto", device) == "bf16" else "torch"
