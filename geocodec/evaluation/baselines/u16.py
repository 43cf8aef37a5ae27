"""16-bit sample maps the image-codec baselines share: optical counts as uint16, SAR dB ↔ uint16.

* optical: uint16 as is; int16 (Sentinel-2 L1C stacks) is clipped at 0 and stored as uint16.
* SAR: σ0 in dB is clipped to [SAR_DB_MIN, SAR_DB_MAX] = [−50, +20] dB and mapped linearly
  to 0…65535 (≈ 0.001 dB steps, far below any tested distortion). Samples outside that range
  decode at the clip value and count as error in PSNR (``SarMapping.clipped`` reports how many).
  NaN samples are filled with the band's valid mean before coding and set back to NaN after
  decoding; their mask is not charged to the baseline's rate (it favours the baseline).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geocodec.errors import InvalidInputError
from geocodec.metrics import SAR_DB_MAX, SAR_DB_MIN

U16_MAX = 65535


@dataclass
class ImageCodecResult:
    """One coded modality: codestream bytes (all bands) and the decoded array (input dtype)."""

    nbytes: int
    decoded: np.ndarray
    setting: float

    def bits_per_sample(self) -> float:
        return 8 * self.nbytes / self.decoded.size


def optical_to_u16(optical: np.ndarray) -> np.ndarray:
    a = np.asarray(optical)
    if a.ndim != 3 or a.dtype.kind not in "ui":
        raise InvalidInputError(f"optical must be an integer (C, H, W) array; got {a.dtype} {a.shape}")
    return np.clip(a.astype(np.int64), 0, U16_MAX).astype(np.uint16)


def u16_to_optical(u16: np.ndarray, dtype) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.clip(u16.astype(np.int64), info.min, info.max).astype(dtype)


@dataclass
class SarMapping:
    """dB ↔ uint16 linear map over [SAR_DB_MIN, SAR_DB_MAX]; ``clipped`` = samples outside it."""

    clipped: int = 0

    @staticmethod
    def to_u16(db: np.ndarray) -> np.ndarray:
        x = (np.clip(db.astype(np.float64), SAR_DB_MIN, SAR_DB_MAX) - SAR_DB_MIN) / (SAR_DB_MAX - SAR_DB_MIN)
        return np.rint(x * U16_MAX).astype(np.uint16)

    @staticmethod
    def to_db(u16: np.ndarray) -> np.ndarray:
        return u16.astype(np.float64) / U16_MAX * (SAR_DB_MAX - SAR_DB_MIN) + SAR_DB_MIN


def sar_to_u16(sar_db: np.ndarray) -> tuple[np.ndarray, np.ndarray, SarMapping]:
    """SAR (C, H, W) dB → (uint16 map with NaN filled, NaN mask, mapping)."""
    a = np.asarray(sar_db)
    if a.ndim != 3 or a.dtype.kind != "f":
        raise InvalidInputError(f"sar must be a float (C, H, W) array in dB; got {a.dtype} {a.shape}")
    nan = np.isnan(a)
    filled = a.astype(np.float64)
    for c in range(a.shape[0]):
        if nan[c].any():
            ok = ~nan[c]
            filled[c][nan[c]] = filled[c][ok].mean() if ok.any() else 0.0
    mapping = SarMapping(clipped=int(((filled < SAR_DB_MIN) | (filled > SAR_DB_MAX))[~nan].sum()))
    return SarMapping.to_u16(filled), nan, mapping


def u16_to_sar(u16: np.ndarray, nan: np.ndarray, dtype) -> np.ndarray:
    out = SarMapping.to_db(u16).astype(dtype)
    out[nan] = np.nan
    return out


def code_optical_through(code_u16, optical: np.ndarray, setting: float) -> ImageCodecResult:
    """Optical counts → a 16-bit image codec → back in the input dtype.

    ``code_u16(u16 (C, H, W), setting) → (codestream bytes, decoded uint16 (C, H, W))`` is the
    codec's own part; the sample maps around it are the same for every baseline."""
    a = np.asarray(optical)
    nbytes, dec = code_u16(optical_to_u16(a), setting)
    return ImageCodecResult(nbytes, u16_to_optical(dec, a.dtype), float(setting))


def code_sar_through(code_u16, sar_db: np.ndarray, setting: float) -> tuple[ImageCodecResult, SarMapping]:
    """SAR dB → uint16 map → a 16-bit image codec → back to dB (input float dtype, NaN kept)."""
    u16, nan, mapping = sar_to_u16(sar_db)
    nbytes, dec = code_u16(u16, setting)
    return ImageCodecResult(nbytes, u16_to_sar(dec, nan, np.asarray(sar_db).dtype), float(setting)), mapping
