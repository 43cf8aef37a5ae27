"""The whole procedure of ``geocodec finetune-task``: cross-validated, then the final model.

Per fold (scene-grouped, ``data.group_folds``) and once more on all training pairs:
1. the classifier on uncompressed data (``systems.ClassifierOnly``);
2. the joint codec + that classifier + γ per λ, finetuned on rate + λ·CE (``systems.JointTask``);
3. independent coding + that classifier, finetuned the same way (``systems.IndependentTask``);
then every method at every λ on the held-out samples (``evaluate``): each fold's own held-out
samples, and for the final models the test set that nothing was trained on. Every stage and every
evaluation is cached in ``DIR/work/``: a rerun resumes where it stopped.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import torch

from geocodec.errors import InvalidInputError
from geocodec.training.task.classifier import build_classifier, save_classifier
from geocodec.training.task.data import LabelledPairs, group_folds
from geocodec.training.task.finetune import TaskConfig, run_stage
from geocodec.training.task import evaluate as ev
from geocodec.training.task.systems import ClassifierOnly, IndependentTask, JointTask, independent_from_joint

METHODS = ("uncompressed", "default", "task", "independent")
METHOD_LABELS = {"uncompressed": "classifier on uncompressed data", "default": "default codec, γ = 0.5",
                 "task": "task-finetuned joint codec, learned γ", "independent": "independent coding, task-finetuned"}


def check_config(cfg: TaskConfig, codec_config) -> None:
    lo, hi = codec_config.lmbda_min, codec_config.lmbda_max
    if len(cfg.lmbdas) < 1 or any(not lo <= v <= hi for v in cfg.lmbdas):
        raise InvalidInputError(f"--lmbdas {list(cfg.lmbdas)} must lie in the codec's λ range [{lo}, {hi}]")
    if sorted(set(cfg.lmbdas)) != list(cfg.lmbdas):
        raise InvalidInputError(f"--lmbdas must be distinct and increasing, got {list(cfg.lmbdas)}")
    for name in ("steps", "batch", "crop", "classifier_steps", "classifier_crop", "checkpoint_every"):
        if getattr(cfg, name) < 1:
            raise InvalidInputError(f"{name} must be ≥ 1, got {getattr(cfg, name)}")
    if cfg.epochs is not None and cfg.epochs <= 0:
        raise InvalidInputError(f"epochs must be > 0, got {cfg.epochs}")


def _cached(path: Path, compute):
    if path.exists():
        return json.loads(path.read_text())
    result = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result))
    return result


def _as_model(net, name: str):
    """An in-memory codec as the product's ``GeocodecModel`` (its sha256 as its file would have)."""
    from geocodec.model_file import model_sha256
    from geocodec.registry import GeocodecModel

    net = net.float().to(memory_format=torch.contiguous_format).cpu().eval()
    net.entropy.freeze_tables()
    return GeocodecModel(name=name, version="0", sha256=model_sha256(net), net=net, device=torch.device("cpu"))


def train_split(train: LabelledPairs, cfg: TaskConfig, base, classifier, work: Path, log) -> dict:
    """Classifier, joint-task and independent-task finetunes on one training split."""
    n_in = base.net.config.n_optical + base.net.config.n_sar
    clf = build_classifier(copy.deepcopy(classifier), n_in, train.labels)
    torch.manual_seed(cfg.seed)
    pre, _ = run_stage(ClassifierOnly(clf), train, cfg, work / "classifier", steps=cfg.classifier_steps,
                       crop=cfg.classifier_crop, name=f"{work.name}/classifier", log=log)
    steps = cfg.steps_for(len(train))
    joint, jstate = run_stage(JointTask(copy.deepcopy(base.net).train(), copy.deepcopy(pre.classifier), cfg.lmbdas,
                                        cfg.gamma_init), train, cfg, work / "joint", steps=steps, crop=cfg.crop,
                              name=f"{work.name}/joint", log=log)
    indep, _ = run_stage(IndependentTask(independent_from_joint(base.net, "optical"),
                                         independent_from_joint(base.net, "sar"), copy.deepcopy(pre.classifier)),
                         train, cfg, work / "independent", steps=steps, crop=cfg.crop,
                         name=f"{work.name}/independent", log=log)
    return {"classifier": pre.classifier.float().eval(), "joint": joint, "independent": indep,
            "gamma": joint.gamma.values(), "joint_log": jstate["log"]}


def with_learned_gamma(net, lmbdas, gammas):
    from geocodec.learned_gamma import with_table

    net.config = with_table(net.config, lmbdas, gammas)
    return net


