"""The training loop: staged, resumable, on a mixture of paired and single-modality data.

Each step draws one data set (by weight), a batch of random crops from it, γ ~ U(0, 1) (1 for
optical-only data, 0 for SAR-only) and log λ ~ U over the current stage's range, and takes one
Adam step on the rate–distortion loss. Stages change the λ range over the run: a high-λ
*floor* stage first raises the autoencoder's quality ceiling, then the rate stage covers the
model's whole λ range.

Checkpoints are safetensors (model + both optimisers' moments) plus a JSON log; nothing is
pickled. Resuming restores the optimiser state and ramps the learning rate up again over
``warmup_steps`` steps, so the first steps after a resume do not undo training.
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

from geocodec.model import JointCodecModel, ModelConfig
from geocodec.training.data import PairSet, crop_size, random_crops
from geocodec.training.loss import rd_loss, single_rd_loss
from geocodec.training.probe import run_probe


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
    # (geocodec.model.single_modality), trained by this same loop on the same crops.
    modality: str = "joint"
    init_from: str | None = None  # weights (model file, checkpoint or state dict) to start from
    fixed_gamma: float | None = None  # train at one γ instead of γ ~ U(0, 1)
    #: ``[{"name", "until", "lmbda": [lo, hi]}]``: each stage runs until that fraction of the run
    #: (steps or time budget); a stage without "lmbda" uses the model's whole range.
    stages: list = field(default_factory=list)
    warmup_steps: int = 0  # learning-rate ramp after a fresh start or a resume
    #: "all", or "encoder": only the encoder side (analysis transform, its λ gain, the hyper-analysis
    #: h_a) learns; decoders, decoder gain and entropy model stay as they are (see ``encoder_side``).
    train_only: str = "all"
    probe_every: int = 0  # validation probe every N steps (0: at checkpoints only when probe data is given)


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


def optimiser_parameters(model: torch.nn.Module) -> tuple[list, list]:
    """(main, aux) parameters in saved-key (``state_dict``) order, which module refactors keep:
    checkpoints number their Adam moments by it. ``named_parameters()`` follows the module tree."""
    named = [(k, v) for k, v in model.state_dict(keep_vars=True).items() if isinstance(v, torch.nn.Parameter)]
    return [p for n, p in named if not n.endswith("quantiles")], [p for n, p in named if n.endswith("quantiles")]


#: Parameters only the encoder uses: changing them changes which latent is coded, never how a
#: bitstream decodes (the decoders and every table they share with the encoder stay fixed).
ENCODER_SIDE = ("encoder.", "encoder_gain.", "entropy.h_a.")


def encoder_side(model: torch.nn.Module, params: list) -> list:
    """Those of ``params`` (saved-key order kept) that only the encoder uses; the rest are frozen."""
    names = {id(v): k for k, v in model.state_dict(keep_vars=True).items()}
    keep = [p for p in params if names[id(p)].startswith(ENCODER_SIDE)]
    kept = {id(p) for p in keep}
    for p in params:
        p.requires_grad_(id(p) in kept)
    return keep


def _warm_start(model: torch.nn.Module, path: str, log) -> None:
    """Load every tensor of ``path`` whose name and shape the model shares (architecture changes
    keep what still fits). ``path``: a checkpoint, a model file or a registered model's name."""
    p = Path(path)
    if not p.exists():
        from geocodec.registry import resolve_weights

        p = resolve_weights(path).path
    tensors = load_file(str(p))
    if any(k.startswith("model.") for k in tensors):
        tensors = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    own = model.state_dict()
    fits = {k: v for k, v in tensors.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(fits, strict=False)
    log(f"initialised {len(fits)} of {len(own)} tensors from {p}")


def _stage_at(cfg: TrainConfig, frac: float) -> dict:
    for st in cfg.stages:
        if frac <= st["until"]:
            return st
    return cfg.stages[-1] if cfg.stages else {"name": "rd"}


def _build(cfg: TrainConfig, device):
    model_cfg = ModelConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.model.items()})
    if cfg.modality == "joint":
        return model_cfg, JointCodecModel(model_cfg).to(device), rd_loss
    from geocodec.model.single_modality import SingleModalityModel

    model = SingleModalityModel(model_cfg, cfg.modality).to(device)
    return model_cfg, model, (lambda m, o, s, g, lam: single_rd_loss(m, o, s, lam))  # noqa: E731


