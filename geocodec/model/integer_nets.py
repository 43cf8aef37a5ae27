"""Integer entropy-parameter networks: exact on every machine (bitstream format 3).

Why: the rANS decoder must use the very scale indexes the encoder used. The float64 nets of
formats 1–2 are close across hosts but not exact (kernels sum in orders that depend on the
instruction set). Following Ballé, Johnston & Minnen 2019, "Integer networks for data
compression", the nets that predict entropy parameters (hyper-synthesis, channel context,
spatial context, parameter aggregation) compute here on integers only, so their outputs are
fixed by the weights and the decoded symbols, not by the machine.

Derivation (at load time, from the float32 weights; no model-file change): per output channel c
of each layer, ``W_c = round(w_c · 2**k_c)`` and ``B_c = round(b_c · 2**(k_c + FRAC_BITS)) +
2**(k_c - 1)`` (the rounding half of the rescale folded in). Multiplying a float32 by a power of
two and rounding to an integer are exact IEEE operations, so every machine derives the same
integers. ``k_c`` is the largest shift (≤ ``MAX_SHIFT``) for which the exactness bound holds.

Arithmetic: activations are integers ``a = value · 2**FRAC_BITS``, clipped to ±``ACT_MAX``.
A layer computes ``acc = Σ W·a + B`` and rescales ``floor(acc / 2**k_c)`` (round half up);
LeakyReLU(0.2) is ``floor(a · SLOPE_NUM / 2**SLOPE_SHIFT)`` for a < 0; every output is clipped.
The last layer's outputs are the means and scales in the same fixed point. Scales map to the
coder's table index by integer comparison with ``floor(table · 2**FRAC_BITS)`` (exact: for an
integer s, ``t < s / 2**F ⇔ floor(t · 2**F) < s``).

Exactness: the tensors are float64 holding integers, and the bound ``Σ|W_c| · ACT_MAX + |B_c| <
2**53`` holds for every output channel (asserted when the nets are built). Every product and every
partial sum of every accumulation is then an integer of magnitude below 2**53, which float64
represents exactly: the result is the same whatever the summation order, blocking, FMA use or
ISA of the convolution kernels. Scaling by powers of two, floor and clip are exact as well.
float64 rather than int64 because torch has no BLAS for integers: one 256×512·512×192 product took
1.6 ms in float64, 5.5 ms in int32 (which would also need a 2**31 bound) and 66 ms in int64 here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from geocodec.model.checkerboard import checkerboard, is_half
from geocodec.model.scale_table import scale_indexes

#: Fraction bits of every activation, mean and scale (resolution 2**-12 ≈ 0.00024).
FRAC_BITS = 12
#: Activations are clipped to ±ACT_MAX (value ±32768, far beyond any real latent or feature).
ACT_MAX = 2 ** 27 - 1
#: float64 represents every integer of magnitude below this exactly.
EXACT_LIMIT = 2 ** 53
#: Largest weight shift: weights keep at most ~MAX_SHIFT bits below their binary point.
MAX_SHIFT = 30
#: LeakyReLU's negative slope 0.2 as SLOPE_NUM / 2**SLOPE_SHIFT (= 0.20001).
SLOPE_NUM, SLOPE_SHIFT = 3277, 14
LEAKY_SLOPE = 0.2

_ONE = float(2 ** FRAC_BITS)


def clip(a: torch.Tensor) -> torch.Tensor:
    """The activation range every layer input and output is held to (part of the format)."""
    return a.clamp(-ACT_MAX, ACT_MAX)


def to_fixed(x: torch.Tensor) -> torch.Tensor:
    """A float tensor as fixed point (float64 integers): exact scaling, then round half to even."""
    return torch.round(x.double() * _ONE)


def from_fixed(a: torch.Tensor) -> torch.Tensor:
    """Fixed point → float32 (exact division by a power of two, then IEEE rounding to float32)."""
    return (a * (1.0 / _ONE)).float()


def _shifts(w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per output channel (rows of ``w``), the largest k ≤ MAX_SHIFT for which the bound holds."""
    k = torch.full((w.shape[0],), -1, dtype=torch.int64)
    for s in range(MAX_SHIFT, -1, -1):
        todo = k < 0
        if not todo.any():
            break
        ok = _bound(*_integers(w, b, torch.full_like(k, s))) < EXACT_LIMIT
        k = torch.where(todo & ok, s, k)
    if (k < 0).any():
        raise ValueError("entropy-parameter weights too large for the integer nets: "
                         f"Σ|w|·{ACT_MAX} reaches 2^53 even without fraction bits")
    return k


