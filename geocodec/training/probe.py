"""A fixed validation probe, run at every checkpoint: the autoencoder's floor and two R-D points.

The *floor* is the PSNR the decoders reach from the exact, unquantised latent: no rate can buy
more than it, so it tells whether the autoencoder or the entropy model limits quality. The R-D
points use the model's own (straight-through rounded) latent and its likelihoods, so they track
the real codec without running the rANS coder. PSNRs are on normalised data (peak 1).
"""

from __future__ import annotations

import numpy as np
import torch

from geocodec.normalize import normalize_batch
from geocodec.training.data import PairSet

PROBE_LAMBDAS = (0.003, 0.03)
PROBE_GAMMA = 0.5
#: Validation arrays larger than this are cut into tiles of this size (the sizes users store).
PROBE_TILE = 256


def probe_tiles(sets: list[PairSet]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Normalised (optical, SAR) tiles of the validation pairs, each of shape (1, C, h, w)."""
    tiles = []
    for s in sets:
        for o, a in zip(s.optical, s.sar):
            h, w = o.shape[-2:]
            for y in range(0, h, PROBE_TILE):
                for x in range(0, w, PROBE_TILE):
                    oo, aa = o[None, :, y:y + PROBE_TILE, x:x + PROBE_TILE], a[None, :, y:y + PROBE_TILE, x:x + PROBE_TILE]
                    tiles.append((normalize_batch(np.nan_to_num(oo, nan=np.nanmean(oo))),
                                  normalize_batch(np.nan_to_num(aa, nan=np.nanmean(aa)))))
    return tiles


def _pad(x: torch.Tensor, multiple: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    return torch.nn.functional.pad(x, (0, -w % multiple, 0, -h % multiple), mode="replicate")


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(-10 * torch.log10(((a - b) ** 2).mean()))


@torch.no_grad()
def run_probe(model, tiles) -> dict:
    """Mean floor PSNR and R-D points over ``tiles`` (see the module docstring)."""
    if not tiles:
        return {}
    mult = model.config.pad_multiple
    floor_o, floor_s, rd = [], [], {lam: [] for lam in PROBE_LAMBDAS}
    for o, s in tiles:
        xo, xs = torch.from_numpy(o), torch.from_numpy(s)
        h, w = xo.shape[-2:]
        po, ps = _pad(xo, mult), _pad(xs, mult)
        g = torch.tensor([PROBE_GAMMA])
        for lam in PROBE_LAMBDAS:
            lt = torch.tensor([lam])
            y = model.analysis(po, ps, g, lt)
            if lam == PROBE_LAMBDAS[-1]:
                y_dec = y * model.decoder_gain(lt)
                floor_o.append(_psnr(model.optical_decoder(y_dec)[..., :h, :w], xo))
                floor_s.append(_psnr(model.sar_decoder(y_dec)[..., :h, :w], xs))
            y_hat, y_lik, z_lik = model.entropy(y)
            y_dec = y_hat * model.decoder_gain(lt)
            bits = -(torch.log2(y_lik).sum() + torch.log2(z_lik).sum())
            rd[lam].append((float(bits) / (2 * h * w), _psnr(model.optical_decoder(y_dec)[..., :h, :w], xo),
                            _psnr(model.sar_decoder(y_dec)[..., :h, :w], xs)))
    out = {"floor_opt": float(np.mean(floor_o)), "floor_sar": float(np.mean(floor_s))}
    for lam, pts in rd.items():
        b, po_, ps_ = np.mean(pts, axis=0)
        out[f"rd_{lam:g}"] = {"bpp": float(b), "psnr_opt": float(po_), "psnr_sar": float(ps_)}
    return out
