"""Writes ``tests/data/chunk-v3-default.{bin,json}``: a format-3 chunk of the shipped default model
and what it must entropy-decode to on every machine (symbols and ŷ, by sha256).

    PYTHONPATH=. OMP_NUM_THREADS=1 python tests/data/pin_format3.py [--keep-chunk]

``--keep-chunk`` keeps the pinned chunk (and its model) and rewrites only what it decodes to: for
when the meaning of a pinned value changes, as when ``DecodedLatent.latent`` became ŷ before the
decoder's λ gain (the gained latent is float arithmetic, not exact across machines).
"""

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))

import geocodec  # noqa: E402
from conftest import smooth_pair  # noqa: E402
from geocodec.codec import entropy_decode  # noqa: E402

if "--keep-chunk" in sys.argv[1:]:
    data = (HERE / "chunk-v3-default.bin").read_bytes()
    pin = json.loads((HERE / "chunk-v3-default.json").read_text())
else:
    opt, sar = smooth_pair(np.random.default_rng(3), 96, 130)
    data = geocodec.compress(opt, sar, lmbda=0.01, gamma=0.5, device="cpu")
    pin = {"model_sha256": geocodec.load_model("default").sha256, "shape": [96, 130], "seed": 3, "lmbda": 0.01,
           "gamma": 0.5}
lat = entropy_decode([data], device="cpu", keep_symbols=True)[0]  # the chunk names its own model
(HERE / "chunk-v3-default.bin").write_bytes(data)
(HERE / "chunk-v3-default.json").write_text(json.dumps({
    **pin, "sha256_chunk": hashlib.sha256(data).hexdigest(), "sha256_symbols": lat.symbols_sha256(),
    "sha256_latent": hashlib.sha256(lat.latent.numpy().astype("<f4").tobytes()).hexdigest(),
}, indent=2) + "\n")
