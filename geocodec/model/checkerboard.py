"""The two halves of a checkerboard as strided views: the coding order of the context model's stages.

The anchors are the positions with even row + column (compressai's ``anchor_parity="even"``), the
non-anchors the others; each stage codes its half in row-major order. Reading or writing a half
through its two stride-2 views (one per row parity) gives the same values as gathering at, or
assigning to, its flat positions, without an index (``index_select`` was 10× slower here).
"""

from __future__ import annotations

import torch


def is_half(h: int, w: int, positions: torch.Tensor) -> bool:
    """Whether a stage's flat ``positions`` of an (h, w) latent are a whole checkerboard half, so
    ``checkerboard`` / ``put_checkerboard`` serve it (even h and w); else index by ``positions``."""
    return h % 2 == 0 and w % 2 == 0 and positions.numel() == h * w // 2


def _halves(x: torch.Tensor, anchors: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The even-row and odd-row views of one half of (…, H, W)."""
    return (x[..., 0::2, 0::2], x[..., 1::2, 1::2]) if anchors else (x[..., 0::2, 1::2], x[..., 1::2, 0::2])


def checkerboard(x: torch.Tensor, anchors: bool) -> torch.Tensor:
    """(N, C, H, W) with even H and W → its anchors or non-anchors as (N, C, H·W/2), row-major."""
    return torch.stack(_halves(x, anchors), dim=-2).flatten(2)


def put_checkerboard(x: torch.Tensor, values: torch.Tensor, anchors: bool) -> None:
    """The inverse of ``checkerboard``: writes (N, C, H·W/2) row-major ``values`` into that half of
    ``x`` (N, C, H, W), even H and W, in place."""
    n, c, h, w = x.shape
    v = values.view(n, c, h // 2, 2, w // 2)
    first, second = _halves(x, anchors)
    first.copy_(v[:, :, :, 0])
    second.copy_(v[:, :, :, 1])
