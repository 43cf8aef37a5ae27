"""Baseline codecs for rate–distortion comparisons (never used by the geocodec codec itself).

``jpeg2000`` (OpenJPEG via glymur) and ``jpegxl`` (libjxl via imagecodecs) share the 16-bit sample
maps of ``u16`` and one interface: ``available()``, ``code_optical(optical, setting)`` and
``code_sar(sar_db, setting)`` → ``ImageCodecResult`` (real codestream bytes, decoded array).
Independent coding (two single-modality learned models) is ``independent.code_single``, swept by
``geocodec.evaluation.sweeps.sweep_independent``.
"""

from __future__ import annotations

from typing import Literal

ImageCodecName = Literal["jpeg2000", "jpegxl"]
IMAGE_CODECS: tuple[ImageCodecName, ...] = ("jpeg2000", "jpegxl")


def image_codec(name: ImageCodecName):
    """The baseline module by name (``jpeg2000`` or ``jpegxl``)."""
    from importlib import import_module

    from geocodec.errors import InvalidInputError

    if name not in IMAGE_CODECS:
        raise InvalidInputError(f"unknown baseline codec {name!r}; known: {list(IMAGE_CODECS)}")
    return import_module(f"geocodec.evaluation.baselines.{name}")
