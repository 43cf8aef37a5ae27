"""What optical numbers mean: reflectance × 10 000, reflectance 0…1, or 8-bit, for honest quality figures.

Why: coding works for all three (each band is scaled by its own range), but a write-time PSNR
needs the peak of the scale the input came in: reflectance at the ×10 000 peak reads 110.9 dB,
and 8-bit at it 61 dB instead of about 30 (issue #17). The record keeps the scale; its PSNR
peak, its MS-SSIM range, the engine's CF ``units`` and the STAC bands' ``unit`` all follow it.

Guessed when not given (``optical_scale=None``), from the dtype and a sample of valid values:

* ``uint8`` → ``"8bit"`` (peak 255);
* float whose 99th percentile is ≤ 1.5 → ``"reflectance"`` (peak 1; bright cloud and snow exceed 1 a little);
* anything else → ``"reflectance-x10000"`` (peak 10 000, Sentinel-2 L1C/L2A integers).

An integer input other than uint8 that never exceeds 255, or a float one whose 99th percentile
lies in (1.5, 255], could be 8-bit or a dark ×10 000 scene: the guess is then the ×10 000 scale,
with a ``SuspiciousInputWarning`` naming ``optical_scale=``. An explicit scale that the values
contradict (8-bit above 255, reflectance far above 1) is refused.
"""

from __future__ import annotations

import math
import warnings
from typing import Literal, get_args

import numpy as np

from geocodec.errors import InvalidInputError, SuspiciousInputWarning

OpticalScale = Literal["reflectance-x10000", "reflectance", "8bit"]
OPTICAL_SCALES: tuple[str, ...] = get_args(OpticalScale)
DEFAULT: OpticalScale = "reflectance-x10000"
#: PSNR peak (and MS-SSIM data range) of each scale
PEAKS = {"reflectance-x10000": 10000.0, "reflectance": 1.0, "8bit": 255.0}
#: CF ``units`` of the decoded values (``"1"``: dimensionless) and the STAC bands' ``unit``
CF_UNITS = {"reflectance-x10000": "1e-4", "reflectance": "1", "8bit": "1"}
STAC_UNITS = {"reflectance-x10000": "reflectance x 10000", "reflectance": "reflectance", "8bit": "8-bit DN"}
#: 99th percentile of valid samples at or below which float optical is taken for reflectance 0…1
REFLECTANCE_P99 = 1.5
#: samples looked at to guess (a regular subsample of larger inputs)
SAMPLE = 1 << 16


def sample(values) -> np.ndarray:
    """A regular subsample (bands, y, x) of numpy, Dask or xarray optical values, computed, as float64."""
    arr = getattr(values, "data", values)
    step = max(1, math.ceil(math.sqrt(math.prod(arr.shape) / SAMPLE)))
    sub = arr[..., ::step, ::step]
    return np.asarray(sub.compute() if hasattr(sub, "compute") else sub, np.float64)


def resolve(requested: str | None, values, dtype, nodata: float | None = None) -> OpticalScale:
    """The scale to record: ``requested`` checked against the values, or the documented guess."""
    if requested is not None and requested not in OPTICAL_SCALES:
        raise InvalidInputError(f"optical_scale={requested!r}: use one of {', '.join(map(repr, OPTICAL_SCALES))}")
    dt = np.dtype(dtype)
    v = sample(values).ravel()
    ok = np.isfinite(v) if nodata is None or math.isnan(nodata) else np.isfinite(v) & (v != nodata)
    v = v[ok]
    if not v.size:
        return requested or ("8bit" if dt == np.uint8 else DEFAULT)
    top, p99 = float(v.max()), float(np.percentile(v, 99))
    if requested == "8bit" and top > 255:
        raise InvalidInputError(f"optical_scale='8bit' but optical holds {top:g} (> 255): pass "
                                "optical_scale='reflectance-x10000' (or leave it out to guess)")
    if requested == "reflectance" and p99 > 2 * REFLECTANCE_P99:
        raise InvalidInputError(f"optical_scale='reflectance' (0…1) but 1 % of optical exceeds {p99:g}: pass "
                                "optical_scale='reflectance-x10000' (or leave it out to guess)")
    if requested is not None:
        return requested  # type: ignore[return-value]
    if dt == np.uint8:
        return "8bit"
    if dt.kind == "f" and p99 <= REFLECTANCE_P99:
        return "reflectance"
    if top <= 255 or (dt.kind == "f" and p99 <= 255):
        warnings.warn(f"optical never exceeds {top:g}: it could be 8-bit or a dark reflectance x 10000 scene; "
                      "the record's PSNR assumes reflectance x 10000 (peak 10000). Pass optical_scale='8bit' "
                      "or optical_scale='reflectance-x10000' to say which", SuspiciousInputWarning, stacklevel=4)
    return DEFAULT
