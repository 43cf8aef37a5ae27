"""The raster layer: ``rasters`` (open lazily, describe, the grid check, ``open_pair``, ``write_geotiff``) and
``scenes`` (eager reads into numpy, BigEarthNet pairing). Every name is importable from ``geocodec.io``."""

from geocodec.io.rasters import (
    DEFAULT_READ_CHUNK, BandSpec, Grid, RasterInfo, RasterSpec, band_file, canonical_band, check_one_grid, describe,
    open_pair, open_raster, write_geotiff)
from geocodec.io.scenes import (
    S2_13BAND_INDEXES, bigearthnet_pairs, default_optical_indexes, read_band_folder, read_bands, read_optical_scene,
    read_pair)

__all__ = [
    "DEFAULT_READ_CHUNK", "S2_13BAND_INDEXES", "BandSpec", "Grid", "RasterInfo", "RasterSpec", "band_file",
    "bigearthnet_pairs", "canonical_band", "check_one_grid", "default_optical_indexes", "describe", "open_pair",
    "open_raster", "read_band_folder", "read_bands", "read_optical_scene", "read_pair", "write_geotiff",
]
