"""``task_report.json``: one row per method × λ, the fold spread, and a plain verdict on the noise.

Cross-validation rows give the headline metric twice: over every sample's out-of-fold prediction
pooled (fold models are calibrated differently, and rare classes enter, so it is lower), and per
fold (mean ± sd over the folds, each over the classes its held-out samples have); test rows are the final models on the held-out set.
The verdict compares methods fold by fold (paired): a difference counts only when its mean exceeds
twice its standard error over the folds and every fold agrees on its sign.
"""

from __future__ import annotations

import math

import numpy as np

from geocodec.training.task.metrics import headline, task_metrics


def _mean(values):
    v = [x for x in values if x is not None and math.isfinite(x)]
    return float(np.mean(v)) if v else None


def _cell(parts: list[tuple[list[dict], list]], kind: str) -> dict:
    """Metrics of one method × λ over the given (records, targets) parts (folds, or the test set)."""
    recs = [r for rs, _ in parts for r in rs]
    scores = np.array([r["scores"] for r in recs])
    targets = np.concatenate([np.asarray(t) for _, t in parts])
    cell = {"n": len(recs), "bpp": _mean(r["bpp"] for r in recs),
            "psnr_optical": _mean(r["psnr_optical"] for r in recs), "psnr_sar": _mean(r["psnr_sar"] for r in recs),
            **task_metrics(scores, targets, kind)}
    gammas = [r["gamma"] for r in recs if "gamma" in r]
    if gammas:
        cell["gamma"] = _mean(gammas)
    if len(parts) > 1:
        per_fold = [task_metrics(np.array([r["scores"] for r in rs]), np.asarray(t), kind) for rs, t in parts]
        for key in headline(kind):
            vals = [m[key] for m in per_fold if m[key] is not None]
            cell[f"{key}_folds"] = vals
            cell[f"{key}_fold_mean"] = _mean(vals)
            cell[f"{key}_fold_std"] = float(np.std(vals, ddof=1)) if len(vals) > 1 else None
        cell["bpp_folds"] = [_mean(r["bpp"] for r in rs) for rs, _ in parts]
    return cell


def rows(cv: list[dict], test: dict | None, kind: str, methods, labels: dict) -> list[dict]:
    out = []
    for method in methods:
        for key in cv[0]["records"][method]:
            row = {"method": method, "label": labels[method], "lmbda": None if key == "-" else float(key)}
            row["cv"] = _cell([(f["records"][method][key], f["targets"]) for f in cv], kind)
            if test is not None:
                row["test"] = _cell([(test["records"][method][key], test["targets"])], kind)
            out.append(row)
    return out


def _paired(cv, kind, a, b, key) -> dict:
    metric = headline(kind)[0]
    diffs = []
    for f in cv:
        ma = task_metrics(np.array([r["scores"] for r in f["records"][a][key]]), np.asarray(f["targets"]), kind)
        mb = task_metrics(np.array([r["scores"] for r in f["records"][b][key]]), np.asarray(f["targets"]), kind)
        if ma[metric] is not None and mb[metric] is not None:
            diffs.append(ma[metric] - mb[metric])
    if len(diffs) < 2:
        return {"metric": metric, "diff_folds": diffs, "beyond_noise": False}
    mean, se = float(np.mean(diffs)), float(np.std(diffs, ddof=1) / math.sqrt(len(diffs)))
    agree = all(d > 0 for d in diffs) or all(d < 0 for d in diffs)
    return {"metric": metric, "diff_mean": mean, "diff_se": se, "diff_folds": diffs,
            "beyond_noise": bool(agree and abs(mean) > 2 * se)}


