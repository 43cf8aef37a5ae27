"""Peak memory of a many-chunk ``to_zarr`` write vs scene size: it must not grow with the scene.

    .venv/bin/python benchmarks/memory.py [--sizes 512,1024,full] [--chunk 256] [--device cpu]
        [--workers N] [--out benchmarks/results/memory.json]

Optical: the real Sentinel-2 L1C scene ../shared/data/sentinel2-l1c-scene-10m.tif (1947×1933,
B02/B03/B04/B08 uint16), read lazily (rioxarray + Dask) and cropped to each size. SAR: a
synthetic σ0 array on the same grid (not a real pair; a smooth field plus 4-look speckle, in
dB), generated block by block. Each size is written in a fresh process, which reports its
peak RSS (``ru_maxrss``) before writing (Python + torch + model loaded) and after. The working
set is one block of ``batch_chunks`` chunks (source, joint block, encoder activations) per Dask
worker thread, so peak memory scales with ``--workers`` × batch, not with the scene.

Each size runs twice: with glibc's default allocator settings, and with
``MALLOC_MMAP_THRESHOLD_=1048576``. By default glibc raises its mmap threshold after large frees,
so later activations come from the heap and freed pages stay resident: RSS then creeps up over a
long write although the per-task working set is constant (the writer calls ``malloc_trim`` after
each task, which limits this). A fixed threshold returns large blocks to the OS at once and
shows the true, flat working set. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENE = ROOT.parent / "shared" / "data" / "sentinel2-l1c-scene-10m.tif"


def synthetic_sar(optical, seed: int = 0):
    """σ0 in dB on ``optical``'s grid and Dask chunks: smooth field + speckle, block by block."""
    import dask.array as da
    import numpy as np

    def block(block_info=None):
        (y0, y1), (x0, x1) = block_info[None]["array-location"][1:]
        yy, xx = np.mgrid[y0:y1, x0:x1]
        field = np.sin(yy / 60.0) + np.cos(xx / 45.0) + 0.5 * np.sin((xx + yy) / 13.0)
        rng = np.random.default_rng([seed, y0, x0])
        speckle = 10 * np.log10(rng.gamma(4.0, 1 / 4.0, (2, y1 - y0, x1 - x0)))
        return np.stack([-11 + 3 * field, -18 + 2.5 * field]).astype(np.float32) + speckle.astype(np.float32)

    chunks = ((2,), optical.data.chunks[1], optical.data.chunks[2])
    return da.map_blocks(block, dtype=np.float32, chunks=chunks)


def child(size: str, chunk: int, device: str, store: str, workers: int) -> dict:
    import dask
    import rioxarray
    import xarray as xr

    import geocodec

    geocodec.load_model("default", device)
    rss_ready = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    opt = rioxarray.open_rasterio(SCENE, chunks={"band": -1, "y": 1024, "x": 1024}, lock=False)
    if size != "full":
        n = int(size)
        opt = opt.isel(y=slice(0, n), x=slice(0, n))  # a crop: same grid, fewer chunks
    opt = opt.rename(band="optical_band").assign_coords(optical_band=["B02", "B03", "B04", "B08"])
    sar = xr.DataArray(synthetic_sar(opt), dims=("sar_band", "y", "x"),
                       coords={"sar_band": ["VV", "VH"], "y": opt.y, "x": opt.x})
    ds = xr.Dataset({"optical": opt, "sar": sar})
    t = time.perf_counter()
    with dask.config.set(num_workers=workers):
        r = geocodec.to_zarr(ds, store, lmbda=0.01, chunks=chunk, device=device, progress=False)
    dt = time.perf_counter() - t
    h, w = opt.shape[1:]
    return {"size": size, "workers": workers, "height": h, "width": w, "chunks": r.chunks_total, "seconds": dt,
            "megapixels_per_s": h * w / 1e6 / dt, "bytes_stored": r.bytes_stored, "bpp": r.record["quality"]["bpp"],
            "rss_before_write_mib": rss_ready,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "joint_array_mib": h * w * 6 * 4 / 2**20}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="512,1024,full")
    ap.add_argument("--chunk", type=int, default=256)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--workers", type=int, default=2, help="Dask worker threads (default 2)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "memory.json"))
    ap.add_argument("--child", nargs=2, metavar=("SIZE", "STORE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], args.chunk, args.device, args.child[1], args.workers)))
        return 0
    if not SCENE.exists():
        print(f"needs {SCENE}", file=sys.stderr)
        return 2
    rows = []
    allocators = {"glibc default": {}, "MALLOC_MMAP_THRESHOLD_=1048576": {"MALLOC_MMAP_THRESHOLD_": "1048576"}}
    with tempfile.TemporaryDirectory(prefix="geocodec-mem-") as tmp:
        for size in args.sizes.split(","):
            for alloc, env in allocators.items():
                p = subprocess.run([sys.executable, __file__, "--chunk", str(args.chunk), "--device", args.device,
                                    "--workers", str(args.workers), "--child", size, f"{tmp}/{size}-{len(env)}.zarr"],
                                   capture_output=True, text=True, env={**os.environ, **env})
                if p.returncode:
                    print(p.stderr[-3000:], file=sys.stderr)
                    return 1
                rows.append({**json.loads(p.stdout.strip().splitlines()[-1]), "allocator": alloc})
                r = rows[-1]
                print(f"{r['height']}×{r['width']} ({alloc}): {r['chunks']} chunks, peak RSS {r['peak_rss_mib']:.0f} "
                      f"MiB (before writing {r['rss_before_write_mib']:.0f}), {r['seconds']:.0f} s", flush=True)
    print("\n| scene | allocator | chunks | joint array MiB | RSS before write MiB | peak RSS MiB | growth MiB | MP/s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['height']}×{r['width']} | {r['allocator']} | {r['chunks']} | {r['joint_array_mib']:.1f} | "
              f"{r['rss_before_write_mib']:.0f} | {r['peak_rss_mib']:.0f} | "
              f"{r['peak_rss_mib'] - r['rss_before_write_mib']:.0f} | {r['megapixels_per_s']:.3f} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    command = "benchmarks/memory.py " + " ".join(argv if argv is not None else sys.argv[1:])
    out.write_text(json.dumps({"command": command,
                               "scene": SCENE.name, "sar": "synthetic (not a real pair)", "chunk": args.chunk,
                               "device": args.device, "workers": args.workers, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
