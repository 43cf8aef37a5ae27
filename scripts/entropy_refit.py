"""Refit a lighter entropy model on a trained codec's frozen latents: what cheaper entropy decoding costs in rate.

Entropy decoding runs the parameter nets at every latent position (a stride-8 latent has 4× the
positions of a stride-16 one), so their widths set its time. The transforms fix the latents, and
the entropy model only has to predict them: with the analysis frozen, a lighter entropy model
(``ModelConfig``'s ``context_channels``, ``parameter_channels``, ``spatial_kernel``,
``hyper_kernel``) can be fitted on the latents alone, and its rate cost measured exactly, at equal
latents and so at equal distortion. The student starts from the trained nets, pruned: the hidden
channels with the largest weight norms in and out, the central taps of shrunk kernels.

Reported, per validation set and λ (γ = 0.5): the real coded size (rANS, integer nets) of the
original and the refitted entropy model, and the entropy-decoding time of a 256² latent for each
(process CPU time, one thread, median of 5, interleaved). Writes JSON.

    python scripts/entropy_refit.py checkpoints/recipe --widths '{"context_channels": 48}' \\
        --minutes 30 --json runs/refit.json -- <the data arguments of scripts/train-default.sh>

Everything after ``--`` is parsed as ``geocodec train`` arguments (``--data``, ``--optical-only``,
``--sar-only``, ``--probe``, ``--probe-pair``): the latents come from the training data with the
training's λ and γ draws, the validation from the probe sets.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from geocodec.commands import train as train_command
from geocodec.model.config import ModelConfig
from geocodec.model.entropy import LatentEntropyModel
from geocodec.model.joint import JointCodecModel
from geocodec.training.checkpoint import model_tensors
from geocodec.training.data import crop_size, draw_conditions, training_batch
from geocodec.training.entropy_refit import fit, pruned_student
from geocodec.training.probe import PROBE_GAMMA, pad_to, probe_lambdas, probe_tiles

BATCH, CROP = 8, 128


def load_run(run: Path) -> JointCodecModel:
    log = json.loads((run / "train_log.json").read_text())
    model = JointCodecModel(ModelConfig.from_json(json.dumps(log["model"]))).eval()
    tensors = load_file(str(run / "checkpoint.safetensors"))
    model.load_state_dict(model_tensors(tensors), strict=False)
    return model


def latent_bank(model: JointCodecModel, sets, rng, n_batches: int) -> list[torch.Tensor]:
    """Latents y of training crops, drawn as training draws them (set weights, λ log-uniform, γ)."""
    c = model.config
    weights = np.array([s.weight for s in sets], np.float64)
    weights /= weights.sum()
    crops = [crop_size(s, CROP) for s in sets]
    log_lambda = (math.log(c.lmbda_min), math.log(c.lmbda_max))
    bank = []
    with torch.no_grad():
        for _ in range(n_batches):
            k = int(rng.choice(len(sets), p=weights))
            o, s, kind = training_batch(sets, k, BATCH, crops, rng, (c.n_optical, c.n_sar), True)
            gamma, lmbda = draw_conditions(rng, BATCH, kind, log_lambda)
            bank.append(model.analysis(torch.from_numpy(o), torch.from_numpy(s), torch.from_numpy(gamma),
                                       torch.from_numpy(lmbda)))
    return bank


def validation_latents(model: JointCodecModel, tiles) -> list[tuple[str, float, torch.Tensor, int]]:
    """(set, λ, y, pixels) per probe tile and λ, padded as the codec pads."""
    out = []
    m = model.config.pad_multiple
    with torch.no_grad():
        for t in tiles:
            h, w = t.optical.shape[-2:]
            o, s = (pad_to(torch.from_numpy(a), m) for a in (t.optical, t.sar))
            for lam in probe_lambdas(model.config):
                y = model.analysis(o, s, torch.tensor([PROBE_GAMMA]), torch.tensor([lam]))
                out.append((t.set, lam, y, h * w))
    return out


def coded_bits(entropy: LatentEntropyModel, y: torch.Tensor) -> int:
    (s,) = entropy.compress(y)
    return 8 * (len(s.y) + len(s.z))


def decode_ms(entropy: LatentEntropyModel, streams, hw: tuple[int, int]) -> float:
    t = time.process_time()
    entropy.decompress(streams, hw, "cpu")
    return 1e3 * (time.process_time() - t)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ours, data_args = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="a training run's folder (checkpoint.safetensors + train_log.json)")
    p.add_argument("--widths", type=json.loads, required=True, help="ModelConfig fields of the student, as JSON")
    p.add_argument("--minutes", type=float, default=30.0, help="CPU minutes of fitting")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--latent-batches", type=int, default=96, help=f"training-crop latent batches of {BATCH} to fit on")
    p.add_argument("--json", type=Path, required=True)
    p.add_argument("--export", type=Path, help="also write the codec with the refitted entropy model (a model file; "
                   "the transforms are the run's): a candidate to evaluate, or a warm start (`--init-from`)")
    p.add_argument("--name", default="refit", help="model name stored in the exported file")
    p.add_argument("--version", default="0.0.1", help="model version stored in the exported file")
    args = p.parse_args(ours)
    torch.set_num_threads(1)
    data_parser = argparse.ArgumentParser(prog="entropy_refit.py … --")
    train_command.add_data_arguments(data_parser)
    targs = data_parser.parse_args(data_args)

    teacher = load_run(args.run)
    cfg = ModelConfig.from_json(json.dumps({**json.loads(teacher.config.to_json()), **args.widths}))
    student = pruned_student(teacher.entropy, cfg)
    rng = np.random.default_rng(0)
    sets = train_command.data_sets(targs, teacher.config)
    bank = latent_bank(teacher, sets, rng, args.latent_batches)
    val = validation_latents(teacher, probe_tiles(train_command.probe_data(targs)))
    print(f"{len(bank)} latent batches, {len(val)} validation latents", flush=True)
    history = fit(student, bank, teacher.config.latent_stride, args.minutes, args.lr, lambda s: print(s, flush=True))
    for e in (teacher.entropy, student):
        e.freeze_tables()
    rows = {}
    for name, lam, y, px in val:
        r = rows.setdefault(f"{name} λ={lam:g}", {"pixels": 0, "teacher_bits": 0, "student_bits": 0})
        r["pixels"] += px
        r["teacher_bits"] += coded_bits(teacher.entropy, y)
        r["student_bits"] += coded_bits(student, y)
    y256 = next(y for _, _, y, px in val if px == 256 * 256)
    coders = {"teacher": teacher.entropy, "student": student}
    streams = {key: e.compress(y256) for key, e in coders.items()}
    times = {key: [] for key in coders}
    for _ in range(5):  # interleaved
        for key, e in coders.items():
            times[key].append(decode_ms(e, streams[key], tuple(y256.shape[-2:])))
    result = {"run": str(args.run), "student": json.loads(cfg.to_json()), "fit_minutes": args.minutes,
              "history": history, "rows": rows,
              "decode_ms_256": {k: statistics.median(v) for k, v in times.items()}}
    print(f"\n| set, λ | original bpp | refit bpp | change |\n|---|---|---|---|")
    for key, r in rows.items():
        tb, sb = r["teacher_bits"] / (2 * r["pixels"]), r["student_bits"] / (2 * r["pixels"])
        print(f"| {key} | {tb:.4f} | {sb:.4f} | {100 * (sb / tb - 1):+.2f} % |")
    d = result["decode_ms_256"]
    print(f"\nentropy decode of a 256² latent: original {d['teacher']:.1f} ms, refit {d['student']:.1f} ms "
          f"({d['teacher'] / d['student']:.2f}×)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    if args.export:
        export(teacher, student, cfg, args)
    return 0


def export(teacher: JointCodecModel, student: LatentEntropyModel, cfg: ModelConfig, args) -> None:
    from geocodec.model_file import save_model_file

    codec = JointCodecModel(cfg).eval()
    codec.load_state_dict({k: v for k, v in teacher.state_dict().items() if not k.startswith("entropy.")}, strict=False)
    codec.entropy.load_state_dict(student.state_dict())
    note = {"transforms": str(args.run), "entropy": f"refitted on frozen latents for {args.minutes:g} CPU-minutes"}
    sha = save_model_file(codec, args.export, name=args.name, version=args.version, note=json.dumps(note))
    print(f"exported {args.export} (sha256 {sha})")


if __name__ == "__main__":
    raise SystemExit(main())
