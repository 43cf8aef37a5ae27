"""Old import path of the xarray engine; it lives in ``geocodec.cube.engine``."""

from geocodec.cube.engine import READ_BATCH, GeocodecBackendEntrypoint, ModalityArray

__all__ = ["READ_BATCH", "GeocodecBackendEntrypoint", "ModalityArray"]
