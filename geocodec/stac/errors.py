"""Errors of the STAC layer. All derive from ``geocodec.GeocodecError``."""

from geocodec.errors import GeocodecError, ProvenanceError

__all__ = ["InvalidStacError", "ProvenanceError", "SchemaNotPackagedError", "StacError"]


class StacError(GeocodecError):
    """Base class of the STAC layer's errors."""


class InvalidStacError(StacError, ValueError):
    """A STAC Item/Collection that fails its schemas (core, extensions or geocodec's)."""


class SchemaNotPackagedError(StacError):
    """Validation needs a schema geocodec does not ship; offline validation never fetches one."""
