"""One evaluation run: every codec on every validation set, written as JSON, PNG plots and a Markdown summary.

The same pixels go through every codec and every rate is actual bytes / (2·H·W):
geocodec (curves over λ for each γ, and their envelope), JPEG 2000 and JPEG XL (one codestream
set per modality, envelope over all rate splits), independent coding (two single-modality models,
when given; charged one geocodec header). Quality: PSNR per modality with the documented peaks,
joint quality = mean of the two PSNRs, MS-SSIM per modality. Also the target-bitrate sweep and,
for scenes of several chunks, the chunk-seam figure (``seams``). Results are reported, never judged:
acceptance thresholds belong to whoever reads the report.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from geocodec.errors import InvalidInputError
from geocodec.evaluation.baselines import IMAGE_CODECS, ImageCodecName, image_codec
from geocodec.evaluation.datasets import ValidationPair
from geocodec.metrics import PEAK_OPTICAL, PEAK_SAR_DB, ms_ssim_scales
from geocodec.evaluation.summary import summarize_set
from geocodec.evaluation.sweeps import (
    f32, sweep_geocodec, sweep_image_codec, sweep_independent, sweep_target_bpp)

DEFAULT_GAMMAS = (0.1, 0.5, 0.9)
#: Target-bitrate sweep: positions inside each pair's reachable bpp range (0 = λ_min, 1 = λ_max, in
#: log bpp), plus absolute joint-bpp targets (which may lie outside the range: clamped behaviour).
DEFAULT_TARGET_FRACTIONS = (0.15, 0.4, 0.65, 0.9)
DEFAULT_TARGET_BPPS = (0.1, 0.3, 1.0)
#: The chunk side of the seam measurement and the validation set whose whole scenes it codes.
DEFAULT_SEAM_CHUNK = 256
SEAM_SET = "sen1floods11-spain"


@dataclass
class EvalConfig:
    """What one evaluation run measures. Settings of the image codecs: None = the codec's default sweep."""

    model: str = "default"
    indep_optical: str | None = None  # .safetensors single-modality file or training run folder
    indep_sar: str | None = None
    data_root: str | None = None
    sets: list[str] | None = None
    n_lambdas: int = 6
    n_lambdas_indep: int = 8
    gammas: tuple[float, ...] = DEFAULT_GAMMAS
    baselines: tuple[ImageCodecName, ...] = IMAGE_CODECS
    j2k_targets: tuple[float, ...] | None = None
    jxl_distances: tuple[float, ...] | None = None
    target_fractions: tuple[float, ...] = DEFAULT_TARGET_FRACTIONS
    target_bpps: tuple[float, ...] = DEFAULT_TARGET_BPPS
    seam_chunk: int = DEFAULT_SEAM_CHUNK  # 0: no seam measurement
    seam_lambdas: tuple[float, ...] | None = None  # None: 3 λ across the model's range
    seam_overlap: int = 32  # also code the chunks with this many px of context (0: not)
    max_pairs: int | None = None
    device: Literal["cpu", "auto"] | str = "cpu"
    out_dir: str = "evaluation"
    plots: bool = True
    with_ms_ssim: bool = True
    batch_size: int = 16
    refine_steps: int = 0  # encode-time latent refinement of geocodec's chunks (geocodec.model.refine)
    extra_pairs: list = field(default_factory=list, repr=False)  # ValidationPair objects given directly


def _load_indep(spec, device):
    from geocodec.training.single_model_file import load_single_model, model_from_checkpoint

    p = Path(spec)
    if p.is_dir():
        return model_from_checkpoint(p, device)
    if p.suffix == ".safetensors" and p.is_file():
        return load_single_model(p, device)
    raise InvalidInputError(f"independent-coding model {spec!r}: give a single-modality .safetensors file "
                            "or a training run folder (train_log.json + checkpoint.safetensors)")


def collect_pairs(cfg: EvalConfig) -> dict[str, list[ValidationPair]]:
    from geocodec.evaluation.datasets import load_validation_sets

    sets: dict[str, list[ValidationPair]] = {}
    if cfg.data_root is not None:
        sets.update(load_validation_sets(cfg.data_root, cfg.sets))
    for p in cfg.extra_pairs:
        sets.setdefault(p.dataset, []).append(p)
    if not sets:
        raise InvalidInputError("nothing to evaluate: give a data root with validation sets or pairs")
    if cfg.max_pairs is not None:
        sets = {k: v[:cfg.max_pairs] for k, v in sets.items()}
    return sets


