"""numpy-level compress / decompress / inspect: validate → normalise → model → bitstream.

The one place that turns user arrays into a chunk's bytes and back; this module is its public
face, the work is done in ``geocodec.coding``: ``prepare`` (validate and normalise the inputs),
``encode`` (batches of pairs with the same padded size go through the network together; entropy
coding is per item) and ``decode``. Everything the decoder needs is in the chunk header.

Reliability rules (docs/reliability.md): inputs outside a modality's physical range are refused
with the value and its position (an undeclared fill value gets a hint to pass ``*_nodata``);
one call codes at most ``bitstream.MAX_PIXELS``; latents the rANS coder cannot represent are a
clean error, never a hang; and decoding runs chunk by chunk, so a chunk decodes to the same
bytes whatever batch it arrives in.
"""

from __future__ import annotations

from geocodec.chunk_info import inspect
from geocodec.coding.decode import DecodedLatent, decompress, decompress_batch, entropy_decode, restore, synthesize
from geocodec.coding.encode import TARGET_MAX_PASSES, TARGET_TOLERANCE, compress, compress_batch
from geocodec.coding.prepare import OPTICAL_RANGE, SAR_DB_RANGE, Device, ModelSpec
from geocodec.options import (
    BACKENDS, MODALITIES, OPTICAL_DTYPES, SAR_DTYPES, SAR_SCALES, Backend, Modality, SarScale)
from geocodec.registry import GeocodecModel, find_model_for, load_model

__all__ = [
    "BACKENDS", "MODALITIES", "OPTICAL_DTYPES", "OPTICAL_RANGE", "SAR_DB_RANGE", "SAR_DTYPES", "SAR_SCALES",
    "TARGET_MAX_PASSES", "TARGET_TOLERANCE", "Backend", "DecodedLatent", "Device", "GeocodecModel", "Modality",
    "ModelSpec", "SarScale", "compress", "compress_batch", "decompress", "decompress_batch", "entropy_decode",
    "find_model_for", "inspect", "load_model", "restore", "synthesize",
]
