"""Records that tell the truth whatever documented form the input took (issue #17, item 3).

One test per row: optical as reflectance × 10 000, as reflectance 0…1 and as 8-bit; linear SAR
passed as dB with bright targets; the ambiguous and contradictory cases. The record, the STAC
Item and ``geocodec info`` must give the same PSNR, at the peak of the scale the optical came in.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings

import numpy as np
import pytest

import geocodec
from geocodec.errors import InvalidInputError, SuspiciousInputWarning
from zarr_data import dataset

WHEN = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)


def _write(ds, path, **kw) -> dict:
    geocodec.to_zarr(ds, path, lmbda=0.01, chunks=64, device="cpu", progress=False, **kw)
    return geocodec.cube.open_cube(path).record.to_attrs()


def _item_and_info(path, capsys) -> tuple[dict, str]:
    from geocodec.cli import main
    from geocodec.stac import create_item

    q = create_item(path, datetime=WHEN).properties["geocodec:quality"]
    capsys.readouterr()
    assert main(["info", str(path)]) == 0
    return q, capsys.readouterr().out


def _direct_psnr(path, ds, peak) -> float:
    """PSNR of what the cube decodes to against its input, at ``peak`` (the whole cube: every chunk sampled)."""
    import xarray as xr

    from geocodec.metrics import psnr

    cube = xr.open_dataset(path, engine="geocodec", device="cpu", seamless=False)
    return psnr(ds.optical.values.astype(np.float64), cube.optical.values.astype(np.float64), peak)


@pytest.fixture(scope="module")
def x10000(tmp_path_factory):
    ds = dataset(64, 128, seed=2)
    path = tmp_path_factory.mktemp("x10000") / "c.zarr"
    return ds, path, _write(ds, path)


def test_reflectance_x10000_is_recorded_at_the_10000_peak(x10000, capsys):
    ds, path, rec = x10000
    q = rec["quality"]
    assert "optical_scale" not in rec  # the default: records read as before
    assert q["psnr_peak_optical"] == 10000 and q["optical_units"] == "reflectance x 10000"
    assert q["psnr_optical"] == pytest.approx(_direct_psnr(path, ds, 10000), abs=0.01)
    item_q, info = _item_and_info(path, capsys)
    assert item_q["psnr_optical"] == pytest.approx(q["psnr_optical"])
    assert f"PSNR optical {q['psnr_optical']:.2f} dB (peak 10000, reflectance x 10000)" in info


def test_float_reflectance_gets_the_same_psnr_as_the_same_pixels_x10000(x10000, tmp_path, capsys):
    ds, _, rec = x10000
    refl = ds.assign(optical=(ds.optical.astype(np.float32) / 10000))
    path = tmp_path / "r.zarr"
    got = _write(refl, path)
    q = got["quality"]
    assert got["optical_scale"] == "reflectance" and q["psnr_peak_optical"] == 1.0
    assert q["psnr_optical"] == pytest.approx(rec["quality"]["psnr_optical"], abs=0.5)  # not 110.9 dB
    item_q, info = _item_and_info(path, capsys)
    assert item_q["psnr_optical"] == pytest.approx(q["psnr_optical"]) and item_q["optical_units"] == "reflectance"
    assert "(peak 1, reflectance)" in info
    import xarray as xr

    assert xr.open_dataset(path, engine="geocodec").optical.attrs["units"] == "1"


def test_uint8_is_recorded_at_the_255_peak(tmp_path, capsys):
    ds = dataset(64, 128, seed=3)
    o = ds.optical.values.astype(np.float64)
    ds = ds.assign(optical=ds.optical.copy(data=np.round((o - o.min()) / np.ptp(o) * 255).astype(np.uint8)))
    path = tmp_path / "u8.zarr"
    rec = _write(ds, path)
    q = rec["quality"]
    assert rec["optical_scale"] == "8bit" and q["psnr_peak_optical"] == 255
    assert q["psnr_optical"] == pytest.approx(_direct_psnr(path, ds, 255), abs=0.01)
    assert q["psnr_optical"] < 50  # at the ×10 000 peak it read 61 dB
    item_q, info = _item_and_info(path, capsys)
    assert item_q["psnr_optical"] == pytest.approx(q["psnr_optical"]) and "(peak 255, 8-bit DN)" in info


def test_ambiguous_optical_warns_and_an_explicit_scale_decides(tmp_path):
    ds = dataset(64, 64, seed=4)
    o = ds.optical.values.astype(np.float64)
    small = ds.assign(optical=ds.optical.copy(data=np.round(20 + (o - o.min()) / np.ptp(o) * 200).astype(np.uint16)))
    with pytest.warns(SuspiciousInputWarning, match="optical_scale='8bit'"):
        rec = _write(small, tmp_path / "a.zarr")
    assert rec["quality"]["psnr_peak_optical"] == 10000
    with warnings.catch_warnings():
        warnings.simplefilter("error", SuspiciousInputWarning)
        rec = _write(small, tmp_path / "b.zarr", optical_scale="8bit")
    assert rec["optical_scale"] == "8bit" and rec["quality"]["psnr_peak_optical"] == 255


@pytest.mark.parametrize("scale, match", [("8bit", "> 255"), ("reflectance", "exceeds"), ("percent", "use one of")])
def test_an_explicit_scale_the_values_contradict_is_refused(tmp_path, scale, match):
    with pytest.raises(InvalidInputError, match=match):
        _write(dataset(64, 64, seed=5), tmp_path / "c.zarr", optical_scale=scale)
    assert not (tmp_path / "c.zarr").exists()


def test_cli_takes_the_optical_scale(tmp_path, capsys):
    from geocodec.cli import main

    ds = dataset(64, 64, seed=6)
    o = ds.optical.values.astype(np.float64)
    ds = ds.assign(optical=ds.optical.copy(data=np.round(20 + (o - o.min()) / np.ptp(o) * 200).astype(np.uint16)))
    ds.optical.rio.to_raster(tmp_path / "s2.tif")
    ds.sar.rio.to_raster(tmp_path / "s1.tif")
    out = tmp_path / "cli.zarr"
    assert main(["encode", str(tmp_path / "s2.tif"), str(tmp_path / "s1.tif"), str(out), "--lmbda", "0.01",
                 "--chunk", "64", "--device", "cpu", "--quiet", "--optical-scale", "8bit"]) == 0
    assert "peak 255, 8-bit DN" in capsys.readouterr().out
    assert geocodec.cube.open_cube(out).record.optical_scale == "8bit"


# ---------------------------------------------------------------------------- linear SAR passed as dB
def _bright_linear(sar_db: np.ndarray) -> np.ndarray:
    lin = (10 ** (sar_db / 10)).astype(np.float32)
    lin[:, ::17, ::19] = 5.3  # a few bright targets: the maximum no longer gives it away
    return lin


def test_linear_sar_with_bright_targets_passed_as_db_warns_with_the_fix(rng):
    from conftest import smooth_pair

    opt, sar = smooth_pair(rng, 64, 64)
    lin = _bright_linear(sar)
    assert lin.max() > 1.5
    with pytest.warns(SuspiciousInputWarning, match="sar_scale='linear'"):
        geocodec.compress(opt, lin, lmbda=0.01, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error", SuspiciousInputWarning)
        geocodec.compress(opt, sar, lmbda=0.01, device="cpu")  # real dB: no warning
        geocodec.compress(opt, np.clip(sar + 25, 0.1, None), lmbda=0.01, device="cpu")  # bright dB, median ≫ 1


def test_the_spain_pair_in_linear_power_passed_as_db_warns_in_to_zarr(shared_data, tmp_path):
    import rioxarray  # noqa: F401
    import xarray as xr

    from geocodec.evaluation.datasets import load_sen1floods11_spain

    p = load_sen1floods11_spain(shared_data / "sen1floods11-spain")[0]
    opt, sar = p.optical[:, :128, :128], p.sar[:, :128, :128]
    lin = (10 ** (sar.astype(np.float64) / 10)).astype(np.float32)
    ds = xr.Dataset({"optical": (("optical_band", "y", "x"), opt), "sar": (("sar_band", "y", "x"), lin)},
                    coords={"optical_band": ["B02", "B03", "B04", "B08"], "sar_band": ["VV", "VH"],
                            "y": np.arange(128.0)[::-1], "x": np.arange(128.0)})
    with pytest.warns(SuspiciousInputWarning, match="sar_scale='linear'"):
        geocodec.to_zarr(ds, tmp_path / "lin.zarr", lmbda=0.01, chunks=64, device="cpu", progress=False,
                         optical_nodata=p.optical_nodata)
    assert math.isfinite(float(np.nanmax(lin)))
