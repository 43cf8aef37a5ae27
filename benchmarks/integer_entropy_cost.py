"""What bitstream format 3's integer entropy parameters cost against format 2's float64 ones.

    PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python benchmarks/integer_entropy_cost.py

Real data only (skips without ``../shared``): the Sen1Floods11 Spain pair as four 256² tiles and
whole (512²), and the six BigEarthNet example pairs (120²), at λ = 0.003, 0.01, 0.03. Each input is
encoded in format 2 and format 3 with the same model; reports the joint bytes (bpp change) and the
PSNR of each decode against the input (optical peak 10000, SAR peak 70 dB). JSON in
``benchmarks/results/integer-entropy-cost.json``.
"""

from __future__ import annotations

import json
import sys
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
    from geocodec.metrics import psnr
    from throughput import DATA

    if not DATA.exists():
        print("no ../shared/data: this benchmark needs the real pairs")
        return 0
    torch.set_num_threads(1)
    rows = []
    for name, (opt, sar) in pairs():
        for lmbda in LAMBDAS:
            row = {"pair": name, "lmbda": lmbda}
            for fmt in (2, 3):
                encode.WRITE_FORMAT = fmt
                data = geocodec.compress(opt, sar, lmbda=lmbda, device="cpu")
                o, s = geocodec.decompress(data, device="cpu")
                row[f"bytes_v{fmt}"] = len(data)
                row[f"psnr_optical_v{fmt}"] = psnr(opt.astype(np.float64), o.astype(np.float64), 10000.0)
                row[f"psnr_sar_v{fmt}"] = psnr(sar.astype(np.float64), s.astype(np.float64), 70.0)
            encode.WRITE_FORMAT = 3
            rows.append(row)
            d_opt = row["psnr_optical_v3"] - row["psnr_optical_v2"]
            d_sar = row["psnr_sar_v3"] - row["psnr_sar_v2"]
            print(name, lmbda, row["bytes_v2"], row["bytes_v3"],
                  f"{100 * (row['bytes_v3'] / row['bytes_v2'] - 1):+.2f} %", f"{d_opt:+.3f} / {d_sar:+.3f} dB")
    tot2, tot3 = sum(r["bytes_v2"] for r in rows), sum(r["bytes_v3"] for r in rows)
    change = {k: [r[f"{k}_v3"] - r[f"{k}_v2"] for r in rows] for k in ("psnr_optical", "psnr_sar")}
    summary = {"bytes_change_percent": 100 * (tot3 / tot2 - 1),
               "worst_item_bytes_change_percent": max(100 * (r["bytes_v3"] / r["bytes_v2"] - 1) for r in rows),
               **{f"mean_{k}_change_db": float(np.mean(v)) for k, v in change.items()},
               **{f"worst_{k}_change_db": float(np.min(v)) for k, v in change.items()}}
    print(summary)
    out = ROOT / "benchmarks" / "results" / "integer-entropy-cost.json"
    out.write_text(json.dumps({"command": "benchmarks/integer_entropy_cost.py", "summary": summary, "rows": rows},
                              indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
