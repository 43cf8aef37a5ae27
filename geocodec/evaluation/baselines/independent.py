"""Independent coding: one single-modality learned model per modality, through real rANS bytes.

The baseline the joint model is compared with (``geocodec.evaluation.sweeps.sweep_independent``):
the same per-band scaling, padding, entropy coder and output clamping as ``geocodec.decompress``,
applied to a ``geocodec.model.single_modality.SingleModalityModel``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from geocodec.errors import InvalidInputError
from geocodec.model.entropy import LatentStreams
from geocodec.model.single_modality import SingleModalityModel
from geocodec.normalize import apply_scaling, fit_scaling, invert_scaling


@dataclass
class SingleCoded:
    """Result of coding one modality: exact substream bytes and the decoded array."""

    z_bytes: int
    y_bytes: int
    decoded: np.ndarray  # (C, H, W), input dtype, NaN where the input had NaN

    @property
    def payload_bytes(self) -> int:
        return self.z_bytes + self.y_bytes


@torch.no_grad()
def code_single(model: SingleModalityModel, x: np.ndarray, lmbda: float) -> SingleCoded:
    """Encode + decode one (C, H, W) raw array (optical counts or SAR dB) through real rANS bytes.

    Uses the codec's per-band scaling (``geocodec.normalize``), edge padding to the model
    stride, the entropy coder's ``compress``/``decompress`` and the same output clamping and
    integer rounding as ``geocodec.decompress``; NaN positions stay NaN.
    """
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[0] != model.n_bands:
        raise InvalidInputError(f"{model.modality} input must be ({model.n_bands}, H, W); got {x.shape}")
    dev = next(model.parameters()).device
    valid = np.isfinite(x) if x.dtype.kind == "f" else np.ones(x.shape, bool)
    values = np.where(valid, x, 0).astype(np.float64)
    scaling = fit_scaling(values, valid)
    xn = apply_scaling(values, scaling, valid)
    h, w = x.shape[1:]
    hp, wp = model.padded_hw(h, w)
    xn = np.pad(xn, ((0, 0), (0, hp - h), (0, wp - w)), mode="edge")
    lam = torch.tensor([float(np.float32(lmbda))], dtype=torch.float32, device=dev)
    y = model.encoder(torch.from_numpy(xn)[None].to(dev)) * model.encoder_gain(lam)
    streams: list[LatentStreams] = model.entropy.compress(y)
    y_hat = model.entropy.decompress(streams, model.latent_hw(h, w), dev)
    out = model.decoder(y_hat * model.decoder_gain(lam))[0, :, :h, :w].float().cpu().numpy()
    rec = invert_scaling(out, scaling)
    if x.dtype.kind in "ui":
        info = np.iinfo(x.dtype)
        rec = np.clip(np.rint(rec), info.min, info.max)
    rec = rec.astype(x.dtype)
    if not valid.all():
        rec[~valid] = np.nan
    return SingleCoded(z_bytes=len(streams[0].z), y_bytes=len(streams[0].y), decoded=rec)
