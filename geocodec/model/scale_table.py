"""Scale → the coder's scale-table index, by exact comparison (compressai's rule: the number of
table entries strictly below the scale). Formats 3–4 compare integers held in float64, so the index
is the same on every machine; one C pass where geocodec's kernels are built (``native``).
"""

from __future__ import annotations

import torch

from geocodec.model import native


def scale_indexes(thresholds: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """Scales (float64 integers) → scale-table indexes (int32): ``#{t < s}`` by exact comparison,
    in one C pass where the kernels are built (``native``)."""
    scales = scales.contiguous()
    k = native.kernels()
    if k is None:
        return torch.searchsorted(thresholds, scales, right=False).int()
    out = torch.empty(scales.shape, dtype=torch.int32)
    k.scale_indexes(scales.numpy(), thresholds.numpy(), out.numpy())
    return out