def seam_scenes(cfg: EvalConfig) -> list[ValidationPair]:
    """Scenes of at least 2 × 2 chunks: the whole Spain pair (from the data root) and large extra pairs."""
    if cfg.seam_chunk <= 0:
        return []
    out = []
    if cfg.data_root is not None:
        from geocodec.evaluation.datasets import VALIDATION_SETS

        folder, loader = VALIDATION_SETS[SEAM_SET]
        if (Path(cfg.data_root) / folder).exists():
            out += loader(Path(cfg.data_root) / folder)
    out += [p for p in cfg.extra_pairs if min(p.shape) >= 2 * cfg.seam_chunk]
    return out


def _settings(cfg: EvalConfig, name: str):
    given = {"jpeg2000": cfg.j2k_targets, "jpegxl": cfg.jxl_distances}[name]
    return tuple(given) if given is not None else image_codec(name).DEFAULT_SETTINGS


def run_evaluation(cfg: EvalConfig, *, log=print) -> dict:
    """Run every sweep, write ``<out_dir>/evaluation.json``, PNG plots and ``summary.md``; return the result.

    Parameters
    ----------
    cfg : EvalConfig
    log : callable
        Progress lines go here.

    Returns
    -------
    dict
        What ``evaluation.json`` holds.
    """
    import torch

    from geocodec import __version__ as geocodec_version
    from geocodec.evaluation.seams import measure_seams
    from geocodec.registry import load_model

    t_start = time.perf_counter()
    model = load_model(cfg.model, cfg.device)
    lo, hi = model.lmbda_range
    lmbdas = [f32(v) for v in np.geomspace(lo, hi, cfg.n_lambdas)]
    indep_lmbdas = [f32(v) for v in np.geomspace(lo, hi, cfg.n_lambdas_indep)]
    indep = None
    if (cfg.indep_optical is None) != (cfg.indep_sar is None):
        raise InvalidInputError("give both independent-coding models (optical and SAR) or neither")
    if cfg.indep_optical is not None:
        indep = (_load_indep(cfg.indep_optical, cfg.device), _load_indep(cfg.indep_sar, cfg.device))
        if indep[0].modality != "optical" or indep[1].modality != "sar":
            raise InvalidInputError("independent-coding models must be an optical and a SAR model, in that order")
    codecs = {}
    for name in cfg.baselines:
        mod = image_codec(name)
        if mod.available():
            codecs[name] = mod
        else:
            log(f"warning: baseline {name} is unavailable here: its comparisons are skipped")
    sets = collect_pairs(cfg)
    result = {
        "model": {"name": model.name, "version": model.version, "sha256": model.sha256, "lmbda_range": [lo, hi],
                  "refine_steps": cfg.refine_steps},
        "independent_models": None if indep is None else {
            m.modality: {"source": str(s), "sha256": getattr(m, "sha256", None)}
            for m, s in zip(indep, (cfg.indep_optical, cfg.indep_sar))},
        "config": {k: v for k, v in asdict(cfg).items() if k != "extra_pairs"},
        "lmbdas": lmbdas, "indep_lmbdas": indep_lmbdas,
        "baselines": {n: {"setting": m.SETTING, "settings": list(_settings(cfg, n))} for n, m in codecs.items()},
        "rate_accounting": "bpp = 8·bytes / (2·H·W); geocodec: whole chunk incl. header; independent: "
                           "both rANS payloads + one geocodec header; JPEG 2000 / JPEG XL: all raw codestreams "
                           "of both modalities (JPEG XL: one per band)",
        "psnr_peaks": {"optical": PEAK_OPTICAL, "sar_db": PEAK_SAR_DB},
        "ms_ssim_note": "images under 161 px use fewer scales (weights renormalised): "
                        "120 px → %d scales, 256 px → 5" % ms_ssim_scales(120, 120),
        "software": {"geocodec": geocodec_version, "torch": torch.__version__, **_baseline_versions()},
        "sets": {}, "timing_s": {},
    }
    for name, pairs in sets.items():
        log(f"[{name}] {len(pairs)} pairs")
        timing = {}
        t0 = time.perf_counter()
        geo = sweep_geocodec(model, pairs, lmbdas, cfg.gammas, device=cfg.device, batch_size=cfg.batch_size,
                             with_ms_ssim=cfg.with_ms_ssim, refine_steps=cfg.refine_steps)
        timing["geocodec"] = time.perf_counter() - t0
        ind = None
        if indep is not None:
            t0 = time.perf_counter()
            ind = sweep_independent(*indep, pairs, indep_lmbdas, with_ms_ssim=cfg.with_ms_ssim)
            timing["independent"] = time.perf_counter() - t0
        base = {}
        for cname, mod in codecs.items():
            t0 = time.perf_counter()
            base[cname] = sweep_image_codec(mod, pairs, _settings(cfg, cname), with_ms_ssim=cfg.with_ms_ssim)
            timing[cname] = time.perf_counter() - t0
        t0 = time.perf_counter()
        tb = sweep_target_bpp(model, pairs, geo, 0.5 if 0.5 in cfg.gammas else cfg.gammas[0],
                              cfg.target_fractions, cfg.target_bpps, device=cfg.device,
                              refine_steps=cfg.refine_steps)
        timing["target_bpp"] = time.perf_counter() - t0
        summary = summarize_set(pairs, geo, cfg.gammas, independent=ind, image_codecs=base)
        rows = [r for pr in tb for r in pr]
        summary["target_bpp"] = {"n": len(rows), "n_pass": sum(r["passes"] for r in rows),
                                 "max_abs_error_reachable": max(
                                     [abs(r["ratio"] - 1) for r in rows if r["reachable"]], default=None)}
        result["sets"][name] = {
            "summary": summary,
            "pairs": [{"name": p.name, "shape": list(p.shape), "optical_dtype": p.optical.dtype.name,
                       "geocodec": g, "independent": None if ind is None else ind[k],
                       **{c: base[c][k] for c in base}, "target_bpp": tb[k]}
                      for k, (p, g) in enumerate(zip(pairs, geo))],
        }
        result["timing_s"][name] = timing
        bd = summary["bd_rate_percent"]
        log(f"[{name}] BD-rate (pchip) " + "; ".join(
            f"vs {b}: {_pct(bd[f'geocodec_vs_{b}']['pchip'])}" for b in summary["baselines"])
            + f"; target-bpp {summary['target_bpp']['n_pass']}/{summary['target_bpp']['n']} pass; "
            f"{sum(timing.values()):.0f} s")
    scenes = seam_scenes(cfg)
    if scenes:
        t0 = time.perf_counter()
        seam_l = cfg.seam_lambdas or tuple(f32(v) for v in np.geomspace(lo, hi, 3))
        result["seams"] = [measure_seams(model, p, cfg.seam_chunk, seam_l, overlap=cfg.seam_overlap,
                                         device=cfg.device) for p in scenes]
        result["timing_s"]["seams"] = time.perf_counter() - t0
        for s in result["seams"]:
            d = s["decoded"][0]
            log(f"[seams] {s['pair']} {s['chunk']} px chunks, λ={d['lmbda']:.3g}: optical |Δ| border "
                f"{d['optical']['border']:.1f} vs {d['optical']['elsewhere']:.1f} elsewhere (input "
                f"{s['input']['optical']['border']:.1f} vs {s['input']['optical']['elsewhere']:.1f})")
    result["timing_s"]["total"] = time.perf_counter() - t_start
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.plots:
        from geocodec.evaluation.plots import plot_all

        result["plots"] = plot_all(jsonable(result), out)
    (out / "evaluation.json").write_text(json.dumps(jsonable(result), indent=1, allow_nan=False))
    from geocodec.evaluation.report import markdown_summary

    (out / "summary.md").write_text(markdown_summary(jsonable(result)))
    return result


def _pct(v):
    return "n/a" if v is None else f"{v:+.1f} %"


def _baseline_versions() -> dict:
    out = {}
    for mod, attr in (("glymur", "__version__"), ("imagecodecs", "__version__")):
        try:
            out[mod] = getattr(__import__(mod), attr)
        except Exception:  # noqa: BLE001 - an absent baseline library has no version
            out[mod] = None
    try:
        import imagecodecs

        out["libjxl"] = imagecodecs.jpegxl_version()
    except Exception:  # noqa: BLE001
        pass
    return out


def jsonable(x):
    """inf/NaN → None (strict JSON), numpy scalars → Python, tuples → lists."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x
