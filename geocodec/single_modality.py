"""Independent-coding baseline: the joint model's building blocks for ONE modality.

The paper's main comparison is joint coding against coding each modality with its own model
of the same design, trained on the same data with the same budget. ``SingleModalityModel`` is
that model: one encoder branch (the joint encoder's stages, no prompt plane, no fusion), the
same λ-gains, the same ``LatentEntropyModel`` and one ``SynthesisTransform``. It trains with
``geocodec.training.train`` (``TrainConfig.modality = "optical"`` or ``"sar"``) and codes real
rANS bytes with the same entropy coder, so its rates are measured exactly like the joint
model's. It is an evaluation baseline, not a product codec: there is no chunk format for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.numpy import load_file as _np_load
from safetensors.torch import save_file
from torch import nn

from geocodec.errors import InvalidInputError, ModelIntegrityError, UnknownModelError
from geocodec.model.config import ModelConfig
from geocodec.model.decoders import SynthesisTransform
from geocodec.model.encoder import _Stage
from geocodec.model.entropy import LatentEntropyModel, LatentStreams
from geocodec.model.joint import STRIDE
from geocodec.model.layers import LambdaGain, conv
from geocodec.model_file import tensor_digest
from geocodec.normalize import apply_scaling, fit_scaling, invert_scaling
from geocodec.training.loss import DISTORTION_SCALE

FORMAT = "geocodec-single-modality-1"
MODALITIES = ("optical", "sar")


class BranchEncoder(nn.Module):
    """One branch of ``JointEncoder`` on its own: three stride-2 stages, then the latent conv."""

    def __init__(self, in_channels: int, features: int, latent_channels: int):
        super().__init__()
        f = features
        self.stages = nn.Sequential(_Stage(in_channels, f), _Stage(f, f), _Stage(f, f))
        self.to_latent = conv(f, latent_channels)

    def forward(self, x):
        return self.to_latent(self.stages(x))


class SingleModalityModel(nn.Module):
    """x (one modality, normalised) → ŷ → x̂, with the joint model's λ-gain and entropy model."""

    def __init__(self, config: ModelConfig, modality: str):
        super().__init__()
        if modality not in MODALITIES:
            raise InvalidInputError(f"modality={modality!r}: a single-modality model is 'optical' or 'sar'")
        c = config
        self.config = c
        self.modality = modality
        self.n_bands = c.n_optical if modality == "optical" else c.n_sar
        self.encoder = BranchEncoder(self.n_bands, c.features, c.latent_channels)
        self.encoder_gain = LambdaGain(c.latent_channels, c.lmbda_min, c.lmbda_max)
        self.decoder_gain = LambdaGain(c.latent_channels, c.lmbda_min, c.lmbda_max, direction=-1.0)
        self.entropy = LatentEntropyModel(c.latent_channels, c.hyper_channels, c.groups)
        self.decoder = SynthesisTransform(c.latent_channels, c.features, self.n_bands)

    @property
    def bands(self) -> tuple[str, ...]:
        return self.config.optical_bands if self.modality == "optical" else self.config.sar_bands

    def forward(self, x, lmbda):
        y = self.encoder(x) * self.encoder_gain(lmbda)
        y_hat, y_lik, z_lik = self.entropy(y)
        return {"x_hat": self.decoder(y_hat * self.decoder_gain(lmbda)),
                "y_likelihoods": y_lik, "z_likelihoods": z_lik}

    def aux_loss(self) -> torch.Tensor:
        return self.entropy.z_model.loss()


def single_rd_loss(model: SingleModalityModel, x_opt, x_sar, lmbda):
    """R(ŷ)+R(ẑ) + λ·255²·D for the model's modality (eq. 3 with γ fixed to that modality)."""
    x = x_opt if model.modality == "optical" else x_sar
    out = model(x, lmbda)
    b, _, h, w = x.shape
    bits = -(torch.log2(out["y_likelihoods"]).flatten(1).sum(1) + torch.log2(out["z_likelihoods"]).flatten(1).sum(1))
    rate = bits / (h * w)
    d = ((out["x_hat"] - x) ** 2).flatten(1).mean(1)
    loss = (rate + lmbda * DISTORTION_SCALE * d).mean()
    return loss, {"loss": loss.item(), "bpp": rate.mean().item(), "psnr": (-10 * torch.log10(d.mean())).item()}