def evaluate_split(models: dict, base, held: LabelledPairs, cfg: TaskConfig, work: Path, tag: str) -> dict:
    """Per method and λ: per-sample records on ``held`` (cached in ``work/eval-<tag>.json``)."""
    def compute():
        task_net = with_learned_gamma(copy.deepcopy(models["joint"].codec), cfg.lmbdas, models["gamma"])
        task_model = _as_model(task_net, f"task-{work.name}")
        opt_m, sar_m = (m.float().cpu().eval() for m in (models["independent"].optical, models["independent"].sar))
        for m in (opt_m, sar_m):
            m.entropy.freeze_tables()
        clf_task = models["joint"].classifier.float().eval()
        clf_ind = models["independent"].classifier.float().eval()
        out = {"uncompressed": {"-": ev.evaluate_uncompressed(models["classifier"], held)}}
        out["default"], out["task"], out["independent"] = {}, {}, {}
        for lam in cfg.lmbdas:
            key = f"{lam:g}"
            out["default"][key] = ev.evaluate_joint(base, models["classifier"], held, lam, 0.5)
            out["task"][key] = ev.evaluate_joint(task_model, clf_task, held, lam, "learned")
            hb = ev.header_bytes(base, held, lam)
            out["independent"][key] = ev.evaluate_independent(opt_m, sar_m, clf_ind, held, lam, hb)
        return {"names": held.names, "targets": held.targets.tolist(), "records": out}
    return _cached(work / f"eval-{tag}.json", compute)


def cross_validate(data: LabelledPairs, cfg: TaskConfig, base, classifier, work: Path, log) -> list[dict]:
    folds = group_folds(data.groups, cfg.folds)
    results = []
    for f, held_idx in enumerate(folds):
        train_idx = np.setdiff1d(np.arange(len(data)), held_idx)
        train, held = data.subset(train_idx), data.subset(held_idx)
        _check_trainable(train, f"fold {f}")
        log(f"fold {f + 1}/{len(folds)}: train on {len(train)} samples "
            f"({len(set(train.groups))} groups), hold out {len(held)} ({len(set(held.groups))} groups)")
        fold_work = work / f"fold{f}"
        models = train_split(train, cfg, base, classifier, fold_work, log)
        res = evaluate_split(models, base, held, cfg, fold_work, "held-out")
        res["gamma"] = models["gamma"]
        results.append(res)
    return results


def _check_trainable(train: LabelledPairs, what: str) -> None:
    t = train.targets
    if train.labels.kind == "multi-label" and t.sum() == 0:
        raise InvalidInputError(f"{what}: the training samples hold no positive label")
    if train.labels.kind != "multi-label" and len(np.unique(t)) < 2:
        raise InvalidInputError(f"{what}: the training samples hold one class only")


def final_models(data: LabelledPairs, cfg: TaskConfig, base, classifier, work: Path, log) -> dict:
    _check_trainable(data, "all training samples")
    log(f"final: train on all {len(data)} samples")
    return train_split(data, cfg, base, classifier, work / "final", log)


def write_outputs(models: dict, cfg: TaskConfig, data: LabelledPairs, out: Path, name: str, version: str,
                  provenance: dict) -> dict:
    """The sealed task model (learned γ per λ in its config), the classifier and their hashes."""
    from geocodec.model_file import save_model_file

    net = with_learned_gamma(copy.deepcopy(models["joint"].codec).float().cpu(), cfg.lmbdas, models["gamma"])
    net = net.to(memory_format=torch.contiguous_format).eval()
    note = json.dumps({"task": provenance, "learned_gamma": dict(zip(map(str, cfg.lmbdas), models["gamma"]))})
    sha = save_model_file(net, out / "model.safetensors", name=name, version=version, note=note)
    save_classifier(models["joint"].classifier, out / "classifier.safetensors", data.labels,
                    {"codec": name, "codec_sha256": sha, **provenance})
    return {"model": "model.safetensors", "model_sha256": sha, "classifier": "classifier.safetensors"}


