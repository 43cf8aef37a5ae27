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
#: How decoded latents become images: the model's torch decoders (exact), or int8 ONNX Runtime
#: graphs built from them at run time (faster on a CPU, slightly lossy; ``geocodec[fast]``).
Backend = Literal["torch", "onnx-int8"]

MODALITIES: tuple[str, ...] = get_args(Modality)
SAR_SCALES: tuple[str, ...] = get_args(SarScale)
OPTICAL_DTYPES: tuple[str, ...] = get_args(OpticalDtype)
SAR_DTYPES: tuple[str, ...] = get_args(SarDtype)
BACKENDS: tuple[str, ...] = get_args(Backend)

#: Most encode-time latent refinement steps (``refine_steps``; ``geocodec.model.refine``): each step is
#: a forward and backward pass through the entropy model and both decoders.
MAX_REFINE_STEPS = 1000