# ---------------------------------------------------------------------------- files
def save_single_model(model: SingleModalityModel, path, *, name: str, version: str = "0", note: str = "") -> str:
    """Freeze entropy tables and write safetensors with config, modality and content sha256."""
    model.entropy.freeze_tables()
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    digest = tensor_digest({k: v.numpy() for k, v in state.items()})
    meta = {"format": FORMAT, "name": name, "version": version, "sha256": digest,
            "modality": model.modality, "config": model.config.to_json(), "note": note}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata=meta)
    return digest


def load_single_model(path, device: str | torch.device = "cpu") -> SingleModalityModel:
    """Rebuild a single-modality model from its weights file, verifying its sha256 (no pickle)."""
    try:
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if n <= 0 or n > 100_000_000:
                raise ValueError("bad header length")
            meta = json.loads(f.read(n)).get("__metadata__") or {}
        arrays = _np_load(str(path))
    except (OSError, ValueError, SafetensorError) as e:
        raise UnknownModelError(f"{path} is not a readable safetensors weights file ({e})") from None
    if meta.get("format") != FORMAT:
        raise UnknownModelError(f"{path} is not a geocodec single-modality model (format={meta.get('format')!r})")
    if tensor_digest(arrays) != meta["sha256"]:
        raise ModelIntegrityError(f"weights {path} are corrupt: content sha256 differs from the recorded one")
    model = SingleModalityModel(ModelConfig.from_json(meta["config"]), meta["modality"])
    state = {k: torch.from_numpy(v.copy()) for k, v in arrays.items()}
    for key, value in state.items():  # compressai's CDF buffers start empty
        owner, _, attr = key.rpartition(".")
        module = model.get_submodule(owner)
        if attr in module._buffers and module._buffers[attr] is not None and module._buffers[attr].shape != value.shape:
            module._buffers[attr] = torch.empty_like(value)
    model.load_state_dict(state)
    model.name = meta["name"]
    model.sha256 = meta["sha256"]
    return model.to(device).eval()


def model_from_checkpoint(run_dir, device: str | torch.device = "cpu") -> SingleModalityModel:
    """The model of a training run directory (``train_log.json`` + ``checkpoint.safetensors``)."""
    from safetensors.torch import load_file

    run = Path(run_dir)
    hist = json.loads((run / "train_log.json").read_text())
    cfg = hist["config"]
    model = SingleModalityModel(ModelConfig.from_json(json.dumps(hist["model"])), cfg.get("modality", "joint"))
    tensors = load_file(str(run / "checkpoint.safetensors"))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, strict=False)
    model.entropy.freeze_tables()
    # the sha256 the weights would have if exported with save_single_model (for provenance)
    model.name = f"{run.name}@step{hist['steps'][-1]['step'] if hist['steps'] else 0}"
    model.sha256 = tensor_digest({k: v.detach().cpu().contiguous().numpy() for k, v in model.state_dict().items()})
    return model.to(device).eval()


# ---------------------------------------------------------------------------- coding
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
    hp, wp = -(-h // STRIDE) * STRIDE, -(-w // STRIDE) * STRIDE
    xn = np.pad(xn, ((0, 0), (0, hp - h), (0, wp - w)), mode="edge")
    lam = torch.tensor([float(np.float32(lmbda))], dtype=torch.float32, device=dev)
    y = model.encoder(torch.from_numpy(xn)[None].to(dev)) * model.encoder_gain(lam)
    streams: list[LatentStreams] = model.entropy.compress(y)
    y_hat = model.entropy.decompress(streams, (hp // 16, wp // 16), dev)
    out = model.decoder(y_hat * model.decoder_gain(lam))[0, :, :h, :w].float().cpu().numpy()
    rec = invert_scaling(out, scaling)
    if x.dtype.kind in "ui":
        info = np.iinfo(x.dtype)
        rec = np.clip(np.rint(rec), info.min, info.max)
    rec = rec.astype(x.dtype)
    if not valid.all():
        rec[~valid] = np.nan
    return SingleCoded(z_bytes=len(streams[0].z), y_bytes=len(streams[0].y), decoded=rec)
