"""Chunk sizes that cost bytes: refuse the absurd, warn about the padded.

Why: the model codes blocks of ``pad_multiple`` px (64 for ``default``), so a chunk of another size
is padded up and pays for the padding, and every chunk carries its own header and hyper-latent.
On the Sen1Floods11 Spain pair at λ = 0.01 (issue #17; ``benchmarks/chunk_sizes.py``): 256 px
chunks cost 0.378 bpp, 128 px 0.395, 192 px 0.380, but 240 px 0.475 (+26 %), 208 px 0.575
(+52 %), 100 px 0.733 (+94 %) and 8 px 29.46 (78×). The bitstream is unchanged: this only says so.
"""

from __future__ import annotations

import warnings

from geocodec.errors import ChunkSizeWarning, InvalidInputError

#: Smallest spatial chunk accepted when the scene is larger: below it, padding and the per-chunk
#: header cost several times the payload (a 16 px chunk codes a 64 px block for 1/16 of its pixels).
MIN_CHUNK = 32
def _padded(size: int, multiple: int) -> int:
    return -(-size // multiple) * multiple


def check_chunk_sizes(chunk: dict[str, int], scene: dict[str, int], pad_multiple: int) -> None:
    """Refuse y/x chunks under ``MIN_CHUNK`` px (unless the scene itself is that small); warn, with the cost,
    about chunks that are not multiples of ``pad_multiple`` (a scene narrower than a chunk pays it anyway)."""
    m = pad_multiple
    odd = []
    for dim in ("y", "x"):
        size = chunk[dim]
        if size >= scene[dim]:
            continue  # one chunk spans the scene along dim: nothing to choose
        if size < MIN_CHUNK:
            raise InvalidInputError(
                f"chunks: {size} px along {dim!r} is too small: each chunk is padded to {_padded(size, m)} px and "
                f"carries its own header, so the cube costs many times more (chunks=8 gave 29.46 bpp against "
                f"0.378 at 256 on a real pair); use chunks=256 (or another multiple of {m})")
        if size % m:
            odd.append((dim, size))
    if odd:
        size = max(s for _, s in odd)
        padded = _padded(size, m)
        lower = max(m, size // m * m)
        choice = f"chunks={padded}" if lower == padded else f"chunks={lower} or {padded}"
        area = 100 * ((padded / size) ** 2 - 1)
        warnings.warn(
            f"chunks: {' × '.join(f'{s} px along {d!r}' for d, s in odd)} not a multiple of the model's "
            f"pad_multiple {m}: every chunk is padded to {padded} px and pays for it (about +{area:.0f} % of the "
            f"coded area; measured with default v1.0.0 on a real pair at λ=0.01: 100 px +94 %, 208 px +52 %, "
            f"240 px +26 % bytes against 256 px); use {choice}", ChunkSizeWarning, stacklevel=4)
