"""`geocodec train --config tiny`: seconds on CPU, the loss goes down, resume, export, data layouts."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

import geocodec
from conftest import smooth_pair
from geocodec.errors import InvalidInputError


def _cli(argv):
    from geocodec.commands import train as train_cmd

    parser = argparse.ArgumentParser(prog="geocodec")
    train_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture(scope="module")
def pairs_zarr(tmp_path_factory):
    """A small pair store with the layout of bigearthnet-pairs-train.zarr (synthetic, smooth)."""
    import xarray as xr

    rng = np.random.default_rng(7)
    opt, sar = zip(*(smooth_pair(rng, 72, 72) for _ in range(6)))
    ds = xr.Dataset({"optical": (("sample", "optical_band", "y", "x"), np.stack(opt)),
                     "sar": (("sample", "sar_band", "y", "x"), np.stack(sar))},
                    coords={"optical_band": ["B02", "B03", "B04", "B08"], "sar_band": ["VV", "VH"]})
    path = tmp_path_factory.mktemp("data") / "pairs.zarr"
    ds.to_zarr(path)
    return path


@pytest.fixture(scope="module")
def tiny_run(pairs_zarr, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "tiny"
    assert _cli(["train", "--config", "tiny", "--data", str(pairs_zarr), "--out", str(out), "--no-progress",
                 "--export", str(out / "tiny.safetensors"), "--name", "tiny"]) == 0
    return out


def test_tiny_training_lowers_the_loss(tiny_run):
    log = json.loads((tiny_run / "train_log.json").read_text())
    losses = [s["loss"] for s in log["steps"]]
    assert len(losses) == 6  # one loss-curve entry per 10 of 60 steps
    assert np.mean(losses[-2:]) < 0.7 * np.mean(losses[:2])
    assert log["final_step"] == 60 and log["config"]["modality"] == "joint"


def test_exported_tiny_model_codes_a_pair(tiny_run, rng):
    path = str(tiny_run / "tiny.safetensors")
    opt, sar = smooth_pair(rng, 64, 64)
    data = geocodec.compress(opt, sar, lmbda=0.01, model=path, device="cpu")
    o, s = geocodec.decompress(data, model=path, device="cpu")
    assert o.shape == opt.shape and o.dtype == opt.dtype and s.dtype == sar.dtype
    assert geocodec.inspect(data)["model"]["name"] == "tiny"


def test_training_resumes_from_its_checkpoint(tiny_run, pairs_zarr, capsys):
    with pytest.raises(InvalidInputError, match="--resume"):
        _cli(["train", "--config", "tiny", "--data", str(pairs_zarr), "--out", str(tiny_run)])
    assert _cli(["train", "--config", "tiny", "--steps", "70", "--data", str(pairs_zarr), "--out",
                 str(tiny_run), "--no-progress", "--resume"]) == 0
    assert "resumed from step 60" in capsys.readouterr().out
    log = json.loads((tiny_run / "train_log.json").read_text())
    assert log["final_step"] == 70 and [s["step"] for s in log["steps"]][-2:] == [60, 70]


def test_geotiff_pairs_and_band_mismatch(tmp_path, rng):
    import rasterio
    from rasterio.transform import from_origin

    def write(path, a):
        with rasterio.open(path, "w", driver="GTiff", height=a.shape[1], width=a.shape[2], count=a.shape[0],
                           dtype=a.dtype.name, crs="EPSG:32633", transform=from_origin(0, 0, 10, 10)) as dst:
            dst.write(a)

    opt, sar = smooth_pair(rng, 64, 64)
    write(tmp_path / "o.tif", opt)
    write(tmp_path / "s.tif", sar)
    write(tmp_path / "o3.tif", opt[:3])
    out = tmp_path / "run"
    assert _cli(["train", "--config", "tiny", "--steps", "10", "--pair", str(tmp_path / "o.tif"),
                 str(tmp_path / "s.tif"), "--out", str(out), "--no-progress"]) == 0
    with pytest.raises(InvalidInputError, match="optical bands"):
        _cli(["train", "--config", "tiny", "--pair", str(tmp_path / "o3.tif"), str(tmp_path / "s.tif"),
              "--out", str(tmp_path / "run3"), "--no-progress"])


def test_unknown_config_and_missing_data_are_clear_errors(tmp_path):
    with pytest.raises(InvalidInputError, match="unknown training configuration"):
        _cli(["train", "--config", "huge", "--data", str(tmp_path)])
    with pytest.raises(InvalidInputError, match="does not exist"):
        _cli(["train", "--config", "tiny", "--data", str(tmp_path / "nope.zarr")])


def test_gpu_config_without_cuda_is_a_clear_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the gpu configuration would really train")
    with pytest.raises(InvalidInputError, match="CUDA is not available"):
        _cli(["train", "--config", "gpu", "--data", str(tmp_path), "--out", str(tmp_path / "run")])
