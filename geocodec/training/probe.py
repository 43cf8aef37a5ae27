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

PROBE_LAMBDAS = (0.003, 0.03)
PROBE_GAMMA = 0.5
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
                    tiles.append(ProbeTile(no, na, so, sa))
    return tiles


def _pad(x: torch.Tensor, multiple: int) -> torch.Tensor:
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


@torch.no_grad()
def run_probe(model, tiles) -> dict:
    """Mean floor PSNR and R-D points over ``tiles`` (see the module docstring)."""
    if not tiles:
        return {}
    mult = model.config.pad_multiple
    floor, rd = [], {lam: [] for lam in PROBE_LAMBDAS}
    for t in tiles:
        xo, xs = torch.from_numpy(t.optical), torch.from_numpy(t.sar)
        h, w = xo.shape[-2:]
        po, ps = _pad(xo, mult), _pad(xs, mult)
        g = torch.tensor([PROBE_GAMMA])
        for lam in PROBE_LAMBDAS:
            lt = torch.tensor([lam])
            y = model.analysis(po, ps, g, lt)
            if lam == PROBE_LAMBDAS[-1]:
                floor.append(_quality(model, y * model.decoder_gain(lt), t))
            y_hat, y_lik, z_lik = model.entropy(y)
            y_dec = y_hat * model.decoder_gain(lt)
            bits = -(torch.log2(y_lik).sum() + torch.log2(z_lik).sum())
            rd[lam].append((float(bits) / (2 * h * w), *_quality(model, y_dec, t)))
    keys = ("psnr_opt", "psnr_opt_phys", "psnr_sar", "psnr_sar_phys")
    fo, fop, fs, fsp = np.mean(floor, axis=0)
    out = {"floor_opt": float(fo), "floor_sar": float(fs), "floor_opt_phys": float(fop), "floor_sar_phys": float(fsp)}
    for lam, pts in rd.items():
        b, *q = np.mean(pts, axis=0)
        out[f"rd_{lam:g}"] = {"bpp": float(b), **{k: float(v) for k, v in zip(keys, q)}}
    return out
