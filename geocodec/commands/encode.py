"""``geocodec encode``: co-registered optical + SAR GeoTIFFs → one compressed Zarr cube.

    geocodec encode OPTICAL.tif SAR.tif OUT.zarr (--lmbda L | --target-bpp B) [--gamma G]
                    [--device auto|cpu|cuda] [--chunk 256] [--zarr-format 3] [--refine-steps N]
                    [--stac ITEM.json]

OPTICAL/SAR may also be folders of per-band GeoTIFFs (BigEarthNet). Re-running the same
command after an interruption finishes the store, writing only the missing chunks.
"""

from __future__ import annotations

import argparse

from geocodec.options import BACKENDS, DEFAULT_BACKEND


def _band_list(s: str) -> list:
    return [int(v) if v.strip().isdigit() else v.strip() for v in s.split(",") if v.strip()]


def register(subparsers) -> None:
    p = subparsers.add_parser("encode", help="compress optical + SAR GeoTIFFs into a geocodec Zarr store",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("optical", help="optical GeoTIFF (or folder of per-band GeoTIFFs)")
    p.add_argument("sar", help="SAR GeoTIFF, σ0 in dB (or folder of per-band GeoTIFFs)")
    p.add_argument("output", help="Zarr store to write (a directory)")
    rate = p.add_mutually_exclusive_group(required=True)
    rate.add_argument("--lmbda", type=float,
                      help="rate parameter λ, inside the model's range (geocodec.load_model(NAME).lmbda_range)")
    rate.add_argument("--target-bpp", type=float, help="target joint bits per pixel (total bits / (2·H·W))")
    p.add_argument("--gamma", type=float, default=0.5, help="γ ∈ [0, 1]: 1 favours optical fidelity, 0 SAR (0.5)")
    p.add_argument("--device", default="auto", help="auto (GPU when there is one), cpu or cuda[:N]")
    p.add_argument("--chunk", type=int, default=256, help="spatial chunk size in pixels (256)")
    p.add_argument("--zarr-format", type=int, choices=(2, 3), default=3)
    p.add_argument("--model", default="default", help="registered model name or .safetensors path")
    p.add_argument("--optical-bands", type=_band_list,
                   help="comma-separated band names or 1-based indexes (e.g. 2,3,4,8); default: the model's")
    p.add_argument("--sar-bands", type=_band_list, help="as --optical-bands, for the SAR file")
    p.add_argument("--sar-scale", choices=("db", "linear"), default="db")
    p.add_argument("--optical-scale", choices=("reflectance-x10000", "reflectance", "8bit"), default=None,
                   help="what the optical numbers are (the record's PSNR peak follows it); default: guessed from "
                        "the dtype and values, with a warning where ambiguous")
    p.add_argument("--refine-steps", type=int, default=0, metavar="N",
                   help="encode-time latent refinement steps: more quality per bit, slower encoding; 0 = off")
    p.add_argument("--backend", choices=BACKENDS, default=DEFAULT_BACKEND,
                   help="what runs the encoder network: auto (default: torch-bf16 where the "
                        "CPU/GPU has bf16 units, else torch), torch (fp32 reference), torch-bf16, or ONNX Runtime on a CPU (pip install "
                        "'geocodec[fast]'): onnx (float32, same chunks to float rounding), onnx-int8 (slightly lossier)")
    p.add_argument("--scaling", choices=("cube", "chunk"), default=None,
                   help="cube: one per-band scaling for the whole cube, read back without chunk seams (default for "
                        "a new cube); chunk: each chunk its own (geocodec 0.1)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT.zarr if it holds another cube")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    from geocodec.commands.stac import parse_datetime

    p.add_argument("--stac", metavar="ITEM_JSON", help="also write the store's STAC Item (validated offline) here")
    p.add_argument("--stac-datetime", type=parse_datetime, help="acquisition time (ISO 8601) for the STAC Item")
    p.set_defaults(func=run)


def run(args) -> int:
    from geocodec.errors import InvalidInputError

    if args.stac and args.stac_datetime is None:
        raise InvalidInputError("--stac needs --stac-datetime: GeoTIFF inputs carry no acquisition time")
    from geocodec.commands import output_file, output_store
    from geocodec.io import open_pair
    from geocodec.cube.writer import to_zarr

    output_store(args.output)
    if args.stac:
        output_file(args.stac, "--stac Item", creates_folders=True)

    ds = open_pair(args.optical, args.sar, optical_bands=args.optical_bands, sar_bands=args.sar_bands,
                   model=args.model)
    try:
        r = to_zarr(ds, args.output, lmbda=args.lmbda, target_bpp=args.target_bpp, gamma=args.gamma,
                    model=args.model, chunks=args.chunk, device=args.device, zarr_format=args.zarr_format,
                    sar_scale=args.sar_scale, mode="w" if args.overwrite else "a", progress=not args.quiet,
                    scaling=args.scaling, refine_steps=args.refine_steps, backend=args.backend,
                    optical_scale=args.optical_scale)
    except InvalidInputError as e:  # the writer speaks Python (mode='w'); this command's spelling is --overwrite
        raise type(e)(str(e).replace("pass mode='w'", "pass --overwrite").replace("mode='w'", "--overwrite")) from None
    q = r.record["quality"]
    print(f"wrote {args.output}: {r.chunks_written} chunks encoded, {r.chunks_reused} already there, "
          f"{r.bytes_stored} bytes, {q['bpp']:.4f} bpp; sampled PSNR optical {q['psnr_optical']:.2f} dB "
          f"(peak {q['psnr_peak_optical']:g}, {q.get('optical_units', 'reflectance x 10000')}), "
          f"SAR {q['psnr_sar']:.2f} dB")
    if args.stac:
        from geocodec.stac import write_item_for_store

        item = write_item_for_store(args.output, args.stac, datetime=args.stac_datetime)
        print(f"wrote STAC Item {item.id!r} to {args.stac}")
    return 0
