"""Wall time of metadata-only work in a fresh process: `geocodec info`, opening a cube with the
engine, cataloguing it (STAC Item), against importing torch (what they used to pay for) and
against xarray's own backend discovery (it imports every installed engine: rioxarray, netCDF4,
xpystac, ...), which any ``xr.open_dataset`` pays.

    .venv/bin/python benchmarks/metadata.py [--repeat 3] [--out benchmarks/results/metadata.json]

Writes one small real-writer cube (synthetic 128×128 pair, 64 px chunks) to a temp folder, then
runs each task ``--repeat`` times in a fresh interpreter and reports the median wall time and
whether torch ended up in ``sys.modules``. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TASKS = {
    "import torch (baseline)": "import torch",
    "xarray backends (baseline)": "import xarray as xr; xr.backends.list_engines()",
    "geocodec info": "from geocodec.cli import main; main(['info', STORE])",
    "engine open (metadata)": "import xarray as xr; xr.open_dataset(STORE, engine='geocodec', chunks={})",
    "STAC Item (no checksum)": ("import datetime as dt, geocodec.stac as g; g.create_item(STORE, checksum=False, "
                                "datetime=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc))"),
}


def _cube(path: Path) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    import geocodec
    from zarr_data import dataset

    geocodec.to_zarr(dataset(128, 128), str(path), lmbda=0.01, chunks=64, device="cpu", progress=False)


def _run(code: str, store: Path) -> tuple[float, bool]:
    script = f"import sys, io, contextlib\nSTORE = {str(store)!r}\nwith contextlib.redirect_stdout(io.StringIO()):\n" \
             f"    {code}\nprint('torch' in sys.modules)"
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return time.perf_counter() - t0, r.stdout.strip().splitlines()[-1] == "True"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "metadata.json"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "cube.zarr"
        _cube(store)
        rows = []
        for name, code in TASKS.items():
            times, torch_loaded = [], False
            for _ in range(args.repeat):
                t, torch_loaded = _run(code, store)
                times.append(t)
            rows.append({"task": name, "median_s": round(statistics.median(times), 3),
                         "runs_s": [round(t, 3) for t in times], "torch_imported": torch_loaded})
    print(f"{'task':28s} {'median s':>9s}  torch imported")
    for r in rows:
        print(f"{r['task']:28s} {r['median_s']:9.3f}  {r['torch_imported']}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"repeat": args.repeat, "python": sys.version.split()[0], "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
