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
from geocodec.precision import autocast, describe, resolve_precision, to_layout
from geocodec.registry import resolve_device
from geocodec.training.checkpoint import (
    MOMENT_DTYPES, check_resumed_architecture, cpu_name, load_optim_state, model_tensors, optim_state)
from geocodec.training.data import PairSet, crop_size, draw_conditions, training_batch
from geocodec.training.loss import rate_loss, rd_loss, single_rd_loss
from geocodec.training.optimiser import (  # noqa: F401 - importable from here, as before
    ENCODER_SIDE, ENTROPY_SIDE, OPTIMISERS, encoder_side, make_optimiser, optimiser_parameters, trainable_subset)
from geocodec.training.probe import run_probe
from geocodec.training.schedule import check_schedule, learning_rate


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
    #: "all"; "encoder": only the encoder side (analysis transform, its λ gain, the hyper-analysis
    #: h_a) learns; decoders, decoder gain and entropy model stay as they are (see ``encoder_side``);
    #: "entropy": only the entropy model learns, on the rate alone (``loss.rate_loss``), for the
    #: fixed transforms it starts from (a lighter entropy model for an already trained codec).
    train_only: str = "all"
    probe_every: int = 0  # validation probe every N steps (0: at checkpoints only when probe data is given)
    #: "auto" (bf16 autocast + channels_last where the CPU or GPU has bf16 units, else fp32), "fp32"
    #: or "bf16": how the convolutions run (``geocodec.precision``); rates and losses stay fp32.
    precision: str = "auto"
    #: "cosine": lr decays from ``lr`` to ``lr_final`` over ``steps`` (or ``max_minutes``);
    #: "wsd": warm-up, then constant ``lr`` with no fixed end, so a run can go on for as long as it
    #: takes; ``decay_minutes`` then decays it linearly to ``lr_final`` and stops (a candidate to export).
    schedule: str = "cosine"
    decay_minutes: float | None = None
    #: Checkpoints store Adam's moments in this dtype ("bf16" halves their size; a resume is then
    #: close to, not exactly, continuous). Weights are always stored in fp32.
    moments_dtype: str = "fp32"
    checkpoint_minutes: float | None = None  # also checkpoint every N minutes of wall time
    #: ``torch.compile`` the analysis and synthesis transforms (fuses the fusion's and the gains'
    #: element-wise work; a one-off compile of about 1.5 min per crop size, then faster steps).
    compile: bool = False
    #: "adam", or "soap" (Vyas et al. 2024, Adam in Shampoo's eigenbasis; ``pytorch-optimizer``, not a
    #: dependency: ``pip install pytorch-optimizer``). Checkpoints keep SOAP's moments but not its
    #: preconditioner, which a resume re-estimates from the next gradients.
    optimizer: str = "adam"
    #: Single-modality batches paired with the other modality's single-modality data from another
    #: place (γ ~ U(0, 1)) instead of a blank plane at γ = 1 / 0 (``data.training_batch``).
    pseudo_pairs: bool = False


#: What ``TrainConfig.train_only`` may name.
TRAIN_ONLY = ("all", "encoder", "entropy")


