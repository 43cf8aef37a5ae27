"""BD-rate of one `geocodec evaluate` run's geocodec curves against another's: the promotion test.

    python scripts/compare_evaluations.py docs/evaluation/v1.0.0/evaluation.json \
        docs/evaluation/evaluation.json [--json OUT.json]

Prints, per validation set, the BD-rate (PCHIP; negative = the second run needs fewer bits) of
the envelope over γ on joint PSNR (the promotion criterion of the model card: a candidate replaces
`default` only when this is negative on every set), the overlap it integrates over, then per γ
on joint PSNR and on each modality's PSNR alone, and the per-λ points side by side.
"""

import argparse
import json

from geocodec.evaluation.summary import bd
from geocodec.metrics import bd_rate


def compare(a: dict, b: dict) -> dict:
    out = {"anchor": a["model"], "test": b["model"], "sets": {}}
    for name, sa in a["sets"].items():
        ga, gb = sa["summary"]["geocodec"], b["sets"][name]["summary"]["geocodec"]
        env = bd(ga["envelope"], gb["envelope"])
        per_gamma = {}
        for g, ca in ga["curves"].items():
            cb = gb["curves"][g]
            ra, rb = [p["bpp"] for p in ca], [p["bpp"] for p in cb]
            per_gamma[g] = {q: bd_rate(ra, [p[q] for p in ca], rb, [p[q] for p in cb])
                            for q in ("quality", "psnr_optical", "psnr_sar")}
        out["sets"][name] = {"envelope_bd_rate_percent": env["pchip"], "envelope_overlap_db": env["overlap_db"],
                             "per_gamma_bd_rate_percent": per_gamma}
    return out


def _f(v) -> str:
    return "n/a (no overlap)" if v is None else f"{v:+.1f} %"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("anchor", help="evaluation.json of the anchor (e.g. the current default)")
    p.add_argument("test", help="evaluation.json of the candidate")
    p.add_argument("--json", help="also write the comparison here")
    args = p.parse_args(argv)
    a, b = (json.load(open(f)) for f in (args.anchor, args.test))
    result = compare(a, b)
    print(f"{b['model']['name']} v{b['model']['version']} against {a['model']['name']} v{a['model']['version']}")
    for name, r in result["sets"].items():
        lo, hi = r["envelope_overlap_db"] or (float("nan"), float("nan"))
        print(f"== {name}: envelope over γ, BD-rate joint {_f(r['envelope_bd_rate_percent'])} "
              f"(joint PSNR {lo:.2f}…{hi:.2f} dB)")
        for g, bdg in r["per_gamma_bd_rate_percent"].items():
            print(f"  γ={g}: BD-rate joint {_f(bdg['quality'])}, optical {_f(bdg['psnr_optical'])}, "
                  f"SAR {_f(bdg['psnr_sar'])}")
            ca, cb = a["sets"][name]["summary"]["geocodec"]["curves"][g], b["sets"][name]["summary"]["geocodec"]["curves"][g]
            for pa, pb in zip(ca, cb):
                print(f"    λ {pa['lmbda']:.4f} → {pb['lmbda']:.4f}: bpp {pa['bpp']:.3f} → {pb['bpp']:.3f}, optical "
                      f"{pa['psnr_optical']:.2f} → {pb['psnr_optical']:.2f}, SAR {pa['psnr_sar']:.2f} → "
                      f"{pb['psnr_sar']:.2f} dB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
