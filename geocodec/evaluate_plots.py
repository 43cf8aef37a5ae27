"""PNG plots of an evaluation result (``geocodec.evaluate``): R-D curves per set, target-bpp accuracy."""

from __future__ import annotations

from pathlib import Path

GAMMA_STYLE = {"0.1": "tab:red", "0.5": "tab:purple", "0.9": "tab:blue"}


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
    if "independent" in summary:
        ax.plot(*_xy(summary["independent"]["envelope"], "quality"), "s-", lw=2, ms=3, color="tab:green",
                label="independent coding (envelope)")
    if "jpeg2000" in summary:
        ax.plot(*_xy(summary["jpeg2000"]["envelope"], "quality"), "^-", lw=2, ms=3, color="tab:orange",
                label="JPEG 2000 (envelope)")
    # JPEG 2000 budgets too small for anything but headers decode to nonsense: keep them off-scale
    ours = [p["quality"] for p in geo["envelope"]] + [p["quality"] for p in summary.get("independent", {}).get("envelope", [])]
    ax.set_ylim(bottom=min(ours) - 8)
    our_bpp = [p["bpp"] for pts in geo["curves"].values() for p in pts] + \
        [p["bpp"] for p in summary.get("independent", {}).get("envelope", [])]
    ax.set_xlim(right=4 * max(our_bpp))  # the baselines' curves go on far beyond the tested rates
    ax.set_xscale("log")
    ax.set_xlabel("joint rate: total bits / (2·H·W)")
    ax.set_ylabel("joint quality: mean of optical and SAR PSNR (dB)")
    ax.set_title(f"{name} ({summary['n_pairs']} pairs, {', '.join(summary['shape'])})\n"
                 f"BD-rate vs JPEG 2000 {_fmt(bd.get('geocodec_vs_jpeg2000', {}).get('pchip'))}, "
                 f"vs independent {_fmt(bd.get('geocodec_vs_independent', {}).get('pchip'))}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    f = out / f"rd_joint_{name}.png"
    fig.savefig(f, dpi=120)
    plt.close(fig)
    files.append(f.name)

    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    panels = [("psnr_optical", "optical PSNR (dB, peak 10000)"), ("psnr_sar", "SAR PSNR (dB, peak 70 dB)"),
              ("ms_ssim_optical", "optical MS-SSIM"), ("ms_ssim_sar", "SAR MS-SSIM")]
    for ax, (key, label) in zip(axes.ravel(), panels):
        for g, pts in geo["curves"].items():
            ax.plot(*_xy(pts, key), "o-", lw=1.2, ms=3, color=GAMMA_STYLE.get(g, "gray"), label=f"geocodec γ={g}")
        # baselines: their joint-envelope points (each a different optical/SAR split), unconnected
        if "independent" in summary:
            ax.plot(*_xy(summary["independent"]["envelope"], key), "s", ms=3, color="tab:green",
                    label="independent (joint-envelope splits)")
        if "jpeg2000" in summary:
            ax.plot(*_xy(summary["jpeg2000"]["envelope"], key), "^", ms=3, color="tab:orange",
                    label="JPEG 2000 (joint-envelope splits)")
        ax.set_xscale("log")
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
    ax.set_xscale("log")
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
