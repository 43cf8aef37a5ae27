"""``geocodec evaluate``: rate–distortion sweep against JPEG 2000, JPEG XL and independent coding, chunk seams
→ JSON, PNGs and a Markdown summary."""

from __future__ import annotations

from pathlib import Path

from geocodec.commands.arguments import float_list


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate", help="rate–distortion evaluation (JSON + PNG plots)",
        description="Sweep λ × γ of a geocodec model on real validation pairs (120 px BigEarthNet pairs and "
                    "256² tiles) and compare with JPEG 2000, JPEG XL and independent coding (two "
                    "single-modality models); measure chunk seams; writes OUT/evaluation.json, "
                    "OUT/summary.md and PNG plots.")
    p.add_argument("--model", default="default", help="registered model name or .safetensors path")
    p.add_argument("--data-root", help="folder holding the validation sets (bigearthnet-example-geotiff/, "
                                       "sen1floods11-spain/)")
    p.add_argument("--sets", type=lambda s: [v for v in s.split(",") if v],
                   help="comma-separated validation sets (default: bigearthnet-geotiff,sen1floods11-spain-256)")
    p.add_argument("--pair", action="append", nargs=2, default=[], metavar=("OPTICAL_TIF", "SAR_TIF"),
                   help="an extra multi-band GeoTIFF pair to evaluate (repeatable)")
    p.add_argument("--optical-bands", type=lambda s: tuple(int(v) for v in s.split(",")),
                   help="1-based optical bands of --pair files (default: 2,3,4,8 of a 13-band stack, else all)")
    p.add_argument("--indep-optical", help="independent-coding optical model (.safetensors or run folder)")
    p.add_argument("--indep-sar", help="independent-coding SAR model (.safetensors or run folder)")
    p.add_argument("--lambdas", type=int, default=6, help="λ values per γ curve (log-spaced over the range)")
    p.add_argument("--lambdas-indep", type=int, default=8, help="λ values per independent model")
    p.add_argument("--gammas", type=float_list, default=(0.1, 0.5, 0.9), help="comma-separated γ values")
    p.add_argument("--baselines", type=lambda s: tuple(v for v in s.split(",") if v), default=("jpeg2000", "jpegxl"),
                   help="image-codec baselines, comma-separated (default: jpeg2000,jpegxl; '' for none)")
    p.add_argument("--j2k-targets", type=float_list, default=None,
                   help="JPEG 2000 target bits per sample, comma-separated")
    p.add_argument("--jxl-distances", type=float_list, default=None,
                   help="JPEG XL Butteraugli distances (0.1–25), comma-separated")
    p.add_argument("--seam-chunk", type=int, default=256,
                   help="chunk side of the seam measurement on scenes ≥ 2×2 chunks (0: skip)")
    p.add_argument("--seam-lambdas", type=float_list, default=None, help="λ values of the seam measurement")
    p.add_argument("--seam-overlap", type=int, default=32,
                   help="also code the seam scene's chunks with this many px of context (0: not)")
    p.add_argument("--target-bpps", type=float_list, default=None,
                   help="absolute joint-bpp targets of the target-bitrate sweep, comma-separated")
    p.add_argument("--target-fractions", type=float_list, default=None,
                   help="targets inside each pair's reachable range (0 = λ_min … 1 = λ_max, log bpp)")
    p.add_argument("--max-pairs", type=int, help="at most this many pairs per set")
    p.add_argument("--refine-steps", type=int, default=0,
                   help="encode geocodec's chunks with this many latent refinement steps (0 = off)")
    p.add_argument("--device", default="cpu", help="cpu (default), auto or cuda[:N]")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--no-ms-ssim", action="store_true", help="skip MS-SSIM")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--out", default="geocodec-evaluation", help="output folder (default: geocodec-evaluation)")
    p.set_defaults(func=run)


def run(args) -> int:
    from geocodec.errors import InvalidInputError
    from geocodec.evaluation import EvalConfig, run_evaluation
    from geocodec.evaluation.datasets import load_geotiff_pair

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.data_root is None and not args.pair:
        raise InvalidInputError("nothing to evaluate: give --data-root (validation sets) and/or --pair")
    if args.lambdas < 2 or args.lambdas_indep < 2:
        raise InvalidInputError("--lambdas and --lambdas-indep must be ≥ 2 (a curve needs two points)")
    if any(not 0 <= g <= 1 for g in args.gammas) or not args.gammas:
        raise InvalidInputError(f"--gammas must lie in [0, 1], got {args.gammas}")
    extra = [load_geotiff_pair(opt_path, sar_path, name=Path(opt_path).stem, dataset="pairs",
                               optical_indexes=args.optical_bands)
             for opt_path, sar_path in args.pair]
    from geocodec.evaluation.baselines import IMAGE_CODECS

    unknown = [b for b in args.baselines if b not in IMAGE_CODECS]
    if unknown:
        raise InvalidInputError(f"--baselines: unknown {unknown}; known: {list(IMAGE_CODECS)}")
    cfg = EvalConfig(model=args.model, indep_optical=args.indep_optical, indep_sar=args.indep_sar,
                     data_root=args.data_root, sets=args.sets, n_lambdas=args.lambdas,
                     n_lambdas_indep=args.lambdas_indep, gammas=tuple(args.gammas), max_pairs=args.max_pairs,
                     device=args.device, out_dir=args.out, plots=not args.no_plots,
                     with_ms_ssim=not args.no_ms_ssim, extra_pairs=extra, baselines=tuple(args.baselines),
                     seam_chunk=args.seam_chunk, seam_overlap=args.seam_overlap, refine_steps=args.refine_steps)
    for name in ("j2k_targets", "jxl_distances", "target_bpps", "target_fractions", "seam_lambdas"):
        v = getattr(args, name)
        if v is not None:
            setattr(cfg, name, tuple(v))
    result = run_evaluation(cfg)
    print(f"wrote {Path(args.out) / 'evaluation.json'} ({len(result.get('plots', []))} plots) "
          f"in {result['timing_s']['total']:.0f} s")
    return 0
