"""Re-export of ``geocodec.evaluation.datasets`` for ``training_data`` (pairs loaded from GeoTIFFs)."""

from geocodec.evaluation.datasets import (  # noqa: F401
    S2_13BAND_INDEXES, ValidationPair, load_bigearthnet_geotiff, load_geotiff_pair, load_validation_sets)
