"""Task metrics: mAP and micro-F1 (multi-label), overall accuracy and Cohen's κ (single-label).

mAP is the mean over classes of average precision, over the classes with at least one positive
and one negative in the evaluated samples (AP is undefined otherwise); how many classes it rests on
is returned with it, since on small sets that number is itself small.
"""

from __future__ import annotations

import numpy as np

from geocodec.training.task.labels import MULTI


def average_precision(scores: np.ndarray, positive: np.ndarray) -> float:
    """AP of one class: mean precision at the rank of each positive (ties broken by order)."""
    order = np.argsort(-scores, kind="stable")
    hits = positive[order].astype(bool)
    ranks = np.flatnonzero(hits) + 1
    return float(np.mean(np.arange(1, len(ranks) + 1) / ranks))


def multilabel_metrics(scores: np.ndarray, targets: np.ndarray, threshold: float = 0.5) -> dict:
    """``scores``: (N, C) probabilities; ``targets``: (N, C) 0/1."""
    ok = [c for c in range(targets.shape[1]) if 0 < targets[:, c].sum() < len(targets)]
    ap = [average_precision(scores[:, c], targets[:, c]) for c in ok]
    pred = scores >= threshold
    tp = float((pred & (targets > 0)).sum())
    fp, fn = float((pred & (targets == 0)).sum()), float((~pred & (targets > 0)).sum())
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
    return {"map": float(np.mean(ap)) if ap else None, "micro_f1": f1, "map_classes": len(ok)}


def singlelabel_metrics(scores: np.ndarray, targets: np.ndarray) -> dict:
    """``scores``: (N, C) probabilities; ``targets``: (N,) class ids."""
    pred = scores.argmax(1)
    n, c = len(targets), scores.shape[1]
    oa = float(np.mean(pred == targets))
    pe = float(sum(np.mean(pred == k) * np.mean(targets == k) for k in range(c)))
    kappa = (oa - pe) / (1 - pe) if pe < 1 else 1.0
    return {"oa": oa, "kappa": float(kappa), "n": n}


def task_metrics(scores, targets, kind: str) -> dict:
    scores, targets = np.asarray(scores), np.asarray(targets)
    return multilabel_metrics(scores, targets) if kind == MULTI else singlelabel_metrics(scores, targets)


def headline(kind: str) -> tuple[str, str]:
    """The two metric names a report shows for this label kind."""
    return ("map", "micro_f1") if kind == MULTI else ("oa", "kappa")
