"""JPEG 2000 baseline (OpenJPEG through glymur) with the same pixels and rate accounting as geocodec.

Each modality is one raw JPEG 2000 codestream (``.j2k``, no JP2 boxes) of uint16 components,
one per band, irreversible 9/7 wavelet, no multi-component transform (``mct=False``), rate
set by ``cratios=[16 / target_bits_per_sample]`` (OpenJPEG's post-compression rate control).

* optical: uint16 as is; int16 (Sentinel-2 L1C stacks) is clipped at 0 and stored as uint16.
* SAR: σ0 in dB is clipped to [SAR_DB_MIN, SAR_DB_MAX] = [−50, +20] dB and mapped linearly
  to 0…65535 (≈ 0.001 dB steps, far below any tested distortion). Samples outside that range
  decode at the clip value and count as error in PSNR (``SarMapping.clipped`` reports how many).
  NaN samples are filled with the band's valid mean before coding and set back to NaN after
  decoding; their mask is not charged to the baseline's rate (it favours the baseline).

Rates are the actual codestream bytes; ``joint_bpp = 8·(bytes_optical + bytes_sar) / (2·H·W)``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geocodec.errors import GeocodecError, InvalidInputError
from geocodec.metrics import SAR_DB_MAX, SAR_DB_MIN

BITS_PER_SAMPLE = 16
U16_MAX = 65535


class Jpeg2000Unavailable(GeocodecError):
    """glymur or the OpenJPEG library (libopenjp2) is missing."""


def available() -> bool:
    try:
        import glymur

        return bool(glymur.version.openjpeg_version) and glymur.version.openjpeg_version >= "2.3"
    except Exception:  # noqa: BLE001 - any import/config failure means "not available"
        return False


@dataclass
class Jpeg2000Result:
    """One coded modality: codestream size in bytes and the decoded array (input dtype)."""

    nbytes: int
    decoded: np.ndarray
    target_bits_per_sample: float

    def bits_per_sample(self) -> float:
        return 8 * self.nbytes / self.decoded.size


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


def code_optical(optical: np.ndarray, target_bits_per_sample: float) -> Jpeg2000Result:
    """Optical (C, H, W) uint16 / int16 / uint8 counts → JPEG 2000 and back, in the input dtype."""
    a = np.asarray(optical)
    if a.ndim != 3 or a.dtype.kind not in "ui":
        raise InvalidInputError(f"optical must be an integer (C, H, W) array; got {a.dtype} {a.shape}")
    u16 = np.clip(a.astype(np.int64), 0, U16_MAX).astype(np.uint16)
    nbytes, dec = _code_u16(u16, target_bits_per_sample)
    info = np.iinfo(a.dtype)
    return Jpeg2000Result(nbytes, np.clip(dec.astype(np.int64), info.min, info.max).astype(a.dtype),
                          float(target_bits_per_sample))


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


def code_sar(sar_db: np.ndarray, target_bits_per_sample: float) -> tuple[Jpeg2000Result, SarMapping]:
    """SAR (C, H, W) dB → uint16 map → JPEG 2000 and back to dB (input float dtype, NaN kept)."""
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
    nbytes, dec = _code_u16(SarMapping.to_u16(filled), target_bits_per_sample)
    out = SarMapping.to_db(dec).astype(a.dtype)
    out[nan] = np.nan
    return Jpeg2000Result(nbytes, out, float(target_bits_per_sample)), mapping
