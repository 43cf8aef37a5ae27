"""Task-driven finetuning (issue #20): learned γ, the loss, labels and folds, the written model, the command.

Fast: a shrunken codec (the ``tiny`` preset's architecture) on synthetic pairs. The real-data run is
``geocodec finetune-task --data ../shared/data/bigearthnet-pairs-train.zarr --labels labels``.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

import geocodec
from conftest import smooth_pair
from geocodec.errors import InvalidInputError
from geocodec.model import JointCodecModel, ModelConfig
from geocodec.training.presets import TINY_MODEL
from geocodec.training.task.classifier import SmallCNN
from geocodec.training.task.labels import MULTI, TaskLabels, bigearthnet_19, infer_labels
from geocodec.training.task.loss import classification_loss, task_loss
from geocodec.training.task.systems import JointTask

LMBDAS = (0.002, 0.01, 0.05)


def _tiny_codec(seed=0):
    torch.manual_seed(seed)
    return JointCodecModel(ModelConfig(**TINY_MODEL))


def _batch(n=4, size=32, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x_opt, x_sar = torch.rand(n, 4, size, size, generator=g), torch.rand(n, 2, size, size, generator=g)
    y = (torch.rand(n, classes, generator=g) > 0.5).float()
    k = torch.arange(n) % len(LMBDAS)
    return x_opt, x_sar, y, k, torch.tensor(LMBDAS)[k]


def test_gamma_receives_gradient_and_stays_in_unit_interval():
    system = JointTask(_tiny_codec(), SmallCNN(6, 3, width=8), LMBDAS, gamma_init=0.5)
    assert system.gamma.values() == pytest.approx([0.5] * 3)
    x_opt, x_sar, y, k, lam = _batch()
    rate, logits, _ = system(x_opt, x_sar, k, lam)
    loss, _ = task_loss(rate, logits, y, lam, MULTI)
    loss.backward()
    grad = system.gamma.logit.grad
    assert grad is not None and torch.all(torch.isfinite(grad)) and torch.all(grad != 0)  # every λ point learns
    opt = torch.optim.SGD([system.gamma.logit], lr=1e4)  # absurd steps: γ must still stay in [0, 1]
    for _ in range(3):
        opt.zero_grad()
        rate, logits, _ = system(x_opt, x_sar, k, lam)
        task_loss(rate, logits, y, lam, MULTI)[0].backward()
        opt.step()
    assert all(0.0 <= g <= 1.0 for g in system.gamma.values())


@pytest.mark.parametrize("ce_scale", [1.0, 1000.0])
def test_the_loss_is_rate_plus_lambda_times_ce(ce_scale):
    system = JointTask(_tiny_codec(), SmallCNN(6, 3, width=8), LMBDAS).eval()
    x_opt, x_sar, y, k, lam = _batch()
    with torch.no_grad():
        rate, logits, _ = system(x_opt, x_sar, k, lam)
        loss, _ = task_loss(rate, logits, y, lam, MULTI, ce_scale)
        out = system.codec(x_opt, x_sar, system.gamma(k), lam)
    bits = -(torch.log2(out["y_likelihoods"]).flatten(1).sum(1) + torch.log2(out["z_likelihoods"]).flatten(1).sum(1))
    manual_rate = bits / (32 * 32)
    p = torch.sigmoid(logits)
    bce = -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean(1)
    assert torch.allclose(rate, manual_rate, rtol=1e-5)
    assert loss.item() == pytest.approx((manual_rate + lam * ce_scale * bce).mean().item(), rel=1e-5)
    ids = torch.tensor([0, 2, 1, 0])  # single-label: softmax CE
    ce = classification_loss(logits, ids, "single-label")
    assert torch.allclose(ce, -torch.log_softmax(logits, 1)[torch.arange(4), ids], atol=1e-6)


def test_written_model_decodes_ordinary_and_learned_gamma_chunks(tmp_path, rng):
    from geocodec.learned_gamma import interpolate, table
    from geocodec.model_file import save_model_file
    from geocodec.training.task.run import with_learned_gamma

    net = with_learned_gamma(_tiny_codec(), LMBDAS, [0.3, 0.6, 0.8])
    path = tmp_path / "task.safetensors"
    save_model_file(net, path, name="task-test", version="0.1.0")
    m = geocodec.load_model(str(path), "cpu")
    assert table(m.net.config) == (LMBDAS, (0.3, 0.6, 0.8))
    opt, sar = smooth_pair(rng, 64, 64)
    ordinary = geocodec.compress(opt, sar, lmbda=0.01, gamma=0.5, model=m)
    o, s = geocodec.decompress(ordinary, model=m)
    assert o.shape == opt.shape and s.shape == sar.shape and geocodec.inspect(ordinary)["gamma"] == 0.5
    lam = float(np.sqrt(0.002 * 0.01))  # halfway in log λ between two trained points
    learned = geocodec.compress(opt, sar, lmbda=lam, gamma="learned", model=m)
    assert geocodec.inspect(learned)["gamma"] == pytest.approx(0.45, abs=1e-6)
    assert geocodec.decompress(learned, model=m)[0].shape == opt.shape
    target = geocodec.compress(opt, sar, target_bpp=0.5, gamma="learned", model=m)
    info = geocodec.inspect(target)
    assert info["gamma"] == pytest.approx(interpolate(LMBDAS, (0.3, 0.6, 0.8), info["lmbda"]), abs=1e-6)
    with pytest.raises(InvalidInputError, match="learned"):
        geocodec.compress(opt, sar, lmbda=0.01, gamma="learned", model="default")


def test_learned_gamma_interpolates_in_log_lambda_and_holds_at_the_ends():
    from geocodec.learned_gamma import interpolate, with_table

    lam, gam = (0.001, 0.1), (0.2, 0.8)
    assert interpolate(lam, gam, 0.01) == pytest.approx(0.5)
    assert interpolate(lam, gam, 1e-5) == 0.2 and interpolate(lam, gam, 1.0) == 0.8
    with pytest.raises(ValueError):
        with_table(ModelConfig(**TINY_MODEL), [0.01], [1.5])


def test_labels_kinds_mapping_and_errors():
    lab = infer_labels(np.array(["Pastures;Mixed forest", "Marine waters", "Pastures"], object))
    assert lab.kind == MULTI and lab.classes == ("Pastures", "Mixed forest", "Marine waters")  # BigEarthNet order
    assert lab.encode(["Mixed forest;Unknown", ""]).tolist() == [[0, 1, 0], [0, 0, 0]]
    assert infer_labels(np.array([0, 2, 1])) == TaskLabels("single-label", ("0", "1", "2"))
    assert bigearthnet_19(["Non-irrigated arable land", "Water bodies", "Airports"]) == ["Arable land", "Inland waters"]
    with pytest.raises(InvalidInputError, match="no positive"):
        infer_labels(np.array(["", ";"], object))
    with pytest.raises(InvalidInputError, match="one class"):
        infer_labels(np.array([1, 1]))
    with pytest.raises(InvalidInputError, match="43-class"):
        bigearthnet_19(["Not a class"])


def test_bigearthnet_mapping_matches_the_official_table():
    """Against ``bigearthnet-common``'s copy of the official table, read as source (its import needs natsort)."""
    import ast
    import importlib.util
    from pathlib import Path

    from geocodec.training.task.labels import BIGEARTHNET_19, BIGEARTHNET_43_TO_19

    spec = importlib.util.find_spec("bigearthnet_common")
    if spec is None:
        pytest.skip("bigearthnet-common is not installed")
    tree = ast.parse((Path(spec.origin).parent / "constants.py").read_text())
    found = {t.id: ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
             for t in n.targets if isinstance(t, ast.Name) and t.id in ("OLD2NEW_LABELS_DICT", "NEW_LABELS_ORIGINAL_ORDER")}
    assert BIGEARTHNET_43_TO_19 == found["OLD2NEW_LABELS_DICT"]
    assert BIGEARTHNET_19 == found["NEW_LABELS_ORIGINAL_ORDER"]


