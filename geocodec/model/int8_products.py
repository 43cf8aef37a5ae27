"""Exact int8 products of format 4's layers: base-128 digits, im2col, and the product itself.

Why a module of its own: ``int8_nets`` derives the layers' integers and composes them; this is the
arithmetic of one ``W @ a`` on int8 kernels that is exact on every machine (the exactness argument
is in ``int8_nets``' docstring), with the choices that keep it fast at a chunk's sizes: digits split
before im2col, and a hi-digit plane that is almost all zero added term by term.
"""

from __future__ import annotations

import functools

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
    k = native.kernels()
    if k is not None and a.dtype == torch.int16:
        out = torch.empty((2, *a.shape), dtype=torch.int8)
        return out, k.digits(a.contiguous().numpy(), out.numpy())
    hi = (a + DIGIT // 2).bitwise_right_shift_(7)  # arithmetic shift: floor
    lo = torch.add(a, hi, alpha=-DIGIT)
    return torch.stack([hi.to(torch.int8), lo.to(torch.int8)]), None


#: Below this fraction of nonzero hi digits, a layer adds the hi digits' terms one by one
#: (``sparse_product``) instead of im2col and a product over a plane of zeros.
SPARSE_HI = 1 / 64


def int8_product(w8: torch.Tensor, cols: torch.Tensor, k: int | None = None) -> torch.Tensor:
    """(out, K) @ (K, P) → exact sums: int32 for K ≤ ``INT32_K`` (``|acc| ≤ K·127·64·129 < 2**31``),
    else int64. ``cols``: int8 digits (2, K, P) (``digits``), or the inputs (K, P) where int8 kernels
    are not exact here (one float64 product of the same integers)."""
    in_int32 = (k or w8.shape[1]) <= INT32_K
    if cols.dtype == torch.int8:
        hi, lo = torch._int_mm(w8, cols[0]), torch._int_mm(w8, cols[1])
        return lo.add_(hi, alpha=DIGIT) if in_int32 else lo.long().add_(hi.long(), alpha=DIGIT)
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


def operand(x: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """Layer inputs int16 (*, H, W) → (the second operand of ``int8_product`` on this machine,
    whether it is digits whose hi plane is sparse enough for ``sparse_product``)."""
    if not int8_products_are_exact():
        return x, False
    d, hi = counted_digits(x)
    return d, hi is not None and hi < SPARSE_HI * x.numel()


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
