"""Old import path of the latent cache; it lives in ``geocodec.cube.cache``."""

from geocodec.cube.cache import CACHE_ENV, DEFAULT_MB, LATENTS, LatentCache

__all__ = ["CACHE_ENV", "DEFAULT_MB", "LATENTS", "LatentCache"]
