"""``geocodec train``: train (or resume) a joint model, or an independent-coding baseline model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from geocodec.errors import InvalidInputError
from geocodec.options import PRECISIONS


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a model on co-registered pairs (and optical-only / SAR-only data)",
        description="Train a geocodec model (resumes when OUT already holds a checkpoint). Named "
                    "configurations: tiny (seconds, CI), cpu (the v1.0.0 recipe), recipe (the open-ended bf16 CPU run "
                    "that --resume continues until the quality targets are met), light (the second CPU attempt), "
                    "gpu (the staged recipe for one CUDA device), finetune (the shipped model "
                    "continued at its own architecture on all data), encoder (only the shipped model's encoder side, "
                    "on the pairs, against its fixed decoders), entropy (a lighter entropy model for the shipped model's fixed "
                    "transforms, trained on the rate alone).")
    p.add_argument("--config", default="recipe", help="named configuration: tiny, cpu, recipe, light, gpu, finetune, encoder or entropy (default recipe)")
    add_data_arguments(p)
    p.add_argument("--init-from", default=None,
                   help="weights to start from where shapes fit: a registered model, model file or checkpoint")
    p.add_argument("--model", type=json.loads, default=None, metavar="JSON",
                   help='architecture overrides on the configuration\'s, e.g. \'{"latent_stride": 8}\'')
    p.add_argument("--probe-every", type=int, default=None, help="probe every N steps (default: at checkpoints)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its checkpoint (weights, optimiser state, log)")
    p.add_argument("--out", help="run folder (checkpoint, train_log.json); default runs/<config>")
    p.add_argument("--modality", choices=("joint", "optical", "sar"), default=None,
                   help="joint (default) or a single-modality independent-coding baseline")
    for name, typ in (("steps", int), ("batch", int), ("crop", int), ("lr", float), ("seed", int),
                      ("threads", int), ("max-minutes", float)):
        p.add_argument(f"--{name}", type=typ, default=None)
    p.add_argument("--device", default=None, help="auto, cpu or cuda[:N]")
    p.add_argument("--precision", choices=PRECISIONS, default=None,
                   help="auto (default: bf16 autocast + channels_last where the CPU has AMX or AVX512-BF16, "
                        "or on a bf16 GPU; fp32 elsewhere), fp32 or bf16")
    p.add_argument("--optimizer", choices=("adam", "soap"), default=None,
                   help="adam (default) or soap (needs pip install pytorch-optimizer)")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="torch.compile the transforms (default: as the configuration says)")
    p.add_argument("--pseudo-pairs", action=argparse.BooleanOptionalAction, default=None,
                   help="pair optical-only batches with SAR-only crops from elsewhere (and vice versa) instead of "
                        "a blank plane (default: as the configuration says)")
    p.add_argument("--decay-minutes", type=float, default=None,
                   help="with --resume: decay the learning rate to its final value over this many minutes, "
                        "then stop (an export candidate; run it on a copy of a wsd run's folder)")
    p.add_argument("--export", metavar="FILE", help="write the trained weights (.safetensors) here; publish a joint "
                   "model with geocodec.registry.publish_model(FILE, into=...) or $GEOCODEC_MODEL_DIR")
    p.add_argument("--name", default="custom", help="model name stored in the exported file")
    p.add_argument("--version", default="0.1.0", help="model version stored in the exported file")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    """The training and probe data options (``--data``, ``--pair``, ``--optical-only``, ``--sar-only``,
    ``--weights``, ``--probe``, ``--probe-pair``): shared with tools that read the same data
    (``scripts/entropy_refit.py``); ``data_sets`` and ``probe_data`` load what they name."""
    p.add_argument("--data", action="append", default=[], metavar="PATH",
                   help="a .zarr pair store or a BigEarthNet S1/S2 GeoTIFF folder (repeatable)")
    p.add_argument("--pair", action="append", nargs=2, default=[], metavar=("OPTICAL_TIF", "SAR_TIF"),
                   help="a multi-band GeoTIFF pair on one grid (repeatable)")
    p.add_argument("--optical-bands", type=lambda s: tuple(int(v) for v in s.split(",")),
                   help="1-based optical bands of --pair files (default: 2,3,4,8 of a 13-band stack, else all)")
    p.add_argument("--optical-only", action="append", default=[], metavar="PATH",
                   help="optical-only data: a .zarr store with an 'optical' array, or a GeoTIFF (bands B02,B03,B04,B08)")
    p.add_argument("--sar-only", action="append", default=[], metavar="PATH",
                   help="SAR-only data: a .zarr store with a 'sar' array (VV, VH in dB)")
    p.add_argument("--weights", type=lambda s: tuple(float(v) for v in s.split(",")), default=(0.5, 0.25, 0.25),
                   metavar="P,O,S", help="share of batches drawn from pairs, optical-only and SAR-only data "
                                         "(default 0.5,0.25,0.25)")
    p.add_argument("--probe", action="append", default=[], metavar="PATH",
                   help="validation pairs (as --data) measured at every checkpoint: floor and R-D (repeatable)")
    p.add_argument("--probe-pair", action="append", nargs=2, default=[], metavar=("OPTICAL_TIF", "SAR_TIF"),
                   help="a validation GeoTIFF pair (cut into 256 px tiles) for the probe (repeatable)")


def data_sets(args, mc):
    """The training sets the data options name, checked against the model's bands."""
    from geocodec.training.data import load_optical_geotiff, load_training_data, load_zarr_set

    if len(args.weights) != 3 or any(w < 0 for w in args.weights):
        raise InvalidInputError(f"--weights takes three non-negative shares, got {args.weights}")
    pairs = load_training_data(args.data, [tuple(p) for p in args.pair], args.optical_bands)
    pairs.weight = args.weights[0]
    sets = [pairs]
    for paths, kind, w in ((args.optical_only, "optical", args.weights[1]), (args.sar_only, "sar", args.weights[2])):
        for path in paths:
            if not Path(path).exists():
                raise InvalidInputError(f"{kind}-only data {path} does not exist")
            s = (load_optical_geotiff(path, mc.n_optical, w) if Path(path).suffix.lower() in (".tif", ".tiff")
                 else load_zarr_set(path, weight=w))
            if s.kind != kind:
                raise InvalidInputError(f"{path} holds {s.kind} data, not {kind}-only data")
            s.weight = w / len(paths)
            sets.append(s)
    for s in sets:
        for k, a in enumerate(s.optical):
            if a.shape[0] != mc.n_optical:
                raise InvalidInputError(f"{s.name} item {k}: {a.shape[0]} optical bands, the model has "
                                        f"{mc.n_optical} ({list(mc.optical_bands)})")
        for k, a in enumerate(s.sar):
            if a.shape[0] != mc.n_sar:
                raise InvalidInputError(f"{s.name} item {k}: {a.shape[0]} SAR bands, the model has {mc.n_sar}")
        if s.kind == "pair" and any(o.shape[1:] != a.shape[1:] for o, a in zip(s.optical, s.sar)):
            raise InvalidInputError(f"{s.name}: optical and SAR arrays are not on one grid")
    return sets


