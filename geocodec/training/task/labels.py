"""Task labels: multi-label ``;``-separated class names or integer class ids → training targets.

BigEarthNet's ``labels`` are ``;``-separated names of its 19-class nomenclature; the six example
patches carry the original 43 CORINE names, mapped here with BigEarthNet's official 43 → 19 table
(Sumbul et al. 2021; ``label_indices.json`` of the BigEarthNet-19 models, as ``bigearthnet-common``
ships it). Integer ids are single-label classification (softmax, CE); names are multi-label (BCE).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geocodec.errors import InvalidInputError

MULTI, SINGLE = "multi-label", "single-label"
SEPARATOR = ";"

#: BigEarthNet-19 class names, in the official order.
BIGEARTHNET_19 = (
    "Urban fabric", "Industrial or commercial units", "Arable land", "Permanent crops", "Pastures",
    "Complex cultivation patterns",
    "Land principally occupied by agriculture, with significant areas of natural vegetation",
    "Agro-forestry areas", "Broad-leaved forest", "Coniferous forest", "Mixed forest",
    "Natural grassland and sparsely vegetated areas", "Moors, heathland and sclerophyllous vegetation",
    "Transitional woodland, shrub", "Beaches, dunes, sands", "Inland wetlands", "Coastal wetlands",
    "Inland waters", "Marine waters",
)
_SAME = {n: n for n in ("Industrial or commercial units", "Pastures", "Complex cultivation patterns",
                        BIGEARTHNET_19[6], "Agro-forestry areas", "Broad-leaved forest", "Coniferous forest",
                        "Mixed forest", "Beaches, dunes, sands")}
#: The official BigEarthNet 43 → 19 mapping (None: the class has no 19-class counterpart).
BIGEARTHNET_43_TO_19 = {
    **_SAME,
    "Continuous urban fabric": "Urban fabric", "Discontinuous urban fabric": "Urban fabric",
    "Road and rail networks and associated land": None, "Port areas": None, "Airports": None,
    "Mineral extraction sites": None, "Dump sites": None, "Construction sites": None,
    "Green urban areas": None, "Sport and leisure facilities": None,
    "Non-irrigated arable land": "Arable land", "Permanently irrigated land": "Arable land",
    "Rice fields": "Arable land", "Vineyards": "Permanent crops",
    "Fruit trees and berry plantations": "Permanent crops", "Olive groves": "Permanent crops",
    "Annual crops associated with permanent crops": "Permanent crops",
    "Natural grassland": "Natural grassland and sparsely vegetated areas",
    "Moors and heathland": "Moors, heathland and sclerophyllous vegetation",
    "Sclerophyllous vegetation": "Moors, heathland and sclerophyllous vegetation",
    "Transitional woodland/shrub": "Transitional woodland, shrub", "Bare rock": None,
    "Sparsely vegetated areas": "Natural grassland and sparsely vegetated areas", "Burnt areas": None,
    "Inland marshes": "Inland wetlands", "Peatbogs": "Inland wetlands", "Salt marshes": "Coastal wetlands",
    "Salines": "Coastal wetlands", "Intertidal flats": None, "Water courses": "Inland waters",
    "Water bodies": "Inland waters", "Coastal lagoons": "Marine waters", "Estuaries": "Marine waters",
    "Sea and ocean": "Marine waters",
}


def bigearthnet_19(names_43) -> list[str]:
    """Original 43-class names → their 19-class names (unmapped classes dropped); unknown names are an error."""
    unknown = [n for n in names_43 if n not in BIGEARTHNET_43_TO_19]
    if unknown:
        raise InvalidInputError(f"not BigEarthNet 43-class names: {unknown}")
    return sorted({BIGEARTHNET_43_TO_19[n] for n in names_43} - {None}, key=BIGEARTHNET_19.index)


@dataclass(frozen=True)
class TaskLabels:
    """What the labels are: multi-label names (``classes``) or single-label ids (``classes`` = "0"…)."""

    kind: str
    classes: tuple[str, ...]

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def encode(self, values) -> np.ndarray:
        """Per-sample label values → (N, C) multi-hot float32, or (N,) int64 class ids.

        Names outside ``classes`` (a test set's class the training set never had) are left out."""
        if self.kind == MULTI:
            index = {c: k for k, c in enumerate(self.classes)}
            out = np.zeros((len(values), self.n_classes), np.float32)
            for i, v in enumerate(values):
                for name in _names(v):
                    if name in index:
                        out[i, index[name]] = 1.0
            return out
        ids = _ids(values)
        if ids.size and (ids.min() < 0 or ids.max() >= self.n_classes):
            raise InvalidInputError(f"class ids must lie in [0, {self.n_classes}), got {ids.min()}…{ids.max()}")
        return ids


def _names(v) -> list[str]:
    if isinstance(v, bytes):
        v = v.decode()
    if not isinstance(v, str):
        raise InvalidInputError(f"multi-label values are ';'-separated class names, got {v!r}")
    return [n.strip() for n in v.split(SEPARATOR) if n.strip()]


def _ids(values) -> np.ndarray:
    a = np.asarray(values)
    if a.dtype.kind not in "iu" and not (a.dtype.kind == "f" and np.all(np.isfinite(a)) and np.all(a == np.round(a))):
        raise InvalidInputError(f"single-label values must be integer class ids, got dtype {a.dtype}")
    return a.astype(np.int64)


def infer_labels(values, name: str = "labels") -> TaskLabels:
    """The label kind and classes of a training set's per-sample values, with clear errors for labels
    that cannot train a classifier (none, no positives, one class only)."""
    a = np.asarray(values)
    if a.ndim != 1 or a.size == 0:
        raise InvalidInputError(f"label variable {name!r} must hold one value per sample, got shape {a.shape}")
    if a.dtype.kind in "iuf":
        ids = _ids(a)
        if ids.min() < 0:
            raise InvalidInputError(f"label variable {name!r}: class ids must be ≥ 0, got {ids.min()}")
        present = np.unique(ids)
        if present.size < 2:
            raise InvalidInputError(f"label variable {name!r} holds one class only ({present.tolist()}): "
                                    "nothing to classify")
        return TaskLabels(SINGLE, tuple(str(k) for k in range(int(ids.max()) + 1)))
    seen = {n for v in a for n in _names(v)}
    if not seen:
        raise InvalidInputError(f"label variable {name!r} holds no positive label in any sample")
    order = BIGEARTHNET_19 if seen <= set(BIGEARTHNET_19) else sorted(seen)
    return TaskLabels(MULTI, tuple(c for c in order if c in seen))
