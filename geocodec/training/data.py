"""Training data: sets of co-registered pairs, or of one modality only, and random augmented crops.

Everything becomes in-memory float32 arrays (SAR in dB, NaN = missing). A ``PairSet`` with an
empty ``sar`` list is optical-only data, one with an empty ``optical`` list SAR-only data: the
loop trains on those at γ = 1 (γ = 0) with a blank plane for the missing input, which trains
that modality's branch, the joint branch, the entropy model and that modality's decoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geocodec.errors import InvalidInputError
from geocodec.normalize import normalize_batch

#: Crops are multiples of this, so every crop fills whole latent positions.
CROP_MULTIPLE = 16


@dataclass
class PairSet:
    """Lists of (C_opt, H, W) optical and (C_sar, H, W) SAR arrays (float32, SAR in dB).

    One of the lists may be empty: optical-only or SAR-only data. ``weight`` is the set's share of
    training batches when several sets are mixed."""

    optical: list[np.ndarray]
    sar: list[np.ndarray]
    name: str = "pairs"
    weight: float = 1.0

    def __post_init__(self):
        if self.optical and self.sar and len(self.optical) != len(self.sar):
            raise InvalidInputError(f"{self.name}: {len(self.optical)} optical but {len(self.sar)} SAR arrays")

    @property
    def kind(self) -> str:
        """``"pair"``, ``"optical"`` (optical only) or ``"sar"`` (SAR only)."""
        return "pair" if self.optical and self.sar else ("optical" if self.optical else "sar")

    def __len__(self):
        return max(len(self.optical), len(self.sar))

    def extend(self, other: "PairSet") -> "PairSet":
        if len(self) and len(other) and self.kind != other.kind:
            raise InvalidInputError(f"cannot merge {self.kind} data ({self.name}) with {other.kind} data ({other.name})")
        return PairSet(self.optical + other.optical, self.sar + other.sar, self.name, self.weight)

    def min_size(self) -> int:
        return min(min(a.shape[-2:]) for a in (self.optical or self.sar))


def load_zarr_set(path, optical_var: str = "optical", sar_var: str = "sar", weight: float = 1.0) -> PairSet:
    """A Zarr store laid out like ``bigearthnet-pairs-train.zarr``: ``optical(sample, band, y, x)``
    and/or ``sar(sample, band, y, x)``; a store with one of the two is single-modality data."""
    import zarr

    g = zarr.open_group(str(path), mode="r")
    names = set(g.array_keys())
    if optical_var not in names and sar_var not in names:
        raise InvalidInputError(f"{path} holds neither an '{optical_var}' nor a '{sar_var}' array")
    opt = np.asarray(g[optical_var][...], dtype=np.float32) if optical_var in names else None
    sar = np.asarray(g[sar_var][...], dtype=np.float32) if sar_var in names else None
    if opt is not None and sar is not None and (opt.shape[0] != sar.shape[0] or opt.shape[-2:] != sar.shape[-2:]):
        raise InvalidInputError(f"{path}: optical {opt.shape} and SAR {sar.shape} are not co-registered pairs")
    if opt is not None:
        opt[opt == 0] = np.nan  # reflectance 0 is Sentinel-2's nodata
    return PairSet(list(opt) if opt is not None else [], list(sar) if sar is not None else [],
                   name=Path(path).name, weight=weight)


def load_optical_geotiff(path, n_bands: int, weight: float = 1.0) -> PairSet:
    """An optical-only GeoTIFF (its first ``n_bands`` bands; nodata or 0 → NaN) as one sample."""
    from geocodec.io import read_optical_scene

    a = read_optical_scene(path, n_bands)
    return PairSet([a], [], name=Path(path).name, weight=weight)


def _pairs_from_validation(pairs) -> PairSet:
    opt, sar = [], []
    for p in pairs:
        o = p.optical.astype(np.float32)
        if p.optical_nodata is not None:
            o[p.optical == p.optical_nodata] = np.nan  # masked out of the scaling like the codec does
        opt.append(o)
        sar.append(p.sar.astype(np.float32))
    return PairSet(opt, sar)


def load_training_data(paths=(), geotiff_pairs=(), optical_bands=None) -> PairSet:
    """Co-registered pairs from ``*.zarr`` stores or BigEarthNet example folders (``paths``) and
    multi-band (optical.tif, sar.tif) ``geotiff_pairs`` (optical bands chosen by ``optical_bands``,
    1-based; default: all bands of a 4-band file, bands 2, 3, 4, 8 of a 13-band Sentinel-2 stack)."""
    from geocodec.evaluation.datasets import load_bigearthnet_geotiff, load_geotiff_pair

    out = PairSet([], [])
    for p in map(Path, paths):
        if not p.exists():
            raise InvalidInputError(f"training data {p} does not exist")
        if p.suffix == ".zarr" or (p / "zarr.json").exists() or (p / ".zgroup").exists():
            part = load_zarr_set(p)
            if part.kind != "pair":
                raise InvalidInputError(f"{p} holds {part.kind}-only data: give it with --optical-only/--sar-only")
            out = out.extend(part)
        elif p.is_dir():
            out = out.extend(_pairs_from_validation(load_bigearthnet_geotiff(p)))
        else:
            raise InvalidInputError(f"{p}: expected a .zarr pair store or a BigEarthNet GeoTIFF folder "
                                    "(use --pair OPTICAL.tif SAR.tif for multi-band GeoTIFFs)")
    for opt_path, sar_path in geotiff_pairs:
        pair = load_geotiff_pair(opt_path, sar_path, name=Path(opt_path).stem, dataset="train",
                                 optical_indexes=tuple(optical_bands) if optical_bands else None)
        out = out.extend(_pairs_from_validation([pair]))
    if len(out) == 0:
        raise InvalidInputError("no training pairs: give --data (Zarr store / BigEarthNet folder) or --pair")
    out.name = "pairs"
    return out


def crop_size(pairs: PairSet, wanted: int) -> int:
    """``wanted``, or the largest multiple of 16 that fits the set's smallest array (no padding)."""
    fit = pairs.min_size() // CROP_MULTIPLE * CROP_MULTIPLE
    return max(CROP_MULTIPLE, min(wanted, fit)) if fit else wanted