def probe_data(args) -> list:
    """One validation set per --probe / --probe-pair source (the probe reports each)."""
    from geocodec.training.data import load_training_data

    sets = []
    for path in args.probe:
        s = load_training_data([path])
        s.name = Path(path).name
        sets.append(s)
    for opt_path, sar_path in args.probe_pair:
        s = load_training_data([], [(opt_path, sar_path)], args.optical_bands)
        s.name = Path(opt_path).parent.name or Path(opt_path).stem
        sets.append(s)
    return sets


def run(args) -> int:
    from geocodec.model import ModelConfig
    from geocodec.registry import resolve_device
    from geocodec.training import preset, train
    from geocodec.training.data import load_training_data
    from geocodec.training.loop import training_sets
    from geocodec.training.probe import probe_tiles

    cfg = preset(args.config, steps=args.steps, batch=args.batch, crop=args.crop, lr=args.lr, seed=args.seed,
                 threads=args.threads, max_minutes=args.max_minutes, device=args.device, modality=args.modality,
                 init_from=args.init_from, probe_every=args.probe_every, precision=args.precision,
                 decay_minutes=args.decay_minutes, compile=args.compile, pseudo_pairs=args.pseudo_pairs,
                 optimizer=args.optimizer, out_dir=args.out or f"runs/{args.config}")
    if args.model:
        if not isinstance(args.model, dict):
            raise InvalidInputError(f"--model takes a JSON object of architecture fields, got {args.model!r}")
        cfg.model.update(args.model)
    for field, v in (("steps", cfg.steps), ("batch", cfg.batch), ("crop", cfg.crop)):
        if v < 1:
            raise InvalidInputError(f"--{field} must be ≥ 1, got {v}")
    if cfg.device != "auto":
        resolve_device(cfg.device)  # clear error when CUDA is asked for but absent
    has_checkpoint = (Path(cfg.out_dir) / "checkpoint.safetensors").exists()
    if args.resume and not has_checkpoint:
        raise InvalidInputError(f"--resume: {cfg.out_dir} holds no checkpoint.safetensors to continue from")
    if has_checkpoint and not args.resume:
        raise InvalidInputError(f"{cfg.out_dir} already holds a training run: pass --resume to continue it, "
                                "or choose another --out")
    mc = ModelConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.model.items()})
    sets = training_sets(cfg, data_sets(args, mc))
    probe = None
    if args.probe or args.probe_pair:
        probe = probe_tiles(probe_data(args))
    desc = ", ".join(f"{s.name} ({s.kind}, {len(s)}, w={s.weight:.2f})" for s in sets)
    print(f"training {cfg.modality} model → {cfg.out_dir} (config {args.config}: {cfg.steps} steps, batch "
          f"{cfg.batch}, crop {cfg.crop}); data: {desc}")
    model, history = train(cfg, sets, probe=probe, progress=not args.no_progress)
    steps = history["steps"]
    if steps:
        print(f"loss {steps[0]['loss']:.4g} (step {steps[0]['step']}) → {steps[-1]['loss']:.4g} "
              f"(step {steps[-1]['step']}); {history['elapsed_s']:.0f} s; log {Path(cfg.out_dir) / 'train_log.json'}")
    if args.export:
        from geocodec.model_file import save_model_file  # joint or single-modality: one sealed format

        sha = save_model_file(model, args.export, name=args.name, version=args.version,
                              note=json.dumps({"train_config": args.config, "steps": history.get("final_step")}))
        print(f"exported {args.export} (sha256 {sha})")
    return 0
