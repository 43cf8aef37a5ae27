"""Training pairs: co-registered (optical, SAR) arrays in memory, and random augmented crops."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geocodec.normalize import normalize_batch


@dataclass
class PairSet:
    """Lists of (C_opt, H, W) optical and (C_sar, H, W) SAR arrays (float32, SAR in dB)."""

    optical: list[np.ndarray]
    sar: list[np.ndarray]

    def __len__(self):
        return len(self.optical)

    def extend(self, other: "PairSet") -> "PairSet":
        return PairSet(self.optical + other.optical, self.sar + other.sar)


def load_zarr_pairs(path, optical_var: str = "optical", sar_var: str = "sar") -> PairSet:
    """Pairs from a Zarr store laid out like ``bigearthnet-pairs-train.zarr``:
    ``optical(sample, band, y, x)`` and ``sar(sample, band, y, x)``."""
    import zarr

    g = zarr.open_group(str(path), mode="r")
    opt = np.asarray(g[optical_var][...], dtype=np.float32)
    sar = np.asarray(g[sar_var][...], dtype=np.float32)
    if opt.shape[0] != sar.shape[0] or opt.shape[-2:] != sar.shape[-2:]:
        raise ValueError(f"optical {opt.shape} and SAR {sar.shape} are not co-registered pairs")
    return PairSet(list(opt), list(sar))


def random_crops(pairs: PairSet, batch: int, size: int, rng: np.random.Generator):
    """A normalised batch of random crops with random flips and 90° rotations (same for both
    modalities). Pairs smaller than ``size`` are edge-padded."""
    opt_b, sar_b = [], []
    for _ in range(batch):
        i = int(rng.integers(len(pairs)))
        o, s = pairs.optical[i], pairs.sar[i]
        h, w = o.shape[-2:]
        if h < size or w < size:
            pad = ((0, 0), (0, max(0, size - h)), (0, max(0, size - w)))
            o, s = np.pad(o, pad, mode="edge"), np.pad(s, pad, mode="edge")
            h, w = o.shape[-2:]
        y0, x0 = int(rng.integers(h - size + 1)), int(rng.integers(w - size + 1))
        o, s = o[:, y0:y0 + size, x0:x0 + size], s[:, y0:y0 + size, x0:x0 + size]
        k = int(rng.integers(4))
        o, s = np.rot90(o, k, axes=(1, 2)), np.rot90(s, k, axes=(1, 2))
        if rng.random() < 0.5:
            o, s = o[:, :, ::-1], s[:, :, ::-1]
        opt_b.append(o)
        sar_b.append(s)
    return normalize_batch(np.stack(opt_b)), normalize_batch(np.stack(sar_b))
