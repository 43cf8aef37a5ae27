"""The training runs' probe as a table: floor and R-D per validation set, BD-rate against an anchor.

Run: ``python scripts/probe_table.py RUN [RUN ...] [--anchor RUN:STEP] [--every N] [--json OUT] [--plot PNG]``.
Each RUN is a training folder (``train_log.json``). For every probe (every ``--every``-th) it
prints, per validation set, the floor in physical units (optical / SAR dB) and the BD-PSNR
(mean joint-PSNR gain at equal rate over the shared log-rate interval, PCHIP; joint PSNR = mean of
the two physical PSNRs) of its three R-D points against the anchor probe (default: the first
run's step 0, i.e. the warm start). BD-PSNR rather than BD-rate: near the floor the curves are
flat, where a rate difference at equal quality is ill-conditioned. Three points make a coarse
curve: it ranks checkpoints; the model card's shipping decisions use ``geocodec evaluate``.
``--plot`` draws the same rows against training hours (the log's cumulative training time: CPU
hours for a one-thread run on its own core), one column per validation set, with a dotted line
where each session of the first run began (its host and precision may differ).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.interpolate import PchipInterpolator


def _curve(result: dict) -> tuple[list[float], list[float]]:
    pts = sorted((v["bpp"], (v["psnr_opt_phys"] + v["psnr_sar_phys"]) / 2)
                 for k, v in result.items() if k.startswith("rd_"))
    return [p[0] for p in pts], [p[1] for p in pts]


def bd_psnr(ra, qa, rt, qt) -> float | None:
    """Mean quality difference (test − anchor) at equal rate, over the shared log-rate interval."""
    la, lt = np.log(ra), np.log(rt)
    lo, hi = max(la.min(), lt.min()), min(la.max(), lt.max())
    if hi <= lo:
        return None
    xs = np.linspace(lo, hi, 200)
    return float(np.mean(PchipInterpolator(lt, qt)(xs) - PchipInterpolator(la, qa)(xs)))


def _sets(probe: dict) -> dict:
    return probe.get("sets") or {"all": probe}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--anchor", help="RUN:STEP whose probe is the BD-rate anchor (default: first run, step 0)")
    ap.add_argument("--every", type=int, default=1)
    ap.add_argument("--json", help="also write the rows here")
    ap.add_argument("--plot", help="also draw floor and BD-PSNR against training hours into this PNG")
    args = ap.parse_args()
    logs = {r: json.loads((Path(r) / "train_log.json").read_text()) for r in args.runs}
    run, step = (args.anchor.rsplit(":", 1) if args.anchor else (args.runs[0], "0"))
    anchor = next(p for p in (logs.get(run) or json.loads((Path(run) / "train_log.json").read_text()))["probes"]
                  if p["step"] == int(step))
    rows = []
    for name, log in logs.items():
        for p in log["probes"][::args.every]:
            row = {"run": Path(name).name, "step": p["step"], "minutes": round(p["time_s"] / 60, 1), "sets": {}}
            for set_name, res in _sets(p).items():
                ra, qa = _curve(_sets(anchor)[set_name])
                rt, qt = _curve(res)
                bd = bd_psnr(np.array(ra), np.array(qa), np.array(rt), np.array(qt))
                row["sets"][set_name] = {"floor": [round(res["floor_opt_phys"], 2), round(res["floor_sar_phys"], 2)],
                                         "bpp": [round(v, 3) for v in rt], "joint_psnr": [round(v, 2) for v in qt],
                                         "bd_psnr_vs_anchor": None if bd is None else round(bd, 3)}
            rows.append(row)
    set_names = list(rows[0]["sets"])
    print("| run | step | min | " + " | ".join(f"{s}: floor opt / SAR, BD-PSNR (dB)" for s in set_names) + " |")
    print("|---" * (3 + len(set_names)) + "|")
    for r in rows:
        cells = [f"{r['sets'][s]['floor'][0]:.2f} / {r['sets'][s]['floor'][1]:.2f}, "
                 + ("n/a" if r["sets"][s]["bd_psnr_vs_anchor"] is None else f"{r['sets'][s]['bd_psnr_vs_anchor']:+.3f}")
                 for s in set_names]
        print(f"| {r['run']} | {r['step']} | {r['minutes']} | " + " | ".join(cells) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps({"anchor": f"{run}:{step}", "rows": rows}, indent=1))
    if args.plot:
        plot(rows, set_names, logs[args.runs[0]], f"{Path(run).name}:{step}", args.plot)


def plot(rows: list[dict], set_names: list[str], first_log: dict, anchor: str, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (("floor", 0, "floor, optical (dB)"), ("floor", 1, "floor, SAR (dB)"),
              ("bd_psnr_vs_anchor", None, f"BD-PSNR vs {anchor} (dB)"))
    fig, axes = plt.subplots(len(panels), len(set_names), figsize=(5.5 * len(set_names), 8.5), sharex=True,
                             squeeze=False)
    by_run: dict[str, list[dict]] = {}
    for r in rows:
        by_run.setdefault(r["run"], []).append(r)
    starts = [s["start_step"] for s in first_log.get("sessions", [])[1:]]
    first = next(iter(by_run.values()))
    for j, set_name in enumerate(set_names):
        for i, (key, k, label) in enumerate(panels):
            ax = axes[i][j]
            for name, rs in by_run.items():
                pts = [(r["minutes"] / 60, r["sets"][set_name][key] if k is None else r["sets"][set_name][key][k])
                       for r in rs if r["sets"][set_name][key] is not None]
                ax.plot(*zip(*pts), marker=".", label=name)
            for st in starts:  # where a later session of the first run resumed
                hours = [r["minutes"] / 60 for r in first if r["step"] >= st]
                if hours:
                    ax.axvline(hours[0], color="grey", linestyle=":", linewidth=0.8)
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        axes[0][j].set_title(set_name)
        axes[-1][j].set_xlabel("training hours (one thread)")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
