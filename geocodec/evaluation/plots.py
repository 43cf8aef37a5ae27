"""PNG plots of an evaluation result (``geocodec.evaluation.run``): R-D curves per set, target-bpp accuracy."""

from __future__ import annotations

from pathlib import Path

GAMMA_STYLE = {"0.1": "tab:red", "0.5": "tab:purple", "0.9": "tab:blue"}
BASELINE_STYLE = {"independent": ("s", "tab:green", "independent coding"), "jpeg2000": ("^", "tab:orange", "JPEG 2000"),
                  "jpegxl": ("v", "tab:brown", "JPEG XL")}


def _style(name):
    return BASELINE_STYLE.get(name, ("d", "gray", name))


def _log_rate_axis(ax, rates):
    """Log rate axis with labelled 1-2-5 ticks, so a range inside one decade still reads (the old plot of
    the 512 px pair had a single tick)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    lo, hi = min(rates), max(rates)
    ax.set_xscale("log")
    ax.set_xlim(lo / 1.15, hi * 1.15)
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _xy(points, key):
    pts = [p for p in points if p.get(key) is not None]
    return [p["bpp"] for p in pts], [p[key] for p in pts]


def _fmt(v):
    return "n/a" if v is None else f"{v:+.1f}%"


def plot_set(name: str, summary: dict, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    geo = summary["geocodec"]
    bd = summary.get("bd_rate_percent", {})
    fig, ax = plt.subplots(figsize=(7, 5))
    for g, pts in geo["curves"].items():
        ax.plot(*_xy(pts, "quality"), "o--", lw=1, ms=3, color=GAMMA_STYLE.get(g, "gray"), label=f"geocodec γ={g}")
    ax.plot(*_xy(geo["envelope"], "quality"), "-", lw=2.5, color="black", label="geocodec envelope")
    for b in summary.get("baselines", []):
        marker, color, label = _style(b)
        ax.plot(*_xy(summary[b]["envelope"], "quality"), marker + "-", lw=2, ms=3, color=color,
                label=f"{label} (envelope)")
    # the x range: geocodec's rates, widened 4× upwards and 2× downwards (baselines go on far beyond;
    # budgets too small for anything but headers decode to nonsense and stay off-scale)
    our_bpp = [p["bpp"] for pts in geo["curves"].values() for p in pts]
    _log_rate_axis(ax, [min(our_bpp) / 2, 4 * max(our_bpp)])
    ours = [p["quality"] for p in geo["envelope"]]
    x_hi = 4 * max(our_bpp)
    shown = ours + [p["quality"] for b in summary.get("baselines", []) for p in summary[b]["envelope"]
                    if p["bpp"] <= x_hi]
    ax.set_ylim(min(ours) - 6, max(shown) + 1)
    ax.set_xlabel("joint rate: total bits / (2·H·W)")
    ax.set_ylabel("joint quality: mean of optical and SAR PSNR (dB)")
    bds = ", ".join(f"vs {_style(b)[2]} {_fmt(bd.get(f'geocodec_vs_{b}', {}).get('pchip'))}"
                    for b in summary.get("baselines", []))
    ax.set_title(f"{name} ({summary['n_pairs']} pairs, {', '.join(summary['shape'])})\nBD-rate {bds}",
                 fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    f = out / f"rd_joint_{name}.png"
    fig.savefig(f, dpi=120)
    plt.close(fig)
    files.append(f.name)

    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    our_bpp = [p["bpp"] for pts in geo["curves"].values() for p in pts]
    panels = [("psnr_optical", "optical PSNR (dB, peak 10000)"), ("psnr_sar", "SAR PSNR (dB, peak 70 dB)"),
              ("ms_ssim_optical", "optical MS-SSIM"), ("ms_ssim_sar", "SAR MS-SSIM")]
    for ax, (key, label) in zip(axes.ravel(), panels):
        for g, pts in geo["curves"].items():
            ax.plot(*_xy(pts, key), "o-", lw=1.2, ms=3, color=GAMMA_STYLE.get(g, "gray"), label=f"geocodec γ={g}")
        # baselines: their joint-envelope points (each a different optical/SAR split), unconnected
        for b in summary.get("baselines", []):
            marker, color, label = _style(b)
            ax.plot(*_xy(summary[b]["envelope"], key), marker, ms=3, color=color,
                    label=f"{label} (joint-envelope splits)")
        _log_rate_axis(ax, [min(our_bpp) / 2, 4 * max(our_bpp)])
        ax.set_xlabel("joint rate (bpp)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"{name}: per-modality quality against joint rate")
    fig.tight_layout()
    f = out / f"rd_modalities_{name}.png"
    fig.savefig(f, dpi=110)
    plt.close(fig)
    files.append(f.name)
    return files


def plot_target_bpp(result: dict, out: Path) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(s, r) for s, v in result["sets"].items() for p in v["pairs"] for r in p["target_bpp"]]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(6, 5))
    for reach, marker in ((True, "o"), (False, "x")):
        pts = [r for _, r in rows if r["reachable"] == reach]
        if pts:
            ax.scatter([r["target_bpp"] for r in pts], [r["achieved_bpp"] for r in pts], marker=marker,
                       label="reachable target" if reach else "outside the model's range (clamped)")
    lo = min(min(r["target_bpp"], r["achieved_bpp"]) for _, r in rows)
    hi = max(max(r["target_bpp"], r["achieved_bpp"]) for _, r in rows)
    ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
    ax.fill_between([lo, hi], [lo * 0.97, hi * 0.97], [lo * 1.03, hi * 1.03], color="gray", alpha=0.3, label="±3 %")
    _log_rate_axis(ax, [lo, hi])
    ax.set_yscale("log")
    ax.set_xlabel("target bpp")
    ax.set_ylabel("achieved bpp")
    n_pass = sum(r["passes"] for _, r in rows)
    ax.set_title(f"target-bitrate mode: {n_pass}/{len(rows)} pass")
    ax.legend(fontsize=8)
    fig.tight_layout()
    f = out / "target_bpp.png"
    fig.savefig(f, dpi=110)
    plt.close(fig)
    return f.name


def plot_all(result: dict, out) -> list[str]:
    out = Path(out)
    files = []
    for name, v in result["sets"].items():
        files += plot_set(name, v["summary"], out)
    t = plot_target_bpp(result, out)
    if t:
        files.append(t)
    return files


TASK_STYLE = {"default": ("o", "tab:purple"), "task": ("s", "black"), "independent": ("^", "tab:green")}


def plot_rate_accuracy(report: dict, out: Path) -> str:
    """Task metric against joint rate (``geocodec finetune-task``'s report): cross-validation (error bars:
    the fold spread) and the held-out test set, one line per method, uncompressed as a level."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = report["headline_metric"]
    parts = [("cv", "cross-validation (pooled, ± fold sd)")] + ([("test", "held-out test set")]
                                                              if any("test" in r for r in report["rows"]) else [])
    fig, axes = plt.subplots(1, len(parts), figsize=(6 * len(parts), 4.6), squeeze=False)
    rates = [r[p][k] for r in report["rows"] if r["lmbda"] is not None for p, _ in parts for k in ("bpp",)
             if r.get(p)]
    for ax, (part, title) in zip(axes[0], parts):
        for method, (marker, color) in TASK_STYLE.items():
            pts = [r for r in report["rows"] if r["method"] == method and r.get(part)]
            if not pts:
                continue
            x, y = [r[part]["bpp"] for r in pts], [r[part][metric] for r in pts]
            err = [r[part].get(f"{metric}_fold_std") or 0 for r in pts]  # the fold spread, around the pooled value
            ax.errorbar(x, y, yerr=err if part == "cv" else None, fmt=marker + "-", color=color, capsize=3,
                        label=pts[0]["label"])
        raw = next((r for r in report["rows"] if r["method"] == "uncompressed" and r.get(part)), None)
        if raw is not None:
            ax.axhline(raw[part][metric], color="gray", ls="--", label=f"{raw['label']} ({raw[part]['bpp']:g} bpp)")
        _log_rate_axis(ax, rates)
        n = raw[part]["n"] if raw is not None else "?"
        ax.set_title(f"{title}, n = {n} samples", fontsize=9)
        ax.set_xlabel("joint rate: total bits / (2·H·W)")
        ax.set_ylabel(metric)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    f = Path(out) / "rate_accuracy.png"
    fig.savefig(f, dpi=110)
    plt.close(fig)
    return f.name
