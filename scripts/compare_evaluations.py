"""BD-rate of one `geocodec evaluate` run's geocodec curves against another's, per set and γ.

    python scripts/compare_evaluations.py docs/evaluation/refinement/plain/evaluation.json \
        docs/evaluation/refinement/refine-20/evaluation.json

Prints, per validation set and γ, the BD-rate (PCHIP; negative = the second run needs fewer bits)
on joint PSNR and on each modality's PSNR alone, and the per-λ points side by side.
"""

import json
import sys

from geocodec.metrics import bd_rate


def main(anchor_path: str, test_path: str) -> None:
    a, b = (json.load(open(p)) for p in (anchor_path, test_path))
    for name, sa in a["sets"].items():
        ca_all, cb_all = sa["summary"]["geocodec"]["curves"], b["sets"][name]["summary"]["geocodec"]["curves"]
        print(f"== {name}")
        for g, ca in ca_all.items():
            cb = cb_all[g]
            ra, rb = [p["bpp"] for p in ca], [p["bpp"] for p in cb]
            bd = {q: bd_rate(ra, [p[q] for p in ca], rb, [p[q] for p in cb])
                  for q in ("quality", "psnr_optical", "psnr_sar")}
            print(f"  γ={g}: BD-rate joint {bd['quality']:+.1f} %, optical {bd['psnr_optical']:+.1f} %, "
                  f"SAR {bd['psnr_sar']:+.1f} %")
            for pa, pb in zip(ca, cb):
                print(f"    λ={pa['lmbda']:.4f}: bpp {pa['bpp']:.3f} → {pb['bpp']:.3f}, optical "
                      f"{pa['psnr_optical']:.2f} → {pb['psnr_optical']:.2f}, SAR {pa['psnr_sar']:.2f} → {pb['psnr_sar']:.2f} dB")


if __name__ == "__main__":
    main(*sys.argv[1:3])
