"""What a training checkpoint holds besides the weights: optimiser moments, RNG state, the host.

Everything is safetensors (nothing is pickled). Moments may be stored in bf16, which halves a
checkpoint (≈ 37 MB instead of 55 MB at 4.6 M parameters) at the cost of a resume that is close
to, not exactly, continuous.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import torch

MOMENT_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def model_tensors(tensors: dict) -> dict:
    """A checkpoint's model tensors (stored under ``model.``), with their module keys."""
    return {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}


def optim_state(opt: torch.optim.Optimizer, prefix: str, dtype: torch.dtype = torch.float32) -> dict:
    out = {}
    for i, st in opt.state_dict()["state"].items():
        for k, v in st.items():
            if isinstance(v, (list, tuple)):  # SOAP's preconditioner: not stored (re-estimated on resume)
                continue
            v = torch.as_tensor(v).detach().cpu()
            if v.is_floating_point() and v.numel() > 1:
                v = v.to(dtype)
            out[f"{prefix}.{i}.{k}"] = v.contiguous()
    return out


def load_optim_state(opt: torch.optim.Optimizer, tensors: dict, prefix: str) -> None:
    sd = opt.state_dict()
    state: dict = {}
    for key, v in tensors.items():
        if key.startswith(prefix + "."):
            _, i, k = key.split(".", 2)
            state.setdefault(int(i), {})[k] = v.float() if v.is_floating_point() else v
    sd["state"] = state
    opt.load_state_dict(sd)


def check_resumed_architecture(history: dict, config, run_dir) -> None:
    """A resume continues the run's own architecture: its checkpoint would load into another one
    with the same tensor shapes (a latent stride of 8 or 16 has the same weights) and train a
    different model silently, so a configuration that differs from the run's is refused."""
    from geocodec.errors import InvalidInputError
    from geocodec.model import ModelConfig

    if "model" not in history:
        return
    run = ModelConfig.from_json(json.dumps(history["model"]))
    if run != config:
        diff = {k: (getattr(run, k), getattr(config, k)) for k in run.__dataclass_fields__
                if getattr(run, k) != getattr(config, k)}
        wanted = json.dumps({k: list(v[0]) if isinstance(v[0], tuple) else v[0] for k, v in diff.items()})
        raise InvalidInputError(
            f"the run in {run_dir} was trained with " + ", ".join(f"{k}={a!r}" for k, (a, _) in diff.items())
            + ", the configuration asks for " + ", ".join(f"{k}={b!r}" for k, (_, b) in diff.items())
            + f": resume it with its own architecture (--model '{wanted}') or train into a new --out")
