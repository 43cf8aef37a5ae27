"""Fresh processes, entry points only: v2 and v3 stores written and read with no manual registration."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np

import geocodec
from zarr_data import dataset

WRITE = textwrap.dedent("""
    import sys, json, numpy as np, zarr, numcodecs
    assert "numcodecs_plugin" not in sys.modules and "geocodec" not in sys.modules
    out = sys.argv[1]
    src = np.load(out + "/src.npy")
    v2 = zarr.create_array(out + "/v2.zarr", shape=src.shape, chunks=(1, 6, 64, 64), dtype="float32",
                           fill_value=np.nan, zarr_format=2, filters=None,
                           compressors=[numcodecs.get_codec({"id": "geocodec", "lmbda": 0.01})])
    v3 = zarr.create_array(out + "/v3.zarr", shape=src.shape, chunks=(1, 6, 64, 64), dtype="float32",
                           fill_value=np.nan, compressors=None,
                           serializer={"name": "geocodec", "configuration": {"lmbda": 0.01, "gamma": 0.4}})
    v2[:] = src
    v3[:] = src
    np.save(out + "/v2_dec.npy", v2[:])
    np.save(out + "/v3_dec.npy", v3[:])
    print(json.dumps({"v2": type(v2.compressors[0]).__name__, "v3": type(v3.serializer).__name__}))
""")

READ = textwrap.dedent("""
    import sys, json, numpy as np, zarr
    assert "numcodecs_plugin" not in sys.modules and "geocodec" not in sys.modules
    out = sys.argv[1]
    res = {}
    for fmt in ("v2", "v3"):
        a = zarr.open_array(out + f"/{fmt}.zarr", mode="r")
        dec = a[:]
        ref = np.load(out + f"/{fmt}_dec.npy")
        res[fmt] = [bool(np.array_equal(np.isnan(dec), np.isnan(ref))), float(np.nanmax(np.abs(dec - ref)))]
    import xarray as xr
    ds = xr.open_dataset(out + "/cube.zarr", engine="geocodec", chunks={})
    res["engine"] = [list(ds.data_vars), str(ds.optical.dtype), float(ds.sar.mean())]
    res["open_zarr"] = list(xr.open_zarr(out + "/cube.zarr").pair.shape)
    print(json.dumps(res))
""")


def _run(code: str, *args) -> dict:
    p = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_entry_points_are_declared():
    from importlib.metadata import entry_points

    eps = entry_points()
    assert eps.select(group="numcodecs.codecs", name="geocodec")
    assert eps.select(group="zarr.codecs", name="geocodec")
    assert eps.select(group="xarray.backends", name="geocodec")


def test_v2_and_v3_round_trip_in_fresh_processes(tmp_path):
    rng = np.random.default_rng(0)
    from conftest import smooth_pair

    src = np.full((2, 6, 100, 90), np.nan, np.float32)
    for t in range(2):
        o, s = smooth_pair(rng, 100, 90)
        src[t] = np.concatenate([o.astype(np.float32), s])
    np.save(tmp_path / "src.npy", src)
    geocodec.to_zarr(dataset(64, 64), str(tmp_path / "cube.zarr"), lmbda=0.01, chunks=64, device="cpu",
                     progress=False)

    wrote = _run(WRITE, tmp_path)
    assert wrote == {"v2": "GeocodecCodec", "v3": "GeocodecZarrCodec"}
    meta3 = json.loads((tmp_path / "v3.zarr" / "zarr.json").read_text())
    assert meta3["codecs"][0]["configuration"]["model_sha256"] == geocodec.load_model("default", "cpu").sha256
    for fmt in ("v2", "v3"):
        dec = np.load(tmp_path / f"{fmt}_dec.npy")
        assert dec.shape == src.shape and not np.isnan(dec).any()
        assert np.abs(dec[:, 4:] - src[:, 4:]).mean() < np.abs(src[:, 4:] - src[:, 4:].mean()).mean()

    read = _run(READ, tmp_path)
    for fmt in ("v2", "v3"):
        same_nan, max_diff = read[fmt]
        assert same_nan and max_diff <= 1.0  # another process, same bits up to float-kernel noise
    assert read["engine"][:2] == [["optical", "sar"], "uint16"] and np.isfinite(read["engine"][2])
    assert read["open_zarr"] == [6, 64, 64]
