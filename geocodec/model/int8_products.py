"""Exact int8 products of format 4's layers: base-128 digits, im2col, and the product itself.

Why a module of its own: ``int8_nets`` derives the layers' integers and composes them; this is the
arithmetic of one ``W @ a`` on int8 kernels that is exact on every machine (the exactness argument
is in ``int8_nets``' docstring), with the choices that keep it fast at a chunk's sizes: digits split
before im2col, a hi-digit plane that is almost all zero added term by term, and the hi product
over only the input channels that have nonzero hi digits (the side inputs of the parameter
aggregation have them in 13–42 % of their channels on real chunks): a zero term adds nothing to an
integer sum, so leaving it out gives the same integers.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from geocodec.model import native

#: Layer inputs are clipped to [IN_MIN, IN_MAX] (±64.0), two base-128 digits in [-64, 64].
IN_MAX, IN_MIN = 2 ** 13 - 1, -2 ** 13
DIGIT = 128
#: Largest K (inputs per output) whose accumulation ``128·(W @ hi) + W @ lo`` stays inside int32.
INT32_K = (2 ** 31 - 1) // (127 * 64 * (DIGIT + 1))
#: Largest |W| (int8, symmetric).
W_MAX = 127


@functools.cache
def int8_products_are_exact() -> bool:
    """Whether this process's ``torch._int_mm`` returns exact int32 sums for the operand ranges used
    (W in [-127, 127], digits in [-64, 64]), probed with every all-extreme pattern at a few shapes."""
    if not hasattr(torch, "_int_mm"):
        return False
    g = torch.Generator().manual_seed(0)
    try:
        for m, k, n in ((32, 16, 8), (64, 288, 100), (192, 1600, 256)):
            w = torch.randint(-W_MAX, W_MAX + 1, (m, k), dtype=torch.int8, generator=g)
            a = torch.randint(-64, 65, (k, n), dtype=torch.int8, generator=g)
            cases = [(w, a)] + [(torch.full_like(w, x), torch.full_like(a, y)) for x in (-W_MAX, W_MAX) for y in (-64, 64)]
            alternating = torch.tensor([W_MAX, -W_MAX], dtype=torch.int8).repeat(k // 2 + 1)[:k]
            cases.append((alternating.expand(m, k).contiguous(), (alternating.view(-1, 1) // 2).expand(k, n).contiguous()))
            for p, q in cases:
                if not torch.equal(torch._int_mm(p, q).long(), p.long() @ q.long()):
                    return False
    except RuntimeError:  # no int8 kernel for this build or device
        return False
    return True


def digits(a: torch.Tensor) -> torch.Tensor:
    """Layer inputs (int16 or int32 in [IN_MIN, IN_MAX]) → int8 digits along a new first axis,
    [hi, lo] with a = 128·hi + lo, both in [-64, 64] (each plane contiguous, one product each)."""
    return counted_digits(a)[0]


def counted_digits(a: torch.Tensor) -> tuple[torch.Tensor, int | None]:
    """``digits(a)`` and the number of nonzero hi digits (None where not counted). Inputs below
    ±0.5 have hi = 0: the hyper-synthesis's almost all do, and a zero column adds nothing to a sum."""
    d, nonzero, _, _ = _digits_by_channel(a, False)
    return d, nonzero


