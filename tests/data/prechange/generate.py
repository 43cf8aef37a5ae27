"""Regenerate the pre-change fixture chunks (run from the repository root).

These chunks were written by commit ``generated_with_commit`` in manifest.json, BEFORE the
entropy-coding speed-ups, and are the reference that ``tests/test_entropy_bitexact.py`` holds
every later coding path to. Do not re-run this unless the bitstream format version changes; what
the chunks decode to is pinned afterwards by ``tests/data/pin_decodes.py`` (symbols by hash,
pixels by a reference decode compared within the cross-machine tolerance).
"""
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from conftest import smooth_pair  # noqa: E402

import geocodec  # noqa: E402

out = Path(__file__).resolve().parent
out.mkdir(parents=True, exist_ok=True)
cases = [  # name, h, w, lmbda, gamma, seed, sar dtype
    ("c64_l001_g05", 64, 64, 0.01, 0.5, 1, np.float32),
    ("c96x130_l0003_g09", 96, 130, 0.003, 0.9, 2, np.float32),
    ("c128_l003_g01", 128, 128, 0.03, 0.1, 3, np.float32),
    ("c70x64_l001_g00_nan", 70, 64, 0.01, 0.0, 4, np.float32),
]
commit = subprocess.check_output(["git", "rev-parse", "HEAD"], text=True).strip()
manifest = {"generated_with_commit": commit, "model": None, "chunks": {}}
m = geocodec.load_model("default", device="cpu")
manifest["model"] = {"name": m.name, "version": m.version, "sha256": m.sha256}
for name, h, w, lam, g, seed, sdt in cases:
    rng = np.random.default_rng(seed)
    opt, sar = smooth_pair(rng, h, w)
    if name.endswith("nan"):
        sar[:, 5:9, 10:20] = np.nan
    data = geocodec.compress(opt, sar, lmbda=lam, gamma=g, device="cpu")
    o, s = geocodec.decompress(data, device="cpu")  # dtypes only
    (out / f"{name}.geoc").write_bytes(data)
    manifest["chunks"][name] = {
        "lmbda": lam, "gamma": g, "shape": [h, w], "seed": seed, "sar_nan_box": name.endswith("nan"),
        "sha256_input": hashlib.sha256(opt.tobytes() + sar.tobytes()).hexdigest(),
        "sha256_chunk": hashlib.sha256(data).hexdigest(),
        "optical_dtype": str(o.dtype), "sar_dtype": str(s.dtype),
    }
    print(name, len(data))
(out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
