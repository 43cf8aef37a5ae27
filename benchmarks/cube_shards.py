"""Sharded vs unsharded cubes: objects stored, bytes, write time, and what a window read decodes.

    python benchmarks/cube_shards.py [--size 1024|full] [--chunk 256] [--shard 1024] [--device cpu]

Writes the Sentinel-2 scene of ``../shared/data`` (with a synthetic SAR array; a synthetic scene
when the data is absent) twice, unsharded and sharded, then reads one 100 × 100 px window through
plain Zarr and counts the chunks the codec decoded. Prints a table and writes
``benchmarks/results/cube-shards.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SCENE = Path(os.environ.get("GEOCODEC_SHARED_DATA", HERE.parents[1] / "shared" / "data")) / \
    "sentinel2-l1c-scene-10m.tif"


def scene(size: str):
    import rioxarray
    import xarray as xr

    if SCENE.exists():
        opt = rioxarray.open_rasterio(SCENE).rename(band="optical_band")
        opt = opt.assign_coords(optical_band=["B02", "B03", "B04", "B08"])
        source = "real Sentinel-2 scene + synthetic SAR"
    else:
        sys.path.insert(0, str(HERE.parent / "tests"))
        from zarr_data import dataset

        opt, source = dataset(1947, 1933, seed=9).optical, "synthetic"
    if size != "full":
        opt = opt.isel(y=slice(0, int(size)), x=slice(0, int(size)))
    h, w = opt.shape[-2:]
    yy, xx = np.meshgrid(np.linspace(0, 6, h), np.linspace(0, 6, w), indexing="ij")
    base = (np.sin(yy) * np.cos(xx)).astype(np.float32)
    sar = xr.DataArray(np.stack([-12 + 4 * base, -19 + 3 * base]), dims=("sar_band", "y", "x"),
                       coords={"sar_band": ["VV", "VH"], "y": opt.y, "x": opt.x})
    return xr.Dataset({"optical": opt, "sar": sar}).rio.write_crs(opt.rio.crs), source


def run(ds, store: Path, chunk: int, shard: int | None, device: str) -> dict:
    import zarr

    import geocodec

    t = time.perf_counter()
    r = geocodec.to_zarr(ds, str(store), lmbda=0.01, chunks=chunk, shards=shard, device=device, progress=False,
                         quality_chunks=2)
    write_s = time.perf_counter() - t
    objects = [p for p in (store / "pair").rglob("*") if p.is_file() and p.name != "zarr.json"]
    arr = zarr.open_group(store, mode="r")["pair"]
    codec = arr.metadata.codecs[0]
    codec = getattr(codec, "codecs", [codec])[0]
    before = codec.coder.decoded_chunks
    t = time.perf_counter()
    arr[:, 300:400, 300:400]
    read_s = time.perf_counter() - t
    return {"shard": shard, "chunks": r.chunks_total, "objects": len(objects),
            "bytes": sum(p.stat().st_size for p in objects), "bpp": r.record["quality"]["bpp"],
            "write_s": write_s, "window_chunks_decoded": codec.coder.decoded_chunks - before, "window_read_s": read_s}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="1024", help="crop size in px, or 'full' (1947 × 1933)")
    ap.add_argument("--chunk", type=int, default=256)
    ap.add_argument("--shard", type=int, default=1024)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=str(HERE / "results" / "cube-shards.json"))
    args = ap.parse_args()
    ds, source = scene(args.size)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for shard in (None, args.shard):
            rows.append(run(ds, Path(tmp) / f"s{shard}.zarr", args.chunk, shard, args.device))
    print(f"{source}, {ds.sizes['y']} × {ds.sizes['x']} px, chunks {args.chunk}, λ = 0.01, {args.device}")
    print(f"{'shards':>8} {'chunks':>7} {'objects':>8} {'bytes':>9} {'bpp':>6} {'write s':>8} "
          f"{'window: chunks decoded':>23} {'read s':>7}")
    for r in rows:
        print(f"{str(r['shard'] or '-'):>8} {r['chunks']:>7} {r['objects']:>8} {r['bytes']:>9} {r['bpp']:>6.3f} "
              f"{r['write_s']:>8.1f} {r['window_chunks_decoded']:>23} {r['window_read_s']:>7.2f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"source": source, "height": ds.sizes["y"], "width": ds.sizes["x"],
                                          "chunk": args.chunk, "device": args.device, "cpus": os.cpu_count(),
                                          "platform": platform.platform(), "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
