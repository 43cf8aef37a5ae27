"""The geocodec codec's configuration, shared by the numcodecs and the Zarr v3 codec.

A Zarr array's metadata pins the model by name, version *and* sha256: the codec only ever
encodes or decodes with exactly those weights, so a store never silently decodes with a
model it was not written with.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from geocodec.codec import OPTICAL_DTYPES, SAR_SCALES
from geocodec.errors import InvalidInputError, ModelMismatchError, UnknownModelError

#: Environment variable that picks the device codecs run on when nobody passes one.
DEVICE_ENV = "GEOCODEC_DEVICE"


def default_device() -> str:
    return os.environ.get(DEVICE_ENV, "auto")


def _number_or_none(value, what: str) -> float | None:
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"geocodec codec: {what} must be a number or None, got {value!r}") from None
    return v


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
    """Validated codec configuration (what goes into the Zarr metadata)."""

    model: str = "default"
    model_version: str | None = None
    model_sha256: str | None = None
    lmbda: float | None = None
    target_bpp: float | None = None
    gamma: float = 0.5
    optical_bands: int = 4
    optical_dtype: str = "uint16"
    sar_scale: str = "db"
    optical_nodata: float | None = None
    sar_nodata: float | None = None

    def __post_init__(self):
        fix = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 - frozen dataclass
        if not isinstance(self.model, (str, Path)):
            raise InvalidInputError(f"geocodec codec: model must be a registered name or a weights path, "
                                    f"got {type(self.model).__name__}")
        fix("model", str(self.model))
        if (self.lmbda is None) == (self.target_bpp is None):
            raise InvalidInputError("geocodec codec: give exactly one of lmbda= or target_bpp=")
        fix("lmbda", _number_or_none(self.lmbda, "lmbda"))
        fix("target_bpp", _number_or_none(self.target_bpp, "target_bpp"))
        g = _number_or_none(self.gamma, "gamma")
        if g is None or not 0.0 <= g <= 1.0:
            raise InvalidInputError(f"geocodec codec: gamma={self.gamma!r} must lie in [0, 1]")
        fix("gamma", g)
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
        if self.model_sha256 is None:
            version, sha = model_identity(self.model)
            if self.model_version is not None and self.model_version != version:
                raise ModelMismatchError(f"model {self.model!r} is version {version}, not {self.model_version}")
            fix("model_version", version)
            fix("model_sha256", sha)
        elif self.model_version is None:
            raise InvalidInputError("geocodec codec: model_sha256 given without model_version")

    def to_config(self) -> dict:
        return asdict(self)

    @property
    def rate(self) -> dict:
        return {"lmbda": self.lmbda} if self.lmbda is not None else {"target_bpp": self.target_bpp}

    def load_for_encoding(self, device: str):
        """The pinned model, loaded; an error when the installed weights are not the pinned ones."""
        from geocodec.registry import load_model

        m = load_model(self.model, device)
        if m.sha256 != self.model_sha256:
            raise ModelMismatchError(
                f"this array's codec pins model {self.model!r} v{self.model_version} (sha256 "
                f"{self.model_sha256[:16]}…) but {self.model!r} here is v{m.version} (sha256 {m.sha256[:16]}…); "
                "install the pinned weights or write a new array")
        return m

    def load_for_decoding(self, device: str):
        """The installed model whose sha256 is the pinned one: registered, or a file the caller trusts.

        A weights path in store metadata is never loaded just because the metadata names it
        (``geocodec.registry.model_for_store``)."""
        from geocodec.registry import model_for_store

        try:
            return model_for_store(self.model, self.model_sha256, device)
        except ModelMismatchError as e:
            raise type(e)(
                f"this array was written with model {self.model!r} v{self.model_version} (sha256 "
                f"{self.model_sha256[:16]}…), which this installation does not have or trust: {e}") from None
