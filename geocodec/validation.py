"""Loaders for the real validation pairs in ``../shared/data`` (and the same layouts elsewhere).

* ``bigearthnet-example-geotiff/``: BigEarthNet ships one GeoTIFF per band; S1 patch folders
  hold ``<name>_VV.tif``/``<name>_VH.tif``, S2 patch folders ``<name>_B02.tif`` …; an S1 and an
  S2 folder form a pair when their trailing tile row/col (``…_87_48``) agree.
* ``sen1floods11-spain/``: ``S1.tif`` (VV, VH float32 dB, may hold NaN) + ``S2.tif`` (13 int16
  L1C bands B01…B12 with B8A; the 10 m bands B02, B03, B04, B08 are 1-based bands 2, 3, 4, 8).

Every loader returns ``ValidationPair`` objects: optical (4, H, W) in its file dtype, SAR
(2, H, W) float32 dB, on one grid (checked, never resampled).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from geocodec.errors import InvalidInputError

OPTICAL_BANDS = ("B02", "B03", "B04", "B08")
SAR_BANDS = ("VV", "VH")
#: 1-based band indexes of B02, B03, B04, B08 in a 13-band Sentinel-2 stack (B01…B12 with B8A).
S2_13BAND_INDEXES = (2, 3, 4, 8)
_ROW_COL = re.compile(r"_(\d+)_(\d+)$")


@dataclass
class ValidationPair:
    """One co-registered pair: ``optical`` (4, H, W) uint16/int16, ``sar`` (2, H, W) float32 dB."""

    name: str
    dataset: str
    optical: np.ndarray
    sar: np.ndarray
    optical_nodata: float | None = None
    crs: str | None = None
    transform: tuple | None = field(default=None, repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        return self.optical.shape[1], self.optical.shape[2]


def _read_band(path: Path):
    import rasterio

    with rasterio.open(path) as src:
        if src.count != 1:
            raise InvalidInputError(f"{path} has {src.count} bands; BigEarthNet stores one band per file")
        return src.read(1), src.crs, src.transform


def _check_grid(name, parts):
    (_, crs0, tr0) = parts[0]
    for a, crs, tr in parts[1:]:
        if a.shape != parts[0][0].shape or crs != crs0 or not tr.almost_equals(tr0):
            raise InvalidInputError(f"{name}: bands are not on one grid (shape/CRS/transform differ); "
                                    "resample them onto one grid before compressing")


def load_bigearthnet_geotiff(root) -> list[ValidationPair]:
    """All S1/S2 pairs under a BigEarthNet example folder (``BigEarthNet-S1-*`` / ``BigEarthNet-S2-*``)."""
    root = Path(root)
    s1_dirs = [d for d in sorted(root.glob("*S1*/*")) if d.is_dir()]
    s2_dirs = [d for d in sorted(root.glob("*S2*/*")) if d.is_dir()]
    if not s1_dirs or not s2_dirs:
        raise InvalidInputError(f"{root} holds no BigEarthNet S1/S2 patch folders")

    def key(d: Path):
        m = _ROW_COL.search(d.name)
        return (m.group(1), m.group(2)) if m else None

    s2_by_key = {key(d): d for d in s2_dirs if key(d)}
    pairs = []
    for s1 in s1_dirs:
        k = key(s1)
        s2 = s2_by_key.get(k)
        if s2 is None:
            continue
        sar_parts = [_read_band(s1 / f"{s1.name}_{b}.tif") for b in SAR_BANDS]
        opt_parts = [_read_band(s2 / f"{s2.name}_{b}.tif") for b in OPTICAL_BANDS]
        _check_grid(f"pair {s1.name} / {s2.name}", sar_parts + opt_parts)
        pairs.append(ValidationPair(
            name=f"bigearthnet_{k[0]}_{k[1]}", dataset="bigearthnet-geotiff",
            optical=np.stack([p[0] for p in opt_parts]),
            sar=np.stack([p[0] for p in sar_parts]).astype(np.float32),
            crs=str(opt_parts[0][1]), transform=tuple(opt_parts[0][2])[:6]))
    if not pairs:
        raise InvalidInputError(f"{root}: no S1 folder matches an S2 folder by its trailing _row_col")
    return pairs


def load_geotiff_pair(s2_path, s1_path, *, name: str, dataset: str,
                      optical_indexes=S2_13BAND_INDEXES, sar_indexes=(1, 2)) -> ValidationPair:
    """One pair of multi-band GeoTIFFs on one grid (1-based band indexes, rasterio style)."""
    import rasterio

    with rasterio.open(s2_path) as s2, rasterio.open(s1_path) as s1:
        if (s2.height, s2.width) != (s1.height, s1.width) or s2.crs != s1.crs \
                or not s2.transform.almost_equals(s1.transform):
            raise InvalidInputError(f"{s2_path} and {s1_path} are not on one grid")
        for src, idx in ((s2, optical_indexes), (s1, sar_indexes)):
            if max(idx) > src.count:
                raise InvalidInputError(f"{src.name} has {src.count} bands; bands {list(idx)} requested")
        optical = s2.read(list(optical_indexes))
        sar = s1.read(list(sar_indexes)).astype(np.float32)
        nodata = s2.nodata
        return ValidationPair(name=name, dataset=dataset, optical=optical, sar=sar,
                              optical_nodata=None if nodata is None else float(nodata),
                              crs=str(s2.crs), transform=tuple(s2.transform)[:6])


def load_sen1floods11_spain(folder) -> list[ValidationPair]:
    folder = Path(folder)
    return [load_geotiff_pair(folder / "S2.tif", folder / "S1.tif", name="sen1floods11_spain",
                              dataset="sen1floods11-spain")]


#: dataset name → (folder under the shared data root, loader)
VALIDATION_SETS = {
    "bigearthnet-geotiff": ("bigearthnet-example-geotiff", load_bigearthnet_geotiff),
    "sen1floods11-spain": ("sen1floods11-spain", load_sen1floods11_spain),
}


def load_validation_sets(data_root, names=None) -> dict[str, list[ValidationPair]]:
    """The real validation sets found under ``data_root`` (``../shared/data``), by set name."""
    data_root = Path(data_root)
    names = list(VALIDATION_SETS) if names is None else list(names)
    out = {}
    for n in names:
        if n not in VALIDATION_SETS:
            raise InvalidInputError(f"unknown validation set {n!r}; known: {sorted(VALIDATION_SETS)}")
        folder, loader = VALIDATION_SETS[n]
        if (data_root / folder).exists():
            out[n] = loader(data_root / folder)
    if not out:
        raise InvalidInputError(f"no validation data found under {data_root} (looked for {names})")
    return out
