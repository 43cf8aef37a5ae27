"""What one bitstream format's entropy parameters cost against another's, or one model's entropy model
against another's (rate, quality, entropy-decode time).

    PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python benchmarks/integer_entropy_cost.py [--base 3 --new 4]
    PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python benchmarks/integer_entropy_cost.py \
        --models default,runs/light.safetensors --out benchmarks/results/entropy-cost-light.json

``--models BASE,NEW`` codes with two models at the newest format instead (registered names or model
files), e.g. a lighter entropy model trained for the same transforms (``geocodec train --config
entropy``): then only the rate, the rounding offsets and the entropy-decode time can differ.

Formats 2 → 3: float64 nets → integer nets in float64 (``benchmarks/results/integer-entropy-cost.json``);
3 → 4: → integer nets on int8 products (``…/entropy-cost-v3-v4.json``).

Real data only (skips without ``../shared``): the Sen1Floods11 Spain pair as four 256² tiles and
whole (512²), and the six BigEarthNet example pairs (120²), at λ = 0.003, 0.01, 0.03. Each input is
encoded in format 2 and format 3 with the same model; reports the joint bytes (bpp change) and the
PSNR of each decode against the input (optical peak 10000, SAR peak 70 dB). JSON in
``benchmarks/results/integer-entropy-cost.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT))
sys.path.append(str(ROOT / "benchmarks"))

LAMBDAS = (0.003, 0.01, 0.03)


def pairs():
    from throughput import DATA, real_tiles
    from geocodec.io import open_pair

    out = [(f"spain256-{i}", t) for i, t in enumerate(real_tiles(256))]
    ds = open_pair(DATA / "S2.tif", DATA / "S1.tif").load()
    out.append(("spain512", (ds.optical.values, ds.sar.values)))
    ben = DATA.parent / "bigearthnet-example-geotiff"
    s1 = sorted((ben / "BigEarthNet-S1-Example").iterdir())
    s2 = {tuple(p.name.split("_")[-2:]): p for p in (ben / "BigEarthNet-S2-Example").iterdir()}
    import rasterio

    for p in s1:
        q = s2.get(tuple(p.name.split("_")[-2:]))
        if q is None:
            continue

        opt = np.stack([rasterio.open(next(q.glob(f"*_{b}.tif"))).read(1) for b in ("B02", "B03", "B04", "B08")])
        sar = np.stack([rasterio.open(next(p.glob(f"*_{b}.tif"))).read(1) for b in ("VV", "VH")]).astype(np.float32)
        out.append((f"ben-{p.name[-5:]}", (opt, sar)))
    return out


def main() -> int:
    import torch

    import geocodec
    import geocodec.coding.encode as encode
    from geocodec import bitstream
    from geocodec.metrics import psnr
    from throughput import DATA

    if not DATA.exists():
        print("no ../shared/data: this benchmark needs the real pairs")
        return 0
    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=int, default=3, help="bitstream format of the reference (2 or 3)")
    ap.add_argument("--new", type=int, default=4, help="bitstream format compared with it (3 or 4)")
    ap.add_argument("--models", default=None, metavar="BASE,NEW",
                    help="compare two models (registered names or model files) at the newest format instead")
    ap.add_argument("--out", type=Path, default=None, help="JSON path (default benchmarks/results/<by the comparison>.json)")
    args = ap.parse_args()
    from geocodec.codec import entropy_decode
    from geocodec.registry import trust_model_file

    if args.models:  # (label, model, format) of the reference and of what is compared with it
        names = args.models.split(",")
        if len(names) != 2:
            ap.error("--models takes two models, BASE,NEW")
        for name in names:
            if Path(name).suffix == ".safetensors":
                trust_model_file(name)
        variants = [(label, geocodec.load_model(name, device="cpu"), bitstream.FORMAT_VERSION)
                    for label, name in zip(("base", "new"), names)]
        stem, command = "entropy-cost-models", f"--models {args.models}"
    else:
        variants = [(f"v{f}", geocodec.load_model("default", device="cpu"), f) for f in (args.base, args.new)]
        stem = "integer-entropy-cost" if (args.base, args.new) == (2, 3) else f"entropy-cost-v{args.base}-v{args.new}"
        command = f"--base {args.base} --new {args.new}"
    (b, base_model, _), (n, new_model, _) = variants
    models = {label: m for label, m, _ in variants}

    def decode_ms(data: bytes, model) -> float:  # entropy decoding only, process CPU time, median of 3
        entropy_decode([data], device="cpu", model=model)
        times = []
        for _ in range(3):
            t = time.process_time()
            entropy_decode([data], device="cpu", model=model)
            times.append(1e3 * (time.process_time() - t))
        return sorted(times)[1]

    rows = []
    for name, (opt, sar) in pairs():
        for lmbda in LAMBDAS:
            row = {"pair": name, "lmbda": lmbda}
            coded = {}
            for label, m, fmt in variants:
                encode.WRITE_FORMAT = fmt
                coded[label] = data = geocodec.compress(opt, sar, lmbda=lmbda, device="cpu", model=m)
                o, s = geocodec.decompress(data, device="cpu", model=m)
                row[f"bytes_{label}"] = len(data)
                row[f"psnr_optical_{label}"] = psnr(opt.astype(np.float64), o.astype(np.float64), 10000.0)
                row[f"psnr_sar_{label}"] = psnr(sar.astype(np.float64), s.astype(np.float64), 70.0)
            encode.WRITE_FORMAT = bitstream.FORMAT_VERSION
            for label in (b, n, b, n):  # interleaved: the machine's drift hits both alike
                row.setdefault(f"entropy_decode_ms_{label}", []).append(decode_ms(coded[label], models[label]))
            for label in (b, n):
                row[f"entropy_decode_ms_{label}"] = min(row[f"entropy_decode_ms_{label}"])
            rows.append(row)
            d_opt = row[f"psnr_optical_{n}"] - row[f"psnr_optical_{b}"]
            d_sar = row[f"psnr_sar_{n}"] - row[f"psnr_sar_{b}"]
            print(name, lmbda, row[f"bytes_{b}"], row[f"bytes_{n}"],
                  f"{100 * (row[f'bytes_{n}'] / row[f'bytes_{b}'] - 1):+.2f} %", f"{d_opt:+.3f} / {d_sar:+.3f} dB",
                  f"entropy decode {row[f'entropy_decode_ms_{b}']:.1f} → {row[f'entropy_decode_ms_{n}']:.1f} ms",
                  flush=True)
    tot_b, tot_n = sum(r[f"bytes_{b}"] for r in rows), sum(r[f"bytes_{n}"] for r in rows)
    change = {k: [r[f"{k}_{n}"] - r[f"{k}_{b}"] for r in rows] for k in ("psnr_optical", "psnr_sar")}
    spain = [r for r in rows if r["pair"].startswith("spain256")]
    summary = {"base": {"label": b, "model": base_model.name, "version": base_model.version, "sha256": base_model.sha256,
                        "format": variants[0][2]},
               "new": {"label": n, "model": new_model.name, "version": new_model.version, "sha256": new_model.sha256,
                       "format": variants[1][2]},
               "items": len(rows),
               "bytes_change_percent": 100 * (tot_n / tot_b - 1),
               "worst_item_bytes_change_percent": max(100 * (r[f"bytes_{n}"] / r[f"bytes_{b}"] - 1) for r in rows),
               **{f"mean_{k}_change_db": float(np.mean(v)) for k, v in change.items()},
               **{f"worst_{k}_change_db": float(np.min(v)) for k, v in change.items()},
               "entropy_decode_ms_spain256": {f: float(np.mean([r[f"entropy_decode_ms_{f}"] for r in spain]))
                                              for f in (b, n)},
               "entropy_decode_ms_all": {f: float(np.sum([r[f"entropy_decode_ms_{f}"] for r in rows]))
                                         for f in (b, n)}}
    print(summary)
    print(f"\n| λ | bytes {n} / {b} | optical dB | SAR dB | entropy decode 256², ms ({b} → {n}) |\n|---|---|---|---|---|")
    for lmbda in LAMBDAS:
        at = [r for r in rows if r["lmbda"] == lmbda]
        ms = [np.mean([r[f"entropy_decode_ms_{f}"] for r in at if r["pair"].startswith("spain256")]) for f in (b, n)]
        print(f"| {lmbda} | {100 * (sum(r[f'bytes_{n}'] for r in at) / sum(r[f'bytes_{b}'] for r in at) - 1):+.2f} % | "
              + " | ".join(f"{np.mean([r[f'{k}_{n}'] - r[f'{k}_{b}'] for r in at]):+.3f}" for k in ("psnr_optical", "psnr_sar"))
              + f" | {ms[0]:.1f} → {ms[1]:.1f} |")
    out = args.out or ROOT / "benchmarks" / "results" / f"{stem}.json"
    out.write_text(json.dumps({"command": f"benchmarks/integer_entropy_cost.py {command}",
                               "threads": 1, "summary": summary, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
