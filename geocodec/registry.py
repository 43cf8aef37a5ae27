"""Model registry: name → weights file in the package, version, sha256, band config, λ range.

``weights/registry.json`` is the single source of truth; ``load_model`` verifies the weights'
sealed sha256 (tensors + config) against it and against the file's own metadata, and never
unpickles anything. Each entry records ``sha256`` (the identity chunks name) and
``sealed_sha256`` (tensors + config; for files of the first format, whose own sha256 covers the
tensors only, this is what proves their config unedited).

A path to a ``.safetensors`` file is accepted wherever *you* pass a model name (you trust that
file). A model named by a store's metadata is loaded only when it is registered, or when it is
a file the caller trusted explicitly: loaded with ``load_model(path)``, passed to
``trust_model_file``, or listed in ``$GEOCODEC_TRUSTED_MODELS``. See ``model_for_store``.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from typing import TYPE_CHECKING

from geocodec.errors import InvalidInputError, ModelIntegrityError, UnknownModelError, UntrustedModelError
from geocodec.threads import apply_torch_threads

if TYPE_CHECKING:  # torch loads only when a model is (this module stays importable without it)
    import torch

    from geocodec.model import JointCodecModel

#: os.pathsep-separated weights files (or folders of them) that store metadata may name.
TRUSTED_ENV = "GEOCODEC_TRUSTED_MODELS"

_REGISTRY = "registry.json"


def _weights_dir() -> Path:
    return Path(str(resources.files("geocodec") / "weights"))


def registry() -> dict[str, dict]:
    """The registry entries, by model name."""
    return json.loads((_weights_dir() / _REGISTRY).read_text())


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    import torch

    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InvalidInputError(f"unknown device {device!r} (use 'auto', 'cpu' or 'cuda[:N]')") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError(f"device {device!r} requested but CUDA is not available on this machine")
    return dev


@dataclass(eq=False)
class GeocodecModel:
    """A loaded, verified model on a device. ``net`` is the torch module."""

    name: str
    version: str
    sha256: str
    net: JointCodecModel
    device: torch.device
    note: str = ""

    def __post_init__(self):
        # Coding runs without it (it only reads the model; see geocodec.threads). Kept for callers
        # that mutate a loaded model (training, weight swaps) and must exclude coders meanwhile.
        self.lock = threading.RLock()

    @property
    def optical_bands(self) -> tuple[str, ...]:
        return self.net.config.optical_bands

    @property
    def sar_bands(self) -> tuple[str, ...]:
        return self.net.config.sar_bands

    @property
    def lmbda_range(self) -> tuple[float, float]:
        return (self.net.config.lmbda_min, self.net.config.lmbda_max)

    def __repr__(self):
        return (f"GeocodecModel(name={self.name!r}, version={self.version!r}, sha256={self.sha256[:12]}…, "
                f"optical={list(self.optical_bands)}, sar={list(self.sar_bands)}, λ∈{self.lmbda_range})")


_cache: dict[tuple[str, str], GeocodecModel] = {}
_cache_lock = threading.Lock()
_trusted: set[Path] = set()


def _locate(name: str) -> tuple[Path, str | None, str | None]:
    """(file, expected sha256, expected seal) of a registered name or a weights path."""
    from geocodec.model_file import read_metadata

    entries = registry()
    if name in entries:
        e = entries[name]
        return _weights_dir() / e["file"], e["sha256"], e.get("sealed_sha256")
    p = Path(name)
    if p.suffix == ".safetensors" and p.is_file():
        # a copy of a registered model must still carry the config the registry sealed
        meta = read_metadata(p)
        for e in entries.values():
            if e["sha256"] == meta["sha256"]:
                return p, e["sha256"], e.get("sealed_sha256")
        return p, None, None
    raise UnknownModelError(f"unknown model {name!r}: registered models are {sorted(entries)}, "
                            "or pass the path of a .safetensors geocodec weights file")


def _resolved(path) -> Path:
    return Path(path).expanduser().resolve()


def trust_model_file(path) -> None:
    """Let store metadata name this weights file (``load_model(path)`` does this too)."""
    p = _resolved(path)
    if not p.is_file():
        raise UnknownModelError(f"cannot trust {path}: no such weights file")
    _trusted.add(p)


def is_trusted_file(path) -> bool:
    """Whether the caller trusted this weights file explicitly (call, or ``$GEOCODEC_TRUSTED_MODELS``)."""
    p = _resolved(path)
    if p in _trusted:
        return True
    for item in filter(None, os.environ.get(TRUSTED_ENV, "").split(os.pathsep)):
        t = _resolved(item)
        if p == t or (t.is_dir() and p.parent == t):
            return True
    return False


def load_model(name: str | GeocodecModel = "default", device: str = "auto") -> GeocodecModel:
    """Load (once per process and device) and verify a model by registry name or file path."""
    from geocodec.model_file import load_model_file, read_metadata

    apply_torch_threads()
    if isinstance(name, GeocodecModel):
        return name
    if not isinstance(name, (str, Path)):
        raise UnknownModelError(f"model must be a registered name or a weights path, got {type(name).__name__}")
    dev = resolve_device(device)
    key = (str(name), str(dev))
    with _cache_lock:
        if key not in _cache:
            path, expected, seal = _locate(str(name))
            if expected is not None and seal is None and read_metadata(path)["format"] != "geocodec-model-2":
                raise ModelIntegrityError(
                    f"registry entry for {name!r} records no sealed_sha256, so the config of its first-format "
                    "weights file cannot be verified; republish it with geocodec.registry.publish_model")
            net, meta = load_model_file(path, expected_sha256=expected, expected_seal=seal)
            _cache[key] = GeocodecModel(
                name=meta["name"], version=meta["version"], sha256=meta["sha256"], net=net.to(dev),
                device=dev, note=meta.get("note", ""))
        if str(name) not in registry():
            _trusted.add(_resolved(name))  # the caller named this file: store metadata may name it too
        return _cache[key]


def find_model_for(name: str, sha256: str, device: str = "auto") -> GeocodecModel | None:
    """The registered model with this name *and* sha256, if this installation has it."""
    entries = registry()
    if name in entries and entries[name]["sha256"] == sha256:
        return load_model(name, device)
    for other, e in entries.items():
        if e["sha256"] == sha256:
            return load_model(other, device)
    return None


def model_for_store(name: str, sha256: str, device: str = "auto") -> GeocodecModel:
    """The model a store's (or Item's) metadata pins: registered, or a weights file the caller trusts.

    Raises ``UntrustedModelError`` (a ``ModelMismatchError``) for a path nobody trusted, and
    ``ModelMismatchError`` when no installed model has that sha256.
    """
    from geocodec.errors import ModelMismatchError

    m = find_model_for(name, sha256, device)
    if m is not None:
        return m
    p = Path(name)
    if p.suffix == ".safetensors" and p.is_file():
        if not is_trusted_file(p):
            raise UntrustedModelError(
                f"the store names weights file {p}, which is not a registered model: trust it explicitly "
                f"(geocodec.load_model({str(p)!r}), geocodec.registry.trust_model_file, or ${TRUSTED_ENV}) "
                "to decode with it")
        m = load_model(str(p), device)
        if m.sha256 == sha256:
            return m
    raise ModelMismatchError(
        f"no installed model has sha256 {sha256[:16]}… (named {name!r}): this installation does not have it; "
        "install those weights (geocodec.registry.publish_model) or trust the file that holds them")


def model_summary(path) -> dict:
    """Metadata of a weights file without loading its tensors."""
    from geocodec.model_file import read_metadata

    return read_metadata(path)


def publish_model(weights_path, *, training_data: str, note: str = "") -> dict:
    """Copy a trained weights file into the package and (re)write its registry entry.

    When the name already holds other weights, they are kept (file ``<name>-<version>.safetensors``,
    entry ``<name>@<version>``), so every chunk they wrote still finds its model and decodes.
    """
    from geocodec.model_file import verify_model_file

    import shutil

    info, _ = verify_model_file(weights_path)  # sealed (or tensor-checked, for first-format files)
    meta = info.meta
    cfg = json.loads(meta["config"])
    name = meta["name"]
    target = _weights_dir() / f"{name}.safetensors"
    entries = registry() if (_weights_dir() / _REGISTRY).exists() else {}
    old = entries.get(name)
    if old is not None and old["sha256"] != info.sha256:
        old_file = _weights_dir() / old["file"]
        kept = _weights_dir() / f"{name}-{old['version']}.safetensors"
        if old_file.exists() and old_file.resolve() != Path(weights_path).resolve():
            if kept.exists():
                raise InvalidInputError(f"cannot keep the previous {name!r} v{old['version']}: {kept} exists")
            old_file.rename(kept)
            entries[f"{name}@{old['version']}"] = {**old, "file": kept.name}
    if Path(weights_path).resolve() != target.resolve():
        shutil.copyfile(weights_path, target)
    entries[name] = {
        "file": target.name,
        "version": meta["version"],
        "sha256": info.sha256,
        "sealed_sha256": info.sealed_sha256,
        "optical_bands": cfg["optical_bands"],
        "sar_bands": cfg["sar_bands"],
        "lmbda_range": [cfg["lmbda_min"], cfg["lmbda_max"]],
        "training_data": training_data,
        "note": note or meta.get("note", ""),
    }
    (_weights_dir() / _REGISTRY).write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")
    with _cache_lock:
        for key in [k for k in _cache if k[0] == name or k[0].startswith(f"{name}@")]:
            del _cache[key]
    return entries[name]