def _warm_start(model: torch.nn.Module, path: str, log) -> None:
    """Load every tensor of ``path`` whose name and shape the model shares (architecture changes
    keep what still fits). ``path``: a checkpoint, a model file or a registered model's name."""
    p = Path(path)
    if not p.exists():
        from geocodec.registry import resolve_weights

        p = resolve_weights(path).path
    tensors = load_file(str(p))
    if any(k.startswith("model.") for k in tensors):
        tensors = model_tensors(tensors)
    own = model.state_dict()
    fits = {k: v for k, v in tensors.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(fits, strict=False)
    log(f"initialised {len(fits)} of {len(own)} tensors from {p}")


def _pruned_entropy_start(model: torch.nn.Module, source: str, log) -> None:
    """``train_only="entropy"`` from a model with wider entropy nets: the new nets start pruned from
    the trained ones (``entropy_refit.pruned_student``: the hidden channels of largest weight norms,
    the central taps of shrunk kernels) instead of from random weights."""
    from geocodec.errors import UnknownModelError
    from geocodec.registry import load_model
    from geocodec.training.entropy_refit import pruned_student

    try:
        teacher = load_model(source, device="cpu").net
    except UnknownModelError:  # a checkpoint, not a model file: the shapes that fit were loaded, the rest start afresh
        return
    if teacher.config.latent_channels != model.config.latent_channels or teacher.config.groups != model.config.groups:
        return
    model.entropy.load_state_dict(pruned_student(teacher.entropy, model.config).state_dict())
    log(f"entropy model pruned from {source}'s")


def _compile_transforms(model: torch.nn.Module) -> None:
    """Compile the transforms in place (``Module.compile`` keeps the state-dict keys, so checkpoints
    and exported weights are those of an uncompiled model); the entropy model stays eager. Crop
    sizes are few (one per data set), so each gets its own static graph rather than a slower
    dynamic-shape one; the probe runs eagerly (``torch.compiler.set_stance``)."""
    # graphs are cached per shape; the limit is process-wide and only ever raised here
    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 16)
    for name in ("encoder", "decoder", "optical_decoder", "sar_decoder"):
        if hasattr(model, name):
            getattr(model, name).compile(dynamic=False)


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
    if cfg.train_only not in TRAIN_ONLY:
        raise ValueError(f"train_only must be one of {TRAIN_ONLY}, not {cfg.train_only!r}")
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
    check_schedule(cfg.schedule, cfg.decay_minutes)
    if cfg.moments_dtype not in MOMENT_DTYPES:
        raise ValueError(f"moments_dtype must be one of {sorted(MOMENT_DTYPES)}, not {cfg.moments_dtype!r}")
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(cfg.device)
    precision = resolve_precision(cfg.precision, device)
    log(f"precision: {describe(precision, device)}")
    torch.manual_seed(cfg.seed)
    model_cfg, model, loss_fn = _build(cfg, device)
    model = to_layout(model, precision)
    if cfg.compile:
        _compile_transforms(model)
    main_params, aux_params = optimiser_parameters(model)
    if cfg.train_only == "encoder":
        main_params, aux_params = encoder_side(model, main_params + aux_params), []
    elif cfg.train_only == "entropy":
        if cfg.modality != "joint":
            raise ValueError("train_only='entropy' trains a joint model's entropy model")
        main_params = trainable_subset(model, main_params, ENTROPY_SIDE)
        loss_fn = rate_loss
    opt = make_optimiser(cfg.optimizer, main_params, cfg.lr)
    aux_opt = torch.optim.Adam(aux_params, lr=cfg.aux_lr) if aux_params else None
    log_path, ckpt_path = out / "train_log.json", out / "checkpoint.safetensors"
    history: dict = {"config": asdict(cfg), "model": json.loads(model_cfg.to_json()), "steps": [], "probes": [],
                     "elapsed_s": 0.0, "data": [{"name": s.name, "kind": s.kind, "items": len(s),
                                                 "weight": s.weight} for s in sets]}
    start_step = 0
    resumed = ckpt_path.exists() and log_path.exists()
    if cfg.init_from and not resumed:
        _warm_start(model, cfg.init_from, log)
        if cfg.train_only == "entropy":
            _pruned_entropy_start(model, cfg.init_from, log)
    if resumed:
        run_history = json.loads(log_path.read_text())
        check_resumed_architecture(run_history, model_cfg, out)
        tensors = load_file(str(ckpt_path))
        model.load_state_dict(model_tensors(tensors), strict=False)
        if cfg.optimizer == "adam":
            load_optim_state(opt, tensors, "opt")
        else:  # SOAP's state is rebuilt from the next gradients (see TrainConfig.optimizer)
            log(f"{cfg.optimizer}: optimiser state starts afresh at this resume")
        if aux_opt is not None:
            load_optim_state(aux_opt, tensors, "aux")
        if "rng.torch" in tensors:
            torch.set_rng_state(tensors["rng.torch"])
        history = run_history
        history.setdefault("probes", [])
        start_step = history.get("final_step") or (history["steps"][-1]["step"] if history["steps"] else 0)
        log(f"resumed from step {start_step}")
    history.setdefault("sessions", []).append({"start_step": start_step, "precision": precision,
                                               "threads": torch.get_num_threads(), "cpu": cpu_name(),
                                               "decay_minutes": cfg.decay_minutes, "lr": cfg.lr})
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
        tensors.update(optim_state(opt, "opt", MOMENT_DTYPES[cfg.moments_dtype]))
        if aux_opt is not None:
            tensors.update(optim_state(aux_opt, "aux"))
        tensors["rng.torch"] = torch.get_rng_state()
        history["sessions"][-1]["end_step"] = step
        save_file(tensors, str(ckpt_path) + ".tmp")
        Path(str(ckpt_path) + ".tmp").replace(ckpt_path)
        log_path.write_text(json.dumps(history, indent=1))

    def probe_now(step, stage):
        if not probe:
            return
        model.eval()
        with torch.compiler.set_stance("force_eager"):
            result = run_probe(model, probe)
        model.train()
        history["probes"].append({"step": step, "time_s": time.time() - t0, "stage": stage, **result})
        log(f"probe @ {step}: floor {result['floor_opt']:.2f}/{result['floor_sar']:.2f} dB "
            f"(physical {result['floor_opt_phys']:.2f}/{result['floor_sar_phys']:.2f}); "
            + "; ".join(f"λ={k[3:]}: {v['bpp']:.3f} bpp {v['psnr_opt']:.2f}/{v['psnr_sar']:.2f} dB "
                        f"(physical {v['psnr_opt_phys']:.2f}/{v['psnr_sar_phys']:.2f})"
                        for k, v in result.items() if k.startswith("rd_"))
            + (f"; γ 0.1→0.9 at λ={result['gamma_spread']['lmbda']:.3g}: optical "
               f"{result['gamma_spread']['optical_phys']:+.2f} dB, SAR {-result['gamma_spread']['sar_phys']:+.2f} dB"
               if "gamma_spread" in result else ""))

    if probe and start_step == 0:
        probe_now(0, "init")
    step = start_step
    probe_every = cfg.probe_every or cfg.checkpoint_every
    t_session, t_saved = time.time(), time.time()
    for step in range(start_step + 1, cfg.steps + 1):
        frac = step / cfg.steps
        if cfg.max_minutes:  # a time budget decays the learning rate on time as well
            frac = max(frac, (time.time() - t0) / (cfg.max_minutes * 60))
        stage = _stage_at(cfg, frac)
        decay = (time.time() - t_session) / (60 * cfg.decay_minutes) if cfg.decay_minutes else None
        lr = learning_rate(cfg, frac, step - start_step, decay)
        for gparam in opt.param_groups:
            gparam["lr"] = lr
        k = int(rng.choice(len(sets), p=weights))
        o, s, kind = training_batch(sets, k, cfg.batch, crops, rng, (model_cfg.n_optical, model_cfg.n_sar),
                                    cfg.pseudo_pairs and cfg.modality == "joint")
        log_lambda = tuple(math.log(v) for v in stage["lmbda"]) if "lmbda" in stage else (log_lo, log_hi)
        gamma, lmbda = draw_conditions(rng, cfg.batch, kind, log_lambda, cfg.fixed_gamma)
        x_opt, x_sar = (to_layout(torch.from_numpy(a).to(device), precision) for a in (o, s))
        with autocast(precision, device):  # convolutions only: likelihoods and losses stay fp32
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
        if step % cfg.checkpoint_every == 0 or (
                cfg.checkpoint_minutes and time.time() - t_saved > 60 * cfg.checkpoint_minutes):
            save(step)
            t_saved = time.time()
        if cfg.max_minutes is not None and time.time() - t0 > cfg.max_minutes * 60:
            log(f"time budget reached at step {step}")
            break
        if decay is not None and decay >= 1.0:
            log(f"decay of {cfg.decay_minutes} min done at step {step}")
            break
    save(step)
    if bar is not None:
        bar.close()
    model.eval()
    log_path.write_text(json.dumps(history, indent=1))
    return model, history