def test_folds_keep_each_scene_whole():
    from geocodec.training.task.data import group_folds

    groups = np.array(["a"] * 6 + ["b"] * 3 + ["c"] * 2 + ["d"] * 2 + ["e"])
    folds = group_folds(groups, 3)
    assert sorted(np.concatenate(folds).tolist()) == list(range(len(groups)))
    for f in folds:
        for g in set(groups[f]):
            assert set(np.flatnonzero(groups == g)) <= set(f.tolist())
    with pytest.raises(InvalidInputError, match="cannot fill"):
        group_folds(np.array(["a", "a", "b"]), 3)


def test_average_precision_and_single_label_metrics():
    from geocodec.training.task.metrics import average_precision, singlelabel_metrics

    assert average_precision(np.array([0.9, 0.8, 0.1]), np.array([1, 0, 1])) == pytest.approx((1 + 2 / 3) / 2)
    m = singlelabel_metrics(np.eye(3)[[0, 1, 2, 0]], np.array([0, 1, 2, 1]))
    assert m["oa"] == 0.75 and 0 < m["kappa"] < 1


@pytest.fixture(scope="module")
def labelled_zarr(tmp_path_factory):
    import xarray as xr

    rng = np.random.default_rng(3)
    opt, sar = zip(*(smooth_pair(rng, 48, 48) for _ in range(6)))
    ds = xr.Dataset({"optical": (("sample", "optical_band", "y", "x"), np.stack(opt)),
                     "sar": (("sample", "sar_band", "y", "x"), np.stack(sar))},
                    coords={"optical_band": ["B02", "B03", "B04", "B08"], "sar_band": ["VV", "VH"],
                            "labels": ("sample", ["Pastures", "Mixed forest;Pastures", "Marine waters",
                                                  "Pastures;Marine waters", "Mixed forest", "Marine waters"]),
                            "scene": ("sample", ["s1", "s1", "s2", "s3", "s3", "s4"])})
    path = tmp_path_factory.mktemp("task") / "pairs.zarr"
    ds.to_zarr(path)
    model = tmp_path_factory.mktemp("codec") / "tiny.safetensors"
    from geocodec.model_file import save_model_file

    save_model_file(_tiny_codec(), model, name="tiny-base", version="0")
    return path, model


