"""The exceptions geocodec raises. Everything derives from ``GeocodecError``."""


class GeocodecError(Exception):
    """Base class of every error geocodec raises on purpose."""


class InvalidInputError(GeocodecError, ValueError):
    """A bad argument: shape, dtype, band count, NaN/inf policy, γ or λ out of range..."""


class UnknownModelError(GeocodecError, ValueError):
    """No model of that name in the registry, or a model file that is not a geocodec model."""


class ModelIntegrityError(GeocodecError):
    """A weights file whose sha256 does not match its registry entry or its own metadata."""


class CorruptStreamError(GeocodecError, ValueError):
    """Bytes that are not a valid geocodec chunk: bad magic, truncated, CRC mismatch."""


class ModelMismatchError(GeocodecError):
    """A chunk written by a different model (sha256) than the one asked to decode it."""


class UntrustedModelError(ModelMismatchError):
    """Store metadata names a weights file that is neither registered nor trusted by the caller."""


class EntropyParameterMismatchError(GeocodecError):
    """The decoder's entropy parameters differ from the encoder's (CompressAI issue #279)."""


class IncompleteCubeError(GeocodecError):
    """A cube whose write has not finished (or was interrupted): some chunks may be missing."""


class CubeLockedError(GeocodecError):
    """Another writer holds the cube's lock (its owner and start time are in the message)."""


class ChunkIdentityError(CorruptStreamError):
    """A chunk frame that belongs elsewhere: another position in the cube, or another cube."""


class BackendUnavailableError(GeocodecError):
    """An optional network backend (``backend="onnx"`` / ``"onnx-int8"``) whose packages are not installed."""


class SuspiciousInputWarning(UserWarning):
    """Input that codes fine but is probably not what was meant (e.g. linear σ0 passed as dB)."""


class ProvenanceError(GeocodecError):
    """A STAC Item (or asset) that does not describe the store it points to (settings, bands or checksum differ)."""


class ChunkSizeWarning(SuspiciousInputWarning):
    """A chunk size that codes fine but pays for padding (not a multiple of the model's ``pad_multiple``)."""
