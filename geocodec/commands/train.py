"""``geocodec train``: train (or resume) a joint model, or an independent-coding baseline model."""

from __future__ import annotations

import json
from pathlib import Path

from geocodec.errors import InvalidInputError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a model on co-registered pairs",
        description="Train a geocodec model (resumes when OUT already holds a checkpoint). Named "
                    "configurations: tiny (seconds, CI), cpu (the shipped default, ~1 h on 2 cores), "
                    "gpu (one CUDA device).")
    p.add_argument("--config", default="cpu", help="named configuration: tiny, cpu or gpu (default cpu)")
    p.add_argument("--data", action="append", default=[], metavar="PATH",
                   help="a .zarr pair store or a BigEarthNet S1/S2 GeoTIFF folder (repeatable)")
    p.add_argument("--pair", action="append", nargs=2, default=[], metavar=("OPTICAL_TIF", "SAR_TIF"),
                   help="a multi-band GeoTIFF pair on one grid (repeatable)")
    p.add_argument("--optical-bands", type=lambda s: tuple(int(v) for v in s.split(",")),
                   help="1-based optical bands of --pair files (default: 2,3,4,8 of a 13-band stack, else all)")
    p.add_argument("--out", help="run folder (checkpoint, train_log.json); default runs/<config>")
    p.add_argument("--modality", choices=("joint", "optical", "sar"), default=None,
                   help="joint (default) or a single-modality independent-coding baseline")
    p.add_argument("--pretrain-optical", action="append", default=[], metavar="TIF",
                   help="optical-only GeoTIFF(s) (bands B02,B03,B04,B08) to pre-train the optical branch on")
    p.add_argument("--pretrain-steps", type=int, default=None,
                   help="optical pre-training steps (default: a tenth of --steps)")
    for name, typ in (("steps", int), ("batch", int), ("crop", int), ("lr", float), ("seed", int),
                      ("threads", int), ("max-minutes", float)):
        p.add_argument(f"--{name}", type=typ, default=None)
    p.add_argument("--device", default=None, help="auto, cpu or cuda[:N]")
    p.add_argument("--export", metavar="FILE", help="write the trained weights (.safetensors) here")
    p.add_argument("--name", default="custom", help="model name stored in the exported file")
    p.add_argument("--version", default="0.1.0", help="model version stored in the exported file")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from geocodec.registry import resolve_device
    from geocodec.train import train
    from geocodec.train_presets import preset
    from geocodec.training_data import load_training_data

    cfg = preset(args.config, steps=args.steps, batch=args.batch, crop=args.crop, lr=args.lr, seed=args.seed,
                 threads=args.threads, max_minutes=args.max_minutes, device=args.device, modality=args.modality,
                 out_dir=args.out or f"runs/{args.config}")
    for field, v in (("steps", cfg.steps), ("batch", cfg.batch), ("crop", cfg.crop)):
        if v < 1:
            raise InvalidInputError(f"--{field} must be ≥ 1, got {v}")
    if cfg.device != "auto":
        resolve_device(cfg.device)  # clear error when CUDA is asked for but absent
    pairs = load_training_data(args.data, [tuple(p) for p in args.pair], args.optical_bands)
    from geocodec.model import ModelConfig

    mc = ModelConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.model.items()})
    for k, (o, s) in enumerate(zip(pairs.optical, pairs.sar)):
        if o.shape[0] != mc.n_optical or s.shape[0] != mc.n_sar or o.shape[1:] != s.shape[1:]:
            raise InvalidInputError(
                f"training pair {k}: optical {o.shape} / SAR {s.shape} do not fit the model "
                f"({mc.n_optical} optical bands {list(mc.optical_bands)}, {mc.n_sar} SAR bands, one grid)")
    if args.pretrain_optical:
        if cfg.modality == "sar":
            raise InvalidInputError("--pretrain-optical pre-trains the optical branch: not for a SAR-only model")
        from geocodec.pretrain import pretrain_optical

        steps = args.pretrain_steps or max(1, cfg.steps // 10)
        init = pretrain_optical(cfg, args.pretrain_optical, steps, progress=not args.no_progress)
        print(f"optical pre-training: {steps} steps → {init}")
        cfg.init_from = str(init)
    print(f"training {cfg.modality} model on {len(pairs)} pairs → {cfg.out_dir} "
          f"(config {args.config}: {cfg.steps} steps, batch {cfg.batch}, crop {cfg.crop})")
    model, history = train(cfg, pairs, progress=not args.no_progress)
    steps = history["steps"]
    if steps:
        print(f"loss {steps[0]['loss']:.4g} (step {steps[0]['step']}) → {steps[-1]['loss']:.4g} "
              f"(step {steps[-1]['step']}); {history['elapsed_s']:.0f} s; log {Path(cfg.out_dir) / 'train_log.json'}")
    if args.export:
        if cfg.modality == "joint":
            from geocodec.model_file import save_model_file

            sha = save_model_file(model, args.export, name=args.name, version=args.version,
                                  note=json.dumps({"train_config": args.config, "steps": history.get("final_step")}))
        else:
            from geocodec.single_modality import save_single_model

            sha = save_single_model(model, args.export, name=args.name, version=args.version)
        print(f"exported {args.export} (sha256 {sha})")
    return 0
