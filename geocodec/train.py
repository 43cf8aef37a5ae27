"""Training: loss R(ŷ)+R(ẑ) + λ·255²·(γ·D_opt + (1−γ)·D_sar) on normalised data (paper eq. 3),
with γ ~ U(0, 1) and log λ ~ U over the model's range, drawn per sample.

Checkpoints are safetensors (model + optimiser moments) plus a JSON state; nothing is pickled.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from geocodec.datasets import PairSet, random_crops
from geocodec.model import JointCodecModel, ModelConfig

DISTORTION_SCALE = 255.0**2  # λ is expressed as in CompressAI (λ·255²·MSE on [0, 1] data)


@dataclass
class TrainConfig:
    out_dir: str = "runs/default"
    steps: int = 6000
    batch: int = 8
    crop: int = 64
    lr: float = 2e-4
    lr_final: float = 2e-5
    aux_lr: float = 1e-3
    seed: int = 0
    max_minutes: float | None = None
    checkpoint_every: int = 250
    log_every: int = 50  # steps averaged into one loss-curve entry of train_log.json
    threads: int | None = None
    device: str = "auto"
    model: dict = field(default_factory=dict)  # ModelConfig overrides
    # "joint" (the geocodec model) or "optical" / "sar": the independent-coding baseline
    # (geocodec.single_modality), trained by this same loop on the same crops.
    modality: str = "joint"
    init_from: str | None = None  # safetensors state dict to start from (e.g. optical pre-training)
    fixed_gamma: float | None = None  # train at one γ instead of γ ~ U(0, 1) (optical pre-training: 1)


def rd_loss(model: JointCodecModel, x_opt, x_sar, gamma, lmbda):
    """Per-sample rate–distortion loss; returns (loss, stats dict)."""
    out = model(x_opt, x_sar, gamma, lmbda)
    b, _, h, w = x_opt.shape
    bits = -(torch.log2(out["y_likelihoods"]).flatten(1).sum(1) + torch.log2(out["z_likelihoods"]).flatten(1).sum(1))
    rate = bits / (h * w)  # bits per pixel location (both modalities)
    d_opt = ((out["optical"] - x_opt) ** 2).flatten(1).mean(1)
    d_sar = ((out["sar"] - x_sar) ** 2).flatten(1).mean(1)
    loss = (rate + lmbda * DISTORTION_SCALE * (gamma * d_opt + (1 - gamma) * d_sar)).mean()
    stats = {
        "loss": loss.item(),
        "bpp_joint": float(rate.mean()) / 2,
        "psnr_opt": float(-10 * torch.log10(d_opt.mean())),
        "psnr_sar": float(-10 * torch.log10(d_sar.mean())),
    }
    return loss, stats


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _optim_state(opt: torch.optim.Optimizer, prefix: str) -> dict[str, torch.Tensor]:
    out = {}
    for i, st in opt.state_dict()["state"].items():
        for k, v in st.items():
            out[f"{prefix}.{i}.{k}"] = torch.as_tensor(v).detach().cpu().contiguous()
    return out


def _load_optim_state(opt: torch.optim.Optimizer, tensors: dict, prefix: str) -> None:
    sd = opt.state_dict()
    state: dict = {}
    for key, v in tensors.items():
        if key.startswith(prefix + "."):
            _, i, k = key.split(".", 2)
            state.setdefault(int(i), {})[k] = v
    sd["state"] = state
    opt.load_state_dict(sd)


def train(cfg: TrainConfig, pairs: PairSet, *, progress: bool = True, log=print):
    """Train (or resume) a model in ``cfg.out_dir``; returns ``(model, training log dict)``."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    device = _device(cfg.device)
    torch.manual_seed(cfg.seed)
    model_cfg = ModelConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.model.items()})
    if cfg.modality == "joint":
        model = JointCodecModel(model_cfg).to(device)
        loss_fn = rd_loss
    else:
        from geocodec.single_modality import SingleModalityModel, single_rd_loss

        model = SingleModalityModel(model_cfg, cfg.modality).to(device)
        loss_fn = lambda m, o, s, g, lam: single_rd_loss(m, o, s, lam)  # noqa: E731
    main_params = [p for n, p in model.named_parameters() if not n.endswith("quantiles")]
    aux_params = [p for n, p in model.named_parameters() if n.endswith("quantiles")]
    opt = torch.optim.Adam(main_params, lr=cfg.lr)
    aux_opt = torch.optim.Adam(aux_params, lr=cfg.aux_lr)
    log_path, ckpt_path = out / "train_log.json", out / "checkpoint.safetensors"
    history: dict = {"config": asdict(cfg), "model": json.loads(model_cfg.to_json()), "steps": [], "elapsed_s": 0.0}
    start_step = 0
    if cfg.init_from and not (ckpt_path.exists() and log_path.exists()):
        init = load_file(str(cfg.init_from))
        model.load_state_dict(init, strict=False)
        log(f"initialised from {cfg.init_from}")
    if ckpt_path.exists() and log_path.exists():
        tensors = load_file(str(ckpt_path))
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, strict=False)
        _load_optim_state(opt, tensors, "opt")
        _load_optim_state(aux_opt, tensors, "aux")
        history = json.loads(log_path.read_text())
        start_step = history["steps"][-1]["step"] if history["steps"] else 0
        log(f"resumed from step {start_step}")
    rng = np.random.default_rng(cfg.seed + start_step)
    log_lo, log_hi = math.log(model_cfg.lmbda_min), math.log(model_cfg.lmbda_max)
    t0 = time.time() - history["elapsed_s"]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, initial=start_step, desc="train", dynamic_ncols=True)
    model.train()
    running: list[dict] = []

    def save(step):
        history["elapsed_s"] = time.time() - t0
        tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()
                   if v.numel() > 0}
        tensors.update(_optim_state(opt, "opt"))
        tensors.update(_optim_state(aux_opt, "aux"))
        save_file(tensors, str(ckpt_path) + ".tmp")
        Path(str(ckpt_path) + ".tmp").replace(ckpt_path)
        log_path.write_text(json.dumps(history, indent=1))

    step = start_step
    for step in range(start_step + 1, cfg.steps + 1):
        frac = step / cfg.steps
        if cfg.max_minutes:  # a time budget decays the learning rate on time as well
            frac = max(frac, (time.time() - t0) / (cfg.max_minutes * 60))
        lr = cfg.lr_final + 0.5 * (cfg.lr - cfg.lr_final) * (1 + math.cos(math.pi * frac))
        for gparam in opt.param_groups:
            gparam["lr"] = lr
        o, s = random_crops(pairs, cfg.batch, cfg.crop, rng)
        x_opt, x_sar = torch.from_numpy(o).to(device), torch.from_numpy(s).to(device)
        gamma = torch.from_numpy(rng.random(cfg.batch).astype(np.float32)).to(device)
        if cfg.fixed_gamma is not None:
            gamma = torch.full_like(gamma, cfg.fixed_gamma)
        lmbda = torch.from_numpy(np.exp(rng.uniform(log_lo, log_hi, cfg.batch)).astype(np.float32)).to(device)
        loss, stats = loss_fn(model, x_opt, x_sar, gamma, lmbda)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(main_params, 1.0)
        opt.step()
        aux = model.aux_loss()
        aux_opt.zero_grad(set_to_none=True)
        aux.backward()
        aux_opt.step()
        running.append(stats)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{stats['loss']:.3f}", bpp=f"{stats.get('bpp_joint', stats.get('bpp')):.3f}")
        if step % cfg.log_every == 0 or step == cfg.steps:
            mean = {k: float(np.mean([r[k] for r in running])) for k in running[0]}
            history["steps"].append({"step": step, "lr": lr, "aux": float(aux), "time_s": time.time() - t0, **mean})
            running = []
        if step % cfg.checkpoint_every == 0:
            save(step)
        if cfg.max_minutes is not None and time.time() - t0 > cfg.max_minutes * 60:
            log(f"time budget reached at step {step}")
            break
    save(step)
    if bar is not None:
        bar.close()
    model.eval()
    history["final_step"] = step
    log_path.write_text(json.dumps(history, indent=1))
    return model, history