def verdict(cv: list[dict], kind: str, lmbdas) -> dict:
    """Task-finetuned against the default codec and against independent coding, per λ (paired over folds)."""
    out, lines = {}, []
    metric = headline(kind)[0]
    for lam in lmbdas:
        key = f"{lam:g}"
        for other in ("default", "independent"):
            c = _paired(cv, kind, "task", other, key)
            out[f"task_vs_{other}@{key}"] = c
            if "diff_mean" in c:
                word = ("better" if c["diff_mean"] > 0 else "worse") if c["beyond_noise"] else "inside the noise"
                lines.append(f"λ={key}: task-finetuned vs {other}: {metric} {c['diff_mean']:+.3f} ± {c['diff_se']:.3f} "
                             f"(paired over {len(c['diff_folds'])} folds) → {word}")
    beyond = [k for k, c in out.items() if c["beyond_noise"]]
    summary = ("No difference between the task-finetuned codec and the default codec or independent coding "
               "lies beyond the fold spread: at this data size the differences are inside the noise."
               if not beyond else f"Differences beyond the fold spread: {', '.join(beyond)}.")
    return {"comparisons": out, "lines": lines, "summary": summary,
            "note": "compared at equal λ, not equal rate: each row's bpp says what each method spent"}


def markdown_table(report: dict) -> str:
    """The rows as a Markdown table (README and model card)."""
    kind = report["labels"]["kind"]
    m1, m2 = headline(kind)
    shown = {"map": "mAP", "micro_f1": "micro-F1", "oa": "OA", "kappa": "Cohen's κ"}
    n1, n2 = shown[m1], shown[m2]
    head = (f"| method | λ | γ | CV bpp | CV {n1}: pooled | per fold, mean ± sd | CV {n2} | CV PSNR opt / SAR (dB) | "
            f"test bpp | test {n1} | test {n2} |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]

    def f(v, d=3):
        return "–" if v is None else f"{v:.{d}f}"

    for r in report["rows"]:
        cv, te = r["cv"], r.get("test", {})
        sd = cv.get(f"{m1}_fold_std")
        lam = "–" if r["lmbda"] is None else f"{r['lmbda']:g}"
        lines.append(f"| {r['label']} | {lam} | {f(cv.get('gamma'), 2)} | "
                     f"{f(cv['bpp'])} | {f(cv[m1])} | {f(cv.get(f'{m1}_fold_mean'))} ± {f(sd)} | {f(cv[m2])} | "
                     f"{f(cv['psnr_optical'], 1)} / "
                     f"{f(cv['psnr_sar'], 1)} | {f(te.get('bpp'))} | {f(te.get(m1))} | {f(te.get(m2))} |")
    return "\n".join(lines)


def model_card(report: dict, name: str, version: str) -> str:
    """``DIR/model_card.md``: what the task model is, its learned γ, the measured table, the verdict."""
    cfg, data, out = report["config"], report["data"], report["outputs"]
    gam = ", ".join(f"λ = {k}: γ = {v:.3f}" for k, v in report["learned_gamma"].items())
    return "\n".join([
        f"# Model card: geocodec `{name}` v{version} (task-finetuned)", "",
        f"sha256 `{out['model_sha256']}`. The codec `{cfg['init_from']}` finetuned with its classifier "
        f"(`{out['classifier']}`) on rate + λ·{cfg['ce_scale']:g}·CE for the labels `{report['labels']['variable']}` "
        f"({report['labels']['kind']}, {len(report['labels']['classes'])} classes), Valsesia & Bianchi (2025) eq. 4.",
        "", f"**Learned γ** (sealed in the model file; `compress(..., gamma=\"learned\")` interpolates it in log λ): "
        f"{gam}.", "",
        f"Recipe: {cfg['steps'] if cfg['epochs'] is None else str(cfg['epochs']) + ' epochs'} steps per finetune, batch "
        f"{cfg['batch']}, {cfg['crop']} px crops, lr {cfg['lr']:g} (weights) / {cfg['gamma_lr']:g} (γ), γ init "
        f"{cfg['gamma_init']:g}; classifier first trained {cfg['classifier_steps']} steps on uncompressed data.", "",
        f"Evaluation: {cfg['folds']}-fold cross-validation on {data['samples']} samples grouped into {data['groups']} "
        f"acquisitions (folds of {data['folds']}); held-out test set of {data['test_samples']} samples "
        "(never trained on).", "", report["table_markdown"], "",
        "**Verdict.** " + report["verdict"]["summary"], "", *[f"* {line}" for line in report["verdict"]["lines"]], "",
        *[f"* {n}" for n in report["notes"]], ""])
