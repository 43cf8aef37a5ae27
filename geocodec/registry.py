"""Model registry: name → weights file, version, sha256, band config, λ range.

Registries are folders holding a ``registry.json`` and the weights files it names: the package's
own ``weights/`` (the shipped models; written only by a release) and, when set,
``$GEOCODEC_MODEL_DIR``, where ``publish_model`` puts the models you train (a name there shadows
the package's; the shadowed model stays reachable as ``<name>@<version>``, so its chunks still
decode). ``resolve_weights`` says which file a name (or path) means and what it must hash to;
``load_model`` verifies the weights' sealed sha256 (tensors + config) against it and against the
file's own metadata, and never unpickles anything. Each entry records ``sha256`` (the identity chunks name) and
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
from dataclasses import dataclass, field
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
#: A registry folder of your own (``publish_model`` writes there; ``load_model`` looks there too).
MODEL_DIR_ENV = "GEOCODEC_MODEL_DIR"

_REGISTRY = "registry.json"


def package_weights_dir() -> Path:
    """The installed package's registry folder: the shipped models (``publish_model`` writes here only when told to)."""
    return Path(str(resources.files("geocodec") / "weights"))


def model_dirs() -> list[Path]:
    """The registry folders, in the order names resolve (a later folder's name shadows an earlier one's)."""
    dirs = [package_weights_dir()]
    own = os.environ.get(MODEL_DIR_ENV)
    if own:
        dirs.append(Path(own).expanduser())
    return dirs


def _read_registry(folder: Path) -> dict[str, dict]:
    f = folder / _REGISTRY
    return json.loads(f.read_text()) if f.is_file() else {}


def _entries() -> dict[str, tuple[Path, dict]]:
    """Name → (folder, entry) over all registry folders; a shadowed model stays as ``<name>@<version>``."""
    out: dict[str, tuple[Path, dict]] = {}
    for folder in model_dirs():
        for name, e in _read_registry(folder).items():
            prev = out.get(name)
            if prev is not None and prev[1]["sha256"] != e["sha256"]:
                out.setdefault(f"{name}@{prev[1]['version']}", prev)
            out[name] = (folder, e)
    return out


def registry() -> dict[str, dict]:
    """The registry entries, by model name (all registry folders: ``model_dirs``)."""
    return {name: e for name, (_, e) in _entries().items()}


@dataclass(frozen=True)
class ResolvedWeights:
    """What a model name or weights path stands for, before anything is loaded.

    ``path``: the weights file. ``expected_sha256`` and ``seal``: the identity and sealed sha256 the
    file must have (None for an unregistered file, which vouches for itself). ``entry``: the registry
    entry when a registered name was resolved, else {}.
    """

    path: Path
    expected_sha256: str | None
    seal: str | None
    entry: dict = field(default_factory=dict)


def resolve_weights(name: str | os.PathLike) -> ResolvedWeights:
    """The weights file a registered name or a ``.safetensors`` path means, and what it must hash to.

    A copy of a registered model (same sha256) must still carry the config the registry sealed.

    Raises
    ------
    geocodec.errors.UnknownModelError
        ``name`` is neither a registered name nor an existing ``.safetensors`` file.
    """
    from geocodec.model_file import read_metadata

    entries = _entries()
    if str(name) in entries:
        folder, e = entries[str(name)]
        return ResolvedWeights(folder / e["file"], e["sha256"], e.get("sealed_sha256"), e)
    p = Path(name)
    if p.suffix == ".safetensors" and p.is_file():
        meta = read_metadata(p)
        for _, e in entries.values():
            if e["sha256"] == meta["sha256"]:
                return ResolvedWeights(p, e["sha256"], e.get("sealed_sha256"))
        return ResolvedWeights(p, None, None)
    raise UnknownModelError(f"unknown model {str(name)!r}: registered models are {sorted(entries)}, "
                            "or pass the path of a .safetensors geocodec weights file")


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
            w = resolve_weights(str(name))
            path, expected, seal = w.path, w.expected_sha256, w.seal
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


def publish_model(weights_path, *, training_data: str, note: str = "", into: str | os.PathLike | None = None) -> dict:
    """Copy a trained weights file into a registry folder and (re)write its entry there.

    Parameters
    ----------
    weights_path
        A sealed weights file (``model_file.save_model_file``; ``geocodec train --export``).
    training_data, note
        Recorded in the entry (provenance).
    into
        The registry folder (created when missing); by default ``$GEOCODEC_MODEL_DIR``. The installed
        package's own folder (``package_weights_dir()``) is written only when passed here explicitly
        (a release).

    Returns
    -------
    dict
        The new entry. When the name already holds other weights in that folder, they are kept (file
        ``<name>-<version>.safetensors``, entry ``<name>@<version>``), so every chunk they wrote still
        finds its model and decodes.
    """
    import shutil

    from geocodec.model_file import verify_model_file

    if into is None:
        into = os.environ.get(MODEL_DIR_ENV)
        if not into:
            raise InvalidInputError(f"publish_model needs a registry folder: pass into= or set ${MODEL_DIR_ENV} "
                                    "(the package's own folder, package_weights_dir(), only for a release)")
    folder = Path(into).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    info, _ = verify_model_file(weights_path)  # sealed (or tensor-checked, for first-format files)
    if info.kind != "joint":
        raise InvalidInputError(f"{weights_path} is a single-modality ({info.kind}) baseline model: only joint "
                                "codecs are published")
    meta = info.meta
    cfg = json.loads(meta["config"])
    name = meta["name"]
    target = folder / f"{name}.safetensors"
    entries = _read_registry(folder)
    old = entries.get(name)
    if old is not None and old["sha256"] != info.sha256:
        old_file = folder / old["file"]
        kept = folder / f"{name}-{old['version']}.safetensors"
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
    (folder / _REGISTRY).write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")
    with _cache_lock:
        for key in [k for k in _cache if k[0] == name or k[0].startswith(f"{name}@")]:
            del _cache[key]
    return entries[name]
