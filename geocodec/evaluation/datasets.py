"""The validation pairs: real sets in a data folder, and the same layouts elsewhere (GeoTIFFs via ``geocodec.io``).

* ``bigearthnet-geotiff``: BigEarthNet's one-GeoTIFF-per-band patch folders (S1 ``<name>_VV.tif``/
  ``_VH.tif``, S2 ``<name>_B02.tif`` …), paired by ``geocodec.io.bigearthnet_pairs``; 120 px.
* ``sen1floods11-spain``: ``S1.tif`` (VV, VH float32 dB, may hold NaN) + ``S2.tif`` (13 int16 L1C
  bands B01…B12 with B8A; B02, B03, B04, B08 are 1-based bands 2, 3, 4, 8); 512 px whole.
* ``sen1floods11-spain-256``: the same pair cut into its four 256² tiles, the size people store
  chunks at.

Every loader returns ``ValidationPair`` objects: optical (4, H, W) in its file dtype, SAR
(2, H, W) float32 dB, on one grid (checked by ``geocodec.io``, never resampled).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from geocodec.errors import InvalidInputError
from geocodec.io import S2_13BAND_INDEXES, bigearthnet_pairs, read_band_folder, read_pair

OPTICAL_BANDS = ("B02", "B03", "B04", "B08")
SAR_BANDS = ("VV", "VH")
TILE = 256


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


def load_bigearthnet_geotiff(root) -> list[ValidationPair]:
    """All S1/S2 pairs under a BigEarthNet example folder (``BigEarthNet-S1-*`` / ``BigEarthNet-S2-*``)."""
    from geocodec.io import check_one_grid

    pairs = []
    for key, s2, s1 in bigearthnet_pairs(root):
        sar, si = read_band_folder(s1, SAR_BANDS)
        opt, oi = read_band_folder(s2, OPTICAL_BANDS)
        check_one_grid([oi.grid, si.grid], [f"pair {s2.name} (S2)", f"{s1.name} (S1)"])
        pairs.append(ValidationPair(name=f"bigearthnet_{key}", dataset="bigearthnet-geotiff", optical=opt,
                                    sar=sar.astype(np.float32), crs=str(oi.grid.crs),
                                    transform=tuple(oi.grid.transform)[:6]))
    return pairs


def load_geotiff_pair(s2_path, s1_path, *, name: str, dataset: str,
                      optical_indexes=None, sar_indexes=(1, 2)) -> ValidationPair:
    """One pair of multi-band GeoTIFFs on one grid (1-based band indexes; optical default: 2, 3, 4, 8 of a
    13-band Sentinel-2 stack, else all bands)."""
    opt, sar, info = read_pair(s2_path, s1_path, optical_indexes=optical_indexes, sar_indexes=sar_indexes)
    return ValidationPair(name=name, dataset=dataset, optical=opt, sar=sar, optical_nodata=info.nodata,
                          crs=str(info.grid.crs), transform=tuple(info.grid.transform)[:6])


def tiles(pair: ValidationPair, size: int = TILE, *, dataset: str | None = None) -> list[ValidationPair]:
    """The pair cut into whole ``size``² tiles (row-major; a remainder narrower than ``size`` is dropped)."""
    h, w = pair.shape
    if h < size or w < size:
        raise InvalidInputError(f"{pair.name} is {h}×{w}: smaller than one {size}² tile")
    out = []
    for r in range(h // size):
        for c in range(w // size):
            ys, xs = slice(r * size, (r + 1) * size), slice(c * size, (c + 1) * size)
            tr = None
            if pair.transform is not None:
                a, b, x0, d, e, y0 = pair.transform
                tr = (a, b, x0 + a * xs.start + b * ys.start, d, e, y0 + d * xs.start + e * ys.start)
            out.append(replace(pair, name=f"{pair.name}_r{r}c{c}", dataset=dataset or f"{pair.dataset}-{size}",
                               optical=np.ascontiguousarray(pair.optical[:, ys, xs]),
                               sar=np.ascontiguousarray(pair.sar[:, ys, xs]), transform=tr))
    return out


def load_sen1floods11_spain(folder) -> list[ValidationPair]:
    folder = Path(folder)
    return [load_geotiff_pair(folder / "S2.tif", folder / "S1.tif", name="sen1floods11_spain",
                              dataset="sen1floods11-spain", optical_indexes=S2_13BAND_INDEXES)]


def load_sen1floods11_spain_tiles(folder) -> list[ValidationPair]:
    return tiles(load_sen1floods11_spain(folder)[0], TILE, dataset="sen1floods11-spain-256")


#: dataset name → (folder under the data root, loader)
VALIDATION_SETS = {
    "bigearthnet-geotiff": ("bigearthnet-example-geotiff", load_bigearthnet_geotiff),
    "sen1floods11-spain": ("sen1floods11-spain", load_sen1floods11_spain),
    "sen1floods11-spain-256": ("sen1floods11-spain", load_sen1floods11_spain_tiles),
}
#: what ``load_validation_sets`` loads when no names are given: both sizes, 120 px and 256² tiles
DEFAULT_SETS = ("bigearthnet-geotiff", "sen1floods11-spain-256")


def load_validation_sets(data_root, names=None) -> dict[str, list[ValidationPair]]:
    """The validation sets found under ``data_root``, by set name (default: ``DEFAULT_SETS``)."""
    data_root = Path(data_root)
    names = list(DEFAULT_SETS) if names is None else list(names)
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
