"""``geocodec info``: what a geocodec Zarr store holds (model, settings, grid, size, quality).

    geocodec info OUT.zarr [--json]

Reads metadata only; decodes nothing and imports no torch (it answers in well under a second).
"""

from __future__ import annotations

import argparse
import json
import math


def register(subparsers) -> None:
    p = subparsers.add_parser("info", help="describe a geocodec Zarr store", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("store", help="geocodec Zarr store")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=run)


def describe(store) -> dict:
    """What ``geocodec info`` prints, as a dict: the cube's record plus its array, chunks and CRS.

    Metadata only, through ``open_cube``: nothing is decoded and torch is never imported.
    """
    from geocodec.cube import open_cube
    from geocodec.cube.store import array_dims, list_chunk_keys, stored_bytes

    cube = open_cube(store, allow_incomplete=True)
    record = cube.record.to_attrs()
    arr = cube.array
    keys = {k for k in list_chunk_keys(arr) if not k.startswith(".geocodec-")}
    stored = stored_bytes(arr, keys)
    crs = None
    if "spatial_ref" in cube.group:
        crs = dict(cube.group["spatial_ref"].attrs).get("crs_wkt")
    shards = getattr(arr, "shards", None)
    return {
        "store": str(store), "zarr_format": arr.metadata.zarr_format, "array": cube.record.array,
        "dims": list(array_dims(arr)), "shape": list(arr.shape), "chunk_shape": list(arr.chunks),
        "shard_shape": list(shards) if shards else None, "objects_stored": len(keys),
        "chunks_stored": len(cube.record.fingerprints) if shards else len(keys),
        "chunks_total": math.prod(-(-s // c) for s, c in zip(arr.shape, arr.chunks)),
        "bytes_stored": stored, "crs_wkt": crs,
        **{k: v for k, v in record.items() if k not in ("array", "fingerprints", "quality_samples")},
    }


def run(args) -> int:
    from geocodec.commands import input_store

    d = describe(input_store(args.store))
    if args.json:
        print(json.dumps(d, indent=2, default=str))
        return 0
    q = d.get("quality") or {}
    m = d["model"]
    rate = f"λ={d['lmbda']}" if d.get("lmbda") is not None else f"target {d['target_bpp']} bpp"
    lines = [
        f"{d['store']}  (Zarr v{d['zarr_format']}, {'complete' if d.get('complete') else 'INCOMPLETE'})",
        f"  array     {d['array']} {dict(zip(d['dims'], d['shape']))} float32, chunks {d['chunk_shape']}"
        + (f" in shards {d['shard_shape']}" if d["shard_shape"] else ""),
        f"  bands     optical {d['optical_bands']} ({d['optical_dtype']}), SAR {d['sar_bands']} "
        f"({d['sar_dtype']}, {d['sar_scale']})",
        f"  model     {m['name']} v{m['version']} sha256 {m['sha256'][:16]}…",
        f"  settings  {rate}, γ={d['gamma']}, nodata optical={d['optical_nodata']} SAR={d['sar_nodata']}, "
        f"scaling {d.get('scaling') or 'chunk'}"
        + (" (one per cube: read without chunk seams)" if d.get("scaling") == "cube" else " (per chunk)"),
        f"  stored    {d['chunks_stored']}/{d['chunks_total']} chunks"
        + (f" in {d['objects_stored']} shard objects" if d["shard_shape"] else "") + f", {d['bytes_stored']} bytes",
    ]
    if q:
        ms = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
        lines.append(f"  quality   {q['bpp']:.4f} bpp; PSNR optical {q['psnr_optical']:.2f} dB (peak "
                     f"{q['psnr_peak_optical']:g}, {q.get('optical_units', 'reflectance x 10000')}), SAR {q['psnr_sar']:.2f} dB (peak {q['psnr_peak_sar']:g}); "
                     f"MS-SSIM optical {ms(q['ms_ssim_optical'])}, SAR {ms(q['ms_ssim_sar'])} "
                     f"({q['sampled_chunks']} sampled chunks)")
    for a in d.get("acquisitions") or []:
        am, aq = a["model"], a.get("quality") or {}
        arate = f"λ={a['lmbda']}" if a.get("lmbda") is not None else f"target {a.get('target_bpp')} bpp"
        bpp = f", {aq['bpp']:.4f} bpp" if aq.get("bpp") is not None else ""
        lines.append(f"  {d.get('append_dim') or 'step'} {a['label']}: {arate}, γ={a['gamma']}, model {am['name']} "
                     f"v{am['version']}{bpp}{'' if a.get('complete') else ' (INCOMPLETE)'}")
    if d.get("crs_wkt"):
        lines.append(f"  crs       {d['crs_wkt'][:70]}…")
    print("\n".join(lines))
    return 0
