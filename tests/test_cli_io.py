"""geocodec encode / info / decode on real GeoTIFFs: GeoTIFF → Zarr → GeoTIFF with the original grid."""

from __future__ import annotations

import json

import numpy as np
import pytest

from geocodec.cli import main


def _read(path, bands):
    import rasterio

    with rasterio.open(path) as src:
        return src.read(list(bands)), src.crs, src.transform, src.nodata, src.descriptions


@pytest.fixture(scope="module")
def floods_store(shared_data, tmp_path_factory):
    folder = shared_data / "sen1floods11-spain"
    out = tmp_path_factory.mktemp("cli") / "floods.zarr"
    rc = main(["encode", str(folder / "S2.tif"), str(folder / "S1.tif"), str(out), "--lmbda", "0.01",
               "--gamma", "0.5", "--device", "cpu", "--chunk", "256", "--quiet"])
    assert rc == 0
    return folder, out


def test_encode_info(floods_store, capsys):
    _, store = floods_store
    assert main(["info", str(store), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["shape"] == [6, 512, 512] and d["chunk_shape"] == [6, 256, 256] and d["chunks_stored"] == 4
    assert d["complete"] is True and d["optical_dtype"] == "int16" and d["optical_nodata"] == 0
    assert d["quality"]["sampled_chunks"] == 4 and d["quality"]["ms_ssim_sar"] is not None  # 256 px ≥ 161
    assert "4326" in d["crs_wkt"]
    assert main(["info", str(store)]) == 0
    text = capsys.readouterr().out
    assert "complete" in text and "B02" in text and "bpp" in text


@pytest.mark.parametrize("modality, src_name, bands", [("sar", "S1.tif", (1, 2)), ("optical", "S2.tif", (2, 3, 4, 8))])
def test_decode_to_geotiff_keeps_the_grid(floods_store, tmp_path, modality, src_name, bands, capsys):
    import xarray as xr

    folder, store = floods_store
    out = tmp_path / f"{modality}.tif"
    assert main(["decode", str(store), "--modality", modality, "-o", str(out), "--device", "cpu"]) == 0
    data, crs, transform, nodata, desc = _read(out, range(1, len(bands) + 1))
    src, src_crs, src_transform, src_nodata, _ = _read(folder / src_name, bands)
    assert crs == src_crs and transform == src_transform and data.shape == src.shape and data.dtype == src.dtype
    assert (np.isnan(nodata) and np.isnan(src_nodata)) or nodata == src_nodata
    expected = xr.open_dataset(store, engine="geocodec")[modality].values
    np.testing.assert_array_equal(data, expected)
    if modality == "sar":
        assert list(desc) == ["VV", "VH"]
        assert np.array_equal(np.isnan(data), np.isnan(src))  # SAR NaN exactly where it was
    else:
        assert list(desc) == ["B02", "B03", "B04", "B08"]
        assert np.array_equal(data == 0, src == 0)  # optical nodata (0) exactly where it was


def test_decode_both_and_time_selection(tmp_path, capsys):
    import geocodec
    from zarr_data import dataset

    times = np.array(["2020-05-01", "2020-05-11"], dtype="datetime64[ns]")
    store = tmp_path / "t.zarr"
    geocodec.to_zarr(dataset(64, 64, times=times), str(store), lmbda=0.01, chunks=64, device="cpu", progress=False)
    assert main(["decode", str(store), "--modality", "sar", "-o", str(tmp_path / "x.tif")]) == 2
    assert "--isel time=0" in capsys.readouterr().err
    assert main(["decode", str(store), "--modality", "both", "--isel", "time=1", "-o", str(tmp_path / "t.tif")]) == 0
    assert (tmp_path / "t_optical.tif").exists() and (tmp_path / "t_sar.tif").exists()
    assert main(["decode", str(store), "--modality", "sar", "--isel", "band=0", "-o", str(tmp_path / "y.tif")]) == 2


def test_cli_errors_are_clear(tmp_path, capsys, shared_data):
    folder = shared_data / "sen1floods11-spain"
    with pytest.raises(SystemExit):  # argparse: one of --lmbda / --target-bpp is required
        main(["encode", str(folder / "S2.tif"), str(folder / "S1.tif"), str(tmp_path / "a.zarr")])
    rc = main(["encode", str(folder / "S2.tif"), str(folder / "S1.tif"), str(tmp_path / "a.zarr"), "--lmbda", "0.01",
               "--gamma", "2", "--quiet"])
    assert rc == 2 and "gamma" in capsys.readouterr().err
    rc = main(["encode", str(folder / "S1.tif"), str(folder / "S2.tif"), str(tmp_path / "b.zarr"), "--lmbda", "0.01",
               "--quiet"])  # swapped: the SAR file has no optical bands
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("geocodec: error:") and "Traceback" not in err
    assert main(["info", str(tmp_path)]) == 2
    assert "not" in capsys.readouterr().err


def test_encode_and_decode_with_the_onnx_backends(shared_data, floods_store, tmp_path):
    """``--backend`` on both commands: an int8 encoder writes an ordinary cube; the float32 ONNX
    decoders read the torch-written cube to one count of the torch decoders."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    folder, store = floods_store
    crop = tmp_path / "c.zarr"
    assert main(["encode", str(folder / "S2.tif"), str(folder / "S1.tif"), str(crop), "--lmbda", "0.01",
                 "--device", "cpu", "--chunk", "256", "--quiet", "--backend", "onnx-int8"]) == 0
    assert main(["decode", str(crop), "--modality", "sar", "-o", str(tmp_path / "s.tif")]) == 0
    assert np.isfinite(_read(tmp_path / "s.tif", (1, 2))[0]).any()
    a, b = tmp_path / "torch.tif", tmp_path / "onnx.tif"
    assert main(["decode", str(store), "--modality", "optical", "-o", str(a), "--device", "cpu",
                 "--backend", "torch"]) == 0
    assert main(["decode", str(store), "--modality", "optical", "-o", str(b), "--device", "cpu",
                 "--backend", "onnx"]) == 0
    ra, rb = _read(a, (1, 2, 3, 4))[0], _read(b, (1, 2, 3, 4))[0]
    assert np.abs(ra.astype(int) - rb.astype(int)).max() <= 1
