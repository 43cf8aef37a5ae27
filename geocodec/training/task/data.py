"""Labelled pairs for task finetuning, streamed from Zarr; scene-grouped folds; the held-out test set.

A user's archive can be far larger than memory: ``open_labelled_pairs`` keeps the Zarr arrays open
and reads one sample per access (only labels and groups, one value per sample, are read up front),
so training batches and evaluation stream through it. The shared crop and augmentation code is
``geocodec.training.data.random_crops``.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geocodec.errors import InvalidInputError
from geocodec.normalize import normalize_batch
from geocodec.training.data import PairSet, random_crops
from geocodec.training.task.labels import MULTI, TaskLabels, bigearthnet_19, infer_labels


class _Blocks:
    """Whole Zarr chunks along the sample axis, kept in a bounded LRU: one sample read alone would
    decompress its entire chunk (all the samples stored with it) on every access."""

    def __init__(self, array, max_bytes: int = 512 * 2**20):
        self.array, self.max_bytes, self.cache = array, max_bytes, OrderedDict()
        chunks = getattr(array, "chunks", None)
        self.step = int(chunks[0]) if chunks else 1

    @property
    def shape(self):
        return self.array.shape

    def __getitem__(self, i: int) -> np.ndarray:
        start = i // self.step * self.step
        block = self.cache.get(start)
        if block is None:
            block = np.asarray(self.array[start:start + self.step])
            self.cache[start] = block
            while len(self.cache) > 1 and sum(b.nbytes for b in self.cache.values()) > self.max_bytes:
                self.cache.popitem(last=False)
        self.cache.move_to_end(start)
        return block[i - start]


class _Samples(Sequence):
    """Item ``i`` of a sample-first array, read on access (through ``_Blocks`` for a Zarr array).

    ``as_float``: float32 with Sentinel-2's nodata 0 → NaN (what training crops take); else the raw dtype."""

    def __init__(self, array, rows=None, as_float: bool = False, zero_is_nodata: bool = False):
        self.array, self.as_float, self.zero_is_nodata = array, as_float, zero_is_nodata
        self.rows = np.arange(array.shape[0]) if rows is None else np.asarray(rows)

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        a = np.array(self.array[int(self.rows[i])])
        if not self.as_float:
            return a
        a = a.astype(np.float32)
        if self.zero_is_nodata:
            a[a == 0] = np.nan
        return a

    def view(self, rows=None, as_float=None):
        return _Samples(self.array, self.rows if rows is None else self.rows[np.asarray(rows)],
                        self.as_float if as_float is None else as_float, self.zero_is_nodata)


@dataclass
class LabelledPairs:
    """Co-registered pairs with one label value and one group (scene) per sample."""

    optical: _Samples  # raw dtype (uint16 reflectance ×10000)
    sar: _Samples  # float32 dB
    values: np.ndarray  # the label variable's per-sample values
    groups: np.ndarray
    names: list[str]
    labels: TaskLabels

    def __len__(self):
        return len(self.optical)

    @property
    def targets(self) -> np.ndarray:
        return self.labels.encode(self.values)

    def subset(self, rows) -> "LabelledPairs":
        rows = np.asarray(rows, int)
        return LabelledPairs(self.optical.view(rows), self.sar.view(rows), self.values[rows], self.groups[rows],
                             [self.names[r] for r in rows], self.labels)

    def pairset(self) -> PairSet:
        """The training view: float32 samples, optical nodata → NaN (``geocodec.training.data``)."""
        return PairSet(self.optical.view(as_float=True), self.sar.view(as_float=True), name="labelled pairs")


def open_labelled_pairs(path, labels: str = "labels", group: str = "scene", optical_var: str = "optical",
                        sar_var: str = "sar", task_labels: TaskLabels | None = None) -> LabelledPairs:
    """A pairs Zarr store (``optical(sample, band, y, x)``, ``sar(sample, band, y, x)``) with a per-sample
    label variable or coordinate ``labels`` and (optional) grouping variable ``group``."""
    import zarr

    p = Path(path)
    if not p.exists():
        raise InvalidInputError(f"labelled pairs {p} do not exist")
    try:
        g = zarr.open_group(str(p), mode="r")
    except Exception as e:  # noqa: BLE001 - any failure to open is a bad input here
        raise InvalidInputError(f"{p} is not a readable Zarr group ({type(e).__name__}: {e})") from None
    names = set(g.array_keys())
    for var in (optical_var, sar_var):
        if var not in names:
            raise InvalidInputError(f"{p} has no {var!r} array; task finetuning needs co-registered "
                                    f"'{optical_var}' and '{sar_var}' pairs")
    opt, sar = g[optical_var], g[sar_var]
    if opt.ndim != 4 or sar.ndim != 4 or opt.shape[0] != sar.shape[0] or opt.shape[-2:] != sar.shape[-2:]:
        raise InvalidInputError(f"{p}: optical {opt.shape} and SAR {sar.shape} are not (sample, band, y, x) pairs")
    n = opt.shape[0]
    per_sample = sorted(k for k in names if g[k].ndim == 1 and g[k].shape[0] == n)
    if labels not in names:
        raise InvalidInputError(f"{p} has no label variable {labels!r}; its per-sample variables are {per_sample}")
    values = np.asarray(g[labels][...])
    if values.shape != (n,):
        raise InvalidInputError(f"label variable {labels!r} has shape {values.shape}, expected one value per "
                                f"sample ({n},)")
    groups = (np.array([acquisition_group(v) for v in g[group][...]]) if group in names
              else np.array([str(i) for i in range(n)]))
    names_var = next((k for k in ("s2_name", "name") if k in names), None)
    sample_names = [str(v) for v in g[names_var][...]] if names_var else [f"sample_{i}" for i in range(n)]
    labels_info = task_labels or infer_labels(values, labels)
    return LabelledPairs(_Samples(_Blocks(opt), zero_is_nodata=True), _Samples(_Blocks(sar)), values, groups,
                         sample_names, labels_info)


