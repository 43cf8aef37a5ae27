"""``geocodec finetune-task``: finetune the codec, both decoders, a classifier and γ for a labelled task."""

from __future__ import annotations

from pathlib import Path

from geocodec.commands.arguments import float_list

from geocodec.errors import InvalidInputError
from geocodec.options import PRECISIONS


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "finetune-task", help="task-driven finetuning: codec + classifier + learned γ on rate + λ·CE",
        description="Train a classifier on the uncompressed pairs, then finetune the joint codec, both decoders, "
                    "the classifier and one γ per λ on rate + λ·CE (Valsesia & Bianchi 2025, eq. 4). Evaluates by "
                    "scene-grouped cross-validation (and on --test, never trained on) against the default codec "
                    "and independent coding finetuned the same way. Writes DIR/model.safetensors (sealed, with its "
                    "learned γ: compress(..., gamma='learned')), DIR/classifier.safetensors, DIR/task_report.json "
                    "and DIR/rate_accuracy.png. Rerun with --resume to continue an interrupted run.")
    p.add_argument("--data", required=True, help="pairs Zarr store: optical, sar and the label variable per sample")
    p.add_argument("--labels", required=True, metavar="NAME",
                   help="per-sample label variable or coordinate: ';'-separated class names or integer class ids")
    p.add_argument("--group", default="scene", help="per-sample variable the folds are grouped by (default scene)")
    p.add_argument("--lmbdas", type=float_list, default=None, metavar="L1,L2,...",
                   help="rate points, one learned γ each (default 0.002,0.01,0.05)")
    rate = p.add_mutually_exclusive_group()
    rate.add_argument("--steps", type=int, default=None, help="steps per finetune (default 200)")
    rate.add_argument("--epochs", type=float, default=None, help="instead of --steps: passes over the samples")
    p.add_argument("--classifier", default="small-cnn",
                   help="small-cnn (built in, trained from scratch); your own torch.nn.Module via the Python API "
                        "(geocodec.training.task.finetune_task)")
    p.add_argument("--classifier-steps", type=int, default=None, help="classifier steps on uncompressed data (default 200)")
    p.add_argument("--folds", type=int, default=None, help="cross-validation folds (default 3)")
    p.add_argument("--test", default=None,
                   help="held-out BigEarthNet example GeoTIFF folder (default: bigearthnet-example-geotiff next to "
                        "--data, when there)")
    for name, typ in (("batch", int), ("crop", int), ("lr", float), ("gamma-lr", float), ("ce-scale", float),
                      ("seed", int)):
        p.add_argument(f"--{name}", type=typ, default=None)
    p.add_argument("--init-from", default=None, help="the codec to finetune (registered name or file; default)")
    p.add_argument("--precision", choices=PRECISIONS, default=None,
                   help="auto (bf16 where the CPU has bf16 units, else fp32), fp32 or bf16")
    p.add_argument("--name", default="task", help="model name stored in the written model file")
    p.add_argument("--version", default="0.1.0", help="model version stored in the written model file")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--out", required=True, metavar="DIR")
    p.set_defaults(func=run)


def run(args) -> int:
    from geocodec.training.task import TaskConfig, finetune_task

    if args.classifier != "small-cnn":
        raise InvalidInputError(f"--classifier {args.classifier!r}: the command line has the built-in 'small-cnn'; "
                                "pass your own torch.nn.Module to geocodec.training.task.finetune_task")
    out = Path(args.out)
    if (out / "work").exists() and not args.resume:
        raise InvalidInputError(f"{out} already holds a finetune-task run: pass --resume to continue it, "
                                "or choose another --out")
    if args.resume and not (out / "work").exists():
        raise InvalidInputError(f"--resume: {out} holds no finetune-task run to continue")
    cfg = TaskConfig()
    for field, value in (("lmbdas", args.lmbdas), ("steps", args.steps), ("epochs", args.epochs),
                         ("classifier_steps", args.classifier_steps), ("folds", args.folds), ("batch", args.batch),
                         ("crop", args.crop), ("lr", args.lr), ("gamma_lr", args.gamma_lr),
                         ("ce_scale", args.ce_scale), ("seed", args.seed), ("init_from", args.init_from),
                         ("precision", args.precision)):
        if value is not None:
            setattr(cfg, field, value)
    test = args.test
    if test is None:
        guess = Path(args.data).parent / "bigearthnet-example-geotiff"
        test = str(guess) if guess.is_dir() else None
    out.mkdir(parents=True, exist_ok=True)
    report = finetune_task(args.data, args.labels, out, cfg, test=test, group=args.group, name=args.name,
                           version=args.version)
    print(report["table_markdown"])
    print(f"wrote {out / 'model.safetensors'} (sha256 {report['outputs']['model_sha256']}), "
          f"{out / 'classifier.safetensors'}, {out / 'task_report.json'}, {out / report['plot']}")
    return 0
