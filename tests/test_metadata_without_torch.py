"""Metadata needs no torch: ``import geocodec``, ``geocodec.inspect`` and ``geocodec info`` run in a
fresh process without importing it (torch takes seconds to import; metadata must stay cheap)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

FIXTURE = Path(__file__).parent / "data" / "prechange" / "c64_l001_g05.geoc"


def _fresh(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GEOCODEC_THREADS")}
    e.update(env or {})
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e, timeout=300)


@pytest.fixture(scope="module")
def small_stores(tmp_path_factory):
    import geocodec
    from zarr_data import dataset

    root = tmp_path_factory.mktemp("stores")
    out = {}
    for fmt in (2, 3):
        out[fmt] = root / f"v{fmt}.zarr"
        geocodec.to_zarr(dataset(64, 64, seed=3), str(out[fmt]), lmbda=0.01, chunks=32, device="cpu",
                         progress=False, zarr_format=fmt)
    return out


@pytest.mark.parametrize("fmt", [2, 3])
def test_info_and_inspect_do_not_import_torch(small_stores, fmt):
    code = f"""
import json, sys
import geocodec
from geocodec.cli import main
assert main(["info", {str(small_stores[fmt])!r}, "--json"]) == 0
header = geocodec.inspect(open({str(FIXTURE)!r}, "rb").read())
print(json.dumps({{"torch": "torch" in sys.modules, "h": header["height"],
                   "loaded": sorted(m for m in sys.modules if m.startswith(("torch", "compressai")))[:5]}}))
"""
    r = _fresh(code)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    info = json.loads("\n".join(lines[:-1]))
    assert info["chunks_stored"] == 4 and info["model"]["name"] == "default"
    assert result["h"] == 64
    assert result["torch"] is False, f"torch was imported: {result['loaded']}"


def test_import_geocodec_is_lazy_but_complete():
    r = _fresh("import sys, geocodec; names = [getattr(geocodec, n) for n in geocodec.__all__]; "
               "print('torch' in sys.modules, all(callable(n) for n in names))")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "True"]  # the coding names resolve (and only then load torch)
    r = _fresh("import sys, geocodec; print('torch' in sys.modules)")
    assert r.stdout.split() == ["False"], r.stderr


def test_openmp_waits_passively_unless_the_user_chose():
    show = "import os, geocodec; print(os.environ.get('OMP_WAIT_POLICY'))"
    assert _fresh(show).stdout.split() == ["PASSIVE"]
    assert _fresh(show, {"OMP_WAIT_POLICY": "ACTIVE"}).stdout.split() == ["ACTIVE"]


def test_geocodec_threads_sets_torch_threads():
    code = ("import geocodec, torch; geocodec.load_model('default', device='cpu'); print(torch.get_num_threads())")
    r = _fresh(code, {"GEOCODEC_THREADS": "3", "OMP_NUM_THREADS": "1"})  # ours wins over OpenMP's default
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[-1] == "3"
    r = _fresh("import geocodec\ntry:\n    geocodec.load_model('default', device='cpu')\n"
               "except geocodec.GeocodecError as e:\n    print('refused:', e)", {"GEOCODEC_THREADS": "many"})
    assert "refused: GEOCODEC_THREADS='many'" in r.stdout, r.stdout + r.stderr


#: Modules that metadata paths import; they must stay importable without torch (import it inside the
#: functions that encode or decode instead).
TORCH_FREE = (
    "geocodec", "geocodec.errors", "geocodec.threads", "geocodec.options", "geocodec.chunk_info",
    "geocodec.bitstream", "geocodec.registry", "geocodec.cli", "geocodec.commands.info",
    "geocodec.stac",
    "geocodec.settings", "geocodec.cube", "geocodec.cube.record", "geocodec.cube.store", "geocodec.cube.chunks",
    "geocodec.cube.engine", "geocodec.cube.cache",
    "numcodecs_plugin", "numcodecs_plugin.numcodecs_codec", "numcodecs_plugin.zarr_codec",
)


def test_metadata_modules_stay_torch_free():
    code = ("import importlib, sys\n"
            f"for name in {TORCH_FREE!r}:\n"
            "    importlib.import_module(name)\n"
            "    if 'torch' in sys.modules:\n"
            "        print('torch imported by', name); break\n"
            "else:\n    print('ok')\n"
            "from geocodec.cli import build_parser\nbuild_parser()\n"
            "print('parser', 'torch' not in sys.modules)")
    r = _fresh(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["ok", "parser", "True"], r.stdout


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    import geocodec
    from zarr_data import dataset

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