def bigearthnet_test_set(root, labels: TaskLabels) -> LabelledPairs:
    """BigEarthNet's example GeoTIFF patches with their labels (43 original names → the 19 classes).

    The held-out test set: never trained on. Classes the training labels do not have are left out."""
    from geocodec.evaluation.datasets import load_bigearthnet_geotiff
    from geocodec.io import bigearthnet_pairs

    if labels.kind != MULTI:
        raise InvalidInputError("the BigEarthNet example patches carry multi-label class names; the training "
                                "labels are single-label ids")
    pairs = load_bigearthnet_geotiff(root)
    values, groups = [], []
    for _, s2, _ in bigearthnet_pairs(root):
        groups.append(acquisition_group(s2.name))
        meta = next(iter(sorted(s2.glob("*_labels_metadata.json"))), None)
        if meta is None:
            raise InvalidInputError(f"{s2} has no *_labels_metadata.json: not a labelled BigEarthNet patch")
        values.append(";".join(bigearthnet_19(json.loads(meta.read_text())["labels"])))
    return LabelledPairs(_Samples(np.stack([p.optical for p in pairs]), zero_is_nodata=True),
                         _Samples(np.stack([p.sar for p in pairs])),
                         np.array(values, object), np.array(groups), [p.name for p in pairs],
                         labels)


_S2_PRODUCT = re.compile(r"^(S2[AB]_MSI\w{3})_(\d{8})T\d+")


def acquisition_group(value) -> str:
    """The fold group of a sample's group value: a Sentinel-2 product name (``S2A_MSIL2A_20170613T101031…``)
    becomes its mission and day, so that the tiles and spellings of one datatake (``…T101019`` and
    ``…T101020``; with or without the ``_N9999_R022_T33UUP`` tail) stay in one fold; anything else as is."""
    m = _S2_PRODUCT.match(str(value))
    return f"{m.group(1)}_{m.group(2)}" if m else str(value)


def group_folds(groups, k: int) -> list[np.ndarray]:
    """``k`` folds of sample indices, each group (scene) wholly inside one fold: a scene's patches
    share place and date, so splitting one would leak it from training into testing. Largest
    groups first, each into the fold that holds fewest samples."""
    groups = np.asarray(groups)
    uniq, counts = np.unique(groups, return_counts=True)
    if k < 2:
        raise InvalidInputError(f"cross-validation needs ≥ 2 folds, got {k}")
    if len(uniq) < k:
        raise InvalidInputError(f"{len(uniq)} groups (scenes) cannot fill {k} folds: use fewer folds")
    folds: list[list[int]] = [[] for _ in range(k)]
    for gname in uniq[np.lexsort((uniq, -counts))]:
        smallest = min(range(k), key=lambda f: len(folds[f]))
        folds[smallest].extend(np.flatnonzero(groups == gname).tolist())
    return [np.array(sorted(f)) for f in folds]


def task_batch(data: LabelledPairs, pairs: PairSet, targets: np.ndarray, batch: int, crop: int,
               rng: np.random.Generator):
    """Normalised random crops (flips, 90° rotations) of ``batch`` random samples and their targets."""
    idx = rng.integers(len(data), size=batch)
    opt, sar = random_crops(pairs, batch, crop, rng, indices=idx)
    return np.nan_to_num(opt), np.nan_to_num(sar), targets[idx]


def classifier_input(optical, sar) -> np.ndarray:
    """Whole (optical, SAR) arrays in their physical units → the classifier's normalised (1, C, H, W)
    input: per-band scaling as the codec does, nodata / NaN filled (the same for raw and decoded data)."""
    o = np.asarray(optical).astype(np.float32)
    if np.asarray(optical).dtype.kind in "ui":
        o[o == 0] = np.nan
    x = np.concatenate([normalize_batch(o[None]), normalize_batch(np.asarray(sar, np.float32)[None])], axis=1)
    return np.nan_to_num(x)
