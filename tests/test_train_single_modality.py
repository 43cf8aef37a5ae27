"""Independent-coding baseline: single-modality models train with the same loop and code real bytes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import smooth_pair
from geocodec.training.data import PairSet
from geocodec.errors import InvalidInputError, ModelIntegrityError, UnknownModelError
from geocodec.evaluation.baselines.independent import code_single
from geocodec.model.single_modality import SingleModalityModel
from geocodec.training.single_model_file import load_single_model, model_from_checkpoint, save_single_model
from geocodec.training.loop import TrainConfig, train
from geocodec.training.presets import preset


@pytest.fixture(scope="module")
def pairs():
    rng = np.random.default_rng(3)
    opt, sar = zip(*(smooth_pair(rng, 64, 64) for _ in range(4)))
    return PairSet([o.astype(np.float32) for o in opt], list(sar))


@pytest.fixture(scope="module", params=["optical", "sar"])
def trained(request, pairs, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param)
    cfg = preset("tiny", out_dir=str(out), modality=request.param, steps=40)
    model, log = train(cfg, pairs, progress=False, log=lambda *_: None)
    return request.param, out, model, log


def test_single_modality_training_lowers_the_loss(trained):
    modality, out, model, log = trained
    losses = [s["loss"] for s in log["steps"]]
    assert np.mean(losses[-2:]) < 0.7 * np.mean(losses[:2])
    assert model.modality == modality and log["config"]["modality"] == modality
    assert {"bpp", "psnr"} <= set(log["steps"][-1])


def test_save_load_and_code_real_bytes(trained, tmp_path, rng):
    modality, out, model, _ = trained
    m = model_from_checkpoint(out)
    opt, sar = smooth_pair(rng, 70, 50)
    x = opt if modality == "optical" else sar
    if modality == "sar":
        x[0, :3, :3] = np.nan
    r1 = code_single(m, x, 0.01)
    assert r1.decoded.shape == x.shape and r1.decoded.dtype == x.dtype
    assert np.array_equal(np.isnan(r1.decoded), np.isnan(x)) if x.dtype.kind == "f" else True
    assert r1.z_bytes > 0 and r1.y_bytes > 0
    sha = save_single_model(m, tmp_path / "m.safetensors", name=f"indep-{modality}")
    m2 = load_single_model(tmp_path / "m.safetensors")
    assert m2.sha256 == sha == m.sha256 and m2.modality == modality  # checkpoint and export agree
    r2 = code_single(m2, x, 0.01)
    assert r2.payload_bytes == r1.payload_bytes
    assert np.array_equal(r2.decoded, r1.decoded, equal_nan=x.dtype.kind == "f")
    hi = code_single(m2, x, 0.1)
    assert hi.payload_bytes >= r1.payload_bytes  # λ buys bits (monotone even for a barely trained model)


def test_corrupt_or_foreign_files_are_refused(trained, tmp_path):
    modality, out, model, _ = trained
    path = tmp_path / "m.safetensors"
    save_single_model(model_from_checkpoint(out), path, name="x")
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ModelIntegrityError, match="corrupt"):
        load_single_model(path)
    (tmp_path / "junk.safetensors").write_bytes(b"not a model")
    with pytest.raises(UnknownModelError):
        load_single_model(tmp_path / "junk.safetensors")


def test_one_sealed_weights_format_for_joint_and_single_models(trained, tmp_path):
    import geocodec
    from geocodec import model_file, registry

    modality, out, _, _ = trained
    path = tmp_path / "m.safetensors"
    sha = model_file.save_model_file(model_from_checkpoint(out), path, name="x", version="0")
    meta = model_file.read_metadata(path)
    assert meta["format"] == model_file.FORMAT and meta["modality"] == modality and meta["sha256"] == sha
    info, _ = model_file.verify_model_file(path)
    assert info.kind == modality and info.sealed_sha256 == sha
    with pytest.raises(UnknownModelError, match="single-modality"):  # not a codec
        geocodec.load_model(str(path), device="cpu")
    with pytest.raises(InvalidInputError, match="single-modality"):  # never published as one
        registry.publish_model(path, training_data="test", into=tmp_path / "models")
    with pytest.raises(UnknownModelError, match="joint codec"):  # and the joint model is not a baseline
        load_single_model(registry.resolve_weights("default").path)


def test_wrong_modality_or_bands_are_refused(pairs):
    from geocodec.model import ModelConfig

    with pytest.raises(InvalidInputError, match="'optical' or 'sar'"):
        SingleModalityModel(ModelConfig(), "joint")
    m = SingleModalityModel(ModelConfig(features=8, latent_channels=32, hyper_channels=8, groups=(8, 8, 16)), "sar")
    m.entropy.freeze_tables()
    with pytest.raises(InvalidInputError, match=r"\(2, H, W\)"):
        code_single(m.eval(), np.zeros((4, 16, 16), np.float32), 0.01)


def test_single_modality_does_not_change_the_joint_path(pairs, tmp_path):
    cfg = preset("tiny", out_dir=str(tmp_path / "j"), steps=10)
    _, log = train(cfg, pairs, progress=False, log=lambda *_: None)
    assert {"bpp_joint", "psnr_opt", "psnr_sar"} <= set(log["steps"][-1])
    assert json.loads((tmp_path / "j" / "train_log.json").read_text())["config"]["modality"] == "joint"
    assert TrainConfig().modality == "joint"