def training_sets(cfg: TrainConfig, data) -> list[PairSet]:
    """The sets ``cfg`` trains on: a single-modality model skips the other modality's data, and
    encoder-only training keeps the pairs (the encoder always sees both modalities when it codes)."""
    sets = [data] if isinstance(data, PairSet) else list(data)
    if cfg.modality != "joint":
        sets = [s for s in sets if s.kind == "pair" or s.kind == cfg.modality]
    if cfg.train_only not in ("all", "encoder"):
        raise ValueError(f"train_only must be 'all' or 'encoder', not {cfg.train_only!r}")
    if cfg.train_only == "encoder":
        sets = [s for s in sets if s.kind == "pair"]
    return sets


def train(cfg: TrainConfig, data, *, probe=None, progress: bool = True, log=print):
    """Train (or resume) a model in ``cfg.out_dir``; returns ``(model, training log dict)``.

    ``data``: a ``PairSet`` or a list of them (pairs, optical-only, SAR-only; drawn by weight);
    ``probe``: validation tiles (``probe.probe_tiles``) measured at every checkpoint."""
    sets = training_sets(cfg, data)
    if not sets:
        raise ValueError("no training data")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    device = _device(cfg.device)
    torch.manual_seed(cfg.seed)
    model_cfg, model, loss_fn = _build(cfg, device)
    main_params, aux_params = optimiser_parameters(model)
    if cfg.train_only == "encoder":
        main_params, aux_params = encoder_side(model, main_params + aux_params), []
    opt = torch.optim.Adam(main_params, lr=cfg.lr)
    aux_opt = torch.optim.Adam(aux_params, lr=cfg.aux_lr) if aux_params else None
    log_path, ckpt_path = out / "train_log.json", out / "checkpoint.safetensors"
    history: dict = {"config": asdict(cfg), "model": json.loads(model_cfg.to_json()), "steps": [], "probes": [],
                     "elapsed_s": 0.0, "data": [{"name": s.name, "kind": s.kind, "items": len(s),
                                                 "weight": s.weight} for s in sets]}
    start_step = 0
    resumed = ckpt_path.exists() and log_path.exists()
    if cfg.init_from and not resumed:
        _warm_start(model, cfg.init_from, log)
    if resumed:
        tensors = load_file(str(ckpt_path))
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, strict=False)
        _load_optim_state(opt, tensors, "opt")
        if aux_opt is not None:
            _load_optim_state(aux_opt, tensors, "aux")
        history = json.loads(log_path.read_text())
        history.setdefault("probes", [])
        start_step = history.get("final_step") or (history["steps"][-1]["step"] if history["steps"] else 0)
        log(f"resumed from step {start_step}")
    rng = np.random.default_rng(cfg.seed + start_step)
    weights = np.array([s.weight for s in sets], float)
    weights /= weights.sum()
    crops = [crop_size(s, cfg.crop) for s in sets]
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
        history["final_step"] = step
        tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()
                   if v.numel() > 0}
        tensors.update(_optim_state(opt, "opt"))
        if aux_opt is not None:
            tensors.update(_optim_state(aux_opt, "aux"))
        save_file(tensors, str(ckpt_path) + ".tmp")
        Path(str(ckpt_path) + ".tmp").replace(ckpt_path)
        log_path.write_text(json.dumps(history, indent=1))

    def probe_now(step, stage):
        if not probe:
            return
        model.eval()
        result = run_probe(model, probe)
        model.train()
        history["probes"].append({"step": step, "time_s": time.time() - t0, "stage": stage, **result})
        log(f"probe @ {step}: floor {result['floor_opt']:.2f}/{result['floor_sar']:.2f} dB "
            f"(physical {result['floor_opt_phys']:.2f}/{result['floor_sar_phys']:.2f}); "
            + "; ".join(f"λ={k[3:]}: {v['bpp']:.3f} bpp {v['psnr_opt']:.2f}/{v['psnr_sar']:.2f} dB "
                        f"(physical {v['psnr_opt_phys']:.2f}/{v['psnr_sar_phys']:.2f})"
                        for k, v in result.items() if k.startswith("rd_")))

    if probe and start_step == 0:
        probe_now(0, "init")
    step = start_step
    probe_every = cfg.probe_every or cfg.checkpoint_every
    for step in range(start_step + 1, cfg.steps + 1):
        frac = step / cfg.steps
        if cfg.max_minutes:  # a time budget decays the learning rate on time as well
            frac = max(frac, (time.time() - t0) / (cfg.max_minutes * 60))
        stage = _stage_at(cfg, frac)
        lr = cfg.lr_final + 0.5 * (cfg.lr - cfg.lr_final) * (1 + math.cos(math.pi * frac))
        if cfg.warmup_steps:
            lr *= min(1.0, (step - start_step) / cfg.warmup_steps)
        for gparam in opt.param_groups:
            gparam["lr"] = lr
        k = int(rng.choice(len(sets), p=weights))
        o, s = random_crops(sets[k], cfg.batch, crops[k], rng)
        kind = sets[k].kind
        gamma = rng.random(cfg.batch).astype(np.float32)
        if kind != "pair":  # the missing modality gets a blank plane and weight 0
            blank = np.zeros((cfg.batch, model_cfg.n_sar if kind == "optical" else model_cfg.n_optical,
                              *(o if o is not None else s).shape[-2:]), np.float32)
            o, s = (o, blank) if kind == "optical" else (blank, s)
            gamma[:] = 1.0 if kind == "optical" else 0.0
        elif cfg.fixed_gamma is not None:
            gamma[:] = cfg.fixed_gamma
        lo, hi = (math.log(v) for v in stage["lmbda"]) if "lmbda" in stage else (log_lo, log_hi)
        lmbda = np.exp(rng.uniform(lo, hi, cfg.batch)).astype(np.float32)
        x_opt, x_sar = torch.from_numpy(o).to(device), torch.from_numpy(s).to(device)
        loss, stats = loss_fn(model, x_opt, x_sar, torch.from_numpy(gamma).to(device),
                              torch.from_numpy(lmbda).to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(main_params, 1.0)
        opt.step()
        aux = model.aux_loss()
        if aux_opt is not None:
            aux_opt.zero_grad(set_to_none=True)
            aux.backward()
            aux_opt.step()
        if kind == "optical":
            stats.pop("psnr_sar", None)
        elif kind == "sar":
            stats.pop("psnr_opt", None)
        running.append(stats)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{stats['loss']:.3f}", bpp=f"{stats.get('bpp_joint', stats.get('bpp')):.3f}")
        if step % cfg.log_every == 0 or step == cfg.steps:
            keys = {key for r in running for key in r}
            mean = {key: float(np.mean([r[key] for r in running if key in r])) for key in sorted(keys)}
            history["steps"].append({"step": step, "lr": lr, "stage": stage.get("name", "rd"), "aux": aux.item(),
                                     "time_s": time.time() - t0, **mean})
            running = []
        if step % probe_every == 0:
            probe_now(step, stage.get("name", "rd"))
        if step % cfg.checkpoint_every == 0:
            save(step)
        if cfg.max_minutes is not None and time.time() - t0 > cfg.max_minutes * 60:
            log(f"time budget reached at step {step}")
            break
    save(step)
    if bar is not None:
        bar.close()
    model.eval()
    log_path.write_text(json.dumps(history, indent=1))
    return model, history
