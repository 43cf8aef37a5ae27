"""The values geocodec's string and dtype options accept, in one torch-free place.

Shared by the numpy API (``geocodec.codec``), the Zarr codecs' settings and the writer, and
importable without torch so that opening a store's metadata stays cheap.
"""

from __future__ import annotations

from typing import Literal, get_args

Modality = Literal["both", "optical", "sar"]
SarScale = Literal["db", "linear"]
OpticalDtype = Literal["uint8", "uint16", "int16", "float32"]
SarDtype = Literal["float32", "float64"]
#: What runs the networks (the analysis transform when encoding, the decoders when decoding):
#: ``"auto"`` (the default: ``"torch-bf16"`` where the device has native bf16 units, else ``"torch"``;
#: resolved by ``geocodec.precision.resolve_backend``), ``"torch"`` (fp32, the reference),
#: ``"torch-bf16"`` (bf16 autocast + channels_last, fp32 weights), or ONNX Runtime graphs built from
#: the model at run time (``geocodec[fast]``): ``"onnx"`` in float32 (the same values to float
#: rounding), ``"onnx-int8"`` quantised (slightly lossy). Entropy coding and the chunk format never change.
Backend = Literal["auto", "torch", "torch-bf16", "onnx", "onnx-int8"]

#: Every entry point's default backend (issue #18: bf16 where the CPU has the units, fp32 elsewhere).
DEFAULT_BACKEND: str = "auto"

#: How the networks' convolutions run (``geocodec.precision``): bf16 autocast where the hardware has
#: bf16 units (``auto``), or fp32. Entropy models, rates and losses are always fp32.
Precision = Literal["auto", "fp32", "bf16"]

MODALITIES: tuple[str, ...] = get_args(Modality)
PRECISIONS: tuple[str, ...] = get_args(Precision)
SAR_SCALES: tuple[str, ...] = get_args(SarScale)
OPTICAL_DTYPES: tuple[str, ...] = get_args(OpticalDtype)
SAR_DTYPES: tuple[str, ...] = get_args(SarDtype)
BACKENDS: tuple[str, ...] = get_args(Backend)

class BandCounts:
    """``n_optical`` / ``n_sar`` for anything that lists its ``optical_bands`` and ``sar_bands``."""

    optical_bands: tuple | list
    sar_bands: tuple | list

    @property
    def n_optical(self) -> int:
        return len(self.optical_bands)

    @property
    def n_sar(self) -> int:
        return len(self.sar_bands)


#: Most encode-time latent refinement steps (``refine_steps``; ``geocodec.model.refine``): each step is
#: a forward and backward pass through the entropy model and both decoders.
MAX_REFINE_STEPS = 1000