def _cli(argv):
    from geocodec.commands import finetune_task

    parser = argparse.ArgumentParser(prog="geocodec")
    finetune_task.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_finetune_task_command_end_to_end_and_resume(labelled_zarr, tmp_path):
    data, base = labelled_zarr
    out = tmp_path / "run"
    argv = ["finetune-task", "--data", str(data), "--labels", "labels", "--out", str(out), "--steps", "2",
            "--classifier-steps", "2", "--folds", "2", "--batch", "2", "--crop", "32", "--init-from", str(base),
            "--name", "task-tiny"]
    assert _cli(argv) == 0
    report = json.loads((out / "task_report.json").read_text())
    assert set(report["learned_gamma"]) == {"0.002", "0.01", "0.05"}
    assert all(0 <= g <= 1 for g in report["learned_gamma"].values())
    assert {r["method"] for r in report["rows"]} == {"uncompressed", "default", "task", "independent"}
    assert len(report["rows"]) == 1 + 3 * 3
    for r in report["rows"]:
        assert r["cv"]["n"] == 6 and "map_fold_std" in r["cv"] and "psnr_sar" in r["cv"]
    assert (out / "rate_accuracy.png").stat().st_size > 0 and (out / "classifier.safetensors").exists()
    m = geocodec.load_model(str(out / "model.safetensors"), "cpu")
    assert m.name == "task-tiny"
    opt, sar = smooth_pair(np.random.default_rng(0), 48, 48)
    chunk = geocodec.compress(opt, sar, lmbda=0.01, gamma="learned", model=m)
    assert geocodec.inspect(chunk)["gamma"] == pytest.approx(report["learned_gamma"]["0.01"], abs=1e-6)
    from geocodec.registry import publish_model

    entry = publish_model(out / "model.safetensors", training_data="synthetic", into=tmp_path / "registry")
    assert entry["file"] == "task-tiny.safetensors"  # the registry publishes it under its own name
    with pytest.raises(InvalidInputError, match="--resume"):
        _cli(argv)
    assert _cli(argv + ["--resume"]) == 0  # every stage and evaluation cached: nothing retrained
    assert json.loads((out / "task_report.json").read_text())["learned_gamma"] == report["learned_gamma"]


