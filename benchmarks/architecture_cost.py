"""Training throughput of the architecture variants side by side: fp32, bf16, bf16 + torch.compile.

Run: ``python benchmarks/architecture_cost.py [--crop 128 --batch 8 --steps 4 --threads 1]``.
For every variant and mode it times whole training steps (forward, backward, Adam) after warm-up
(and, for compiled modes, after the one-off compile, reported separately), and reports crop pixels
per second and the ratio to the fp32 step of the same variant, measured in the same run. It also
checks that bf16 trains the same objective: the loss terms of one batch under the shipped weights,
bf16 against fp32. Also: encode and one decoder's synthesis at inference. Prints a markdown table
and writes ``benchmarks/results/architecture-cost.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from geocodec.model import JointCodecModel, ModelConfig
from geocodec.precision import autocast, cpu_bf16_units, to_layout
from geocodec.training.loss import rd_loss

VARIANTS = {
    "v1 (stride 16)": {},
    "stride 8": {"latent_stride": 8},
}
MODES = ("fp32", "bf16", "bf16+compile")


def _real_batch(batch):
    """Eight real 112² crops of the shared BigEarthNet pairs when they are there, else ``batch``."""
    path = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "bigearthnet-pairs-train.zarr"
    if not path.exists():
        return batch, "synthetic uniform noise"
    import numpy as np

    from geocodec.training.data import load_zarr_set, random_crops

    o, s = random_crops(load_zarr_set(path), 8, 112, np.random.default_rng(0))
    return (torch.from_numpy(o), torch.from_numpy(s), torch.full((8,), 0.5), torch.full((8,), 0.01)), str(path.name)


def _loss_terms(precision: str, batch) -> dict:
    from geocodec.registry import load_model

    net = to_layout(load_model("default").net.train(), precision)
    torch.manual_seed(0)  # the same training noise for both precisions
    x, s, g, lam = (to_layout(t, precision) for t in batch)
    with torch.no_grad(), autocast(precision):
        _, stats = rd_loss(net, x, s, g, lam)
    return stats


def _steps(net, batch, precision: str, n: int) -> list[float]:
    opt = torch.optim.Adam(net.parameters(), 1e-5)
    x, s, g, lam = batch
    times = []
    for _ in range(n):
        t = time.perf_counter()
        with autocast(precision):
            loss, _ = rd_loss(net, x, s, g, lam)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return times


def _inference(net, batch, precision: str) -> tuple[float, float]:
    x, s, g, lam = (t[:1] for t in batch)
    net.eval()
    with torch.inference_mode(), autocast(precision):
        y = net.analysis(x, s, g, lam)
        best_e = best_d = 1e9
        for _ in range(3):
            t = time.perf_counter()
            net.analysis(x, s, g, lam)
            best_e = min(best_e, time.perf_counter() - t)
            t = time.perf_counter()
            net.synthesize(y, "optical")
            best_d = min(best_d, time.perf_counter() - t)
    net.train()
    return best_e, best_d


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=4, help="timed steps per variant and mode (after warm-up)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "architecture-cost.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch._dynamo.config.automatic_dynamic_shapes = False
    b, c = args.batch, args.crop
    torch.manual_seed(0)
    batch = (torch.rand(b, 4, c, c), torch.rand(b, 2, c, c), torch.rand(b), torch.full((b,), 0.01))
    modes = args.modes.split(",")
    rows = []
    for name, kw in VARIANTS.items():
        ref = None
        for mode in modes:
            precision = "bf16" if mode.startswith("bf16") else "fp32"
            torch.manual_seed(0)
            net = to_layout(JointCodecModel(ModelConfig(**kw)), precision)
            data = tuple(to_layout(t, precision) for t in batch)
            compile_s = 0.0
            if mode.endswith("compile"):
                for part in (net.encoder, net.optical_decoder, net.sar_decoder):
                    part.compile()
                compile_s = sum(_steps(net, data, precision, 1))
            _steps(net, data, precision, 1)  # warm-up
            step = min(_steps(net, data, precision, args.steps))
            enc, dec = _inference(net, data, precision)
            ref = ref or step
            rows.append({"variant": name, "config": kw, "mode": mode, "step_s": round(step, 4),
                         "crop_pixels_per_s": round(b * c * c / step), "vs_fp32": round(ref / step, 2),
                         "compile_s": round(compile_s, 1), "encode_ms": round(enc * 1e3, 1),
                         "decode_one_ms": round(dec * 1e3, 1)})
            r = rows[-1]
            print(f"| {name} | {mode} | {r['step_s']:.3f} s | {r['crop_pixels_per_s'] / 1e3:.0f} k | "
                  f"{r['vs_fp32']:.2f}× | {r['compile_s']:.0f} s | {r['encode_ms']:.0f} ms | {r['decode_one_ms']:.0f} ms |",
                  flush=True)
    real, source = _real_batch(batch)
    fp32, bf16 = _loss_terms("fp32", real), _loss_terms("bf16", real)
    agreement = {k: round(bf16[k] - fp32[k], 4) for k in fp32}
    print(f"\nbf16 − fp32, one batch ({source}), shipped weights: {agreement} (fp32: {fp32})")
    out = {"crop": c, "batch": b, "threads": args.threads, "steps": args.steps, "bf16_units": cpu_bf16_units(),
           "load_avg": os.getloadavg()[0], "rows": rows, "loss_terms_batch": source,
           "fp32_loss_terms": fp32, "bf16_minus_fp32_loss_terms": agreement}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    print("| variant | mode | train step | crop px/s | vs fp32 | compile | encode | one decoder |")
    print("|---|---|---|---|---|---|---|---|")
    main()
