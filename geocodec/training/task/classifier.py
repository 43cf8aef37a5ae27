"""The task classifier: a small CNN on normalised optical + SAR, and its safetensors file.

No pretrained weights can be downloaded here, so the built-in default trains from scratch. It is
kept small (four stride-2 conv stages, global average pooling) because the labelled sets it meets
first are tiny; a user brings a bigger one through the Python API: any ``torch.nn.Module`` mapping
``(B, C_opt + C_sar, H, W)`` normalised inputs (``data.classifier_input``) to ``(B, n_classes)`` logits.
"""

from __future__ import annotations

import json

import torch
from torch import nn

from geocodec.errors import InvalidInputError
from geocodec.training.task.labels import TaskLabels

FORMAT = "geocodec-task-classifier-1"


class SmallCNN(nn.Module):
    """(B, C, H, W) → (B, n_classes) logits; any H, W (global pooling)."""

    def __init__(self, in_channels: int, n_classes: int, width: int = 32, dropout: float = 0.2):
        super().__init__()
        self.arch = {"in_channels": in_channels, "n_classes": n_classes, "width": width, "dropout": dropout}
        w = width
        layers, c = [], in_channels
        for out in (w, w, 2 * w, 2 * w):
            layers += [nn.Conv2d(c, out, 3, stride=2, padding=1), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            c = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(c, n_classes))

    def forward(self, x):
        return self.head(self.features(x).mean(dim=(2, 3)))


def build_classifier(kind, n_in: int, labels: TaskLabels) -> nn.Module:
    """``"small-cnn"`` (the built-in default) or a user's ``nn.Module``, checked on a dummy input."""
    if kind in (None, "small-cnn"):
        return SmallCNN(n_in, labels.n_classes)
    if not isinstance(kind, nn.Module):
        raise InvalidInputError(f"classifier must be 'small-cnn' or a torch.nn.Module, got {kind!r}")
    was_training = kind.training
    kind.eval()
    with torch.no_grad():
        out = kind(torch.zeros(2, n_in, 64, 64))
    kind.train(was_training)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, labels.n_classes):
        raise InvalidInputError(f"the classifier maps (B, {n_in}, H, W) inputs to {getattr(out, 'shape', out)}, "
                                f"not (B, {labels.n_classes}) logits ({labels.n_classes} classes)")
    return kind


def save_classifier(model: nn.Module, path, labels: TaskLabels, note: dict | None = None) -> None:
    """safetensors weights + metadata (format, label kind, classes, the built-in's architecture)."""
    from safetensors.torch import save_file

    meta = {"format": FORMAT, "kind": labels.kind, "classes": json.dumps(list(labels.classes)),
            "arch": json.dumps(getattr(model, "arch", None)), "note": json.dumps(note or {})}
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(path), metadata=meta)


def load_classifier(path, model: nn.Module | None = None) -> tuple[nn.Module, TaskLabels]:
    """A classifier file → (module, labels). The built-in is rebuilt from its metadata; a user's own
    architecture is passed as ``model`` and receives the weights."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    if meta.get("format") != FORMAT:
        raise InvalidInputError(f"{path} is not a geocodec task classifier (format={meta.get('format')!r})")
    labels = TaskLabels(meta["kind"], tuple(json.loads(meta["classes"])))
    arch = json.loads(meta["arch"])
    if model is None:
        if not arch:
            raise InvalidInputError(f"{path} holds a user-defined classifier: pass its module as model=")
        model = SmallCNN(**arch)
    model.load_state_dict(load_file(str(path)))
    return model.eval(), labels
