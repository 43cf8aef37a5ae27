"""Optional optical-only pre-training (e.g. on a Sentinel-2 scene) before paired training.

Optical-only data has no SAR, so the joint model is trained at γ = 1 with the SAR input held at
a constant plane: the loss is then R + λ·255²·D_opt (eq. 3 with γ = 1), which trains the optical
branch, the joint branch, the fusions, the entropy model and the optical decoder; the SAR
decoder starts from scratch in the paired stage. A single-modality optical model simply trains
on the optical crops. The result is a safetensors state dict that ``TrainConfig.init_from`` loads.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from safetensors.torch import save_file

from geocodec.datasets import PairSet
from geocodec.errors import InvalidInputError
from geocodec.train import TrainConfig, train


def load_optical_scenes(paths, n_optical: int, n_sar: int) -> PairSet:
    """Optical GeoTIFFs (first ``n_optical`` bands; 0 = nodata → NaN) with a constant SAR plane."""
    import rasterio

    opt, sar = [], []
    for path in paths:
        with rasterio.open(path) as src:
            if src.count < n_optical:
                raise InvalidInputError(f"{path} has {src.count} bands; the optical branch needs {n_optical}")
            a = src.read(list(range(1, n_optical + 1))).astype(np.float32)
            nodata = src.nodata if src.nodata is not None else 0
        a[a == nodata] = np.nan
        opt.append(a)
        sar.append(np.zeros((n_sar, *a.shape[1:]), np.float32))
    return PairSet(opt, sar)


def pretrain_optical(cfg: TrainConfig, scenes, steps: int, *, progress: bool = True) -> Path:
    """Run the optical pre-training stage in ``<out_dir>/pretrain-optical``; return the weights path."""
    from geocodec.model import ModelConfig

    mc = ModelConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.model.items()})
    pairs = load_optical_scenes(scenes, mc.n_optical, mc.n_sar)
    out = Path(cfg.out_dir) / "pretrain-optical"
    pre = replace(cfg, out_dir=str(out), steps=steps, max_minutes=None, init_from=None,
                  fixed_gamma=1.0 if cfg.modality == "joint" else None)
    model, _ = train(pre, pairs, progress=progress)
    path = out / "pretrained.safetensors"
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()
               if v.numel() > 0}, str(path))
    return path
