"""Weights files of single-modality baseline models (``geocodec.model.single_modality``).

Safetensors with the architecture, the modality and a content sha256 in the metadata, never
pickled, like the joint model's ``geocodec.model_file`` (format ``geocodec-single-modality-1``);
plus reading the model out of a training run folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.numpy import load_file as _np_load
from safetensors.torch import save_file

from geocodec.errors import ModelIntegrityError, UnknownModelError
from geocodec.model.config import ModelConfig
from geocodec.model.single_modality import SingleModalityModel
from geocodec.model_file import tensor_digest

FORMAT = "geocodec-single-modality-1"


def save_single_model(model: SingleModalityModel, path, *, name: str, version: str = "0", note: str = "") -> str:
    """Freeze entropy tables and write safetensors with config, modality and content sha256."""
    model.entropy.freeze_tables()
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    digest = tensor_digest({k: v.numpy() for k, v in state.items()})
    meta = {"format": FORMAT, "name": name, "version": version, "sha256": digest,
            "modality": model.modality, "config": model.config.to_json(), "note": note}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata=meta)
    return digest


def load_single_model(path, device: str | torch.device = "cpu") -> SingleModalityModel:
    """Rebuild a single-modality model from its weights file, verifying its sha256 (no pickle)."""
    try:
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if n <= 0 or n > 100_000_000:
                raise ValueError("bad header length")
            meta = json.loads(f.read(n)).get("__metadata__") or {}
        arrays = _np_load(str(path))
    except (OSError, ValueError, SafetensorError) as e:
        raise UnknownModelError(f"{path} is not a readable safetensors weights file ({e})") from None
    if meta.get("format") != FORMAT:
        raise UnknownModelError(f"{path} is not a geocodec single-modality model (format={meta.get('format')!r})")
    if tensor_digest(arrays) != meta["sha256"]:
        raise ModelIntegrityError(f"weights {path} are corrupt: content sha256 differs from the recorded one")
    model = SingleModalityModel(ModelConfig.from_json(meta["config"]), meta["modality"])
    state = {k: torch.from_numpy(v.copy()) for k, v in arrays.items()}
    model.load_state_dict(state)
    model.name = meta["name"]
    model.sha256 = meta["sha256"]
    return model.to(device).eval()


def model_from_checkpoint(run_dir, device: str | torch.device = "cpu") -> SingleModalityModel:
    """The model of a training run directory (``train_log.json`` + ``checkpoint.safetensors``)."""
    from safetensors.torch import load_file

    run = Path(run_dir)
    hist = json.loads((run / "train_log.json").read_text())
    cfg = hist["config"]
    model = SingleModalityModel(ModelConfig.from_json(json.dumps(hist["model"])), cfg.get("modality", "joint"))
    tensors = load_file(str(run / "checkpoint.safetensors"))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, strict=False)
    model.entropy.freeze_tables()
    # the sha256 the weights would have if exported with save_single_model (for provenance)
    model.name = f"{run.name}@step{hist['steps'][-1]['step'] if hist['steps'] else 0}"
    model.sha256 = tensor_digest({k: v.detach().cpu().contiguous().numpy() for k, v in model.state_dict().items()})
    return model.to(device).eval()


