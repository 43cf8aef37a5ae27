"""A fixed validation probe, run at every checkpoint: the autoencoder's floor and two R-D points.

The *floor* is the PSNR the decoders reach from the exact, unquantised latent: no rate can buy
more than it, so it tells whether the autoencoder or the entropy model limits quality. The R-D
points use the model's own (straight-through rounded) latent and its likelihoods, so they track
the real codec without running the rANS coder.

Every PSNR is given twice: on normalised data (peak 1, each tile's own percentile range), and in
physical units with the evaluation's documented peaks (``*_phys``: optical 10000, SAR 70 dB), by
scaling each band's error by its tile's normalisation span. The two can disagree (a run whose
normalised probe was level with v1.0.0 lost 13 % BD-rate in physical units on L1C tiles), and
the model ships on the physical figures.
"""

from __future__ import annotations

import numpy as np
import torch

from dataclasses import dataclass

from geocodec.metrics import PEAK_OPTICAL, PEAK_SAR_DB
from geocodec.normalize import apply_scaling, fit_scaling
from geocodec.training.data import PairSet

#: λ of the R-D points: low, middle and high rate (kept inside each model's own λ range).
PROBE_LAMBDAS = (0.003, 0.03, 0.3)
PROBE_GAMMA = 0.5
#: γ of the γ probe (at the middle of the model's λ range, as tests/test_quality_targets.py asks).
GAMMA_SPREAD = (0.1, 0.9)
#: Validation arrays larger than this are cut into tiles of this size (the sizes users store).
PROBE_TILE = 256


@dataclass
class ProbeTile:
    """One validation tile, normalised like the codec does it, with each band's span (physical units
    per normalised unit) to put errors back into physical units."""

    optical: np.ndarray  # (1, C, h, w) float32
    sar: np.ndarray
    optical_span: np.ndarray  # (C,)
    sar_span: np.ndarray
    set: str = "probe"  # the validation set it comes from (results are given per set too)


