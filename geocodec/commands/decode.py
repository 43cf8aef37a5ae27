"""``geocodec decode``: one modality of a geocodec Zarr store → a GeoTIFF with the store's CRS/transform.

    geocodec decode OUT.zarr --modality sar -o sar.tif [--isel time=0] [--device cpu]

Only the requested modality's decoder runs. ``--modality both`` writes ``<stem>_optical.tif``
and ``<stem>_sar.tif``. Decoding streams chunk by chunk (bounded memory).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from geocodec.errors import InvalidInputError
from geocodec.options import BACKENDS, DEFAULT_BACKEND


def _isel(s: str) -> tuple[str, int]:
    dim, _, idx = s.partition("=")
    try:
        return dim.strip(), int(idx)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--isel wants DIM=INDEX, got {s!r}") from None


def register(subparsers) -> None:
    p = subparsers.add_parser("decode", help="decode one modality of a geocodec Zarr store to a GeoTIFF",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("store", help="geocodec Zarr store")
    p.add_argument("--modality", choices=("optical", "sar", "both"), required=True)
    p.add_argument("-o", "--output", required=True, help="GeoTIFF to write")
    p.add_argument("--isel", type=_isel, action="append", default=[], metavar="DIM=INDEX",
                   help="pick one index of a leading dim (e.g. time=0); repeatable")
    p.add_argument("--device", default=None, help="auto, cpu or cuda[:N] (default: $GEOCODEC_DEVICE or auto)")
    p.add_argument("--backend", choices=BACKENDS, default=DEFAULT_BACKEND,
                   help="what runs the decoders: auto (default: torch-bf16 where the "
                        "CPU/GPU has bf16 units, else torch), torch (fp32 reference), torch-bf16, or ONNX Runtime on a CPU (pip install "
                        "'geocodec[fast]'): onnx (float32), onnx-int8 (slightly lossier)")
    p.set_defaults(func=run)


def run(args) -> int:
    import xarray as xr

    from geocodec.commands import input_store, output_file
    from geocodec.io import write_geotiff

    input_store(args.store)
    output_file(args.output)
    ds = xr.open_dataset(args.store, engine="geocodec", chunks={}, device=args.device, backend=args.backend)
    sel = dict(args.isel)
    unknown = set(sel) - set(ds.dims)
    if unknown:
        raise InvalidInputError(f"--isel: the store has no dim {sorted(unknown)} (dims: {list(ds.dims)})")
    for dim, i in sel.items():
        if not -ds.sizes[dim] <= i < ds.sizes[dim]:
            raise InvalidInputError(f"--isel {dim}={i} is out of range: the store has {ds.sizes[dim]} {dim} values, "
                                    f"indexes 0 to {ds.sizes[dim] - 1} (or -{ds.sizes[dim]} to -1 from the end)")
    out = Path(args.output)
    targets = [args.modality] if args.modality != "both" else ["optical", "sar"]
    for which in targets:
        da = ds[which].isel(sel) if sel else ds[which]
        lead = [d for d in da.dims[:-3]]
        if lead:
            raise InvalidInputError(f"the store has leading dims {lead}: pick one index each with --isel "
                                    f"(e.g. --isel {lead[0]}=0)")
        path = out if len(targets) == 1 else out.with_name(f"{out.stem}_{which}{out.suffix or '.tif'}")
        write_geotiff(da, path)
        print(f"wrote {which} ({', '.join(map(str, da[da.dims[0]].values))}) to {path}")
    return 0
