"""ELIC-style entropy model: hyperprior + uneven channel groups + checkerboard spatial context.

Training uses noise/straight-through rounding (``forward``). Coding (``compress`` /
``decompress``) uses compressai's rANS coder with two substreams per item: the hyper-latent z
(factorised ``EntropyBottleneck``) and the latent y (``GaussianConditional``), coded group by
group, anchors before non-anchors.

Cross-machine safety (CompressAI issue #279): the networks that predict entropy parameters run
in float64 while coding, so encoder and decoder on different hardware agree far below the
quantisation boundaries of the scale table; and every coding stage carries a 16-bit CRC of its
scale indexes, so a decoder whose parameters still differ raises ``EntropyMismatch`` instead of
silently decoding garbage. After the last stage a CRC-32 of all decoded symbols (two more
u16 checks) confirms the payload itself, which the per-stage checks cannot see.

Symbols are range-checked before they reach rANS: compressai's coder overflows an int32 and
loops forever on a symbol beyond about 2**27, so anything past ``MAX_SYMBOL`` (or non-finite)
raises ``SymbolRangeError`` instead.
"""

from __future__ import annotations

import copy
import math
import threading
import zlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from compressai.ans import BufferedRansEncoder, RansDecoder
from compressai.entropy_models import EntropyBottleneck, GaussianConditional

from geocodec.model.layers import conv, deconv

SCALES_MIN, SCALES_MAX, SCALES_LEVELS = 0.11, 256.0, 64
#: Largest |symbol| (and |latent|) handed to the rANS coder; real latents stay below a few hundred.
MAX_SYMBOL = 2 ** 20

#: Guards the lazily built coding caches (float64 nets, CDF lists). Coding itself is lock-free:
#: it only reads weights and tables, so threads may encode and decode with one model at once.
_INIT_LOCK = threading.Lock()


def scale_table() -> list[float]:
    return [math.exp(v) for v in torch.linspace(math.log(SCALES_MIN), math.log(SCALES_MAX), SCALES_LEVELS).tolist()]