def _normalised(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.nan_to_num(x, nan=float(np.nanmean(x)))
    sc = fit_scaling(x)
    return apply_scaling(x, sc)[None], (sc.hi.astype(np.float64) - sc.lo.astype(np.float64))


def probe_tiles(sets: list[PairSet]) -> list[ProbeTile]:
    """The validation pairs cut into tiles of at most ``PROBE_TILE``², normalised."""
    tiles = []
    for s in sets:
        for o, a in zip(s.optical, s.sar):
            h, w = o.shape[-2:]
            for y in range(0, h, PROBE_TILE):
                for x in range(0, w, PROBE_TILE):
                    (no, so), (na, sa) = (_normalised(v[:, y:y + PROBE_TILE, x:x + PROBE_TILE]) for v in (o, a))
                    tiles.append(ProbeTile(no, na, so, sa, s.name))
    return tiles


def pad_to(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Replicate-pad the last two axes to a multiple of ``multiple`` (as the codec pads)."""
    h, w = x.shape[-2:]
    return torch.nn.functional.pad(x, (0, -w % multiple, 0, -h % multiple), mode="replicate")


def _psnrs(a: torch.Tensor, b: torch.Tensor, span: np.ndarray, peak: float) -> tuple[float, float]:
    """(normalised, physical) PSNR of a (1, C, h, w) reconstruction."""
    per_band = ((a - b) ** 2).mean(dim=(0, 2, 3)).double().numpy()
    return float(-10 * np.log10(per_band.mean())), float(10 * np.log10(peak ** 2 / (per_band * span ** 2).mean()))


def _quality(model, y_dec: torch.Tensor, t: ProbeTile) -> tuple[float, ...]:
    """(optical, optical phys, SAR, SAR phys) PSNR of both decoders' output for tile ``t``."""
    h, w = t.optical.shape[-2:]
    return (*_psnrs(model.optical_decoder(y_dec)[..., :h, :w], torch.from_numpy(t.optical), t.optical_span, PEAK_OPTICAL),
            *_psnrs(model.sar_decoder(y_dec)[..., :h, :w], torch.from_numpy(t.sar), t.sar_span, PEAK_SAR_DB))


def probe_lambdas(config) -> tuple[float, ...]:
    """``PROBE_LAMBDAS`` clipped to the model's λ range (each once)."""
    return tuple(dict.fromkeys(min(max(lam, config.lmbda_min), config.lmbda_max) for lam in PROBE_LAMBDAS))


def _summary(floor: list, rd: dict) -> dict:
    keys = ("psnr_opt", "psnr_opt_phys", "psnr_sar", "psnr_sar_phys")
    fo, fop, fs, fsp = np.mean(floor, axis=0)
    out = {"floor_opt": float(fo), "floor_sar": float(fs), "floor_opt_phys": float(fop), "floor_sar_phys": float(fsp)}
    for lam, pts in rd.items():
        b, *q = np.mean(pts, axis=0)
        out[f"rd_{lam:g}"] = {"bpp": float(b), **{k: float(v) for k, v in zip(keys, q)}}
    return out


@torch.no_grad()
def run_probe(model, tiles) -> dict:
    """Mean floor PSNR, R-D points and γ spread (``GAMMA_SPREAD`` at ``gamma_probe_lambda``) over
    ``tiles`` (see the module docstring), and the same per validation set under ``"sets"`` when
    there are several."""
    if not tiles:
        return {}
    mult = model.config.pad_multiple
    lambdas = probe_lambdas(model.config)
    lam_mid = gamma_probe_lambda(model.config)
    floor, rd, spread = {}, {}, {}
    for t in tiles:
        xo, xs = torch.from_numpy(t.optical), torch.from_numpy(t.sar)
        h, w = xo.shape[-2:]
        po, ps = pad_to(xo, mult), pad_to(xs, mult)
        g = torch.tensor([PROBE_GAMMA])
        for lam in lambdas:
            lt = torch.tensor([lam])
            y = model.analysis(po, ps, g, lt)
            if lam == lambdas[-1]:
                floor.setdefault(t.set, []).append(_quality(model, y * model.decoder_gain(lt), t))
            y_hat, y_lik, z_lik = model.entropy(y)
            y_dec = y_hat * model.decoder_gain(lt)
            bits = -(torch.log2(y_lik).sum() + torch.log2(z_lik).sum())
            rd.setdefault(t.set, {}).setdefault(lam, []).append((float(bits) / (2 * h * w), *_quality(model, y_dec, t)))
        spread.setdefault(t.set, []).append(_gamma_deltas(model, po, ps, t, torch.tensor([lam_mid])))
    out = _summary([q for v in floor.values() for q in v],
                   {lam: [p for per in rd.values() for p in per[lam]] for lam in lambdas})
    out["gamma_spread"] = _mean_spread([d for v in spread.values() for d in v], lam_mid)
    if len(floor) > 1:
        out["sets"] = {name: {**_summary(floor[name], rd[name]), "gamma_spread": _mean_spread(spread[name], lam_mid)}
                       for name in floor}
    return out


def gamma_probe_lambda(config) -> float:
    """The λ of the γ probe: the middle of the model's λ range (√(λ_min·λ_max)), as
    tests/test_quality_targets.py measures the γ target."""
    return float(np.sqrt(config.lmbda_min * config.lmbda_max))


def _gamma_deltas(model, po, ps, t: ProbeTile, lam: torch.Tensor) -> tuple[float, float]:
    """(optical, SAR) physical PSNR gained by γ 0.9 over γ 0.1 and by γ 0.1 over γ 0.9 on one padded
    tile, from the rounded latent. Both ≥ 1 dB is issue #21's γ target."""
    q = {gv: _quality(model, model.entropy(model.analysis(po, ps, torch.tensor([gv]), lam))[0] * model.decoder_gain(lam), t)
         for gv in GAMMA_SPREAD}
    lo, hi = GAMMA_SPREAD
    return q[hi][1] - q[lo][1], q[lo][3] - q[hi][3]


def _mean_spread(deltas: list, lam: float) -> dict:
    d_opt, d_sar = np.mean(deltas, axis=0)
    return {"lmbda": lam, "optical_phys": float(d_opt), "sar_phys": float(d_sar)}