def test_clear_errors_for_bad_label_input(labelled_zarr, tmp_path):
    data, base = labelled_zarr
    with pytest.raises(InvalidInputError, match="no label variable 'land_cover'.*labels"):
        _cli(["finetune-task", "--data", str(data), "--labels", "land_cover", "--out", str(tmp_path / "x"),
              "--init-from", str(base)])
    with pytest.raises(InvalidInputError, match="λ range"):
        _cli(["finetune-task", "--data", str(data), "--labels", "labels", "--out", str(tmp_path / "y"),
              "--init-from", str(base), "--lmbdas", "0.5"])


def test_the_model_item_gives_the_learned_gamma(tmp_path):
    pytest.importorskip("pystac")
    from geocodec.model_file import save_model_file
    from geocodec.stac.model_item import create_model_item
    from geocodec.training.task.run import with_learned_gamma

    path = tmp_path / "task.safetensors"
    save_model_file(with_learned_gamma(_tiny_codec(), LMBDAS, [0.3, 0.6, 0.8]), path, name="task-test", version="0")
    item = create_model_item(str(path))
    hp = item.properties["mlm:hyperparameters"]
    assert hp["learned_gamma"] == {"lmbda": list(LMBDAS), "gamma": [0.3, 0.6, 0.8]}


def test_one_datatake_is_one_group():
    from geocodec.training.task.data import acquisition_group

    assert acquisition_group("S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP") == acquisition_group(
        "S2A_MSIL2A_20170613T101031") == "S2A_MSIL2A_20170613"
    assert acquisition_group("S2B_MSIL2A_20170906T101019") == acquisition_group("S2B_MSIL2A_20170906T101020")
    assert acquisition_group("site-7") == "site-7"


def test_the_classifier_trains_on_what_decoding_gives_it():
    """``as_decoded`` (training) = clamp to the input's range + the codec's percentile scaling (use)."""
    from geocodec.normalize import normalize_batch
    from geocodec.training.task.systems import as_decoded

    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 24, 24, generator=g)
    x_hat = x + 0.3 * torch.randn(2, 3, 24, 24, generator=g)  # a decoder that overshoots the range
    clamped = np.clip(x_hat.numpy(), x.amin((2, 3), keepdim=True).numpy(), x.amax((2, 3), keepdim=True).numpy())
    assert np.allclose(as_decoded(x_hat, x).numpy(), normalize_batch(clamped), atol=1e-5)


def test_a_users_classifier_must_give_one_logit_per_class():
    from geocodec.training.task.classifier import build_classifier

    labels = TaskLabels(MULTI, ("a", "b", "c"))
    own = torch.nn.Sequential(torch.nn.Conv2d(6, 3, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    assert build_classifier(own, 6, labels) is own
    with pytest.raises(InvalidInputError, match="3 classes"):
        build_classifier(torch.nn.Sequential(torch.nn.Conv2d(6, 5, 3), torch.nn.AdaptiveAvgPool2d(1),
                                             torch.nn.Flatten()), 6, labels)
    with pytest.raises(InvalidInputError, match="nn.Module"):
        build_classifier("resnet", 6, labels)


def test_a_cube_takes_the_learned_gamma_at_its_lambda(tmp_path):
    from zarr_data import dataset

    from geocodec.model_file import save_model_file
    from geocodec.training.task.run import with_learned_gamma

    path = tmp_path / "task.safetensors"
    save_model_file(with_learned_gamma(_tiny_codec(), LMBDAS, [0.3, 0.6, 0.8]), path, name="task-cube", version="0")
    ds = dataset(64, 64)
    lam = float(np.sqrt(0.01 * 0.05))
    geocodec.to_zarr(ds, str(tmp_path / "cube.zarr"), lmbda=lam, gamma="learned", model=str(path), chunks=64,
                     device="cpu")
    from geocodec.cube.record import open_cube

    assert open_cube(str(tmp_path / "cube.zarr")).record.gamma == pytest.approx(0.7, abs=1e-6)
    with pytest.raises(InvalidInputError, match="needs lmbda"):
        geocodec.to_zarr(ds, str(tmp_path / "cube2.zarr"), target_bpp=0.5, gamma="learned", model=str(path),
                         chunks=64, device="cpu")
