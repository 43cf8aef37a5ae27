"""What is finetuned together, as one module: codec(s) + classifier (+ learned γ).

Each system maps a normalised batch to (rate per sample, classifier logits, stats), so one loop
(``finetune.run_stage``) trains all three: the classifier alone on uncompressed data (rate 0),
the joint codec with γ learned per λ, and independent coding (two single-modality models).
"""

from __future__ import annotations

import torch
from torch import nn

from geocodec.model import JointCodecModel
from geocodec.model.single_modality import SingleModalityModel
from geocodec.training.loop import optimiser_parameters
from geocodec.training.loss import bits_per_location
from geocodec.training.task.gamma import LearnedGamma


#: The percentiles ``geocodec.normalize`` scales each band by (as fractions).
_PERCENTILES = (0.005, 0.995)


def as_decoded(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """What the classifier sees of a decoded crop in use, differentiably: ``decompress`` clamps each band
    to the input's range, and ``data.classifier_input`` re-scales it by its own 0.5–99.5 percentiles.

    Without this the classifier learns from raw decoder outputs that the product path then clamps and
    re-scales: measured on the test set, that mismatch cost the task-finetuned codec 0.15 mAP."""
    lo, hi = x.amin((2, 3), keepdim=True), x.amax((2, 3), keepdim=True)
    y = torch.maximum(torch.minimum(x_hat.float(), hi), lo)
    q = torch.quantile(y.flatten(2), torch.tensor(_PERCENTILES, device=y.device), dim=2)
    return (y - q[0][..., None, None]) / (q[1] - q[0]).clamp_min(1e-3)[..., None, None]


class ClassifierOnly(nn.Module):
    """The classifier on uncompressed inputs: the task's reference, trained first."""

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier = classifier

    def forward(self, x_opt, x_sar, k, lmbda):
        logits = self.classifier(torch.cat([x_opt, x_sar], 1))
        return torch.zeros(x_opt.shape[0], device=x_opt.device), logits, {}

    def param_groups(self, cfg):
        return [{"params": list(self.classifier.parameters()), "lr": cfg.classifier_lr}], []


class JointTask(nn.Module):
    """Joint codec → both decoders → classifier, γ learned per λ point (eq. 4)."""

    def __init__(self, codec: JointCodecModel, classifier: nn.Module, lmbdas, gamma_init: float = 0.5):
        super().__init__()
        self.codec, self.classifier = codec, classifier
        self.gamma = LearnedGamma(lmbdas, gamma_init)

    def forward(self, x_opt, x_sar, k, lmbda):
        gamma = self.gamma(k)
        out = self.codec(x_opt, x_sar, gamma, lmbda)
        rate = bits_per_location(out, *x_opt.shape[-2:])
        logits = self.classifier(torch.cat([as_decoded(out["optical"], x_opt), as_decoded(out["sar"], x_sar)], 1))
        return rate, logits, {"bpp": rate.mean().item() / 2}

    def param_groups(self, cfg):
        main, aux = optimiser_parameters(self.codec)
        weights = main + list(self.classifier.parameters())
        return [{"params": weights, "lr": cfg.lr}, {"params": [self.gamma.logit], "lr": cfg.gamma_lr}], aux

    def aux_loss(self):
        return self.codec.aux_loss()


class IndependentTask(nn.Module):
    """Independent coding: one single-modality model per modality → classifier (no γ: nothing to split)."""

    def __init__(self, optical: SingleModalityModel, sar: SingleModalityModel, classifier: nn.Module):
        super().__init__()
        self.optical, self.sar, self.classifier = optical, sar, classifier

    def forward(self, x_opt, x_sar, k, lmbda):
        o, s = self.optical(x_opt, lmbda), self.sar(x_sar, lmbda)
        rate = bits_per_location(o, *x_opt.shape[-2:]) + bits_per_location(s, *x_sar.shape[-2:])
        logits = self.classifier(torch.cat([as_decoded(o["x_hat"], x_opt), as_decoded(s["x_hat"], x_sar)], 1))
        return rate, logits, {"bpp": rate.mean().item() / 2}

    def param_groups(self, cfg):
        (mo, ao), (ms, as_) = optimiser_parameters(self.optical), optimiser_parameters(self.sar)
        return [{"params": mo + ms + list(self.classifier.parameters()), "lr": cfg.lr}], ao + as_

    def aux_loss(self):
        return self.optical.aux_loss() + self.sar.aux_loss()


def independent_from_joint(codec: JointCodecModel, modality: str) -> SingleModalityModel:
    """A single-modality model started from the joint codec's parts for that modality: its encoder
    branch (the γ-prompt input channel dropped; no fusion), λ gains, entropy model and decoder.

    No trained single-modality models ship, and training them from scratch costs far more than the
    finetune; this is the closest start the same budget allows (the report says so)."""
    model = SingleModalityModel(codec.config, modality)
    src = codec.state_dict()
    prefix = "opt_stages" if modality == "optical" else "sar_stages"
    decoder = "optical_decoder." if modality == "optical" else "sar_decoder."
    mapped = {}
    for key, target in model.state_dict().items():
        if key.startswith("encoder.stages."):
            name = "encoder." + prefix + key[len("encoder.stages"):]
        elif key.startswith("decoder."):
            name = decoder + key[len("decoder."):]
        else:
            name = key
        v = src.get(name)
        if v is None:
            continue
        if v.shape != target.shape and v.dim() == 4 and v.shape[1] == target.shape[1] + 1:
            v = v[:, : target.shape[1]]  # the first conv's prompt-plane input channel
        if v.shape == target.shape:
            mapped[key] = v.clone()
    model.load_state_dict(mapped, strict=False)
    return model
