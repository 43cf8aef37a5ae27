"""Encode/decode throughput of geocodec vs Zstd (lossless) and JPEG 2000, CPU and (when lent) GPU.

    .venv/bin/python benchmarks/throughput.py [--device auto|cpu|cuda|all] [--batch-sizes 1,4,8]
        [--items 8] [--tile 256] [--out benchmarks/results/throughput-cpu.json]

Data: the real Sentinel-1/2 pair ../shared/data/sen1floods11-spain (512×512, S2 bands B02, B03,
B04, B08 int16; S1 VV, VH float32 dB with NaN) cut into ``tile``×``tile`` pairs; ``--items``
pairs per measurement (the tiles are cycled). Throughput is in megapixels of *pairs* per second
(one pixel = all 6 bands of one location). For each batch size: encode (``compress_batch``),
decode of both modalities, of optical only, of SAR only (``decompress_batch``), and the split
of a decode into entropy decoding and per-modality synthesis. Baselines on the same tiles:
Zstd (numcodecs, lossless, level 5) and JPEG 2000 (OpenJPEG via glymur, 9/7 irreversible, at
geocodec's measured bits per sample). Peak memory: the process's peak RSS (and peak CUDA memory
on a GPU). Prints a table and writes JSON. Timings on a shared machine are noisy: rerun.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data" / "sen1floods11-spain"


def load_tiles(tile: int):
    from geocodec.io import open_pair

    ds = open_pair(DATA / "S2.tif", DATA / "S1.tif").load()
    opt, sar = ds.optical.values, ds.sar.values
    h, w = opt.shape[1:]
    return [(opt[:, y:y + tile, x:x + tile].copy(), sar[:, y:y + tile, x:x + tile].copy())
            for y in range(0, h - tile + 1, tile) for x in range(0, w - tile + 1, tile)]


def _timed(fn, repeat: int = 1):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def _sync(device):
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def bench_geocodec(pairs, device: str, batch_sizes, lmbda: float, repeat: int) -> list[dict]:
    import torch

    from geocodec.codec import compress_batch, decompress_batch, entropy_decode, synthesize
    from geocodec.registry import load_model

    m = load_model("default", device)
    mp = sum(o.shape[1] * o.shape[2] for o, _ in pairs) / 1e6
    compress_batch(pairs[:1], lmbda=lmbda, model=m, device=device)  # warm-up (kernels, caches)
    rows = []
    for bs in batch_sizes:
        if str(device).startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()

        def enc():
            out = compress_batch(pairs, lmbda=lmbda, model=m, device=device, batch_size=bs)
            _sync(device)
            return out

        t_enc, coded = _timed(enc, repeat)
        bpp = float(np.mean([8 * len(c) / (2 * o.shape[1] * o.shape[2]) for c, (o, _) in zip(coded, pairs)]))
        row = {"codec": "geocodec", "device": str(device), "batch_size": bs, "items": len(pairs),
               "megapixels": mp, "bpp": bpp, "encode_mp_s": mp / t_enc}
        for modality in ("both", "optical", "sar"):
            def dec(modality=modality):
                out = []
                for i in range(0, len(coded), bs):
                    out += decompress_batch(coded[i:i + bs], modality, device=device, model=m)
                _sync(device)
                return out

            t_dec, _ = _timed(dec, repeat)
            row[f"decode_{modality}_mp_s"] = mp / t_dec
        # where decoding time goes: entropy decoding (shared) vs synthesis (per modality)
        t_ent, lat = _timed(lambda: [x for i in range(0, len(coded), bs)
                                     for x in entropy_decode(coded[i:i + bs], device=device, model=m)], repeat)
        for modality in ("optical", "sar"):
            t_syn, _ = _timed(lambda modality=modality: [synthesize(lat[i:i + bs], modality)
                                                         for i in range(0, len(lat), bs)], repeat)
            row[f"synthesize_{modality}_s"] = t_syn
        row["entropy_decode_s"] = t_ent
        if str(device).startswith("cuda"):
            row["peak_cuda_mib"] = torch.cuda.max_memory_allocated() / 2**20
        rows.append(row)
        print(f"  geocodec {device} batch {bs}: encode {row['encode_mp_s']:.3f} MP/s, decode both "
              f"{row['decode_both_mp_s']:.3f}, SAR only {row['decode_sar_mp_s']:.3f} MP/s", flush=True)
    return rows


def bench_zstd(pairs, repeat: int) -> dict:
    from numcodecs import Zstd

    z = Zstd(level=5)
    mp = sum(o.shape[1] * o.shape[2] for o, _ in pairs) / 1e6
    t_enc, coded = _timed(lambda: [(z.encode(np.ascontiguousarray(o)), z.encode(np.ascontiguousarray(s)))
                                   for o, s in pairs], repeat)
    t_dec, _ = _timed(lambda: [(z.decode(a), z.decode(b)) for a, b in coded], repeat)
    nbytes = sum(len(a) + len(b) for a, b in coded)
    return {"codec": "zstd-5 (lossless)", "device": "cpu", "batch_size": 1, "items": len(pairs), "megapixels": mp,
            "bpp": 8 * nbytes / (2 * mp * 1e6), "encode_mp_s": mp / t_enc, "decode_both_mp_s": mp / t_dec}


def bench_jpeg2000(pairs, bits_per_sample: float, repeat: int) -> dict | None:
    from geocodec.evaluation.baselines import jpeg2000 as j2k

    if not j2k.available():
        print("  JPEG 2000 skipped: glymur/OpenJPEG not available", flush=True)
        return None
    import glymur

    mp = sum(o.shape[1] * o.shape[2] for o, _ in pairs) / 1e6
    ratio = j2k.BITS_PER_SAMPLE / bits_per_sample
    u16 = []
    for o, s in pairs:
        filled = np.where(np.isnan(s), np.nanmean(s, axis=(1, 2), keepdims=True), s)
        u16.append((np.clip(o.astype(np.int64), 0, j2k.U16_MAX).astype(np.uint16), j2k.SarMapping.to_u16(filled)))
    with tempfile.TemporaryDirectory(prefix="geocodec-bench-j2k-") as tmp:
        def enc():
            paths = []
            for k, (o, s) in enumerate(u16):
                for name, a in (("o", o), ("s", s)):
                    p = Path(tmp) / f"{k}{name}.j2k"
                    glymur.Jp2k(str(p), data=np.ascontiguousarray(np.moveaxis(a, 0, -1)), cratios=[ratio],
                                irreversible=True, mct=False, numres=6)
                    paths.append(p)
            return paths

        t_enc, paths = _timed(enc, repeat)
        nbytes = sum(p.stat().st_size for p in paths)
        t_dec, _ = _timed(lambda: [glymur.Jp2k(str(p))[:] for p in paths], repeat)
        t_sar, _ = _timed(lambda: [glymur.Jp2k(str(p))[:] for p in paths if p.name.endswith("s.j2k")], repeat)
    return {"codec": f"jpeg2000 ({bits_per_sample:.3f} bit/sample)", "device": "cpu", "batch_size": 1,
            "items": len(pairs), "megapixels": mp, "bpp": 8 * nbytes / (2 * mp * 1e6), "encode_mp_s": mp / t_enc,
            "decode_both_mp_s": mp / t_dec, "decode_sar_mp_s": mp / t_sar}


def main(argv=None) -> int:
    import torch

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto", help="auto (cpu, plus cuda when there is one), cpu, cuda, all")
    ap.add_argument("--batch-sizes", default="1,4,8")
    ap.add_argument("--items", type=int, default=8)
    ap.add_argument("--tile", type=int, default=256)
    ap.add_argument("--lmbda", type=float, default=0.01)
    ap.add_argument("--repeat", type=int, default=1, help="best of N runs")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/throughput-<devices>.json)")
    args = ap.parse_args(argv)
    if not DATA.exists():
        print(f"needs the real pair in {DATA}", file=sys.stderr)
        return 2
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else []) if args.device in ("auto", "all") \
        else [args.device]
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    tiles = load_tiles(args.tile)
    pairs = [tiles[i % len(tiles)] for i in range(args.items)]
    print(f"{len(pairs)} pairs of {args.tile}×{args.tile} from {DATA.name}; torch threads "
          f"{torch.get_num_threads()}; devices {devices}", flush=True)
    rows = []
    for d in devices:
        rows += bench_geocodec(pairs, d, batch_sizes, args.lmbda, args.repeat)
    rows.append(bench_zstd(pairs, args.repeat))
    bpp = float(np.mean([r["bpp"] for r in rows if r["codec"] == "geocodec"]))
    n_bands = pairs[0][0].shape[0] + pairs[0][1].shape[0]
    j = bench_jpeg2000(pairs, bpp * 2 / n_bands, args.repeat)  # joint bpp = bits / (2·H·W); 6 samples per px
    if j:
        j["note"] = "rate matched to geocodec's mean joint bpp"
        rows.append(j)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    cols = ("codec", "device", "batch_size", "bpp", "encode_mp_s", "decode_both_mp_s", "decode_optical_mp_s",
            "decode_sar_mp_s")
    print("\n| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        cells = [f"{r[c]:.3f}" if isinstance(r.get(c), float) else str(r.get(c, "—")) for c in cols]
        print("| " + " | ".join(cells) + " |")
    print(f"\npeak RSS of this process: {peak_rss:.0f} MiB")
    split = [r for r in rows if "entropy_decode_s" in r]
    for r in split:
        print(f"decode split ({r['device']}, batch {r['batch_size']}): entropy {r['entropy_decode_s']:.2f} s, "
              f"synthesis optical {r['synthesize_optical_s']:.2f} s, SAR {r['synthesize_sar_s']:.2f} s")
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / f"throughput-{'-'.join(devices)}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "command": "benchmarks/throughput.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "data": f"{DATA.name}: {len(pairs)} pairs of {args.tile}x{args.tile} (real S1/S2)",
        "machine": {"platform": platform.platform(), "cpu_threads": torch.get_num_threads(),
                    "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None},
        "lmbda": args.lmbda, "peak_rss_mib": peak_rss, "rows": rows,
    }, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
