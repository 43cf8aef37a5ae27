"""Weights files: safetensors with the architecture and a sealed sha256 in their metadata.

Never pickled: safetensors stores raw tensors only. A model's identity is its **sealed**
sha256, taken over the tensors (sorted names, dtype, shape, bytes) *and* the canonical JSON of
its config, so neither the weights nor the architecture / λ range can change without the
sha256 changing; the sha256 lives inside the file it describes and is written into every chunk.

Files of the first format (``geocodec-model-1``) carry a tensor-only sha256 that chunks
already name (the shipped ``default`` v1.0.0): they keep that identity, and their config is
verified against the seal the registry records for them (``sealed_sha256``).

One format for every network geocodec trains: the joint codec (no ``modality`` field) and the
single-modality baseline models of the evaluation (``modality``: ``"optical"`` or ``"sar"``, sealed
with the rest, so a file cannot be passed off as the other modality's). ``load_model_file`` builds
only the kinds it is asked for: the registry loads joint codecs, ``load_single_model`` baselines.

Every size is checked before anything is allocated: the safetensors header length, the
config's dimensions (``ModelConfig`` bounds), and the tensors' shapes against the model the
config describes.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.numpy import load_file as _np_load
from safetensors.torch import save_file

from geocodec.errors import ModelIntegrityError, UnknownModelError
from geocodec.model import JointCodecModel, ModelConfig
from geocodec.model.single_modality import SingleModalityModel

FORMAT = "geocodec-model-2"
LEGACY_FORMAT = "geocodec-model-1"
FORMATS = (FORMAT, LEGACY_FORMAT)
#: What a weights file holds: the joint codec, or one modality's baseline model.
JOINT = "joint"
KINDS = (JOINT, "optical", "sar")
#: A geocodec model's safetensors JSON header is a few tens of kB; anything far larger is not one.
MAX_HEADER_BYTES = 4 * 1024 * 1024


def tensor_digest(tensors: dict[str, np.ndarray]) -> str:
    """sha256 of the tensors alone (the identity of ``geocodec-model-1`` files)."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        h.update(f"{name}|{a.dtype.str}|{list(a.shape)}\n".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def sealed_digest(tensor_sha256: str, config: ModelConfig, kind: str = JOINT) -> str:
    """sha256 over the tensors' digest, the canonical config JSON and (single-modality models) the
    modality: the model's sealed identity."""
    h = hashlib.sha256(b"geocodec-sealed-model\n")
    h.update(tensor_sha256.encode() + b"\n")
    h.update(config.to_json().encode())
    if kind != JOINT:
        h.update(b"\nmodality=" + kind.encode())
    return h.hexdigest()


def kind_of(model) -> str:
    """``"joint"`` for the joint codec, else the single-modality model's modality."""
    return getattr(model, "modality", JOINT) if isinstance(model, SingleModalityModel) else JOINT


def _state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}


def model_sha256(model) -> str:
    """The sealed sha256 an in-memory model's weights file would have (its entropy tables frozen)."""
    return sealed_digest(tensor_digest({k: v.numpy() for k, v in _state(model).items()}), model.config, kind_of(model))


def parse_config(text, where="") -> ModelConfig:
    """The config JSON of a weights file → ``ModelConfig``; absurd sizes are refused here."""
    try:
        return ModelConfig.from_json(text)
    except (TypeError, ValueError, KeyError, AttributeError) as e:
        raise ModelIntegrityError(f"model file {where} has an invalid or implausible config: {e}") from None


def save_model_file(model: JointCodecModel | SingleModalityModel, path, *, name: str, version: str,
                    note: str = "") -> str:
    """Freeze the entropy tables, write the weights (joint or single-modality) and return their sealed sha256."""
    model.entropy.freeze_tables()
    state = _state(model)
    tensors = tensor_digest({k: v.numpy() for k, v in state.items()})
    kind = kind_of(model)
    sealed = sealed_digest(tensors, model.config, kind)
    meta = {
        "format": FORMAT,
        "name": name,
        "version": version,
        "sha256": sealed,
        "tensor_sha256": tensors,
        "config": model.config.to_json(),
        "note": note,
        **({} if kind == JOINT else {"modality": kind}),
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata=meta)
    return sealed


def _read_header(path) -> dict:
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if n <= 0 or n > MAX_HEADER_BYTES or n + 8 > size:
                raise ValueError(f"implausible header length {n}")
            header = json.loads(f.read(n))
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
    except (OSError, ValueError) as e:
        raise UnknownModelError(f"{path} is not a readable safetensors weights file ({e})") from None
    return header


def read_metadata(path) -> dict:
    """The metadata header of a safetensors file (no tensors read)."""
    meta = _read_header(path).get("__metadata__") or {}
    if meta.get("format") not in FORMATS:
        raise UnknownModelError(f"{path} is not a geocodec model file (format={meta.get('format')!r})")
    for key in ("name", "version", "sha256", "config"):
        if not isinstance(meta.get(key), str):
            raise UnknownModelError(f"{path} is not a geocodec model file (metadata lacks {key!r})")
    if meta.get("modality", JOINT) not in KINDS or (meta.get("modality", JOINT) != JOINT and meta["format"] != FORMAT):
        raise UnknownModelError(f"{path} is not a geocodec model file (modality={meta.get('modality')!r})")
    return meta


