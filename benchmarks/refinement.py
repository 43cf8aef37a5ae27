"""What encode-time latent refinement (``refine_steps``) buys and costs, side by side in one run.

For each λ and each refine_steps (0 = the plain encoder, the reference), on real 256² tiles (the
Sen1Floods11 Spain pair's four tiles; synthetic tiles without ../shared): joint bpp from the real
chunk bytes, PSNR per modality (documented peaks), and encode time per pair (wall and process CPU,
median over interleaved rounds, one thread). Decoding is the same for every row (same decoders,
same format). Prints a markdown table and writes JSON (default
``benchmarks/results/refinement-<device>.json``)::

    OMP_NUM_THREADS=1 python benchmarks/refinement.py --steps 0,10,20,40 --lmbdas 0.01,0.05 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from throughput import DATA, real_tiles, synthetic_tiles  # noqa: E402  (same tiles as the throughput benchmark)


def _psnr(tiles, decoded) -> dict:
    from geocodec.metrics import PEAK_OPTICAL, PEAK_SAR_DB, psnr

    return {"optical": float(np.mean([psnr(o, d[0], PEAK_OPTICAL) for (o, _), d in zip(tiles, decoded)])),
            "sar": float(np.mean([psnr(s, d[1], PEAK_SAR_DB) for (_, s), d in zip(tiles, decoded)]))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", default="0,10,20,40", help="refine_steps values, comma-separated (0 = reference)")
    ap.add_argument("--lmbdas", default="0.01,0.05")
    ap.add_argument("--gamma", type=float, default=0.5)
    ap.add_argument("--tiles", type=int, default=2, help="how many 256² tiles")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    import torch

    import geocodec
    from geocodec.codec import decompress_batch

    torch.set_num_threads(1)
    steps = [int(v) for v in args.steps.split(",")]
    lmbdas = [float(v) for v in args.lmbdas.split(",")]
    tiles = (real_tiles(256) if (DATA / "S2.tif").exists() else synthetic_tiles(256, args.tiles))[:args.tiles]
    model = geocodec.load_model("default", device=args.device)
    jobs = [(lam, n) for lam in lmbdas for n in steps]
    times: dict = {job: [] for job in jobs}
    coded: dict = {}
    geocodec.compress_batch(tiles[:1], lmbda=lmbdas[0], model=model, device=args.device, refine_steps=1)  # warm-up
    for r in range(args.rounds):
        for lam, n in jobs[r % len(jobs):] + jobs[:r % len(jobs)]:  # rotating order
            w0, c0 = time.perf_counter(), time.process_time()
            chunks = geocodec.compress_batch(tiles, lmbda=lam, gamma=args.gamma, model=model, device=args.device,
                                             refine_steps=n, batch_size=1)
            times[(lam, n)].append(((time.perf_counter() - w0) / len(tiles), (time.process_time() - c0) / len(tiles)))
            coded[(lam, n)] = chunks
    rows = []
    for lam, n in jobs:
        chunks = coded[(lam, n)]
        q = _psnr(tiles, decompress_batch(chunks, device=args.device))
        wall = statistics.median(t[0] for t in times[(lam, n)]) * 1000
        cpu = statistics.median(t[1] for t in times[(lam, n)]) * 1000
        bpp = float(np.mean([8 * len(c) / (2 * o.shape[1] * o.shape[2]) for c, (o, _) in zip(chunks, tiles)]))
        rows.append({"lmbda": lam, "refine_steps": n, "bpp": bpp, "psnr_optical": q["optical"], "psnr_sar": q["sar"],
                     "encode_ms_wall": wall, "encode_ms_cpu": cpu})
    for r in rows:
        ref = next(x for x in rows if x["lmbda"] == r["lmbda"] and x["refine_steps"] == steps[0])
        r["encode_time_ratio_cpu"] = r["encode_ms_cpu"] / ref["encode_ms_cpu"]
        r["bpp_ratio"] = r["bpp"] / ref["bpp"]
        r["d_psnr_optical"], r["d_psnr_sar"] = r["psnr_optical"] - ref["psnr_optical"], r["psnr_sar"] - ref["psnr_sar"]
    lines = [f"| λ | refine_steps | bpp (× plain) | PSNR optical (Δ) | PSNR SAR (Δ) | encode ms/pair wall / CPU | CPU × plain |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['lmbda']:g} | {r['refine_steps']} | {r['bpp']:.4f} ({r['bpp_ratio']:.3f}×) | "
              f"{r['psnr_optical']:.2f} ({r['d_psnr_optical']:+.2f}) | {r['psnr_sar']:.2f} ({r['d_psnr_sar']:+.2f}) | "
              f"{r['encode_ms_wall']:.0f} / {r['encode_ms_cpu']:.0f} | {r['encode_time_ratio_cpu']:.1f}× |" for r in rows]
    print("\n".join(lines))
    out = Path(args.out or HERE / "results" / f"refinement-{args.device}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"device": args.device, "tiles": f"{len(tiles)} × 256²", "gamma": args.gamma,
                               "rounds": args.rounds, "threads": 1, "load_average": os.getloadavg(),
                               "model": {"name": model.name, "version": model.version, "sha256": model.sha256},
                               "rows": rows, "table": lines}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
