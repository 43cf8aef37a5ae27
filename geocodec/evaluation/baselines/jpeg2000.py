"""JPEG 2000 baseline (OpenJPEG through glymur) with the same pixels and rate accounting as geocodec.

Each modality is one raw JPEG 2000 codestream (``.j2k``, no JP2 boxes) of uint16 components,
one per band, irreversible 9/7 wavelet, no multi-component transform (``mct=False``), rate
set by ``cratios=[16 / target_bits_per_sample]`` (OpenJPEG's post-compression rate control).
Samples are mapped to 16 bits by ``baselines.u16``. Rates are the actual codestream bytes;
``joint_bpp = 8·(bytes_optical + bytes_sar) / (2·H·W)``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from geocodec.errors import GeocodecError, InvalidInputError
from geocodec.evaluation.baselines.u16 import ImageCodecResult, SarMapping, code_optical_through, code_sar_through

BITS_PER_SAMPLE = 16
#: Target bits per sample (per band and pixel), per modality: the default sweep.
DEFAULT_SETTINGS = (0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.45, 0.65, 1.0, 1.5, 2.0, 3.0)
SETTING = "target bits per sample"


class Jpeg2000Unavailable(GeocodecError):
    """glymur or the OpenJPEG library (libopenjp2) is missing."""


def available() -> bool:
    try:
        import glymur

        return bool(glymur.version.openjpeg_version) and glymur.version.openjpeg_version >= "2.3"
    except Exception:  # noqa: BLE001 - any import/config failure means "not available"
        return False


def _code_u16(u16: np.ndarray, target_bits_per_sample: float) -> tuple[int, np.ndarray]:
    """(C, H, W) uint16 → (codestream bytes, decoded (C, H, W) uint16) at a target rate."""
    if not available():
        raise Jpeg2000Unavailable("JPEG 2000 baseline needs glymur with OpenJPEG ≥ 2.3 (libopenjp2); "
                                  "install libopenjp2-7 (scripts/install.sh does so)")
    import glymur

    if not (target_bits_per_sample > 0):
        raise InvalidInputError(f"target bits per sample must be > 0, got {target_bits_per_sample}")
    c, h, w = u16.shape
    ratio = BITS_PER_SAMPLE / float(target_bits_per_sample)
    numres = max(1, min(6, int(np.floor(np.log2(min(h, w)))) - 1))
    with tempfile.TemporaryDirectory(prefix="geocodec-j2k-") as tmp:
        path = Path(tmp) / "x.j2k"
        data = np.ascontiguousarray(np.moveaxis(u16, 0, -1)) if c > 1 else np.ascontiguousarray(u16[0])
        glymur.Jp2k(str(path), data=data, cratios=[max(ratio, 1.0)], irreversible=True, mct=False,
                    numres=numres)
        nbytes = path.stat().st_size
        dec = glymur.Jp2k(str(path))[:]
    dec = dec[None] if dec.ndim == 2 else np.moveaxis(dec, -1, 0)
    return nbytes, np.ascontiguousarray(dec).astype(np.uint16)


def code_optical(optical: np.ndarray, target_bits_per_sample: float) -> ImageCodecResult:
    """Optical (C, H, W) uint16 / int16 / uint8 counts → JPEG 2000 and back, in the input dtype."""
    return code_optical_through(_code_u16, optical, target_bits_per_sample)


def code_sar(sar_db: np.ndarray, target_bits_per_sample: float) -> tuple[ImageCodecResult, SarMapping]:
    """SAR (C, H, W) dB → uint16 map → JPEG 2000 and back to dB (input float dtype, NaN kept)."""
    return code_sar_through(_code_u16, sar_db, target_bits_per_sample)
