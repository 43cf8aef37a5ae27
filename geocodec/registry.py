"""Model registry: name → weights file in the package, version, sha256, band config, λ range.

``weights/registry.json`` is the single source of truth; ``load_model`` verifies the weights'
sha256 against it (and against the file's own metadata) and never unpickles anything.
A path to a ``.safetensors`` file is accepted wherever a model name is, for models you train.
Importing this module does not import torch; ``load_model`` does.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from geocodec.errors import InvalidInputError, UnknownModelError
from geocodec.threads import apply_torch_threads

if TYPE_CHECKING:  # torch loads only when a model is (this module stays importable without it)
    import torch

    from geocodec.model import JointCodecModel

_REGISTRY = "registry.json"


def _weights_dir() -> Path:
    return Path(str(resources.files("geocodec") / "weights"))


def registry() -> dict[str, dict]:
    """The registry entries, by model name."""
    return json.loads((_weights_dir() / _REGISTRY).read_text())


def available_models() -> list[str]:
    return sorted(registry())


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


def _locate(name: str) -> tuple[Path, str | None]:
    entries = registry()
    if name in entries:
        e = entries[name]
        return _weights_dir() / e["file"], e["sha256"]
    p = Path(name)
    if p.suffix == ".safetensors" and p.is_file():
        return p, None
    raise UnknownModelError(f"unknown model {name!r}: registered models are {sorted(entries)}, "
                            "or pass the path of a .safetensors geocodec weights file")


def load_model(name: str | GeocodecModel = "default", device: str = "auto") -> GeocodecModel:
    """Load (once per process and device) and verify a model by registry name or file path."""
    if isinstance(name, GeocodecModel):
        return name
    if not isinstance(name, (str, Path)):
        raise UnknownModelError(f"model must be a registered name or a weights path, got {type(name).__name__}")
    dev = resolve_device(device)
    apply_torch_threads()
    key = (str(name), str(dev))
    with _cache_lock:
        if key not in _cache:
            from geocodec.model_file import load_model_file

            path, expected = _locate(str(name))
            net, meta = load_model_file(path, expected_sha256=expected)
            _cache[key] = GeocodecModel(
                name=meta["name"], version=meta["version"], sha256=meta["sha256"], net=net.to(dev),
                device=dev, note=meta.get("note", ""))
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


def model_summary(path) -> dict:
    """Metadata of a weights file without loading its tensors."""
    from geocodec.model_file import read_metadata

    return read_metadata(path)


def publish_model(weights_path, *, training_data: str, note: str = "") -> dict:
    """Copy a trained weights file into the package and (re)write its registry entry."""
    import shutil

    from geocodec.model_file import read_metadata

    meta = read_metadata(weights_path)
    cfg = json.loads(meta["config"])
    name = meta["name"]
    target = _weights_dir() / f"{name}.safetensors"
    if Path(weights_path).resolve() != target.resolve():
        shutil.copyfile(weights_path, target)
    entries = registry() if (_weights_dir() / _REGISTRY).exists() else {}
    entries[name] = {
        "file": target.name,
        "version": meta["version"],
        "sha256": meta["sha256"],
        "optical_bands": cfg["optical_bands"],
        "sar_bands": cfg["sar_bands"],
        "lmbda_range": [cfg["lmbda_min"], cfg["lmbda_max"]],
        "training_data": training_data,
        "note": note or meta.get("note", ""),
    }
    (_weights_dir() / _REGISTRY).write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")
    with _cache_lock:
        for key in [k for k in _cache if k[0] == name]:
            del _cache[key]
    return entries[name]