def finetune_task(data, labels: str = "labels", out="runs/task", cfg: TaskConfig | None = None, *,
                  classifier="small-cnn", test=None, group: str = "scene", name: str = "task",
                  version: str = "0.1.0", log=print) -> dict:
    """Task-driven finetuning end to end; returns the report (also ``out/task_report.json``).

    Parameters
    ----------
    data
        A pairs Zarr store (``optical``, ``sar`` and the label variable per sample), or ``LabelledPairs``.
    labels
        The per-sample label variable or coordinate: ``;``-separated class names (multi-label, BCE)
        or integer class ids (single-label, CE).
    cfg
        The recipe (``TaskConfig``): λ points, steps or epochs, batch, crops, learning rates, folds.
    classifier
        ``"small-cnn"`` (built in, trained from scratch) or your own ``torch.nn.Module`` mapping
        ``(B, C_opt + C_sar, H, W)`` normalised inputs to ``(B, n_classes)`` logits.
    test
        A BigEarthNet example GeoTIFF folder held out as the test set (never trained on), or None.
    group
        The per-sample variable folds are grouped by (samples of one scene stay in one fold).
    name, version
        Stored in the written model file (the registry publishes it under ``name``).
    """
    from geocodec.evaluation.plots import plot_rate_accuracy
    from geocodec.registry import load_model
    from geocodec.training.task.data import bigearthnet_test_set, open_labelled_pairs
    from geocodec.training.task.metrics import headline
    from geocodec.training.task.report import markdown_table, model_card, rows, verdict

    cfg = cfg or TaskConfig()
    out = Path(out)
    lp = data if isinstance(data, LabelledPairs) else open_labelled_pairs(data, labels, group)
    base = load_model(cfg.init_from, "cpu")
    check_config(cfg, base.net.config)
    n_opt, n_sar = lp.optical[0].shape[0], lp.sar[0].shape[0]
    if (n_opt, n_sar) != (base.net.config.n_optical, base.net.config.n_sar):
        raise InvalidInputError(f"the pairs have {n_opt} optical and {n_sar} SAR bands; the codec "
                                f"{cfg.init_from!r} takes {base.net.config.n_optical} and {base.net.config.n_sar}")
    work = out / "work"
    log(f"{len(lp)} labelled pairs, {lp.labels.kind}, {lp.labels.n_classes} classes; λ {list(cfg.lmbdas)}; "
        f"{cfg.folds}-fold CV grouped by {group!r}")
    cv = cross_validate(lp, cfg, base, classifier, work, log)
    final = final_models(lp, cfg, base, classifier, work, log)
    test_set = test_res = None
    if test is not None:
        test_set = bigearthnet_test_set(test, lp.labels)
        test_res = evaluate_split(final, base, test_set, cfg, work / "final", "test")
    written = write_outputs(final, cfg, lp, out, name, version,
                            {"data": str(data) if not isinstance(data, LabelledPairs) else "LabelledPairs",
                             "labels": labels, "lmbdas": list(cfg.lmbdas)})
    report = {
        "labels": {"variable": labels, "kind": lp.labels.kind, "classes": list(lp.labels.classes)},
        "headline_metric": headline(lp.labels.kind)[0],
        "learned_gamma": {f"{lam:g}": g for lam, g in zip(cfg.lmbdas, final["gamma"])},
        "learned_gamma_folds": [f["gamma"] for f in cv],
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(cfg).items()},
        "data": {"samples": len(lp), "groups": len(set(lp.groups)), "folds": [len(f["names"]) for f in cv],
                 "test_samples": len(test_set) if test_set is not None else 0,
                 "test_sharing_an_acquisition_with_training": [] if test_set is None else [
                     n for n, g in zip(test_set.names, test_set.groups) if g in set(lp.groups)],
                 "test": str(test) if test is not None else None},
        "rows": rows(cv, test_res, lp.labels.kind, METHODS, METHOD_LABELS),
        "verdict": verdict(cv, lp.labels.kind, cfg.lmbdas),
        "outputs": written,
        "notes": [
            "bpp = 8·bytes / (2·H·W): geocodec chunks whole (header included); independent coding: both rANS "
            "payloads + one geocodec header; uncompressed: the raw sample bytes",
            "independent coding starts from the joint codec's encoder branches and decoders (no trained "
            "single-modality models ship) and is then finetuned exactly like the joint codec",
            "CV rows: the metric over all out-of-fold predictions pooled, and per fold (*_fold_mean ± *_fold_std); "
            "the verdict compares methods fold by fold (paired)",
        ],
    }
    report["plot"] = plot_rate_accuracy(report, out)
    report["table_markdown"] = markdown_table(report)
    (out / "task_report.json").write_text(json.dumps(report, indent=1))
    (out / "model_card.md").write_text(model_card(report, name, version))
    for line in report["verdict"]["lines"]:
        log(line)
    log(report["verdict"]["summary"])
    return report
