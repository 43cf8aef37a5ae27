"""JPEG XL baseline (libjxl through imagecodecs' ``jpegxl_encode``): 16-bit, lossy, a distance sweep.

Each band is its own 16-bit grayscale JPEG XL codestream (no container), lossy (VarDCT) at
Butteraugli ``distance`` (0.1 … 25; larger = fewer bits). Per band, because libjxl codes extra
channels and alpha losslessly and its RGB path applies the XYB colour transform, which is made
for visible colour, not for reflectance bands or SAR. Samples are mapped to 16 bits by
``baselines.u16``. The rate is the sum of all bands' codestream bytes.
"""

from __future__ import annotations

import numpy as np

from geocodec.errors import GeocodecError, InvalidInputError
from geocodec.evaluation.baselines.u16 import ImageCodecResult, SarMapping, code_optical_through, code_sar_through

#: Butteraugli distances, per modality: the default sweep (libjxl accepts 0.1 … 25).
DEFAULT_SETTINGS = (0.3, 0.5, 0.8, 1.2, 1.8, 2.6, 3.6, 5.0, 7.0, 10.0, 14.0, 19.0, 25.0)
SETTING = "Butteraugli distance"
#: libjxl's encoder effort (1 fastest … 9): 7 is libjxl's default.
EFFORT = 7


class JpegXlUnavailable(GeocodecError):
    """imagecodecs, or its JPEG XL codec, is missing."""


def available() -> bool:
    try:
        import imagecodecs

        return bool(imagecodecs.JPEGXL.available)
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        return False


def encode_band(band: np.ndarray, distance: float) -> bytes:
    """One (H, W) uint16 band → one bare JPEG XL codestream at Butteraugli ``distance`` (one thread)."""
    if not available():
        raise JpegXlUnavailable("JPEG XL baseline needs imagecodecs with JPEG XL support "
                                "(pip install 'imagecodecs<2025' for numpy < 2)")
    import imagecodecs

    if not 0.1 <= float(distance) <= 25.0:
        raise InvalidInputError(f"JPEG XL distance must lie in [0.1, 25], got {distance}")
    return imagecodecs.jpegxl_encode(np.ascontiguousarray(band), distance=float(distance), effort=EFFORT,
                                     lossless=False, usecontainer=False, numthreads=1)


def decode_band(data: bytes) -> np.ndarray:
    import imagecodecs

    return imagecodecs.jpegxl_decode(data)


def _code_u16(u16: np.ndarray, distance: float) -> tuple[int, np.ndarray]:
    """(C, H, W) uint16 → (bytes of all bands' codestreams, decoded (C, H, W) uint16)."""
    coded = [encode_band(band, distance) for band in u16]
    return sum(len(c) for c in coded), np.stack([decode_band(c) for c in coded]).astype(np.uint16)


def code_optical(optical: np.ndarray, distance: float) -> ImageCodecResult:
    """Optical (C, H, W) integer counts → JPEG XL and back, in the input dtype."""
    return code_optical_through(_code_u16, optical, distance)


def code_sar(sar_db: np.ndarray, distance: float) -> tuple[ImageCodecResult, SarMapping]:
    """SAR (C, H, W) dB → uint16 map → JPEG XL and back to dB (input float dtype, NaN kept)."""
    return code_sar_through(_code_u16, sar_db, distance)
