"""Entropy-parameter networks on int8 dot products: exact on every machine, and fast (bitstream format 4).

Why: format 3's integer nets are exact but compute in float64, about 70 % of entropy decoding on one
core. An int8 matrix product with int32 accumulation is exact too (integer sums do not depend on
their order), and on AMX it ran 10× faster than float64 here (``benchmarks/entropy_precision.py``).

Arithmetic (derived at load time from the float32 weights; no model-file change):

* weights: per output channel c, ``s_c = 127 / max|w_c|`` and ``W_c = round(w_c · s_c)`` ∈ [-127, 127];
* activations: fixed point with ``IN_FRAC`` = 7 fraction bits, clipped to [-8192, 8191] (±64.0), and
  split into two base-128 digits ``a = 128·hi + lo`` with hi, lo ∈ [-64, 64];
* a layer accumulates ``acc = 128·(W @ hi) + (W @ lo)`` (two int8 products) and rescales per channel
  by integers: ``floor((acc · M_c + B_c) / 2**R_c)`` with ``M_c = round(2**(R_c + out_frac − IN_FRAC) / s_c)``
  and ``B_c = round(b_c · 2**(R_c + out_frac)) + 2**(R_c − 1)`` (round half up); then LeakyReLU as in
  format 3 and the clip. Hidden layers output ``IN_FRAC`` fraction bits; the last layer of each
  aggregation outputs means and scales with ``OUT_FRAC`` = 12, as format 3 does, so ŷ keeps format 3's
  resolution. Only IEEE multiplications, divisions and roundings of float32/float64 numbers derive
  the integers, so every machine derives the same.

Exactness: the products are exact int32 sums (``|W @ digit| ≤ K · 127 · 64 < 2**31`` for K < 2**18);
kernels without VNNI multiply u8 × s8 pairs into saturating int16, which the digit bound [-64, 64] on
the second operand keeps clear of (255 · 64 · 2 < 2**15; measured exact under oneDNN capped at AVX2,
AVX-512 and AVX-512 VNNI). ``int8_products_are_exact`` probes the kernel with all-extreme operands once
per process; where it is not exact the same integers come from float64 products (every term and sum
below 2**53). The two digit products combine in int32 while ``K·127·64·129 < 2**31`` (K ≤ ``INT32_K``
= 2048; int64 beyond), and the rescale runs in int64: ``Σ|W_c| · 8192 · M_c + |B_c| < 2**53`` is
asserted per channel. Transposed convolutions are the equivalent stride-1 convolution of the
zero-stuffed input; the hyper-synthesis's 5×5 stride-2 ones run in their sub-pixel form
(``layers.subpixel_weight``), which leaves out that input's zero products: the same non-zero
products, so the same sums. Rate cost against
format 3: ``benchmarks/entropy_precision.py``; time: ``benchmarks/integer_entropy_cost.py``.

Speed: at these sizes (a 256² chunk has 32×32 latent positions) the element-wise passes between
the products cost as much as the products, so activations are int16 and every layer does the
fewest passes that keep the same integers (``Int8Conv.finish``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from geocodec.model import integer_nets, native
from geocodec.model.layers import is_subpixel_deconv, subpixel_weight
from geocodec.model.int8_products import (DIGIT, IN_MAX, IN_MIN, INT32_K, W_MAX, counted_digits, digits,  # noqa: F401
                                          int8_products_are_exact, operand as _operand)
from geocodec.model.integer_nets import EXACT_LIMIT, SLOPE_NUM, SLOPE_SHIFT

#: Fraction bits of every layer input (and of hidden outputs).
IN_FRAC = 7
#: Fraction bits of the means and scales (the aggregation's last layer), as in format 3.
OUT_FRAC = integer_nets.FRAC_BITS
#: Largest rescale shift.
MAX_SHIFT = 40
#: Hidden pre-activations are clipped here before LeakyReLU: floor(LEAKY_LOW · 0.2) < IN_MIN already.
LEAKY_LOW = -2 ** 16
#: Means and scales are clipped to format 3's range.
OUT_MAX = integer_nets.ACT_MAX


def clip_input(a: torch.Tensor) -> torch.Tensor:
    """Integers (any dtype holding them exactly) → layer inputs: int16 in [IN_MIN, IN_MAX]
    (half the memory traffic of int32 in the element-wise passes, which dominate at these sizes)."""
    return a.clamp(IN_MIN, IN_MAX).to(torch.int16)


def from_out_frac(a: torch.Tensor) -> torch.Tensor:
    """A tensor at OUT_FRAC fraction bits (ŷ, means; float64 integers) → layer input at IN_FRAC
    (round half up, clip)."""
    shift = OUT_FRAC - IN_FRAC
    k = native.kernels()
    if k is not None and a.dtype == torch.float64:
        out = torch.empty(a.shape, dtype=torch.int16)
        k.shift_input(a.contiguous().numpy(), shift, IN_MIN, IN_MAX, out.numpy())
        return out
    return clip_input((a.long() + (1 << (shift - 1))) >> shift)


@dataclass(frozen=True)
class Int8Conv:
    """One convolution (or transposed convolution, or 1×1 layer) in format 4's arithmetic.

    ``weight`` holds the integers W (float64, (out, in, kh, kw)) of a stride-``stride`` convolution;
    for a transposed convolution, those of the equivalent stride-1 convolution over the zero-stuffed
    input (kernel flipped, in and out swapped: the same products, so the same exact sums). ``w8`` is
    the same integers as an (out, K) int8 matrix; ``mult``, ``bias`` and ``shift`` are M_c, B_c and
    R_c (int64). Inputs are int16, hidden outputs int16, the means and scales float64 (exact integers)."""

    weight: torch.Tensor
    w8: torch.Tensor
    mult: torch.Tensor
    bias: torch.Tensor
    shift: torch.Tensor
    leaky: bool
    transposed: bool
    stride: int
    padding: int
    output_padding: int
    out_frac: int
    #: 2 for a 5×5 stride-2 transposed convolution held as its sub-pixel form (``layers.subpixel_weight``:
    #: a 3×3 convolution to 4× the channels whose output ``PixelShuffle(2)`` interleaves); 1 otherwise.
    shuffle: int = 1
    #: ``w8`` transposed (K, out), for the hi products over some input channels (``Operand.product``).
    w8t: torch.Tensor | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_module(cls, m: nn.Module, leaky: bool, out_frac: int = IN_FRAC) -> "Int8Conv":
        integer_nets.IntegerConv.check_supported(m)
        transposed = isinstance(m, nn.ConvTranspose2d)
        w = m.weight.detach().float().cpu()
        per_out = w.transpose(0, 1).flip(-2, -1) if transposed else w  # (out, in, kh, kw) either way
        flat = per_out.reshape(per_out.shape[0], -1).double()
        b = m.bias.detach().float().cpu().double()
        top = flat.abs().amax(dim=1)
        scale = torch.where(top > 0, W_MAX / torch.where(top > 0, top, 1.0), 1.0)
        wi = torch.round(flat * scale[:, None]).clamp(-W_MAX, W_MAX)
        l1 = wi.abs().sum(dim=1)
        shift, mult, bias = torch.full_like(top, -1.0), torch.zeros_like(top), torch.zeros_like(top)
        for r in range(MAX_SHIFT, 0, -1):  # per channel, the largest shift whose rescale stays exact
            todo = shift < 0
            if not todo.any():
                break
            m_r = torch.round(math.ldexp(1.0, r + out_frac - IN_FRAC) / scale)  # ldexp: exact powers of two
            b_r = torch.round(b * math.ldexp(1.0, r + out_frac)) + math.ldexp(1.0, r - 1)
            take = todo & (_bound(l1, m_r, b_r) < EXACT_LIMIT)
            shift, mult, bias = torch.where(take, float(r), shift), torch.where(take, m_r, mult), torch.where(take, b_r, bias)
        if (shift < 0).any():
            raise ValueError("entropy-parameter weights too large for format 4's int8 nets")
        # float64 holding integers below 2**53 convert to int64 exactly
        mult, bias, shift = mult.long(), bias.long(), shift.long()
        weight, shuffle = wi.reshape(per_out.shape), 1
        if is_subpixel_deconv(m):  # 3×3 conv to 4× the channels + PixelShuffle: a quarter of the products
            weight, shuffle = subpixel_weight(weight.flip(-2, -1).transpose(0, 1)), 2
            mult, bias, shift = (v.repeat_interleave(4) for v in (mult, bias, shift))
            transposed = False
        w8 = weight.reshape(weight.shape[0], -1).to(torch.int8).contiguous()
        layer = cls(weight=weight.contiguous(), w8=w8, w8t=w8.t().contiguous(),
                    mult=mult.view(-1, 1), bias=bias.view(-1, 1), shift=shift.view(-1, 1), leaky=leaky,
                    transposed=transposed, stride=1 if shuffle > 1 else m.stride[0],
                    padding=1 if shuffle > 1 else m.padding[0],
                    output_padding=m.output_padding[0] if transposed else 0, out_frac=out_frac, shuffle=shuffle)
        if not bool((layer.bound() < EXACT_LIMIT).all()):  # the premise of the exactness argument
            raise RuntimeError("format-4 exactness bound violated (Σ|W|·2^13·M + |B| ≥ 2^53)")
        return layer

    def bound(self) -> torch.Tensor:
        """Σ|W_c|·2**13·M_c + |B_c| per output channel: every rescale term stays below 2**53."""
        return _bound(self.w8.double().abs().sum(dim=1), self.mult.double().view(-1), self.bias.double().view(-1))

    @property
    def matrix(self) -> torch.Tensor:
        return self.weight.view(self.weight.shape[0], -1)

    def linear(self, a: torch.Tensor) -> torch.Tensor:
        """Σ W·a over flattened inputs (N, K, P) (int16 layer inputs) → (N, out, P) exact sums."""
        return _per_item(self.w8, a, w8t=self.w8t)

    def _padded(self, x: torch.Tensor) -> torch.Tensor:
        """(*d, C, H, W) → the input the convolution slides over: zero-padded, and for a transposed
        convolution zero-stuffed (stride − 1 zeros between inputs) with its output padding."""
        p = self.padding
        if not self.transposed:
            return F.pad(x, (p, p, p, p))
        s, (kh, kw) = self.stride, self.weight.shape[-2:]
        h, w = x.shape[-2:]
        lo_h, lo_w = kh - 1 - p, kw - 1 - p
        if lo_h < 0 or lo_w < 0:
            raise TypeError("format 4 supports transposed convolutions with padding < kernel size")
        out = x.new_zeros(*x.shape[:-2], *self._padded_size(h, w))
        out[..., lo_h:lo_h + (h - 1) * s + 1:s, lo_w:lo_w + (w - 1) * s + 1:s] = x
        return out

    def _padded_size(self, h: int, w: int) -> tuple[int, int]:
        """(H, W) of ``_padded`` for an (h, w) input."""
        p, s, (kh, kw) = self.padding, self.stride, self.weight.shape[-2:]
        if not self.transposed:
            return h + 2 * p, w + 2 * p
        return ((h - 1) * s + 1 + 2 * (kh - 1 - p) + self.output_padding,
                (w - 1) * s + 1 + 2 * (kw - 1 - p) + self.output_padding)

    def _conv_cols(self, a: torch.Tensor, stride: int, offsets=((0, 0),)) -> list[list[torch.Tensor]]:
        """Σ W·a of a stride-``stride`` convolution of (N, C, H, W) inputs (padding applied here),
        on the grids starting at each (row, column) offset → per item, per offset, (out, P)."""
        kh, kw = self.weight.shape[-2:]
        out = []
        for x in a:
            op = _operand(self._padded(x))  # digits before im2col: kh·kw times less to split
            out.append([op.product(self.w8, kh, kw, stride, dy, dx, w8t=self.w8t) for dy, dx in offsets])
        return out

    def accumulate(self, a: torch.Tensor) -> torch.Tensor:
        """Σ W·a over a (N, C, H, W) input (no bias) → (N, out, H', W')."""
        kh, kw = self.weight.shape[-2:]
        stride = 1 if self.transposed else self.stride
        ph, pw = self._padded_size(*a.shape[-2:])
        ho, wo = (ph - kh) // stride + 1, (pw - kw) // stride + 1
        return _stacked([o[0] for o in self._conv_cols(a, stride)]).view(a.shape[0], -1, ho, wo)

    def at(self, a: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """The layer's output at flat ``positions`` only (stride 1), as (N, out, P)."""
        n = a.shape[0]
        return self.finish(self.accumulate(a).view(n, self.weight.shape[0], -1).index_select(-1, positions))

    def at_non_anchors(self, a: torch.Tensor) -> torch.Tensor:
        """The output at the checkerboard's non-anchors (even H and W, stride 1) as (N, out, H·W/2)
        in row-major order: the stride-2 grids centred at (2r, 2c + 1) and (2r + 1, 2c)."""
        return _stacked([self._non_anchors(x) for x in a])

    def _non_anchors(self, x: torch.Tensor) -> torch.Tensor:
        """``at_non_anchors`` of one item (C, H, W) → (out, H·W/2)."""
        h, w = x.shape[-2:]
        if not self.transposed and self.stride == 1 and self.shuffle == 1:  # one product in coding order
            op = _operand(self._padded(x))
            if not op.sparse:
                kh, kw = self.weight.shape[-2:]
                return self.finish(op.product(self.w8, kh, kw, parity=1, w8t=self.w8t)[None])[0]
        grids = self._conv_cols(x[None], 2, offsets=((0, 1), (1, 0)))[0]
        both = torch.stack([g.view(-1, h // 2, w // 2) for g in grids], dim=-2)  # (out, H/2, 2, W/2): rows in order
        return self.finish(both.flatten(1)[None])[0]

    def finish(self, acc: torch.Tensor) -> torch.Tensor:
        """acc (int32 or int64) → floor((acc·M + B) / 2**R) → integer LeakyReLU → clip.

        LeakyReLU is ``max(a, floor(a · SLOPE_NUM / 2**SLOPE_SHIFT))``, format 3's
        ``max(a, 0) + floor(min(a, 0) · …)`` in one comparison; it runs on int32 after clipping a
        to [LEAKY_LOW, IN_MAX], which changes no output (LeakyReLU(LEAKY_LOW) is already below IN_MIN)
        and keeps ``a · SLOPE_NUM`` inside int32. The C kernel (``native``) does all of it in one pass."""
        k = native.kernels()
        if k is not None and acc.dtype in (torch.int32, torch.int64):
            return self._finish_native(k, acc.contiguous())
        shape = (-1,) + (1,) * (acc.dim() - 2)
        a = torch.addcmul(self.bias.view(shape), acc.long(), self.mult.view(shape))
        a = a.bitwise_right_shift_(self.shift.view(shape))
        if self.out_frac == IN_FRAC:
            if not self.leaky:
                return a.clamp_(IN_MIN, IN_MAX).to(torch.int16)
            return _leaky(a.clamp_(LEAKY_LOW, IN_MAX).to(torch.int32)).clamp_(min=IN_MIN).to(torch.int16)
        if self.leaky:  # means and scales: clip to where LeakyReLU still maps into range, in int64
            a = _leaky(a.clamp_(-2 ** 40, 2 ** 40))
        return a.clamp_(-OUT_MAX, OUT_MAX).double()  # means and scales, as format 3 hands them on

    def _finish_native(self, k, acc: torch.Tensor) -> torch.Tensor:
        hidden = self.out_frac == IN_FRAC
        out = torch.empty(acc.shape, dtype=torch.int16 if hidden else torch.float64)
        pre = (LEAKY_LOW, IN_MAX) if hidden else (-2 ** 40, 2 ** 40)
        post = (IN_MIN, IN_MAX) if hidden else (-OUT_MAX, OUT_MAX)
        k.rescale(acc.numpy(), acc.element_size(), acc.shape[1], acc[0, 0].numel(), self.mult.view(-1).numpy(),
                  self.bias.view(-1).numpy(), self.shift.view(-1).numpy(), (0 if hidden else 2) + int(self.leaky),
                  SLOPE_NUM, SLOPE_SHIFT, *pre, *post, out.numpy())
        return out

    def __call__(self, a: torch.Tensor) -> torch.Tensor:
        out = self.finish(self.accumulate(a))
        return _pixel_shuffle(out, self.shuffle) if self.shuffle > 1 else out


def _pixel_shuffle(x: torch.Tensor, r: int) -> torch.Tensor:
    """``F.pixel_shuffle(x, r)`` as one permuted copy (the same values; half the time of torch's kernel
    on these int16 tensors here)."""
    n, c, h, w = x.shape
    return x.view(n, c // (r * r), r, r, h, w).permute(0, 1, 4, 2, 5, 3).reshape(n, c // (r * r), h * r, w * r)


def _leaky(a: torch.Tensor) -> torch.Tensor:
    """Integer LeakyReLU, ``max(a, floor(a · SLOPE_NUM / 2**SLOPE_SHIFT))`` (``a · SLOPE_NUM`` must fit a's dtype)."""
    return torch.maximum(a, (a * SLOPE_NUM).bitwise_right_shift_(SLOPE_SHIFT))


def _stacked(parts: list[torch.Tensor]) -> torch.Tensor:
    """``torch.stack(parts)``, without the copy when there is one part (a chunk decoded alone)."""
    return parts[0].unsqueeze(0) if len(parts) == 1 else torch.stack(parts)


def _per_item(w8: torch.Tensor, a: torch.Tensor, k: int | None = None, w8t: torch.Tensor | None = None) -> torch.Tensor:
    """(out, K) @ (N, K, P) → (N, out, P) exact sums, one product per item (``k``: the K of the whole
    accumulation these sums are part of, which decides int32 or int64)."""
    return _stacked([_operand(x).product(w8, k=k, w8t=w8t) for x in a])


def _bound(l1: torch.Tensor, mult: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """The largest |acc · M + B| of a channel whose |W| sum to ``l1`` (inputs |a| ≤ 2**13)."""
    return l1 * -IN_MIN * mult + bias.abs()


class Int8Part:
    """Some input columns of a layer's first matrix (the aggregation's [side | spatial] split): its
    sums are added to the other part's, so their type is the whole layer's (``k``, its K)."""

    def __init__(self, w8: torch.Tensor, k: int):
        self.w8, self.k = w8.contiguous(), k
        self.w8t = self.w8.t().contiguous()

    def linear(self, a: torch.Tensor) -> torch.Tensor:
        return _per_item(self.w8, a, self.k, self.w8t)


def int8_chain(seq: nn.Sequential, last_out_frac: int = IN_FRAC) -> list[Int8Conv]:
    """A Sequential of convolutions, each optionally followed by LeakyReLU(0.2), in format 4."""
    return [Int8Conv.from_module(m, leaky, last_out_frac if last else IN_FRAC)
            for m, leaky, last in integer_nets.chain_layers(seq)]


class Int8EntropyParameters(integer_nets.IntegerEntropyParameters):
    """Format 4: format 3's composition (``IntegerEntropyParameters``) with int8-product layers;
    layer inputs at IN_FRAC, means and scales at OUT_FRAC (format 3's), ŷ converted between them."""

    INPUT_FRAC = IN_FRAC

    def chain(self, seq: nn.Sequential, last: bool = False):
        return int8_chain(seq, OUT_FRAC if last else IN_FRAC)

    def part(self, layers: list[Int8Conv], columns: slice) -> Int8Part:
        # sums of the widest layer's type: exact for every layer (int32 only where all fit it)
        return Int8Part(torch.cat([layer.w8[:, columns] for layer in layers]), max(layer.w8.shape[1] for layer in layers))

    @staticmethod
    def latent_input(y_hat: torch.Tensor) -> torch.Tensor:
        return from_out_frac(y_hat)

    @staticmethod
    def hyper_input(z: torch.Tensor) -> torch.Tensor:
        return clip_input(z)