def _digits_by_channel(a: torch.Tensor, channels: bool) -> tuple[torch.Tensor, int | None, torch.Tensor | None, int | None]:
    """``counted_digits(a)``, and (``channels``) each channel's (``a``'s first axis) count of nonzero
    hi digits (int64) and the number of channels with any; the counts are None where not counted
    (no C kernels)."""
    k = native.kernels()
    if k is not None and a.dtype == torch.int16:
        a = a.contiguous()
        out = torch.empty((2, *a.shape), dtype=torch.int8)
        if not channels:
            return out, k.digits(a.numpy(), out.numpy()), None, None
        counts = torch.empty(a.shape[0], dtype=torch.int64)
        nonzero, with_hi = k.digits(a.numpy(), out.numpy(), a.shape[0], counts.numpy())
        return out, nonzero, counts, with_hi
    hi = (a + DIGIT // 2).bitwise_right_shift_(7)  # arithmetic shift: floor
    lo = torch.add(a, hi, alpha=-DIGIT)
    return torch.stack([hi.to(torch.int8), lo.to(torch.int8)]), None, None, None


#: Below this fraction of nonzero hi digits among the entries of the channels that have any, a layer
#: adds the hi digits' terms one by one (``sparse_product``) instead of a product over those channels.
SPARSE_HI = 1 / 64
#: Where at most this fraction of a layer input's channels have nonzero hi digits, the hi product
#: runs over those channels only (``Operand.product``).
FEW_HI_CHANNELS = 3 / 4


def int8_product(w8: torch.Tensor, cols: torch.Tensor, k: int | None = None,
                 hi: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """(out, K) @ (K, P) → exact sums: int32 for K ≤ ``INT32_K`` (``|acc| ≤ K·127·64·129 < 2**31``),
    else int64. ``cols``: int8 digits (2, K, P) (``digits``), or the inputs (K, P) where int8 kernels
    are not exact here (one float64 product of the same integers); or, with ``hi`` = (the weight
    columns of the taps that have hi digits, those taps' hi digits, or None where there are none), the lo digits (K, P) alone."""
    in_int32 = (k or w8.shape[1]) <= INT32_K
    if cols.dtype == torch.int8:
        if hi is None:
            hi_sums, lo = torch._int_mm(w8, cols[0]), torch._int_mm(w8, cols[1])
        else:
            lo = torch._int_mm(w8, cols)
            if hi[1] is None:  # no hi digit at all: the lo sums alone
                return lo if in_int32 else lo.long()
            hi_sums = torch._int_mm(*hi)
        return lo.add_(hi_sums, alpha=DIGIT) if in_int32 else lo.long().add_(hi_sums.long(), alpha=DIGIT)
    acc = torch.mm(w8.double(), cols.double())  # exact: every term and sum below 2**53
    return acc.int() if in_int32 else acc.long()


def sparse_product(w8: torch.Tensor, d: torch.Tensor, kh: int, kw: int, stride: int, oy: int, ox: int,
                    k: int | None = None) -> torch.Tensor:
    """``int8_product(w8, im2col(d, ...))`` for digits ``d`` (2, C, H, W) whose hi plane is almost
    all zero: the lo product as usual, the hi terms added from the nonzero hi digits alone (C
    kernel). Integer sums of the same terms: the same integers."""
    lo = torch._int_mm(w8, im2col(d[1], kh, kw, stride, oy, ox))
    if (k or w8.shape[1]) > INT32_K:
        lo = lo.long()
    c, h, w = d.shape[-3:]
    ho, wo = (h - oy - kh) // stride + 1, (w - ox - kw) // stride + 1
    native.kernels().sparse_accumulate(lo.numpy(), lo.element_size(), w8.numpy(), d[0].numpy(), c, h, w,
                                       kh, kw, stride, oy, ox, ho, wo, DIGIT)
    return lo


@dataclass(frozen=True)
class Operand:
    """A layer input (C, H, W) (padded) or (C, P) (a 1×1 layer's) as the second operand of its
    products on this machine: int8 digits (2, C, …), or, where int8 kernels are not exact here,
    the int16 inputs themselves (one float64 product); ``sparse``: the hi plane is sparse enough for
    ``sparse_product``; ``hi_channels``: where few channels have nonzero hi digits, those channels."""

    x: torch.Tensor
    sparse: bool = False
    hi_channels: torch.Tensor | None = None

    def product(self, w8: torch.Tensor, kh: int = 1, kw: int = 1, stride: int = 1, oy: int = 0, ox: int = 0,
                k: int | None = None, parity: int | None = None, w8t: torch.Tensor | None = None) -> torch.Tensor:
        """Exact Σ W·x (out, P) of a 1×1 layer (``x`` (C, P)), or of a kh×kw convolution over the
        grid from (oy, ox) with ``stride``, or (``parity`` 0/1, stride 1, not ``sparse``) at one
        checkerboard half in coding order (``im2col_checkerboard``); ``k`` as for ``int8_product``;
        ``w8t``: ``w8.t().contiguous()``, kept by the layer (its channels' rows are one gather)."""
        flat = self.x.dim() == (3 if self.x.dtype == torch.int8 else 2)

        def cols(t):
            if flat:
                return t
            return im2col(t, kh, kw, stride, oy, ox) if parity is None else im2col_checkerboard(t, kh, kw, parity)

        if self.sparse:
            return sparse_product(w8, self.x.unsqueeze(-2) if flat else self.x, kh, kw, stride, oy, ox, k)
        if self.hi_channels is None:
            return int8_product(w8, cols(self.x), k)
        out, taps = w8.shape[0], w8.shape[1] // self.x.shape[1]  # im2col's rows: (channel, tap), channel-major
        wt = (w8.t().contiguous() if w8t is None else w8t).view(-1, taps * out)
        w_hi = wt.index_select(0, self.hi_channels).view(-1, out).t()  # a transposed view: _int_mm takes it
        hi_cols = cols(self.x[0].index_select(0, self.hi_channels)) if self.hi_channels.numel() else None
        return int8_product(w8, cols(self.x[1]), k, hi=(w_hi, hi_cols))


def operand(x: torch.Tensor) -> Operand:
    """Layer inputs int16 (C, H, W) or (C, P) → their ``Operand`` on this machine: hi terms added one
    by one where they are fewer than ``SPARSE_HI`` of the hi channels' entries (their cost grows
    with the terms, a product's with the channels), else a product over the hi channels where they
    are at most ``FEW_HI_CHANNELS`` of all, else the whole product."""
    if not int8_products_are_exact():
        return Operand(x)
    d, hi, counts, with_hi = _digits_by_channel(x, True)
    if counts is None:
        return Operand(d)
    if hi < SPARSE_HI * with_hi * (x.numel() // x.shape[0]):
        return Operand(d, sparse=True)
    if with_hi <= FEW_HI_CHANNELS * x.shape[0]:
        return Operand(d, hi_channels=counts.nonzero().view(-1))
    return Operand(d)


def im2col(x: torch.Tensor, kh: int, kw: int, stride: int, oy: int = 0, ox: int = 0) -> torch.Tensor:
    """(*d, C, H, W) (already padded) → (*d, C·kh·kw, Ho·Wo) in ``unfold``'s order over the grid
    starting at (oy, ox), by strided slices (works on int8, and on a leading digit axis); one C
    loop where the kernels are built (``native``), the same bytes."""
    c, h, w = x.shape[-3:]
    ho, wo = (h - oy - kh) // stride + 1, (w - ox - kw) // stride + 1
    k = native.kernels()
    if k is not None and x.dtype == torch.int8:
        x = x.contiguous()
        out = torch.empty(*x.shape[:-3], c * kh * kw, ho * wo, dtype=torch.int8)
        k.im2col(x.numpy(), x[..., 0, 0, 0].numel(), c, h, w, kh, kw, stride, oy, ox, ho, wo, out.numpy())
        return out
    x = x[..., oy:, ox:]
    taps = [x[..., dy:dy + stride * (ho - 1) + 1:stride, dx:dx + stride * (wo - 1) + 1:stride]
            for dy in range(kh) for dx in range(kw)]
    return torch.stack(taps, dim=-3).reshape(*x.shape[:-3], c * kh * kw, ho * wo)


def im2col_checkerboard(x: torch.Tensor, kh: int, kw: int, parity: int) -> torch.Tensor:
    """(*d, C, H, W) (already padded) → (*d, C·kh·kw, P) of a stride-1 convolution at its output
    positions (r, s) with (r + s) % 2 == ``parity`` only, in row-major order (even output height and
    width): the columns of one checkerboard stage in coding order, for one product instead of one
    per stride-2 grid and an interleave. One C loop where the kernels are built, the same bytes."""
    c, h, w = x.shape[-3:]
    ho, wo = h - kh + 1, w - kw + 1
    k = native.kernels()
    if k is not None and x.dtype == torch.int8:
        x = x.contiguous()
        out = torch.empty(*x.shape[:-3], c * kh * kw, ho * wo // 2, dtype=torch.int8)
        k.im2col_checkerboard(x.numpy(), x[..., 0, 0, 0].numel(), c, h, w, kh, kw, parity, ho, wo, out.numpy())
        return out
    even_rows, odd_rows = im2col(x, kh, kw, 2, 0, parity), im2col(x, kh, kw, 2, 1, 1 - parity)
    lead = even_rows.shape[:-1]
    return torch.stack([even_rows.view(*lead, ho // 2, wo // 2), odd_rows.view(*lead, ho // 2, wo // 2)],
                       dim=-2).flatten(-3)
