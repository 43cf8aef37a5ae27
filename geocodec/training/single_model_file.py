"""Single-modality baseline models (``geocodec.model.single_modality``) as files: saved and loaded
through the one weights format of ``geocodec.model_file`` (its ``modality`` field, sealed), plus
reading the model out of a training run folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from geocodec.model.config import ModelConfig
from geocodec.model.single_modality import SingleModalityModel
from geocodec.model_file import load_single_model, model_sha256, save_model_file
from geocodec.training.checkpoint import model_tensors

__all__ = ["load_single_model", "model_from_checkpoint", "save_single_model"]


def save_single_model(model: SingleModalityModel, path, *, name: str, version: str = "0", note: str = "") -> str:
    """``model_file.save_model_file`` with a default version: freeze the tables, write, return the sealed sha256."""
    return save_model_file(model, path, name=name, version=version, note=note)


def model_from_checkpoint(run_dir, device: str | torch.device = "cpu") -> SingleModalityModel:
    """The model of a training run directory (``train_log.json`` + ``checkpoint.safetensors``)."""
    from safetensors.torch import load_file

    run = Path(run_dir)
    hist = json.loads((run / "train_log.json").read_text())
    cfg = hist["config"]
    model = SingleModalityModel(ModelConfig.from_json(json.dumps(hist["model"])), cfg.get("modality", "joint"))
    tensors = load_file(str(run / "checkpoint.safetensors"))
    model.load_state_dict(model_tensors(tensors), strict=False)
    model.entropy.freeze_tables()
    model.name = f"{run.name}@step{hist['steps'][-1]['step'] if hist['steps'] else 0}"
    model.sha256 = model_sha256(model)  # the sha256 its exported weights file will have (provenance)
    return model.to(device).eval()
