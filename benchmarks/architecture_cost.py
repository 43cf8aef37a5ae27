"""Cost of the architecture variants side by side: one training step, encode, one decoder.

Run: ``python benchmarks/architecture_cost.py [--crop 128 --batch 8 --repeat 3]``. Times are the
best of ``--repeat`` interleaved rounds on one torch thread; read them as ratios (same run, same
machine). Prints a markdown table and writes ``benchmarks/results/architecture-cost.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from geocodec.model import JointCodecModel, ModelConfig
from geocodec.training.loss import rd_loss
from geocodec.training.presets import LIGHT_MODEL

VARIANTS = {
    "v1 (full)": {},
    "light": {k: tuple(v) for k, v in LIGHT_MODEL.items()},
    "light, latent stride 8": {**{k: tuple(v) for k, v in LIGHT_MODEL.items()}, "latent_stride": 8},
}


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "architecture-cost.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    b, c = args.batch, args.crop
    x, s = torch.rand(b, 4, c, c), torch.rand(b, 2, c, c)
    g, lam = torch.rand(b), torch.full((b,), 0.01)
    nets = {name: JointCodecModel(ModelConfig(**kw)) for name, kw in VARIANTS.items()}
    opts = {name: torch.optim.Adam(n.parameters(), 1e-5) for name, n in nets.items()}
    best = {name: {"train_step": 1e9, "encode": 1e9, "decode_one": 1e9} for name in nets}

    def step(name):
        loss, _ = rd_loss(nets[name], x, s, g, lam)
        opts[name].zero_grad()
        loss.backward()
        opts[name].step()

    for _ in range(args.repeat):  # interleaved rounds: every variant sees the same machine load
        for name, net in nets.items():
            net.train()
            best[name]["train_step"] = min(best[name]["train_step"], _time(lambda: step(name)))
            net.eval()
            with torch.inference_mode():
                y = net.analysis(x[:1], s[:1], g[:1], lam[:1])
                best[name]["encode"] = min(best[name]["encode"], _time(lambda: net.analysis(x[:1], s[:1], g[:1], lam[:1])))
                best[name]["decode_one"] = min(best[name]["decode_one"], _time(lambda: net.synthesize(y, "optical")))
    rows = []
    ref = best["v1 (full)"]
    print(f"| variant | parameters | train step ({b}×{c}²) | encode ({c}²) | one decoder ({c}²) |")
    print("|---|---|---|---|---|")
    for name, t in best.items():
        params = sum(p.numel() for p in nets[name].parameters())
        rows.append({"variant": name, "config": {k: list(v) if isinstance(v, tuple) else v
                                                  for k, v in VARIANTS[name].items()},
                     "parameters": params, **{k: round(v, 4) for k, v in t.items()},
                     **{f"{k}_vs_v1": round(v / ref[k], 3) for k, v in t.items()}})
        print(f"| {name} | {params / 1e6:.2f} M | {t['train_step']:.2f} s ({t['train_step'] / ref['train_step']:.2f}×) "
              f"| {t['encode'] * 1e3:.0f} ms ({t['encode'] / ref['encode']:.2f}×) "
              f"| {t['decode_one'] * 1e3:.0f} ms ({t['decode_one'] / ref['decode_one']:.2f}×) |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"crop": c, "batch": b, "repeat": args.repeat, "threads": 1,
                                          "variants": rows}, indent=1))


if __name__ == "__main__":
    main()
