"""The finetuning loop shared by every task stage, resumable, on the project's precision path.

One stage = one system (``systems``) trained for ``steps`` Adam steps on rate + λ·CE
(``task.loss``), with per-sample λ drawn from the λ points (so one λ-conditioned model covers them
all) and one learned γ per point. The checkpoint (safetensors: weights, both optimisers' moments,
torch RNG) and a JSON state are written every ``checkpoint_every`` steps; a rerun continues from
there, and a finished stage is skipped. Batches are drawn per step from a generator seeded by
(seed, step), so a resumed run draws what an uninterrupted one would.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from geocodec.precision import autocast, resolve_precision, to_layout
from geocodec.training.checkpoint import load_optim_state, model_tensors, optim_state
from geocodec.training.task.data import LabelledPairs, task_batch
from geocodec.training.task.loss import CE_SCALE, task_loss


@dataclass
class TaskConfig:
    """The task finetune's recipe (defaults: the paper's lr, γ lr and γ init; sizes for a CPU)."""

    lmbdas: tuple = (0.002, 0.01, 0.05)
    steps: int = 200  # per finetune (each fold's and the final one)
    epochs: float | None = None  # instead of steps: passes over the training samples (batch-sized draws)
    batch: int = 8
    crop: int = 32
    lr: float = 1e-4
    gamma_lr: float = 1e-2
    gamma_init: float = 0.5
    ce_scale: float = CE_SCALE
    aux_lr: float = 1e-3
    classifier_steps: int = 200  # the classifier on uncompressed data, before the joint finetune
    classifier_lr: float = 1e-3
    classifier_crop: int = 48
    folds: int = 3
    seed: int = 0
    checkpoint_every: int = 50
    precision: str = "auto"
    device: str = "cpu"
    init_from: str = "default"
    extra: dict = field(default_factory=dict)

    def steps_for(self, n_samples: int, classifier: bool = False) -> int:
        if classifier:
            return self.classifier_steps
        if self.epochs is not None:
            return max(1, int(np.ceil(self.epochs * n_samples / self.batch)))
        return self.steps


def _save(path: Path, system, opt, aux_opt, state: dict) -> None:
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in system.state_dict().items() if v.numel()}
    tensors.update(optim_state(opt, "opt"))
    if aux_opt is not None:
        tensors.update(optim_state(aux_opt, "aux"))
    tensors["rng.torch"] = torch.get_rng_state()
    save_file(tensors, str(path / "checkpoint.safetensors.tmp"))
    (path / "checkpoint.safetensors.tmp").replace(path / "checkpoint.safetensors")
    (path / "state.json").write_text(json.dumps(state, indent=1))


def _resume(path: Path, system, opt, aux_opt) -> dict | None:
    if not (path / "state.json").exists() or not (path / "checkpoint.safetensors").exists():
        return None
    tensors = load_file(str(path / "checkpoint.safetensors"))
    system.load_state_dict(model_tensors(tensors), strict=False)
    load_optim_state(opt, tensors, "opt")
    if aux_opt is not None:
        load_optim_state(aux_opt, tensors, "aux")
    torch.set_rng_state(tensors["rng.torch"])
    return json.loads((path / "state.json").read_text())


def run_stage(system, data: LabelledPairs, cfg: TaskConfig, out_dir, *, steps: int, crop: int, name: str,
              log=print):
    """Train ``system`` (resuming from ``out_dir``) for ``steps``; returns (system in eval mode, state)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device(cfg.device)
    precision = resolve_precision(cfg.precision, device)
    system = to_layout(system.to(device), precision)
    groups, aux = system.param_groups(cfg)
    opt = torch.optim.Adam(groups)
    aux_opt = torch.optim.Adam(aux, lr=cfg.aux_lr) if aux else None
    state = _resume(out, system, opt, aux_opt) or {"name": name, "step": 0, "steps": steps, "log": [],
                                                    "elapsed_s": 0.0, "precision": precision}
    if state["step"] >= steps:
        return system.eval(), state
    if state["step"]:
        log(f"{name}: resumed at step {state['step']}")
    pairs, targets = data.pairset(), data.targets
    lmbdas = np.asarray(cfg.lmbdas, np.float32)
    kind = data.labels.kind
    weights = [p for g in groups for p in g["params"]]
    system.train()
    t0, running = time.time() - state["elapsed_s"], []
    for step in range(state["step"] + 1, steps + 1):
        rng = np.random.default_rng([cfg.seed, step])
        o, s, y = task_batch(data, pairs, targets, cfg.batch, crop, rng)
        k = rng.integers(len(lmbdas), size=cfg.batch)
        x_opt, x_sar = (to_layout(torch.from_numpy(a).to(device), precision) for a in (o, s))
        k_t, lam = torch.from_numpy(k).to(device), torch.from_numpy(lmbdas[k]).to(device)
        with autocast(precision, device):  # convolutions only; rate and CE are computed in fp32
            rate, logits, stats = system(x_opt, x_sar, k_t, lam)
        loss, ce = task_loss(rate.float(), logits, torch.from_numpy(y).to(device), lam, kind, cfg.ce_scale)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(weights, 1.0)
        opt.step()
        if aux_opt is not None:
            aux_opt.zero_grad(set_to_none=True)
            system.aux_loss().backward()
            aux_opt.step()
        running.append({"loss": loss.item(), "ce": ce.mean().item(), **stats})
        if step % 10 == 0 or step == steps:
            entry = {"step": step, "time_s": round(time.time() - t0, 1),
                     **{key: float(np.mean([r[key] for r in running])) for key in running[0]}}
            if hasattr(system, "gamma"):
                entry["gamma"] = system.gamma.values()
            state["log"].append(entry)
            running = []
        if step % cfg.checkpoint_every == 0 or step == steps:
            state.update(step=step, elapsed_s=time.time() - t0)
            _save(out, system, opt, aux_opt, state)
    last = state["log"][-1] if state["log"] else {}
    log(f"{name}: {steps} steps in {state['elapsed_s']:.0f} s; loss {last.get('loss', float('nan')):.3f}, "
        f"CE {last.get('ce', float('nan')):.3f}" + (f", γ {[round(g, 3) for g in last['gamma']]}"
                                                    if "gamma" in last else ""))
    return system.eval(), state
