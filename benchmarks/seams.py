"""Chunk seams of a cube: chunk vs cube scaling × chunks decoded alone vs with their neighbours.

    python benchmarks/seams.py [--chunk 256] [--lmbdas 0.001,0.01,0.1] [--margins 2,4] [--cost-size 1024]

Writes the real Sen1Floods11 Spain pair of ``../shared/data`` (512², so 2 × 2 chunks of 256 px;
a smooth synthetic scene when the data is absent) with ``to_zarr(scaling="chunk")`` (geocodec
0.1) and ``scaling="cube"``, reads each back through the ``geocodec`` engine with
``seamless=False`` and ``seamless=True`` (for each neighbour margin), and reports the seam figure
(mean |Δ| of neighbouring pixels across a chunk border / elsewhere, ``geocodec.evaluation.seams``),
bpp, PSNR and the wall time of decoding both modalities from a cold latent cache. The decode cost
is also timed on a larger cube (``--cost-size`` px square of the real Sentinel-2 scene with a
synthetic SAR array, as ``benchmarks/cube_shards.py``; 4 × 4 chunks of 256 px at 1024). Prints a
table and writes ``benchmarks/results/seams.json``.
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
SPAIN = Path(os.environ.get("GEOCODEC_SHARED_DATA", HERE.parents[1] / "shared" / "data")) / "sen1floods11-spain"


def scene():
    """(ValidationPair, xarray Dataset, source) of the Spain pair, or of a synthetic scene."""
    import xarray as xr

    from geocodec.evaluation.datasets import ValidationPair, load_sen1floods11_spain

    if SPAIN.exists():
        pair, source = load_sen1floods11_spain(SPAIN)[0], "Sen1Floods11 Spain pair (real)"
    else:
        sys.path.insert(0, str(HERE.parent / "tests"))
        from conftest import smooth_pair

        opt, sar = smooth_pair(np.random.default_rng(5), 512, 512)
        pair, source = ValidationPair("synthetic", "synthetic", opt, sar), "synthetic smooth scene"
    h, w = pair.shape
    ds = xr.Dataset({"optical": (("optical_band", "y", "x"), pair.optical),
                     "sar": (("sar_band", "y", "x"), pair.sar)},
                    coords={"optical_band": ["B02", "B03", "B04", "B08"], "sar_band": ["VV", "VH"],
                            "y": np.arange(h, dtype=float)[::-1], "x": np.arange(w, dtype=float)})
    return pair, ds, source


def decode(store, seamless: bool):
    import xarray as xr

    from geocodec.cube.cache import LATENTS

    LATENTS.clear()
    t0 = time.perf_counter()
    out = xr.open_dataset(store, engine="geocodec", seamless=seamless)
    o, s = out.optical.values, out.sar.values
    return o, s, time.perf_counter() - t0


def window(store, seamless: bool, chunk: int) -> float:
    """Seconds to read a 100 px window inside the chunk at grid (1, 1), both modalities, cold cache:
    what a small read costs when its chunk's neighbours must be entropy-decoded too."""
    import xarray as xr

    from geocodec.cube.cache import LATENTS

    LATENTS.clear()
    t0 = time.perf_counter()
    out = xr.open_dataset(store, engine="geocodec", seamless=seamless)
    sel = {"y": slice(chunk + 50, chunk + 150), "x": slice(chunk + 50, chunk + 150)}
    out.optical.isel(sel).values, out.sar.isel(sel).values
    return time.perf_counter() - t0


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chunk", type=int, default=256)
    p.add_argument("--lmbdas", default="0.001,0.01,0.1")
    p.add_argument("--margins", default="2,4", help="latent rows/cols of each neighbour (seamless reads)")
    p.add_argument("--gamma", type=float, default=0.5)
    p.add_argument("--cost-size", type=int, default=1024, help="side of the decode-cost scene (0: skip)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=str(HERE / "results" / "seams.json"))
    args = p.parse_args(argv)

    import torch

    import geocodec
    from geocodec.cube import overlap
    from geocodec.evaluation.seams import _valid_float, border_gradients
    from geocodec.evaluation.sweeps import quality

    pair, ds, source = scene()
    margins = [int(m) for m in args.margins.split(",") if m]
    inp = {"optical": border_gradients(_valid_float(pair.optical, pair.optical_nodata), args.chunk),
           "sar": border_gradients(pair.sar, args.chunk)}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for lam in [float(x) for x in args.lmbdas.split(",")]:
            for scaling in ("chunk", "cube"):
                store = Path(tmp) / f"{scaling}-{lam}.zarr"
                r = geocodec.to_zarr(ds, str(store), lmbda=lam, gamma=args.gamma, chunks=args.chunk, scaling=scaling,
                                     device=args.device, progress=False, optical_nodata=pair.optical_nodata)
                bpp = 8 * r.bytes_stored / (2 * pair.shape[0] * pair.shape[1])
                for seamless, margin in [(False, 0)] + [(True, m) for m in margins]:
                    overlap.MARGIN = margin or overlap.MARGIN
                    o, s, secs = decode(store, seamless)
                    rows.append({
                        "lmbda": lam, "scaling": scaling, "seamless": seamless, "margin": margin if seamless else 0,
                        "bpp": bpp, "decode_s": secs, **quality(pair, o, s, with_ms_ssim=False),
                        "optical": border_gradients(_valid_float(o, pair.optical_nodata), args.chunk),
                        "sar": border_gradients(s, args.chunk)})
                    print(f"λ={lam:<6} scaling={scaling:5} seamless={seamless!s:5} margin={rows[-1]['margin']} "
                          f"bpp={bpp:.3f} PSNR {rows[-1]['psnr_optical']:.2f}/{rows[-1]['psnr_sar']:.2f} dB  "
                          f"seam optical {rows[-1]['optical']['ratio']:.2f}× SAR {rows[-1]['sar']['ratio']:.2f}×  "
                          f"decode {secs:.2f} s", flush=True)
    cost = []
    if args.cost_size:
        sys.path.insert(0, str(HERE))
        from cube_shards import scene as big_scene

        big, big_source = big_scene(str(args.cost_size))
        with tempfile.TemporaryDirectory() as tmp:
            store = Path(tmp) / "big.zarr"
            geocodec.to_zarr(big, str(store), lmbda=0.01, gamma=args.gamma, chunks=args.chunk, device=args.device,
                             progress=False)
            for seamless, margin in [(False, 0)] + [(True, m) for m in margins]:
                overlap.MARGIN = margin or overlap.MARGIN
                secs = min(decode(store, seamless)[2] for _ in range(2))
                win = min(window(store, seamless, args.chunk) for _ in range(2))
                cost.append({"seamless": seamless, "margin": margin, "decode_s": secs, "window_s": win})
                print(f"decode cost {big_source} {tuple(big.optical.shape[-2:])}: seamless={seamless!s:5} "
                      f"margin={margin} whole {secs:.2f} s, one 100 px window inside an interior chunk "
                      f"{win:.2f} s (best of 2, both modalities, cold cache)", flush=True)
    result = {"cost_scene": cost, "source": source, "shape": list(pair.shape), "chunk": args.chunk, "gamma": args.gamma,
              "device": args.device, "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
              "machine": platform.machine(), "input": inp, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"input seam: optical {inp['optical']['ratio']:.2f}× SAR {inp['sar']['ratio']:.2f}×  → {args.out}")
    return result


if __name__ == "__main__":
    main()
