"""Cost of batch-invariant decoding: each chunk decoded on its own vs one device batch.

    .venv/bin/python benchmarks/decode_determinism.py [--device cpu|cuda] [--items 8] [--tile 256]
        [--repeat 2] [--out benchmarks/results/decode-determinism-cpu.json]

geocodec decodes chunk by chunk (``codec.entropy_decode`` / ``codec.synthesize``) so that a chunk
decodes to the same bytes whatever batch it arrives in (docs/reliability.md). This script
measures what that costs against decoding the same chunks as one batch through the network (the
way v0.1 decoded them), and how many decoded samples the batched way changes, i.e. why.

Data: the real pair ../shared/data/sen1floods11-spain (or ``--data``), cut into ``tile``×``tile``
tiles, cycled to ``--items`` chunks. Prints a table and writes JSON. Timings on a shared machine
are noisy: take the best of ``--repeat`` runs, and rerun.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("GEOCODEC_SHARED_DATA", ROOT.parent / "shared" / "data")) / "sen1floods11-spain"


def load_tiles(folder: Path, tile: int):
    from geocodec.io import open_pair

    ds = open_pair(folder / "S2.tif", folder / "S1.tif").load()
    opt, sar = ds.optical.values, ds.sar.values
    h, w = opt.shape[1:]
    return [(opt[:, y:y + tile, x:x + tile].copy(), sar[:, y:y + tile, x:x + tile].copy())
            for y in range(0, h - tile + 1, tile) for x in range(0, w - tile + 1, tile)]


def decode_as_one_batch(chunks, device):
    """The batched decode: one entropy-decoding batch and one synthesis batch per modality."""
    import torch

    from geocodec import bitstream
    from geocodec.codec import load_model, restore
    from geocodec.model.entropy import LatentStreams

    parsed = [bitstream.unpack(c) for c in chunks]
    m = load_model("default", device)
    lam = torch.tensor([c.lmbda for c in parsed], dtype=torch.float32, device=m.device)
    streams = [LatentStreams(z=c.z, y=c.y, checks=c.checks) for c in parsed]
    with torch.no_grad():
        y = m.net.decoder_input(m.net.decompress_latent(
            streams, m.net.latent_hw(parsed[0].height, parsed[0].width), lam, [c.header_crc for c in parsed]), lam)
        outs = {w: m.net.synthesize(y, w).float().cpu().numpy() for w in ("optical", "sar")}
    return [tuple(restore(outs[w][j, :, :c.height, :c.width], c, w) for w in ("optical", "sar"))
            for j, c in enumerate(parsed)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--items", type=int, default=8)
    ap.add_argument("--tile", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    import torch

    import geocodec
    from geocodec.codec import decompress_batch

    tiles = load_tiles(args.data, args.tile)
    pairs = [tiles[k % len(tiles)] for k in range(args.items)]
    chunks = geocodec.compress_batch(pairs, lmbda=0.01, device=args.device)

    def timed(fn):
        best, out = float("inf"), None
        for _ in range(args.repeat):
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            t = time.perf_counter()
            out = fn()
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t)
        return best, out

    decompress_batch(chunks[:1], device=args.device)  # warm-up
    t_batch, batched = timed(lambda: decode_as_one_batch(chunks, args.device))
    t_chunk, per_chunk = timed(lambda: decompress_batch(chunks, device=args.device))
    alone = [geocodec.decompress(c, device=args.device) for c in chunks[:2]]
    same_alone = all(np.array_equal(a[i], b[i], equal_nan=True) for a, b in zip(alone, per_chunk) for i in (0, 1))
    diff = {w: int(sum((~((a[i] == b[i]) | (np.isnan(a[i].astype(float)) & np.isnan(b[i].astype(float))))).sum()
                        for a, b in zip(per_chunk, batched)))
            for i, w in enumerate(("optical", "sar"))}
    total = {w: int(sum(p[i].size for p in per_chunk)) for i, w in enumerate(("optical", "sar"))}
    result = {
        "device": str(geocodec.load_model("default", args.device).device),
        "cpu": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads(),
        "items": args.items, "tile": args.tile, "repeat": args.repeat,
        "ms_per_chunk_per_chunk_decode": 1000 * t_chunk / args.items,
        "ms_per_chunk_one_batch": 1000 * t_batch / args.items,
        "overhead": t_chunk / t_batch - 1.0,
        "samples_differing_batched_vs_per_chunk": diff, "samples_total": total,
        "per_chunk_equals_decoding_alone": bool(same_alone),
        "command": "benchmarks/decode_determinism.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    print(f"{'decode':<28}{'ms / chunk':>12}")
    print(f"{'per chunk (deterministic)':<28}{result['ms_per_chunk_per_chunk_decode']:>12.1f}")
    print(f"{'one batch of ' + str(args.items):<28}{result['ms_per_chunk_one_batch']:>12.1f}")
    print(f"overhead of per-chunk decoding: {100 * result['overhead']:+.1f} %")
    print(f"samples the batched decode changes: optical {diff['optical']} / {total['optical']}, "
          f"SAR {diff['sar']} / {total['sar']}; per-chunk equals decoding alone: {same_alone}")
    out = args.out or ROOT / "benchmarks" / "results" / f"decode-determinism-{result['device'].split(':')[0]}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
