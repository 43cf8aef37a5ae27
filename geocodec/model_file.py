"""Weights files: safetensors with the architecture and a content sha256 in their metadata.

Never pickled: safetensors stores raw tensors only. The sha256 is taken over the tensors
themselves (sorted names, dtype, shape, bytes), so it can live inside the file it describes
and identifies a model independently of how the file was written.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.numpy import load_file as _np_load
from safetensors.torch import save_file

from geocodec.errors import ModelIntegrityError, UnknownModelError
from geocodec.model import JointCodecModel, ModelConfig

FORMAT = "geocodec-model-1"


def tensor_digest(tensors: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        h.update(f"{name}|{a.dtype.str}|{list(a.shape)}\n".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save_model_file(model: JointCodecModel, path, *, name: str, version: str, note: str = "") -> str:
    """Freeze the entropy tables, write the weights and return their sha256."""
    model.entropy.freeze_tables()
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    digest = tensor_digest({k: v.numpy() for k, v in state.items()})
    meta = {
        "format": FORMAT,
        "name": name,
        "version": version,
        "sha256": digest,
        "config": model.config.to_json(),
        "note": note,
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata=meta)
    return digest


def read_metadata(path) -> dict:
    """The metadata header of a safetensors file (no tensors read)."""
    try:
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if n <= 0 or n > 100_000_000:
                raise ValueError("bad header length")
            header = json.loads(f.read(n))
    except (OSError, ValueError) as e:
        raise UnknownModelError(f"{path} is not a readable safetensors weights file ({e})") from None
    meta = header.get("__metadata__") or {}
    if meta.get("format") != FORMAT:
        raise UnknownModelError(f"{path} is not a geocodec model file (format={meta.get('format')!r})")
    return meta


def load_model_file(path, *, expected_sha256: str | None = None) -> tuple[JointCodecModel, dict]:
    """Rebuild the model from a weights file, verifying the content sha256."""
    meta = read_metadata(path)
    try:
        arrays = _np_load(str(path))
    except (SafetensorError, OSError) as e:
        raise ModelIntegrityError(f"cannot read weights {path}: {e}") from None
    digest = tensor_digest(arrays)
    if digest != meta["sha256"]:
        raise ModelIntegrityError(f"weights {path} are corrupt: sha256 {digest} != recorded {meta['sha256']}")
    if expected_sha256 is not None and digest != expected_sha256:
        raise ModelIntegrityError(
            f"weights {path} have sha256 {digest}, but the registry expects {expected_sha256}")
    model = JointCodecModel(ModelConfig.from_json(meta["config"]))
    state = {k: torch.from_numpy(v.copy()) for k, v in arrays.items()}
    # compressai's CDF buffers start empty: give them the stored shapes before loading.
    for key, value in state.items():
        owner, _, attr = key.rpartition(".")
        module = model.get_submodule(owner)
        if attr in module._buffers and module._buffers[attr] is not None and module._buffers[attr].shape != value.shape:
            module._buffers[attr] = torch.empty_like(value)
    model.load_state_dict(state)
    model.eval()
    return model, meta
