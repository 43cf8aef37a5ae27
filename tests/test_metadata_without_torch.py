"""Reading a cube's metadata never imports torch: `geocodec info`, opening it with the engine,
and cataloguing it (STAC) run in a fresh process with torch absent from sys.modules."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

import geocodec
from zarr_data import dataset


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("meta") / "cube.zarr"
    geocodec.to_zarr(dataset(64, 128), str(path), lmbda=0.01, chunks=64, device="cpu", progress=False)
    return path


def test_info_engine_open_and_stac_item_do_not_import_torch(store):
    script = textwrap.dedent(f"""
        import datetime as dt, io, json, sys, contextlib
        from geocodec.cli import main
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["info", {str(store)!r}, "--json"]) == 0
        d = json.loads(out.getvalue())
        assert "torch" not in sys.modules, "geocodec info imported torch"
        import xarray as xr
        ds = xr.open_dataset({str(store)!r}, engine="geocodec", chunks={{}})
        assert ds.optical.shape == (4, 64, 128)
        assert "torch" not in sys.modules, "opening a cube's metadata imported torch"
        import geocodec.stac as gstac
        item = gstac.create_item({str(store)!r}, datetime=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc))
        assert "torch" not in sys.modules, "cataloguing a cube imported torch"
        ds.sar[:, :8, :8].values  # decoding is what needs torch
        assert "torch" in sys.modules
        print(json.dumps({{"chunks": d["chunks_stored"], "model": d["model"]["name"], "item": item.id}}))
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out == {"chunks": 2, "model": "default", "item": "cube"}
