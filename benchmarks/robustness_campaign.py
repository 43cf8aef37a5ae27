"""Fuzzing campaign behind the figures of docs/reliability.md (tests/test_robustness.py runs a
small, fixed subset of it on every CI run).

    .venv/bin/python benchmarks/robustness_campaign.py [--trials 400] [--seed 0]
        [--out benchmarks/results/robustness.json]

Chunks: three 64×64 synthetic pairs (plain; NaN + SAR nodata masks; target-bitrate mode) and,
when ../shared/data is there, one 128×128 tile of the real Sen1Floods11 pair. For each chunk:
``--trials`` damaged copies *without* a valid CRC (1–3 bit flips, truncations, random tails) and
``--trials`` single-bit flips *with* the CRC recomputed (as a writer bug would leave them), so the
inner checks are reached. Every outcome is a documented error, exactly the clean result, or
"silent" (decoded to something else without an error: must be 0). Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import time
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
DATA = Path(os.environ.get("GEOCODEC_SHARED_DATA", ROOT.parent / "shared" / "data"))


def chunks_to_fuzz():
    import geocodec
    from conftest import smooth_pair

    rng = np.random.default_rng(0)
    o, s = smooth_pair(rng, 64, 64)
    out = {"synthetic plain": geocodec.compress(o, s, lmbda=0.01, device="cpu")}
    s2 = s.copy()
    s2[0, :4, :] = np.nan
    s2[1, 10:20, 30:40] = -9999.0
    out["synthetic NaN + nodata"] = geocodec.compress(o, s2, lmbda=0.003, gamma=0.2, sar_nodata=-9999, device="cpu")
    out["synthetic target bpp"] = geocodec.compress(o, s, target_bpp=0.8, device="cpu")
    folder = DATA / "sen1floods11-spain"
    if folder.is_dir():
        from geocodec.io import open_pair

        ds = open_pair(folder / "S2.tif", folder / "S1.tif").isel(y=slice(128, 256), x=slice(256, 384)).load()
        out["real Sen1Floods11 128 px"] = geocodec.compress(ds.optical.values, ds.sar.values, lmbda=0.01,
                                                            optical_nodata=0, device="cpu")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "robustness.json")
    args = ap.parse_args(argv)

    import geocodec
    from geocodec.errors import GeocodecError

    rng = np.random.default_rng(args.seed)
    rows = []
    t0 = time.perf_counter()
    for name, chunk in chunks_to_fuzz().items():
        clean = geocodec.decompress(chunk, device="cpu")
        for mode in ("no valid CRC", "CRC recomputed"):
            res = {"chunk": name, "bytes": len(chunk), "mode": mode, "trials": 0, "errors": {}, "exact": 0,
                   "silent": 0, "other_exceptions": 0}
            for _ in range(args.trials):
                if mode == "no valid CRC":
                    kind = rng.integers(3)
                    if kind == 0:
                        bad = bytearray(chunk)
                        for pos in rng.integers(0, len(chunk), rng.integers(1, 4)):
                            bad[pos] ^= 1 << int(rng.integers(8))
                    elif kind == 1:
                        bad = bytearray(chunk[:int(rng.integers(0, len(chunk)))])
                    else:
                        cut = int(rng.integers(0, len(chunk)))
                        bad = bytearray(chunk[:cut] + rng.integers(0, 256, len(chunk) - cut).astype(np.uint8).tobytes())
                else:
                    body = bytearray(chunk[:-4])
                    body[int(rng.integers(0, len(body)))] ^= 1 << int(rng.integers(8))
                    bad = body + struct.pack("<I", zlib.crc32(bytes(body)))
                if bytes(bad) == chunk:
                    continue
                res["trials"] += 1
                try:
                    out = geocodec.decompress(bytes(bad), device="cpu")
                except GeocodecError as e:
                    res["errors"][type(e).__name__] = res["errors"].get(type(e).__name__, 0) + 1
                    continue
                except Exception:  # noqa: BLE001 - counted: must be 0
                    res["other_exceptions"] += 1
                    continue
                same = all(np.array_equal(a, b, equal_nan=True) and a.dtype == b.dtype for a, b in zip(out, clean))
                res["exact" if same else "silent"] += 1
            rows.append(res)
    total = {k: sum(r[k] for r in rows) for k in ("trials", "exact", "silent", "other_exceptions")}
    total["clean_errors"] = sum(sum(r["errors"].values()) for r in rows)
    print(f"{'chunk':<28}{'mode':<16}{'trials':>7}{'errors':>8}{'exact':>7}{'silent':>7}{'other':>7}")
    for r in rows:
        print(f"{r['chunk']:<28}{r['mode']:<16}{r['trials']:>7}{sum(r['errors'].values()):>8}{r['exact']:>7}"
              f"{r['silent']:>7}{r['other_exceptions']:>7}   {r['errors']}")
    print(f"total: {total}  ({time.perf_counter() - t0:.0f} s)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows, "total": total, "seed": args.seed, "trials_per_mode": args.trials,
                                    "command": "benchmarks/robustness_campaign.py "
                                               + " ".join(argv if argv is not None else sys.argv[1:])}, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
