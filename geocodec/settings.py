"""One typed, validated settings object: rate (λ or target bpp), γ, model, device policy.

Why one object: γ and λ used to be validated in three places with three messages. Here they are
checked once; ``codec.compress``, the cube writer and both storage codecs use these checks.
A Zarr array's codec metadata is ``CodecSettings.to_config()``: it pins the model by name,
version *and* sha256, so a store never silently decodes with a model it was not written with.

No torch here (metadata operations import this module): the registry is imported lazily, only
when a model has to be resolved or loaded.
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from geocodec.errors import InvalidInputError, ModelMismatchError, UnknownModelError
from geocodec.options import BACKENDS, DEFAULT_BACKEND, MAX_REFINE_STEPS, OPTICAL_DTYPES, SAR_DTYPES, SAR_SCALES  # noqa: F401  (re-exported)

if TYPE_CHECKING:
    from geocodec.registry import GeocodecModel

#: Device policies (the sample types and SAR scales are ``geocodec.options``').
SarScale = Literal["db", "linear"]
#: Environment variable that picks the device codecs run on when nobody passes one.
DEVICE_ENV = "GEOCODEC_DEVICE"


def default_device() -> str:
    """The device policy when none is given: ``$GEOCODEC_DEVICE``, else ``"auto"`` (CUDA if present)."""
    return os.environ.get(DEVICE_ENV, "auto")


def check_gamma(gamma) -> float:
    """γ as a float in [0, 1] (1 favours optical fidelity, 0 SAR fidelity), or ``InvalidInputError``."""
    if isinstance(gamma, bool):
        raise InvalidInputError(f"gamma must be a number in [0, 1], got {gamma!r}")
    try:
        g = float(gamma)
    except (TypeError, ValueError):
        raise InvalidInputError(f"gamma must be a number in [0, 1], got {gamma!r}") from None
    if not 0.0 <= g <= 1.0:
        raise InvalidInputError(f"gamma={gamma!r} is out of range: it must lie in [0, 1] "
                                "(1 favours optical fidelity, 0 SAR fidelity)")
    return g


def check_refine_steps(refine_steps) -> int:
    """``refine_steps`` (encode-time latent refinement) as an int in [0, MAX_REFINE_STEPS], or a clear error."""
    if isinstance(refine_steps, bool) or not isinstance(refine_steps, numbers.Integral) \
            or not 0 <= refine_steps <= MAX_REFINE_STEPS:
        raise InvalidInputError(f"refine_steps={refine_steps!r}: use an integer from 0 (off) to {MAX_REFINE_STEPS}")
    return int(refine_steps)


def check_backend(backend) -> str:
    """``backend`` as one of ``BACKENDS``, or a clear error."""
    if backend not in BACKENDS:
        raise InvalidInputError(f"backend={backend!r}: use one of {BACKENDS}")
    return backend


def check_device(device) -> None:
    """Refuse a device string torch would not accept (``"gpu"``) when it is given, not at the first decode.

    Torch-free (opening a cube must not import torch); whether CUDA is present is checked on first use.
    """
    if device is None or not isinstance(device, str):
        return  # None: $GEOCODEC_DEVICE or auto; a torch.device is checked by torch
    head, _, index = device.partition(":")
    if head not in ("auto", "cpu", "cuda") or (index and (head != "cuda" or not index.isdigit())):
        raise InvalidInputError(f"device={device!r} is not a device: use 'auto' (CUDA when present), 'cpu' or "
                                "'cuda[:N]'")


def _number_or_none(value, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidInputError(f"{what} must be a number or None, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{what} must be a number or None, got {value!r}") from None


def check_rate(lmbda, target_bpp, lmbda_range: tuple[float, float] | None = None
               ) -> tuple[float | None, float | None]:
    """(λ, None) or (None, target bpp): exactly one given, numeric, λ inside the model's range.

    Parameters
    ----------
    lmbda, target_bpp
        The rate request; exactly one must be given.
    lmbda_range
        The model's supported λ range; checked when given (float32 rounding of the ends is tolerated).

    Returns
    -------
    tuple
        ``(lmbda, None)`` (λ clamped into the range) or ``(None, target_bpp)``.
    """
    if (lmbda is None) == (target_bpp is None):
        raise InvalidInputError("give exactly one of lmbda= (rate parameter) or target_bpp= (bits per pixel)")
    if lmbda is not None:
        lam = _number_or_none(lmbda, "lmbda")
        if not math.isfinite(lam):
            raise InvalidInputError(f"lmbda={lmbda!r} must be a finite number")
        if lmbda_range is not None:
            lo, hi = lmbda_range
            if not (lo * (1 - 1e-6) <= lam <= hi * (1 + 1e-6)):
                raise InvalidInputError(f"lmbda={lmbda!r} is out of range for this model: supported range is "
                                        f"[{lo}, {hi}]")
            lam = min(max(lam, lo), hi)
        return lam, None
    try:
        t = float(target_bpp)
    except (TypeError, ValueError):
        raise InvalidInputError(f"target_bpp must be a positive number, got {target_bpp!r}") from None
    if not (t > 0 and math.isfinite(t)):
        raise InvalidInputError(f"target_bpp={target_bpp!r} must be a positive, finite number of bits per pixel")
    return None, t


def model_identity(model: str) -> tuple[str, str]:
    """(version, sha256) of a registered model name or a .safetensors path, without loading it."""
    from geocodec.registry import model_summary, registry

    entries = registry()
    if model in entries:
        return entries[model]["version"], entries[model]["sha256"]
    p = Path(model)
    if p.suffix == ".safetensors" and p.is_file():
        meta = model_summary(p)
        return meta["version"], meta["sha256"]
    raise UnknownModelError(f"unknown model {model!r}: registered models are {sorted(entries)}, "
                            "or pass the path of a .safetensors geocodec weights file")


@dataclass(frozen=True)
class CodecSettings:
    """Validated codec configuration: what goes into the Zarr metadata, plus the device policy.

    ``device`` is a runtime choice (``"auto"``, ``"cpu"``, ``"cuda[:N]"``; None = ``$GEOCODEC_DEVICE``
    or auto): it is neither stored (``to_config``) nor compared.
    """

    model: str = "default"
    model_version: str | None = None
    model_sha256: str | None = None
    lmbda: float | None = None
    target_bpp: float | None = None
    gamma: float = 0.5
    optical_bands: int = 4
    optical_dtype: str = "uint16"
    sar_scale: SarScale = "db"
    optical_nodata: float | None = None
    sar_nodata: float | None = None
    #: Encode-time latent refinement steps (``compress(refine_steps=...)``): encoding only, decoding
    #: never needs it. Stored in the config only when non-zero (configs without it read as 0).
    refine_steps: int = 0
    #: The cube this array belongs to (checked against each chunk frame on read); None outside cubes.
    cube_id: str | None = None
    #: False while a writer is writing the cube: plain Zarr reads through the codec then refuse to
    #: decode (``IncompleteCubeError``) unless ``$GEOCODEC_ALLOW_INCOMPLETE=1``. None: not tracked (v0.1).
    complete: bool | None = None
    device: str | None = field(default=None, compare=False, repr=False)
    #: What runs the analysis transform when encoding (``compress(backend=...)``): a runtime choice
    #: like ``device``, neither stored nor compared.
    backend: str = field(default=DEFAULT_BACKEND, compare=False, repr=False)

    def __post_init__(self):
        fix = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 - frozen dataclass
        if not isinstance(self.model, (str, Path)):
            raise InvalidInputError(f"geocodec codec: model must be a registered name or a weights path, "
                                    f"got {type(self.model).__name__}")
        fix("model", str(self.model))
        lam, target = check_rate(self.lmbda, self.target_bpp)
        fix("lmbda", lam)
        fix("target_bpp", target)
        fix("gamma", check_gamma(self.gamma))
        fix("refine_steps", check_refine_steps(self.refine_steps))
        check_backend(self.backend)
        if isinstance(self.optical_bands, bool) or not isinstance(self.optical_bands, int) or self.optical_bands < 1:
            raise InvalidInputError(f"geocodec codec: optical_bands must be a positive band count (the first n "
                                    f"bands along axis -3 are optical), got {self.optical_bands!r}")
        if self.optical_dtype not in OPTICAL_DTYPES:
            raise InvalidInputError(f"geocodec codec: optical_dtype={self.optical_dtype!r}; supported: "
                                    f"{', '.join(OPTICAL_DTYPES)}")
        if self.sar_scale not in SAR_SCALES:
            raise InvalidInputError(f"geocodec codec: sar_scale={self.sar_scale!r}; use 'db' or 'linear'")
        for k in ("optical_nodata", "sar_nodata"):
            v = _number_or_none(getattr(self, k), k)
            if v is not None and math.isnan(v):
                v = None  # NaN is always kept exactly; it needs no nodata value
            fix(k, v)
        if self.cube_id is not None and not (isinstance(self.cube_id, str) and len(self.cube_id) == 32
                                             and all(c in "0123456789abcdef" for c in self.cube_id)):
            raise InvalidInputError(f"geocodec codec: cube_id must be 32 lowercase hex digits, got {self.cube_id!r}")
        if self.complete is not None and not isinstance(self.complete, bool):
            raise InvalidInputError(f"geocodec codec: complete must be true or false, got {self.complete!r}")
        if self.device is not None and not isinstance(self.device, str):
            fix("device", str(self.device))
        if self.model_sha256 is None:
            version, sha = model_identity(self.model)
            if self.model_version is not None and self.model_version != version:
                raise ModelMismatchError(f"model {self.model!r} is version {version}, not {self.model_version}")
            fix("model_version", version)
            fix("model_sha256", sha)
        elif self.model_version is None:
            raise InvalidInputError("geocodec codec: model_sha256 given without model_version")

    def to_config(self) -> dict:
        """The JSON-able codec configuration (no device; no ``cube_id``/``complete`` keys when unset, as in
        v0.1; no ``refine_steps`` when 0, so configs, and the fingerprints made from them, stay as before)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("device", "backend")}
        for k in ("cube_id", "complete"):
            if out[k] is None:
                del out[k]
        if not out["refine_steps"]:
            del out["refine_steps"]
        return out

    @property
    def encode_options(self) -> dict:
        """Keyword arguments for ``compress_batch`` beyond the rate: γ, nodata, scale, refinement, backend."""
        return {"gamma": self.gamma, "optical_nodata": self.optical_nodata, "sar_nodata": self.sar_nodata,
                "sar_scale": self.sar_scale, "refine_steps": self.refine_steps, "backend": self.backend}

    @property
    def rate(self) -> dict:
        return {"lmbda": self.lmbda} if self.lmbda is not None else {"target_bpp": self.target_bpp}

    @property
    def resolved_device(self) -> str:
        return self.device or default_device()

    def load_for_encoding(self, device: str | None = None) -> GeocodecModel:
        """The pinned model, loaded; an error when the installed weights are not the pinned ones."""
        from geocodec.registry import load_model

        m = load_model(self.model, device or self.resolved_device)
        if m.sha256 != self.model_sha256:
            raise ModelMismatchError(
                f"this array's codec pins model {self.model!r} v{self.model_version} (sha256 "
                f"{self.model_sha256[:16]}…) but {self.model!r} here is v{m.version} (sha256 {m.sha256[:16]}…); "
                "install the pinned weights or write a new array")
        return m

    def load_for_decoding(self, device: str | None = None) -> GeocodecModel:
        """The installed model whose sha256 is the pinned one: registered, or a file the caller trusts.

        A weights path in store metadata is never loaded just because the metadata names it
        (``geocodec.registry.model_for_store``)."""
        from geocodec.registry import model_for_store

        try:
            return model_for_store(self.model, self.model_sha256, device or self.resolved_device)
        except ModelMismatchError as e:
            raise type(e)(
                f"this array was written with model {self.model!r} v{self.model_version} (sha256 "
                f"{self.model_sha256[:16]}…), which this installation does not have or trust: {e}") from None
