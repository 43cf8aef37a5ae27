"""What a chunk size costs: bits per pixel of one scene written with ``to_zarr(chunks=...)``.

    python benchmarks/chunk_sizes.py [--sizes 16,32,64,96,100,128,192,208,240,256] [--lmbda 0.01]

Writes the real Sen1Floods11 Spain pair of ``../shared/data`` (512²) once per chunk size and
reports bpp and its cost against the best multiple of the model's ``pad_multiple``. Sizes that
are not multiples are padded up before coding and pay for the padding; very small ones pay the
chunk header and the padding many times (geocodec refuses sizes under ``MIN_CHUNK`` and warns
for the others: ``geocodec.cube.chunk_size``). Prints a table and writes
``benchmarks/results/chunk-sizes.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("GEOCODEC_SHARED_DATA", HERE.parents[1] / "shared" / "data"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="16,32,64,96,100,128,192,208,240,256")
    ap.add_argument("--lmbda", type=float, default=0.01)
    ap.add_argument("--out", default=str(HERE / "results" / "chunk-sizes.json"))
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))
    from seams import scene  # the Spain pair as a Dataset (synthetic when the data is absent)

    import geocodec
    from geocodec.cube import chunk_size
    from geocodec.errors import ChunkSizeWarning

    pair, ds, source = scene()
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        t = time.perf_counter()
        if size < chunk_size.MIN_CHUNK:  # refused by to_zarr: the chunks alone, coded tile by tile
            h, w = pair.shape
            tiles = [(pair.optical[:, y:y + size, x:x + size], pair.sar[:, y:y + size, x:x + size])
                     for y in range(0, h, size) for x in range(0, w, size)]
            n = sum(len(c) for i in range(0, len(tiles), 64) for c in geocodec.compress_batch(
                tiles[i:i + 64], lmbda=args.lmbda, optical_nodata=pair.optical_nodata, device="cpu"))
            row = {"chunks": size, "bpp": 8 * n / (2 * h * w), "bytes": n, "how": "compress_batch per tile"}
        else:
            with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
                warnings.simplefilter("ignore", ChunkSizeWarning)
                r = geocodec.to_zarr(ds, Path(tmp) / "c.zarr", lmbda=args.lmbda, chunks=size, device="cpu",
                                     progress=False, optical_nodata=pair.optical_nodata, quality_chunks=1)
            row = {"chunks": size, "bpp": r.record["quality"]["bpp"], "bytes": r.bytes_stored, "how": "to_zarr"}
        rows.append({**row, "seconds": round(time.perf_counter() - t, 1)})
        print(f"chunks={size}: {rows[-1]['bpp']:.3f} bpp", flush=True)
    best = min(r["bpp"] for r in rows if r["chunks"] % 64 == 0)
    for r in rows:
        r["cost_vs_best_multiple_pct"] = round(100 * (r["bpp"] / best - 1), 1)
    report = {"source": source, "lmbda": args.lmbda, "shape": list(pair.shape), "rows": rows}
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(f"\n{'chunks':>7} {'bpp':>8} {'cost':>8}")
    for r in rows:
        print(f"{r['chunks']:>7} {r['bpp']:>8.3f} {r['cost_vs_best_multiple_pct']:>+7.1f}%")


if __name__ == "__main__":
    main()