@dataclass
class ModelFileInfo:
    """What a weights file holds, verified: its metadata, config, identity and seal."""

    meta: dict
    config: ModelConfig
    sha256: str  # the identity chunks name: sealed (format 2) or tensor-only (format 1)
    sealed_sha256: str  # tensors + config, whatever the format
    legacy: bool
    kind: str = JOINT  # "joint", or a single-modality model's modality


def _expected_shapes(config: ModelConfig, header: dict, kind: str = JOINT) -> None:
    """Tensor names and sizes in the header must be exactly those the config describes."""
    declared = {k: v for k, v in header.items() if k != "__metadata__"}
    total = 0
    for k, v in declared.items():
        if not isinstance(v, dict) or not isinstance(v.get("shape"), list):
            raise ModelIntegrityError(f"weights header entry {k!r} is malformed")
        total += int(np.prod(v["shape"], dtype=np.int64))
    lo, hi = config.parameter_bounds()
    if kind != JOINT:  # one encoder branch and one decoder: about half the joint model
        lo //= 4
    if not lo <= total <= hi:
        raise ModelIntegrityError(f"weights declare {total} values, but their config describes a model of "
                                  f"{lo}…{hi} values: the file does not hold the model its config names")


def verify_model_file(path) -> tuple[ModelFileInfo, dict[str, np.ndarray]]:
    """Read and verify a weights file: header and config bounds first, then tensors, digests, seal."""
    header = _read_header(path)
    meta = read_metadata(path)
    config = parse_config(meta["config"], str(path))
    kind = meta.get("modality", JOINT)
    _expected_shapes(config, header, kind)
    try:
        arrays = _np_load(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelIntegrityError(f"cannot read weights {path}: {e}") from None
    tensors = tensor_digest(arrays)
    sealed = sealed_digest(tensors, config, kind)
    legacy = meta["format"] == LEGACY_FORMAT
    identity = tensors if legacy else sealed
    if identity != meta["sha256"]:
        raise ModelIntegrityError(
            f"weights {path} fail their integrity check (corrupt or edited): sha256 {identity} != recorded "
            f"{meta['sha256']} ({'tensors' if legacy else 'tensors or config'} changed since the file was sealed)")
    info = ModelFileInfo(meta=meta, config=config, sha256=identity, sealed_sha256=sealed, legacy=legacy, kind=kind)
    return info, arrays


def build_model(info: ModelFileInfo, arrays: dict[str, np.ndarray], path="") -> JointCodecModel | SingleModalityModel:
    """The torch module for a verified file (its config is bounded, so this allocation is too)."""
    model = JointCodecModel(info.config) if info.kind == JOINT else SingleModalityModel(info.config, info.kind)
    state = {k: torch.from_numpy(v.copy()) for k, v in arrays.items()}
    expected = model.state_dict()
    for key, value in state.items():
        if key not in expected:
            raise ModelIntegrityError(f"weights {path} hold tensor {key!r}, which the config's model has not")
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ModelIntegrityError(f"weights {path} do not fit the model their config describes: "
                                  f"{str(e).splitlines()[0]}") from None
    model.eval()
    return model


def load_model_file(path, *, expected_sha256: str | None = None, expected_seal: str | None = None,
                    kinds: tuple[str, ...] = (JOINT,)) -> tuple[JointCodecModel | SingleModalityModel, dict]:
    """Rebuild the model from a weights file, verifying its sha256 (and a legacy file's seal).

    ``kinds``: what the caller takes (``KINDS``); by default the joint codec only.
    """
    kind = read_metadata(path).get("modality", JOINT)
    if kind not in kinds:
        raise UnknownModelError(f"{path} holds a single-modality ({kind}) baseline model, not a geocodec codec"
                                if kind != JOINT else f"{path} holds the joint codec, not a single-modality model")
    info, arrays = verify_model_file(path)
    if expected_sha256 is not None and info.sha256 != expected_sha256:
        raise ModelIntegrityError(
            f"weights {path} have sha256 {info.sha256}, but the registry expects {expected_sha256}")
    if expected_seal is not None and info.sealed_sha256 != expected_seal:
        raise ModelIntegrityError(
            f"weights {path} (sha256 {info.sha256[:16]}…) have a config that differs from the one the registry "
            "sealed: the file was edited; reinstall geocodec or the model")
    return build_model(info, arrays, path), info.meta


def load_single_model(path, device: str | torch.device = "cpu") -> SingleModalityModel:
    """A single-modality baseline model from its weights file, verified (``.name`` and ``.sha256`` set)."""
    model, meta = load_model_file(path, kinds=KINDS[1:])
    model.name = meta["name"]
    model.sha256 = meta["sha256"]
    return model.to(device).eval()
