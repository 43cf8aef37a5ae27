"""Writes ``tests/data/chunk-v{3,4}-default.{bin,json}``: a chunk of format 3 or 4 of the shipped
default model and what it must entropy-decode to on every machine (symbols and ŷ, by sha256).

    PYTHONPATH=. OMP_NUM_THREADS=1 python tests/data/pin_format.py --format 4 [--keep-chunk]

``--keep-chunk`` keeps the pinned chunk (and its model) and rewrites only what it decodes to: for
when the meaning of a pinned value changes, as when ``DecodedLatent.latent`` became ŷ before the
decoder's λ gain (the gained latent is float arithmetic, not exact across machines).
"""

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))

import geocodec  # noqa: E402
import geocodec.coding.encode as encode  # noqa: E402
from conftest import smooth_pair  # noqa: E402
from geocodec.codec import entropy_decode  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--format", type=int, choices=(3, 4), required=True)
ap.add_argument("--keep-chunk", action="store_true")
args = ap.parse_args()
stem = HERE / f"chunk-v{args.format}-default"
if args.keep_chunk:
    data = stem.with_suffix(".bin").read_bytes()
    pin = json.loads(stem.with_suffix(".json").read_text())
else:
    encode.WRITE_FORMAT = args.format
    opt, sar = smooth_pair(np.random.default_rng(3), 96, 130)
    data = geocodec.compress(opt, sar, lmbda=0.01, gamma=0.5, device="cpu")
    pin = {"model_sha256": geocodec.load_model("default").sha256, "shape": [96, 130], "seed": 3, "lmbda": 0.01,
           "gamma": 0.5}
lat = entropy_decode([data], device="cpu", keep_symbols=True)[0]  # the chunk names its own model
stem.with_suffix(".bin").write_bytes(data)
stem.with_suffix(".json").write_text(json.dumps({
    **pin, "sha256_chunk": hashlib.sha256(data).hexdigest(), "sha256_symbols": lat.symbols_sha256(),
    "sha256_latent": hashlib.sha256(lat.latent.numpy().astype("<f4").tobytes()).hexdigest(),
}, indent=2) + "\n")
