"""Entropy coding alone, before/after a change to ``geocodec/model/latent_coding.py`` (or ``entropy.py``): one command, two trees.

    .venv/bin/python benchmarks/entropy_coding.py [--label now] [--rounds 15] [--tile 256]
    PYTHONPATH=/tmp/old-tree .venv/bin/python benchmarks/entropy_coding.py --label before

Times, per 256² pair (real Sen1Floods11 Spain tile when ``../shared`` is there, else synthetic),
``geocodec.codec.entropy_decode`` (rANS + entropy-parameter nets, no synthesis) and a whole
``compress``, on one thread, median of ``--rounds``; appends a row to
``benchmarks/results/entropy-coding.json`` so trees measured one after the other sit side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT))  # PYTHONPATH (an older tree) wins over this checkout
sys.path.append(str(ROOT / "benchmarks"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--label", default="now")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--tile", type=int, default=256)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "entropy-coding.json"))
    args = ap.parse_args(argv)

    import torch

    import geocodec
    from geocodec.codec import entropy_decode
    from throughput import DATA, real_tiles, synthetic_tiles

    torch.set_num_threads(1)
    real = DATA.exists()
    opt, sar = (real_tiles(args.tile) if real else synthetic_tiles(args.tile, 1))[0]
    data = geocodec.compress(opt, sar, lmbda=0.01, device="cpu")
    entropy_decode([data], device="cpu")
    dec, enc = [], []
    for _ in range(args.rounds):
        t = time.process_time()
        entropy_decode([data], device="cpu")
        dec.append(time.process_time() - t)
        t = time.process_time()
        again = geocodec.compress(opt, sar, lmbda=0.01, device="cpu")
        enc.append(time.process_time() - t)
        assert again == data
    row = {"label": args.label, "geocodec_from": str(Path(geocodec.__file__).parent), "tile": args.tile,
           "data": "real" if real else "synthetic", "rounds": args.rounds, "bytes": len(data),
           "sha256": __import__("hashlib").sha256(data).hexdigest(),
           "entropy_decode_cpu_ms": 1e3 * statistics.median(dec), "compress_cpu_ms": 1e3 * statistics.median(enc),
           "load_average": os.getloadavg()}
    out = Path(args.out)
    rows = json.loads(out.read_text())["rows"] if out.exists() else []
    rows.append(row)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"command": "benchmarks/entropy_coding.py", "rows": rows}, indent=2) + "\n")
    print("| label | entropy decode ms (CPU) | compress ms (CPU) | bytes | chunk sha256 |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['label']} | {r['entropy_decode_cpu_ms']:.1f} | {r['compress_cpu_ms']:.0f} | {r['bytes']} "
              f"| {r['sha256'][:12]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