def _integers(w: torch.Tensor, b: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(W, B) for shifts k as int64 (rows of ``w`` are output channels). Values too large for the
    bound are saturated (weights at 2**40: one alone breaks it, and a row of up to 2**20 of them
    still sums inside int64), so they fail the bound instead of overflowing."""
    scale = torch.pow(2.0, k.double())
    wi = torch.round(w.double() * scale[:, None]).clamp(-2.0 ** 40, 2.0 ** 40).long()
    half = torch.where(k > 0, torch.pow(2.0, (k - 1).clamp_min(0).double()), 0.0)
    bi = (torch.round(b.double() * scale * _ONE) + half).clamp(-2.0 ** 60, 2.0 ** 60).long()
    return wi, bi


def _bound(wi: torch.Tensor, bi: torch.Tensor) -> torch.Tensor:
    """Σ|W_c|·ACT_MAX + |B_c| per output channel, in exact int64 (terms saturated where they
    alone break the bound, so the product cannot overflow)."""
    l1 = wi.abs().sum(dim=1).clamp_max(2 ** 27)
    return l1 * ACT_MAX + bi.abs().clamp_max(2 ** 54)


@dataclass(frozen=True)
class IntegerConv:
    """One convolution (or transposed convolution, or 1×1 layer) in fixed point.

    ``weight`` keeps the module's layout (float64 integers), ``bias`` is ``B_c``, ``inv`` is
    ``2**-k_c``; ``leaky`` applies the integer LeakyReLU after rescaling."""

    weight: torch.Tensor
    bias: torch.Tensor
    inv: torch.Tensor
    leaky: bool
    transposed: bool
    stride: int
    padding: int
    output_padding: int

    @staticmethod
    def check_supported(m: nn.Module) -> None:
        """The layers integer nets (formats 3 and 4) can represent."""
        ok = (isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and m.bias is not None and m.groups == 1
              and m.padding_mode == "zeros" and tuple(m.dilation) == (1, 1)
              and m.stride[0] == m.stride[1] and m.padding[0] == m.padding[1])
        if not ok:
            raise TypeError(f"integer nets support biased, ungrouped, undilated, zero-padded Conv2d / "
                            f"ConvTranspose2d with square stride and padding, not {m}")

    @classmethod
    def from_module(cls, m: nn.Module, leaky: bool) -> "IntegerConv":
        cls.check_supported(m)
        transposed = isinstance(m, nn.ConvTranspose2d)
        w = m.weight.detach().float().cpu()
        per_out = w.transpose(0, 1) if transposed else w  # (out, ...) either way
        flat = per_out.reshape(per_out.shape[0], -1)
        if flat.shape[1] > 2 ** 20:
            raise ValueError(f"integer nets support at most 2^20 inputs per output, not {flat.shape[1]}")
        b = m.bias.detach().float().cpu()
        k = _shifts(flat, b)
        wi, bi = _integers(flat, b, k)
        if not bool((_bound(wi, bi) < EXACT_LIMIT).all()):  # the premise of the exactness proof
            raise RuntimeError("integer-net exactness bound violated (Σ|W|·ACT_MAX + |B| ≥ 2^53)")
        weight = wi.double().reshape(per_out.shape)
        if transposed:
            weight = weight.transpose(0, 1).contiguous()
        return cls(weight=weight, bias=bi.double(), inv=torch.pow(2.0, -k.double()), leaky=leaky,
                   transposed=transposed, stride=m.stride[0], padding=m.padding[0],
                   output_padding=m.output_padding[0] if transposed else 0)

    def bound(self) -> torch.Tensor:
        """Σ|W_c|·ACT_MAX + |B_c| per output channel (exact integers): always < 2**53."""
        per_out = self.weight.transpose(0, 1) if self.transposed else self.weight
        return _bound(per_out.reshape(per_out.shape[0], -1).long(), self.bias.long())

    def accumulate(self, a: torch.Tensor) -> torch.Tensor:
        """Σ W·a over a (N, C, H, W) input (no bias)."""
        if self.transposed:
            return F.conv_transpose2d(a, self.weight, stride=self.stride, padding=self.padding,
                                      output_padding=self.output_padding)
        return F.conv2d(a, self.weight, stride=self.stride, padding=self.padding)

    @property
    def matrix(self) -> torch.Tensor:
        """The weights as (out, in·kh·kw), the layout of ``unfold``-ed patches (a contiguous view)."""
        return self.weight.view(self.weight.shape[0], -1)

    def linear(self, a: torch.Tensor) -> torch.Tensor:
        """Σ W·a over flattened inputs (N, K, P): 1×1 layers, or ``unfold``-ed patches."""
        return matmul(self.matrix, a)

    def at(self, a: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """The layer's output at flat ``positions`` only (stride 1), as (N, out, P)."""
        cols = F.unfold(a, self.weight.shape[-2:], padding=self.padding).index_select(-1, positions)
        return self.finish(self.linear(cols))

    def at_non_anchors(self, a: torch.Tensor) -> torch.Tensor:
        """The layer's output at the checkerboard's non-anchors (odd row + column; even H and W,
        stride 1) as (N, out, H·W/2) in row-major order: two stride-2 convolutions, one per row
        parity, each on exactly the terms of the full convolution at its positions (no gather)."""
        p = self.padding
        x = F.pad(a, (p, p, p, p))
        even_rows = F.conv2d(x[..., :, 1:], self.weight, stride=2)  # centres (2r, 2c + 1)
        odd_rows = F.conv2d(x[..., 1:, :], self.weight, stride=2)   # centres (2r + 1, 2c)
        both = torch.stack([even_rows, odd_rows], dim=-2)  # (N, out, H/2, 2, W/2): rows in order
        return self.finish(both.flatten(2))

    def finish(self, acc: torch.Tensor) -> torch.Tensor:
        """acc + B → rescale (round half up) → integer LeakyReLU → clip. Works in place on ``acc``
        (always a fresh accumulation here: fewer passes over memory on these small tensors)."""
        shape = (-1,) + (1,) * (acc.dim() - 2)
        a = acc.add_(self.bias.view(shape)).mul_(self.inv.view(shape)).floor_()
        if self.leaky:  # max(a, 0) + floor(min(a, 0) · slope)
            neg = a.clamp(max=0).mul_(SLOPE_NUM / 2 ** SLOPE_SHIFT).floor_()
            a = a.clamp_(min=0).add_(neg)
        return a.clamp_(-ACT_MAX, ACT_MAX)

    def __call__(self, a: torch.Tensor) -> torch.Tensor:
        return self.finish(self.accumulate(a))


def matmul(w: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """(out, K) @ (N, K, P) → (N, out, P), one GEMM per item (broadcast matmul runs slower here)."""
    return torch.stack([torch.mm(w, x) for x in a]) if a.shape[0] != 1 else torch.mm(w, a[0]).unsqueeze(0)


@dataclass(frozen=True)
class _Columns:
    """Some input columns of a layer's matrix (float64 integers) with ``linear``, as layers have."""

    matrix: torch.Tensor

    def linear(self, a: torch.Tensor) -> torch.Tensor:
        return matmul(self.matrix, a)


def chain_layers(seq: nn.Sequential):
    """(convolution, followed by LeakyReLU, is the last) for each convolution of a Sequential of
    convolutions, each optionally followed by LeakyReLU(0.2): the layers integer nets represent."""
    mods = list(seq)
    last = max((i for i, m in enumerate(mods) if not isinstance(m, nn.LeakyReLU)), default=-1)
    for i, m in enumerate(mods):
        if isinstance(m, nn.LeakyReLU):
            after_conv = i > 0 and isinstance(mods[i - 1], (nn.Conv2d, nn.ConvTranspose2d))
            if m.negative_slope != LEAKY_SLOPE or not after_conv:
                raise TypeError(f"integer nets support LeakyReLU({LEAKY_SLOPE}) after a convolution, got {m}")
            continue
        nxt = mods[i + 1] if i + 1 < len(mods) else None
        yield m, isinstance(nxt, nn.LeakyReLU), i == last


def integer_chain(seq: nn.Sequential) -> list[IntegerConv]:
    """A Sequential of convolutions, each optionally followed by LeakyReLU(0.2), in fixed point."""
    return [IntegerConv.from_module(m, leaky=leaky) for m, leaky, _ in chain_layers(seq)]


def run_chain(chain: list[IntegerConv], a: torch.Tensor) -> torch.Tensor:
    for layer in chain:
        a = layer(a)
    return a


def scale_thresholds(table: torch.Tensor) -> torch.Tensor:
    """``floor(table · 2**FRAC_BITS)`` (float64 integers): scale s ↦ index = #{t < s} by integers."""
    return torch.floor(table.double() * _ONE)


class IntegerEntropyParameters:
    """The entropy model's parameter nets in fixed point, in the composition ``LatentCoder`` codes
    with: hyper-synthesis → per channel group [hyper, channel context] → per checkerboard stage
    [side, spatial context] → (means, scales).

    The aggregation's first layer is linear in its concatenated input, so its side part is accumulated
    once per group at every position (``hyper_sides``, ``side``) and each checkerboard stage adds only the
    spatial part at its own positions (the anchor stage's spatial input is zero): every position's
    parameters are computed once, on exactly the terms of the one accumulation."""

    #: fraction bits of the hyper-synthesis input (ẑ); subclasses with other layer arithmetic override
    #: ``INPUT_FRAC`` and the hooks ``chain``, ``part``, ``latent_input`` and ``hyper_input``
    INPUT_FRAC = FRAC_BITS

    def chain(self, seq: nn.Sequential, last: bool = False) -> list:
        """A Sequential in this format's layer arithmetic (``last``: the aggregation's, whose outputs
        are the means and scales)."""
        return integer_chain(seq)

    def part(self, layers: list, columns: slice):
        """The input columns ``columns`` of the layers' matrices, rows stacked, as one thing with ``linear``."""
        return _Columns(torch.cat([layer.matrix[:, columns] for layer in layers]).contiguous())

    @staticmethod
    def latent_input(y_hat: torch.Tensor) -> torch.Tensor:
        """ŷ (means' fixed point) → a layer input."""
        return clip(y_hat)

    @staticmethod
    def hyper_input(z: torch.Tensor) -> torch.Tensor:
        return clip(z)

    def __init__(self, hyper, groups):
        self.h_s = self.chain(hyper.h_s)
        self.groups = list(groups.groups)
        self.channel_context = {k: self.chain(groups.channel_context[f"y{k}"]) for k in range(1, len(self.groups))}
        self.aggregate, self.context, self.spatial, self.side_ctx = [], [], [], []
        for k in range(len(self.groups)):
            cb = groups.latent_codec[f"y{k}"]
            if tuple(cb.y.chunks) not in (("means", "scales"), ("scales", "means")):
                raise TypeError(f"integer nets need chunks (means, scales), got {cb.y.chunks}")
            self.aggregate.append(self.chain(cb.entropy_parameters, last=True))
            (ctx,) = self.chain(nn.Sequential(cb.context_prediction))
            if ctx.stride != 1:
                raise TypeError("the spatial context must be a stride-1 convolution")
            self.context.append(ctx)
        # the first layers' weights split at their input [hyper | channel context | spatial context]: a
        # partition of one accumulation's terms, so the parts' sum is exact too; the hyper parts of all
        # groups are one matrix (one product per chunk instead of one per group, no concatenation)
        firsts = [a[0] for a in self.aggregate]
        c_hyper = firsts[0].matrix.shape[1] - 2 * self.groups[0]
        for k, (first, c_sp) in enumerate(zip(firsts, (2 * g for g in self.groups))):
            if first.matrix.shape[1] - c_sp < c_hyper:
                raise TypeError(f"group {k}'s parameter aggregation has fewer side inputs than the hyper-synthesis outputs")
            self.spatial.append(self.part([first], slice(-c_sp, None)))
            self.side_ctx.append(self.part([first], slice(c_hyper, -c_sp)) if k else None)
        self.hyper_side = self.part(firsts, slice(0, c_hyper))
        self.side_widths = [f.matrix.shape[0] for f in firsts]
        self.means_first = tuple(groups.latent_codec["y0"].y.chunks)[0] == "means"
        self.thresholds = scale_thresholds(groups.latent_codec["y0"].y.gaussian_conditional.scale_table)[:-1].contiguous()

    def layers(self) -> list[IntegerConv]:
        return [*self.h_s, *(l for c in self.channel_context.values() for l in c),
                *(l for a in self.aggregate for l in a), *self.context]

    def hyper(self, z_fixed: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        """ẑ in fixed point → the hyper-synthesis output trimmed to the latent's size."""
        return run_chain(self.h_s, self.hyper_input(z_fixed))[..., :hw[0], :hw[1]]

    def hyper_sides(self, hyper: torch.Tensor) -> list[torch.Tensor]:
        """The hyper-synthesis output's terms of every group's side accumulation, (N, out_k, P) each."""
        return list(self.hyper_side.linear(hyper.flatten(2)).split(self.side_widths, dim=1))

    def side(self, k: int, hyper: torch.Tensor, y_hats: list[torch.Tensor], hyper_side: torch.Tensor) -> torch.Tensor:
        """Group k's side accumulation of the aggregation's first layer (N, C, H, W), no bias, from
        ``hyper_side`` = ``hyper_sides(hyper)[k]`` (computed once for every group by the caller)."""
        acc = hyper_side
        if k:  # [hyper, channel context], the order of our weights
            ctx = run_chain(self.channel_context[k], self.latent_input(torch.cat(y_hats, 1)))
            acc = acc + self.side_ctx[k].linear(ctx.flatten(2))
        return acc.view(hyper.shape[0], -1, *hyper.shape[-2:])

    def stage(self, k: int, side: torch.Tensor, y_hat_k: torch.Tensor | None,
              positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(means in fixed point, scale-table indexes int32), each (N, g, P) at flat ``positions``;
        ``y_hat_k`` (fixed point, the anchors decoded) for the non-anchor stage, None for the anchors."""
        first, *rest = self.aggregate[k]
        h, w = side.shape[-2:]
        even = is_half(h, w, positions)
        acc = checkerboard(side, anchors=y_hat_k is None) if even else side.flatten(2).index_select(-1, positions)
        if y_hat_k is not None:  # the non-anchor stage: ``positions`` are the non-anchors
            ctx = self.context[k]
            y_in = self.latent_input(y_hat_k)
            spatial = ctx.at_non_anchors(y_in) if even else ctx.at(y_in, positions)
            acc = acc + self.spatial[k].linear(spatial)
        a = first.finish(acc)
        for layer in rest:
            a = layer.finish(layer.linear(a))
        means, scales = a.chunk(2, dim=1) if self.means_first else a.chunk(2, dim=1)[::-1]
        return means, scale_indexes(self.thresholds, scales)
