"""``geocodec info``: what a geocodec Zarr store holds (model, settings, grid, size, quality).

    geocodec info OUT.zarr [--json]

Reads metadata only; decodes nothing.
"""

from __future__ import annotations

import argparse
import json


def register(subparsers) -> None:
    p = subparsers.add_parser("info", help="describe a geocodec Zarr store", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("store", help="geocodec Zarr store")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=run)


def describe(store) -> dict:
    import zarr

    from geocodec.errors import InvalidInputError
    from geocodec.zarr_store import array_dims, list_chunk_keys, open_store, stored_bytes

    zstore, _ = open_store(store, read_only=True)
    try:
        group = zarr.open_group(zstore, mode="r")
    except Exception as e:  # noqa: BLE001
        raise InvalidInputError(f"{store} is not a readable Zarr group: {e}") from None
    record = dict(group.attrs).get("geocodec")
    if not isinstance(record, dict):
        raise InvalidInputError(f"{store} is not a geocodec store (no 'geocodec' group attrs)")
    arr = group[record["array"]]
    keys = list_chunk_keys(arr)
    stored = stored_bytes(arr, keys)
    crs = None
    if "spatial_ref" in group:
        crs = dict(group["spatial_ref"].attrs).get("crs_wkt")
    return {
        "store": str(store), "zarr_format": arr.metadata.zarr_format, "array": record["array"],
        "dims": list(array_dims(arr)), "shape": list(arr.shape), "chunk_shape": list(arr.chunks),
        "chunks_stored": len(keys), "chunks_total": int(arr.nchunks), "bytes_stored": stored,
        "crs_wkt": crs, **{k: v for k, v in record.items() if k != "array"},
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
        f"  array     {d['array']} {dict(zip(d['dims'], d['shape']))} float32, chunks {d['chunk_shape']}",
        f"  bands     optical {d['optical_bands']} ({d['optical_dtype']}), SAR {d['sar_bands']} "
        f"({d['sar_dtype']}, {d['sar_scale']})",
        f"  model     {m['name']} v{m['version']} sha256 {m['sha256'][:16]}…",
        f"  settings  {rate}, γ={d['gamma']}, nodata optical={d['optical_nodata']} SAR={d['sar_nodata']}",
        f"  stored    {d['chunks_stored']}/{d['chunks_total']} chunks, {d['bytes_stored']} bytes",
    ]
    if q:
        ms = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
        lines.append(f"  quality   {q['bpp']:.4f} bpp; PSNR optical {q['psnr_optical']:.2f} dB (peak "
                     f"{q['psnr_peak_optical']:g}), SAR {q['psnr_sar']:.2f} dB (peak {q['psnr_peak_sar']:g}); "
                     f"MS-SSIM optical {ms(q['ms_ssim_optical'])}, SAR {ms(q['ms_ssim_sar'])} "
                     f"({q['sampled_chunks']} sampled chunks)")
    if d.get("crs_wkt"):
        lines.append(f"  crs       {d['crs_wkt'][:70]}…")
    print("\n".join(lines))
    return 0
