"""Overlapped synthesis: decode a chunk from its own latent plus a margin of its neighbours', then crop.

Why: a chunk synthesised from its latent alone sees nothing beyond its edge, so its border pixels
step against the neighbour's (the "seam", geocodec/weights/default.md). Chunks of a cube-scaled cube
(``to_zarr(scaling="cube")``) share one scaling, so their latents can stand side by side: the
engine lays ``MARGIN`` latent rows/columns of each of the 8 neighbours around the chunk's latent,
runs the decoder on that and keeps the chunk's own window. No extra bytes: the neighbours are
entropy-decoded anyway (through the latent cache) when a read covers them, and once otherwise.

Deterministic: the margin depends only on which neighbours the store holds, never on the
request, and each chunk is synthesised alone (batch of one), so a chunk decodes to the same
values whatever window, Dask chunking or batch asked for it. Plain ``xr.open_zarr`` (the storage
codec) decodes each chunk alone.
"""

from __future__ import annotations

import itertools

import numpy as np

from geocodec.options import DEFAULT_BACKEND

#: Latent rows/columns of each neighbour synthesised with a chunk (× the latent stride: 32 px). On the
#: Spain pair 2 and 4 give the same seam figure (benchmarks/seams.py); 2 costs less synthesis.
MARGIN = 2


def neighbour_coords(coord: tuple[int, ...], grid: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The up to 8 chunks around ``coord`` in the y/x grid (same leading and band index)."""
    out = []
    for dy, dx in itertools.product((-1, 0, 1), repeat=2):
        y, x = coord[-2] + dy, coord[-1] + dx
        if (dy or dx) and 0 <= y < grid[-2] and 0 <= x < grid[-1]:
            out.append((*coord[:-2], y, x))
    return out


def synthesize_with_neighbours(center, around: dict[tuple[int, int], object], which: str,
                               chunk_hw: tuple[int, int], margin: int | None = None,
                               backend: str = DEFAULT_BACKEND) -> np.ndarray:
    """Synthesise one entropy-decoded item (``DecodedLatent``) with its neighbours' latents, and crop.

    Parameters
    ----------
    center
        The chunk item's ``geocodec.codec.DecodedLatent``.
    around
        ``{(dy, dx): DecodedLatent or None}`` for the same item of the neighbouring chunks.
    which
        ``"optical"`` or ``"sar"``.
    chunk_hw
        The array's chunk height and width (a neighbour is used only where it joins seamlessly).
    margin
        Latent rows/columns taken from each neighbour (default ``MARGIN``).
    backend
        What runs the decoder (``geocodec.decompress(backend=...)``).

    Returns
    -------
    numpy.ndarray
        (bands, height, width) in the chunk's dtype, mapped back with the chunk's own header.
    """
    import torch

    from geocodec.coding.decode import run_decoder
    from geocodec.codec import restore

    margin = MARGIN if margin is None else margin
    c, m = center.chunk, center.model
    net = m.net
    stride, multiple = net.config.latent_stride, net.config.pad_multiple
    ch, cw = chunk_hw
    lat = center.latent
    a, b = lat.shape[-2:]
    aligned = ch % multiple == 0 and cw % multiple == 0  # else latents carry padding at chunk edges

    def usable(d, need_full_h=False, need_full_w=False, rows=None, cols=None):
        if not aligned or d is None or d.chunk.model_sha256 != c.model_sha256 or d.chunk.lmbda != c.lmbda:
            return False
        h, w = d.latent.shape[-2:]
        return ((not need_full_h or d.chunk.height == ch) and (not need_full_w or d.chunk.width == cw)
                and h >= margin and w >= margin and (rows is None or h == rows) and (cols is None or w == cols))

    full_h, full_w = c.height == ch, c.width == cw
    top = margin if usable(around.get((-1, 0)), need_full_h=True, cols=b) else 0
    bottom = margin if full_h and usable(around.get((1, 0)), cols=b) else 0
    left = margin if usable(around.get((0, -1)), need_full_w=True, rows=a) else 0
    right = margin if full_w and usable(around.get((0, 1)), rows=a) else 0
    canvas = torch.empty((lat.shape[0], top + a + bottom, left + b + right), dtype=lat.dtype)
    canvas[:, top:top + a, left:left + b] = lat
    if top:
        canvas[:, :top, left:left + b] = around[(-1, 0)].latent[:, -margin:, :]
    if bottom:
        canvas[:, top + a:, left:left + b] = around[(1, 0)].latent[:, :margin, :]
    if left:
        canvas[:, top:top + a, :left] = around[(0, -1)].latent[:, :, -margin:]
    if right:
        canvas[:, top:top + a, left + b:] = around[(0, 1)].latent[:, :, :margin]
    for (dy, dx), rows, cols in (((-1, -1), slice(0, top), slice(0, left)),
                                 ((-1, 1), slice(0, top), slice(left + b, None)),
                                 ((1, -1), slice(top + a, None), slice(0, left)),
                                 ((1, 1), slice(top + a, None), slice(left + b, None))):
        if not (top if dy < 0 else bottom) or not (left if dx < 0 else right):
            continue
        d = around.get((dy, dx))
        if usable(d, need_full_h=dy < 0, need_full_w=dx < 0):
            r = slice(-margin, None) if dy < 0 else slice(0, margin)
            q = slice(-margin, None) if dx < 0 else slice(0, margin)
            canvas[:, rows, cols] = d.latent[:, r, q]
        else:  # a corner the store cannot give: continue the vertical strip's edge column
            edge = left if dx < 0 else left + b - 1
            canvas[:, rows, cols] = canvas[:, rows, edge:edge + 1]
    out = run_decoder(m, canvas[None], c.lmbda, which, backend)[0]
    y0, x0 = top * stride, left * stride
    return restore(out[:, y0:y0 + c.height, x0:x0 + c.width], c, which)