def random_crops(pairs: PairSet, batch: int, size: int, rng: np.random.Generator, indices=None):
    """A normalised batch of random crops with random flips and 90° rotations (same for both
    modalities). Arrays smaller than ``size`` are edge-padded. A missing modality comes back as
    ``None``. ``indices``: which items to crop (default: ``batch`` drawn at random), e.g. those
    whose labels the caller holds."""
    opt_b, sar_b = [], []
    for b in range(batch if indices is None else len(indices)):
        i = int(rng.integers(len(pairs))) if indices is None else int(indices[b])
        o = pairs.optical[i] if pairs.optical else None
        s = pairs.sar[i] if pairs.sar else None
        h, w = (o if o is not None else s).shape[-2:]
        if h < size or w < size:
            pad = ((0, 0), (0, max(0, size - h)), (0, max(0, size - w)))
            o = np.pad(o, pad, mode="edge") if o is not None else None
            s = np.pad(s, pad, mode="edge") if s is not None else None
            h, w = max(h, size), max(w, size)
        y0, x0 = int(rng.integers(h - size + 1)), int(rng.integers(w - size + 1))
        k = int(rng.integers(4))
        flip = rng.random() < 0.5
        parts = []
        for a in (o, s):
            if a is not None:
                a = np.rot90(a[:, y0:y0 + size, x0:x0 + size], k, axes=(1, 2))
                a = a[:, :, ::-1] if flip else a
            parts.append(a)
        opt_b.append(parts[0])
        sar_b.append(parts[1])
    opt = normalize_batch(np.stack(opt_b)) if pairs.optical else None
    sar = normalize_batch(np.stack(sar_b)) if pairs.sar else None
    return opt, sar


def training_batch(sets: list[PairSet], k: int, batch: int, crops: list[int], rng: np.random.Generator,
                   n_bands: tuple[int, int], pseudo_pairs: bool = False):
    """One batch from ``sets[k]``: ``(optical, sar, kind)``, both arrays always present.

    A single-modality set's batch needs the other modality too. By default it is a blank plane,
    trained at γ = 1 (0), so the missing modality has weight 0 (``kind`` stays ``"optical"`` /
    ``"sar"``). With ``pseudo_pairs`` it is a crop of the other modality's single-modality data
    from another place (``kind`` ``"pseudo"``, trained at γ ~ U(0, 1) like a pair): the codec
    then never sees an input it meets nowhere in use, and both branches learn from each batch,
    while only the true pairs teach what the two modalities share."""
    kind = sets[k].kind
    partners = [j for j, s in enumerate(sets) if s.kind not in (kind, "pair")] if kind != "pair" else []
    if pseudo_pairs and partners:
        j = partners[int(rng.integers(len(partners)))]
        size = min(crops[k], crops[j])
        opt_set, sar_set = (sets[k], sets[j]) if kind == "optical" else (sets[j], sets[k])
        return random_crops(opt_set, batch, size, rng)[0], random_crops(sar_set, batch, size, rng)[1], "pseudo"
    o, s = random_crops(sets[k], batch, crops[k], rng)
    if kind != "pair":  # the missing modality gets a blank plane (and weight 0 in the loss)
        shape = (batch, n_bands[1] if kind == "optical" else n_bands[0], *(o if o is not None else s).shape[-2:])
        blank = np.zeros(shape, np.float32)
        o, s = (o, blank) if kind == "optical" else (blank, s)
    return o, s, kind


def draw_conditions(rng: np.random.Generator, batch: int, kind: str, log_lambda: tuple[float, float],
                    fixed_gamma: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(γ, λ) per sample of a batch, as training draws them: γ ~ U(0, 1) (1 or 0 for a
    single-modality batch with its blank plane, else ``fixed_gamma`` when given), log λ ~ U(log_lambda)."""
    gamma = rng.random(batch).astype(np.float32)
    if kind in ("optical", "sar"):  # a blank plane for the other modality, at weight 0
        gamma[:] = 1.0 if kind == "optical" else 0.0
    elif fixed_gamma is not None:
        gamma[:] = fixed_gamma
    return gamma, np.exp(rng.uniform(*log_lambda, batch)).astype(np.float32)
