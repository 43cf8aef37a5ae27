"""Decode contract, layer (c): how far decodes of the same chunks drift across hosts and backends.

    python benchmarks/decode_tolerance.py [--lmbda 0.01] [--out benchmarks/results/decode-tolerance.json]

Encodes the real tiles of ``../shared/data`` (the Sen1Floods11 Spain pair in 256² tiles and the six
BigEarthNet example pairs, 120²) once with the fp32 torch backend, then decodes every chunk

* here with fp32 torch (the reference), torch bf16 (where the CPU has bf16 units), ONNX fp32 and
  ONNX int8 (``backend=``), and
* in a fresh process with oneDNN and MKL capped at AVX2 (``ONEDNN_MAX_CPU_ISA``,
  ``MKL_ENABLE_INSTRUCTIONS``): a host without AVX-512, the usual cross-host difference on x86.

For each comparison against the reference it reports, per band over all tiles, the largest |Δ|
(optical DN, SAR dB) and the lowest PSNR with the band's range in the reference as peak
(``geocodec.metrics.decode_agreement``), and whether the entropy decoder's symbols and ŷ are the
same bytes (layer a). Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("GEOCODEC_SHARED_DATA", HERE.parents[1] / "shared" / "data"))
CAP = {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
SETS = ("sen1floods11-spain-256", "bigearthnet-geotiff")

DECODE = """
import sys, numpy as np
from pathlib import Path
from geocodec.codec import entropy_decode, synthesize
folder, backend = Path(sys.argv[1]), sys.argv[2]
out = {}
for f in sorted(folder.glob("*.geoc")):
    (d,) = entropy_decode([f.read_bytes()], device="cpu", keep_symbols=True)
    o, s = synthesize([d], backend=backend)[0]
    out.update({f"{f.stem}/symbols": d.symbols, f"{f.stem}/latent": d.latent.numpy(),
                f"{f.stem}/optical": o, f"{f.stem}/sar": s})
np.savez(folder / f"decoded-{sys.argv[3]}.npz", **out)
"""


def decode(folder: Path, backend: str, label: str, env: dict | None = None) -> dict:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", DECODE, str(folder), backend, label], check=True,
                   env={**os.environ, **(env or {})}, cwd=HERE.parent)
    print(f"  decoded {label} in {time.perf_counter() - t:.0f} s", flush=True)
    with np.load(folder / f"decoded-{label}.npz") as f:
        return dict(f)


def compare(ref: dict, other: dict, names: list[str]) -> dict:
    from geocodec.metrics import decode_agreement

    out = {"symbols_identical": all(np.array_equal(ref[f"{n}/symbols"], other[f"{n}/symbols"]) for n in names),
           "latent_identical": all(ref[f"{n}/latent"].tobytes() == other[f"{n}/latent"].tobytes() for n in names)}
    for which in ("optical", "sar"):
        per_tile = [decode_agreement(ref[f"{n}/{which}"], other[f"{n}/{which}"]) for n in names]
        bands = len(per_tile[0]["max_abs"])
        out[which] = {
            "max_abs": [max(t["max_abs"][b] for t in per_tile) for b in range(bands)],
            "min_psnr_db": [min(t["psnr_db"][b] for t in per_tile) for b in range(bands)],
            "identical_tiles": sum(np.array_equal(ref[f"{n}/{which}"], other[f"{n}/{which}"], equal_nan=True)
                                   for n in names),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lmbda", type=float, default=0.01)
    ap.add_argument("--out", default=str(HERE / "results" / "decode-tolerance.json"))
    args = ap.parse_args()
    import geocodec
    from geocodec.evaluation.datasets import load_validation_sets

    if not (DATA / "README.md").exists():
        sys.exit(f"real data not found at {DATA} (set GEOCODEC_SHARED_DATA)")
    sets = load_validation_sets(DATA, SETS)
    pairs = [p for s in SETS for p in sets[s]]
    onnx = all(__import__("importlib").util.find_spec(m) for m in ("onnx", "onnxruntime"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for p in pairs:
            data = geocodec.compress(p.optical, p.sar, lmbda=args.lmbda, optical_nodata=p.optical_nodata, device="cpu",
                                     backend="torch")
            (folder / f"{p.name}.geoc").write_bytes(data)
        print(f"{len(pairs)} tiles encoded at λ={args.lmbda}", flush=True)
        names = [p.name for p in pairs]
        ref = decode(folder, "torch", "fp32")
        runs = {"fp32, oneDNN/MKL capped at AVX2 (another host)": decode(folder, "torch", "fp32-avx2", CAP),
                "fp32 again, same host (layer b)": decode(folder, "torch", "fp32-again")}
        from geocodec.precision import cpu_bf16_units

        if cpu_bf16_units():  # bf16 autocast + channels_last synthesis (backend="torch-bf16"; "auto" here)
            runs["torch-bf16"] = decode(folder, "torch-bf16", "bf16")
            runs["torch-bf16 again (layer b)"] = decode(folder, "torch-bf16", "bf16-again")
        if onnx:
            runs["onnx fp32"] = decode(folder, "onnx", "onnx")
            runs["onnx-int8 (fast path)"] = decode(folder, "onnx-int8", "onnx-int8")
            runs["onnx-int8, capped at AVX2"] = decode(folder, "onnx-int8", "onnx-int8-avx2", CAP)
        results = {label: compare(ref, other, names) for label, other in runs.items()}
    report = {"lmbda": args.lmbda, "tiles": {s: [p.name for p in sets[s]] for s in SETS},
              "reference": "fp32 torch backend, this host, default model", "host": platform.machine(),
              "cpu": _cpu(), "torch_threads": int(os.environ.get("OMP_NUM_THREADS", "0") or 0) or None,
              "comparisons": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(f"\n{'comparison with fp32 here':48} {'ŷ same':7} {'optical max|Δ| DN':22} {'optical PSNR dB':24} "
          f"{'SAR max|Δ| dB':20} SAR PSNR dB")
    for label, r in results.items():
        o, s = r["optical"], r["sar"]
        print(f"{label:48} {str(r['symbols_identical'] and r['latent_identical']):7} "
              f"{_row(o['max_abs'], '{:g}'):22} {_row(o['min_psnr_db'], '{:.1f}'):24} "
              f"{_row(s['max_abs'], '{:.2g}'):20} {_row(s['min_psnr_db'], '{:.1f}')}")
    print(f"\nwrote {args.out}")


def _row(values, fmt: str) -> str:
    return " ".join(fmt.format(v) for v in values)


def _cpu() -> str:
    info = Path("/proc/cpuinfo")
    if info.exists():
        for line in info.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


if __name__ == "__main__":
    main()