def ste_round(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()


def anchor_mask(h: int, w: int, device=None) -> torch.Tensor:
    """Checkerboard anchors: positions with even (row + column)."""
    ii = torch.arange(h, device=device)[:, None]
    jj = torch.arange(w, device=device)[None, :]
    return (ii + jj) % 2 == 0


class EntropyMismatch(RuntimeError):
    """The decoder's entropy parameters differ from the encoder's (raised before decoding them)."""


class PayloadMismatch(RuntimeError):
    """The decoded symbols fail the check written after the last coding stage (corrupt payload)."""


class SymbolRangeError(ValueError):
    """A latent the rANS coder cannot represent (non-finite, or beyond ``MAX_SYMBOL``)."""


def check_symbol_range(x: torch.Tensor, what: str) -> None:
    """Refuse values rANS would hang on; cheap (one reduction) and run before any coding."""
    bad = ~torch.isfinite(x) | (x.abs() > MAX_SYMBOL)
    if bad.any():
        worst = x[bad].flatten()[0].item()
        raise SymbolRangeError(f"{what} value {worst:g} is outside the entropy coder's range ±{MAX_SYMBOL}")


def _symbol_crc(values, crc: int) -> int:
    return zlib.crc32(np.asarray(values, "<i4").tobytes(), crc)


@dataclass
class LatentStreams:
    """The coded form of one item's latent: two rANS substreams and one CRC per coding stage."""

    z: bytes
    y: bytes
    checks: list[int]


class ParameterNets(nn.Module):
    """Everything that predicts entropy parameters: hyper-synthesis, channel and spatial context,
    parameter aggregation. Kept together so coding can run a float64 copy of exactly these."""

    def __init__(self, latent_channels: int, hyper_channels: int, groups: tuple[int, ...]):
        super().__init__()
        m, hc = latent_channels, hyper_channels
        self.groups = tuple(groups)
        self.h_s = nn.Sequential(
            deconv(hc, hc), nn.LeakyReLU(0.2, inplace=True),
            deconv(hc, hc * 3 // 2), nn.LeakyReLU(0.2, inplace=True),
            conv(hc * 3 // 2, 2 * m, 3, 1),
        )
        self.channel_ctx = nn.ModuleList()
        self.spatial_ctx = nn.ModuleList()
        self.aggregate = nn.ModuleList()
        for k, g in enumerate(self.groups):
            prev = sum(self.groups[:k])
            if k == 0:
                self.channel_ctx.append(nn.Identity())
            else:
                self.channel_ctx.append(nn.Sequential(
                    conv(prev, 96, 3, 1), nn.LeakyReLU(0.2, inplace=True), conv(96, 2 * g, 3, 1)))
            self.spatial_ctx.append(conv(g, 2 * g, 5, 1))
            in_ch = 2 * m + 2 * g + (2 * g if k else 0)
            self.aggregate.append(nn.Sequential(
                nn.Conv2d(in_ch, 192, 1), nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(192, 128, 1), nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(128, 2 * g, 1),
            ))

    def context(self, k: int, prev: list[torch.Tensor]) -> torch.Tensor | None:
        return self.channel_ctx[k](torch.cat(prev, dim=1)) if k else None

    def params(self, k, hyper, channel_ctx, spatial):
        parts = [hyper] + ([channel_ctx] if channel_ctx is not None else []) + [spatial]
        means, scales = self.aggregate[k](torch.cat(parts, dim=1)).chunk(2, dim=1)
        return means, scales


class LatentEntropyModel(nn.Module):
    def __init__(self, latent_channels: int, hyper_channels: int, groups: tuple[int, ...]):
        super().__init__()
        m, hc = latent_channels, hyper_channels
        self.groups = tuple(groups)
        self.h_a = nn.Sequential(
            conv(m, hc, 3, 1), nn.LeakyReLU(0.2, inplace=True),
            conv(hc, hc), nn.LeakyReLU(0.2, inplace=True),
            conv(hc, hc),
        )
        self.nets = ParameterNets(m, hc, groups)
        self.z_model = EntropyBottleneck(hc)
        self.y_model = GaussianConditional(scale_table())
        self.y_model.update()  # the Gaussian CDF tables depend only on the fixed scale table
        # float64 copy of ``nets`` for coding; held in a list so it is not a registered submodule
        # (it must never reach state_dict() or a weights file)
        self._coding_nets: list[ParameterNets] = []
        self._cdf_cache = None

    # ------------------------------------------------------------------ training
    def forward(self, y: torch.Tensor):
        """Returns ŷ (straight-through rounded) and the likelihoods of y and z."""
        z = self.h_a(y)
        _, z_lik = self.z_model(z)
        med = self.z_model._get_medians().reshape(1, -1, 1, 1)
        z_hat = ste_round(z - med) + med
        # crops that are not a multiple of the padding (training) give a larger hyper map: trim it
        hyper = self.nets.h_s(z_hat)[..., :y.shape[-2], :y.shape[-1]]
        anchors = anchor_mask(*y.shape[-2:], device=y.device)
        y_hats, y_liks = [], []
        for k, y_k in enumerate(y.split(self.groups, dim=1)):
            ctx = self.nets.context(k, y_hats)
            zeros = y_k.new_zeros(y_k.shape[0], 2 * y_k.shape[1], *y_k.shape[-2:])
            mu_a, s_a = self.nets.params(k, hyper, ctx, zeros)
            y_hat_a = (ste_round(y_k - mu_a) + mu_a) * anchors
            mu_n, s_n = self.nets.params(k, hyper, ctx, self.nets.spatial_ctx[k](y_hat_a))
            mu = torch.where(anchors, mu_a, mu_n)
            s = torch.where(anchors, s_a, s_n)
            _, lik = self.y_model(y_k, s, means=mu)
            y_hats.append(ste_round(y_k - mu) + mu)
            y_liks.append(lik)
        return torch.cat(y_hats, dim=1), torch.cat(y_liks, dim=1), z_lik

    def train(self, mode: bool = True):
        self._coding_nets.clear()  # weights may change: rebuild the float64 copy when coding
        self._cdf_cache = None
        return super().train(mode)

    def _load_from_state_dict(self, *args, **kwargs):
        self._coding_nets.clear()  # new weights and z tables: rebuild the coding copies
        self._cdf_cache = None
        return super()._load_from_state_dict(*args, **kwargs)

    def freeze_tables(self) -> None:
        """Compute the hyper-latent CDF tables from the trained density (done once, at export).

        The tables are then stored with the weights, so every machine codes z with the same
        integers instead of recomputing them in its own floating point."""
        self.z_model.update(force=True)
        self._cdf_cache = None

    # ------------------------------------------------------------------ coding
    def _coding(self) -> ParameterNets:
        nets = self._coding_nets
        if not nets:
            with _INIT_LOCK:
                if not nets:
                    nets.append(copy.deepcopy(self.nets).double().eval())
        return nets[0]

    @staticmethod
    def _trimmed(model) -> tuple[list[list[int]], list[int], list[int]]:
        """A compressai entropy model's CDF table as the rANS coder's arguments, each row cut to its
        real length. compressai pads every row to the longest one and converts the whole padded table
        from Python on every call; the coder reads only ``length`` entries of a row, so trimmed rows
        code identical bytes at a fraction of the conversion cost."""
        lengths = model._cdf_length.reshape(-1).int().tolist()
        rows = model._quantized_cdf.tolist()
        return [row[:n] for row, n in zip(rows, lengths)], lengths, model._offset.reshape(-1).int().tolist()

    def _cdfs(self):
        """(y tables, z tables), converted once per model and cached (``freeze_tables`` resets it)."""
        cache = self._cdf_cache
        if cache is None:
            with _INIT_LOCK:
                if self._cdf_cache is None:
                    self._cdf_cache = (self._trimmed(self.y_model), self._trimmed(self.z_model))
                cache = self._cdf_cache
        return cache

    def _indexes(self, scales: torch.Tensor) -> torch.Tensor:
        table = self.y_model.scale_table.to(scales)
        s = scales.clamp_min(table[0])
        # index = number of table entries strictly below s (compressai's build_indexes rule)
        return torch.searchsorted(table[:-1].contiguous(), s.contiguous(), right=False).int()

    def _z_medians(self, n: int, hw) -> torch.Tensor:
        med = self.z_model._get_medians().detach().reshape(1, -1, 1, 1)
        return med.expand(n, -1, *hw)

    def _compress_z(self, z: torch.Tensor) -> tuple[list[bytes], torch.Tensor]:
        """``EntropyBottleneck.compress`` + ``decompress`` with the cached tables: same bytes, same ẑ."""
        cdfs, lengths, offsets = self._cdfs()[1]
        med = self._z_medians(z.shape[0], z.shape[-2:])
        sym = torch.round(z - med).int()
        sym_cpu = sym.cpu()
        idx = torch.arange(z.shape[1], dtype=torch.int32).reshape(-1, 1).expand(-1, z[0, 0].numel())
        idx = idx.reshape(-1).tolist()
        strings = []
        for b in range(z.shape[0]):
            enc = BufferedRansEncoder()
            enc.encode_with_indexes(sym_cpu[b].reshape(-1).tolist(), idx, cdfs, lengths, offsets)
            strings.append(enc.flush())
        return strings, sym.to(med.dtype) + med

    def _decompress_z(self, strings: list[bytes], hw) -> torch.Tensor:
        cdfs, lengths, offsets = self._cdfs()[1]
        c = len(lengths)
        idx = torch.arange(c, dtype=torch.int32).reshape(-1, 1).expand(-1, hw[0] * hw[1]).reshape(-1).tolist()
        sym = torch.empty(len(strings), c, *hw, dtype=torch.int32)
        dec = RansDecoder()
        for b, s in enumerate(strings):
            sym[b] = torch.tensor(dec.decode_with_indexes(s, idx, cdfs, lengths, offsets),
                                  dtype=torch.int32).reshape(c, *hw)
        med = self._z_medians(len(strings), hw)
        return sym.to(med.device).type_as(med) + med

    @staticmethod
    def _check(idx: torch.Tensor) -> int:
        return zlib.crc32(idx.cpu().numpy().astype("<i4").tobytes()) & 0xFFFF

    @torch.inference_mode()
    def compress(self, y: torch.Tensor, seeds: list[int] | None = None) -> list[LatentStreams]:
        """``seeds``: per item, the start value of the payload check (the caller binds its header to it)."""
        nets = self._coding()
        check_symbol_range(y, "latent")
        z = self.h_a(y)
        check_symbol_range(z - self.z_model._get_medians().reshape(1, -1, 1, 1), "hyper-latent")
        z_strings, z_hat = self._compress_z(z)
        hyper = nets.h_s(z_hat.double())
        y = y.double()
        anchors = anchor_mask(*y.shape[-2:], device=y.device)
        stages = (anchors, ~anchors)
        encoders = [BufferedRansEncoder() for _ in range(y.shape[0])]
        checks: list[list[int]] = [[] for _ in range(y.shape[0])]
        crcs = list(seeds) if seeds is not None else [0] * y.shape[0]
        cdfs, lengths, offsets = self._cdfs()[0]
        y_hats = []
        for k, y_k in enumerate(y.split(self.groups, dim=1)):
            ctx = nets.context(k, y_hats)
            spatial = y_k.new_zeros(y_k.shape[0], 2 * y_k.shape[1], *y_k.shape[-2:])
            y_hat_k = torch.zeros_like(y_k)
            for stage, where in enumerate(stages):
                mu, s = nets.params(k, hyper, ctx, spatial)
                idx = self._indexes(s)
                sym = torch.round(y_k - mu)
                check_symbol_range(sym, "latent symbol")
                y_hat_k = torch.where(where, sym + mu, y_hat_k)
                for b, enc in enumerate(encoders):
                    idx_b = idx[b][:, where].reshape(-1)
                    values = sym[b][:, where].reshape(-1).int().tolist()
                    enc.encode_with_indexes(values, idx_b.tolist(), cdfs, lengths, offsets)
                    checks[b].append(self._check(idx_b))
                    crcs[b] = _symbol_crc(values, crcs[b])
                if stage == 0:
                    spatial = nets.spatial_ctx[k](y_hat_k)
            y_hats.append(y_hat_k)
        for b in range(len(encoders)):  # the check after the last stage: CRC-32 of every symbol, as 2 × u16
            checks[b] += [crcs[b] & 0xFFFF, crcs[b] >> 16]
        return [LatentStreams(z=z_strings[b], y=enc.flush(), checks=checks[b]) for b, enc in enumerate(encoders)]

    @torch.inference_mode()
    def decompress(self, streams: list[LatentStreams], latent_hw: tuple[int, int], device,
                   seeds: list[int] | None = None) -> torch.Tensor:
        """Entropy-decode a batch of items (same latent size) → ŷ (float32); ``seeds`` as for ``compress``."""
        nets = self._coding()
        h, w = latent_hw
        z_hat = self._decompress_z([s.z for s in streams], ((h + 3) // 4, (w + 3) // 4))
        hyper = nets.h_s(z_hat.to(device).double())[..., :h, :w]
        anchors = anchor_mask(h, w, device=device)
        stages = (anchors, ~anchors)
        decoders = []
        for s in streams:
            dec = RansDecoder()
            dec.set_stream(s.y)
            decoders.append(dec)
        cdfs, lengths, offsets = self._cdfs()[0]
        n = len(streams)
        crcs = list(seeds) if seeds is not None else [0] * n
        y_hats = []
        stage_no = 0
        for k, g in enumerate(self.groups):
            ctx = nets.context(k, y_hats)
            spatial = hyper.new_zeros(n, 2 * g, h, w)
            y_hat_k = hyper.new_zeros(n, g, h, w)
            for stage, where in enumerate(stages):
                mu, s = nets.params(k, hyper, ctx, spatial)
                idx = self._indexes(s)
                sym = torch.zeros_like(mu)
                for b, dec in enumerate(decoders):
                    idx_b = idx[b][:, where].reshape(-1)
                    expected = streams[b].checks[stage_no]
                    if self._check(idx_b) != expected:
                        raise EntropyMismatch(
                            f"entropy parameters of group {k} ({'anchor' if stage == 0 else 'non-anchor'} "
                            "stage) differ from the encoder's: this decoder's arithmetic does not reproduce "
                            "the encoder's (different model weights, or floating-point drift across devices)")
                    values = dec.decode_stream(idx_b.tolist(), cdfs, lengths, offsets)
                    crcs[b] = _symbol_crc(values, crcs[b])
                    sym[b][:, where] = torch.tensor(values, dtype=sym.dtype, device=sym.device).reshape(g, -1)
                y_hat_k = torch.where(where, sym + mu, y_hat_k)
                stage_no += 1
                if stage == 0:
                    spatial = nets.spatial_ctx[k](y_hat_k)
            y_hats.append(y_hat_k)
        for b, st in enumerate(streams):  # chunks written before format 2 carry no final check
            if len(st.checks) == stage_no + 2 and [crcs[b] & 0xFFFF, crcs[b] >> 16] != list(st.checks[-2:]):
                raise PayloadMismatch("the decoded symbols fail the check after the last coding stage")
        return torch.cat(y_hats, dim=1).float()

    @property
    def n_stages(self) -> int:
        return 2 * len(self.groups)
