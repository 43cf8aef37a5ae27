"""bpp and physical PSNR of two model files on the validation sets, through the public API (γ 0.5).

    python docs/evaluation/entropy-refit/public_api_check.py ORIGINAL.safetensors REFIT.safetensors \\
        OUT.json [--data-root ../shared/data]

A three-λ spot check of a codec whose entropy model was refitted (``scripts/entropy_refit.py
--export``) against the original: the same latents may round around slightly different means, so
the PSNR moves a little too. A full R-D comparison is ``geocodec evaluate`` on each file, then
``scripts/compare_evaluations.py``.
"""

import argparse
import json

import numpy as np
import torch

import geocodec
from geocodec.evaluation.datasets import load_validation_sets
from geocodec.metrics import PEAK_OPTICAL, PEAK_SAR_DB, psnr

LAMBDAS = (0.003, 0.03, 0.3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("original")
    ap.add_argument("refit")
    ap.add_argument("out")
    ap.add_argument("--data-root", default="../shared/data")
    args = ap.parse_args()
    torch.set_num_threads(1)
    sets = load_validation_sets(args.data_root)
    out = {}
    for name, path in (("original", args.original), ("refit", args.refit)):
        for set_name, pairs in sets.items():
            for lam in LAMBDAS:
                bits = px = 0
                po, ps = [], []
                for p in pairs:
                    chunk = geocodec.compress(p.optical, p.sar, lmbda=lam, gamma=0.5, model=path, device="cpu",
                                              backend="torch", optical_nodata=p.optical_nodata)
                    ro, rs = geocodec.decompress(chunk, model=path, device="cpu", backend="torch")
                    bits += 8 * len(chunk)
                    px += p.optical.shape[-2] * p.optical.shape[-1]
                    po.append(psnr(p.optical, ro, PEAK_OPTICAL))
                    ps.append(psnr(p.sar, rs, PEAK_SAR_DB))
                row = (bits / (2 * px), float(np.mean(po)), float(np.mean(ps)))
                out[f"{name} {set_name} {lam}"] = row
                print(name, set_name, lam, [round(v, 3) for v in row], flush=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
