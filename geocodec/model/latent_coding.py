"""Entropy coding of the latent with geocodec's own rANS layout, walking the compressai module tree.

``LatentCoder`` codes with the modules that ``geocodec.model.entropy`` composes from
``compressai.latent_codecs`` (hyper codec → channel groups → checkerboard → Gaussian conditional):
one rANS substream for the hyper-latent z (factorised ``EntropyBottleneck``) and one for the
latent y per item, coded group by group, anchors before non-anchors. compressai's own
``compress`` / ``decompress`` of those codecs are deliberately not used: they write one string
per stage (the bitstream holds a single y-stream), convert the padded CDF tables from Python on
every call (about 7× slower), and compute entropy parameters in float32 (CompressAI issue #279:
a GPU encoder and a CPU decoder disagree and decode garbage).

Cross-machine safety: the networks that predict entropy parameters run in a float64 copy while
coding, so encoder and decoder on different hardware agree far below the quantisation boundaries
of the scale table; and every coding stage carries a 16-bit CRC of its scale indexes, so a decoder
whose parameters still differ raises ``EntropyMismatch`` instead of silently decoding garbage.
After the last stage a CRC-32 of all decoded symbols (two more u16 checks) confirms the payload
itself, which the per-stage checks cannot see.

Symbols are range-checked before they reach rANS: compressai's coder overflows an int32 and loops
forever on a symbol beyond about 2**27, so anything past ``MAX_SYMBOL`` (or non-finite) raises
``SymbolRangeError`` instead.

compressai private attributes read here (the CDF tables and the hyper-latent medians):
``_quantized_cdf``, ``_cdf_length``, ``_offset`` and ``EntropyBottleneck._get_medians``.
"""

from __future__ import annotations

import copy
import threading
import zlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from compressai.ans import BufferedRansEncoder, RansDecoder
from compressai.latent_codecs import ChannelGroupsLatentCodec, HyperLatentCodec

#: Largest |symbol| (and |latent|) handed to the rANS coder; real latents stay below a few hundred.
MAX_SYMBOL = 2 ** 20

#: Guards the lazily built coding caches (float64 nets, CDF lists). Coding itself is lock-free:
#: it only reads weights and tables, so threads may encode and decode with one model at once.
_INIT_LOCK = threading.Lock()


def anchor_mask(h: int, w: int, device=None) -> torch.Tensor:
    """Checkerboard anchors: positions with even (row + column), compressai's ``anchor_parity="even"``."""
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


def _check(idx: torch.Tensor) -> int:
    return zlib.crc32(idx.cpu().numpy().astype("<i4").tobytes()) & 0xFFFF


def _trimmed(model) -> tuple[list[list[int]], list[int], list[int]]:
    """A compressai entropy model's CDF table as the rANS coder's arguments, each row cut to its real
    length. compressai pads every row to the longest one and converts the whole padded table from
    Python on every call; the coder reads only ``length`` entries of a row, so trimmed rows code
    identical bytes at a fraction of the conversion cost."""
    lengths = model._cdf_length.reshape(-1).int().tolist()
    rows = model._quantized_cdf.tolist()
    return [row[:n] for row, n in zip(rows, lengths)], lengths, model._offset.reshape(-1).int().tolist()


@dataclass
class LatentStreams:
    """The coded form of one item's latent: two rANS substreams and one CRC per coding stage."""

    z: bytes
    y: bytes
    checks: list[int]


class LatentCoder:
    """Codes ŷ with the modules of a hyper codec and a channel-groups codec (of checkerboard codecs
    of Gaussian conditionals). Holds the float64 copy of the parameter nets and the CDF lists,
    built lazily and dropped by ``reset`` whenever the weights may have changed."""

    def __init__(self, hyper: HyperLatentCodec, groups: ChannelGroupsLatentCodec):
        self.hyper = hyper
        self.groups = groups
        self._nets: list[nn.ModuleDict] = []
        self._cdf_cache = None

    def reset(self) -> None:
        self._nets.clear()
        self._cdf_cache = None

    @property
    def n_stages(self) -> int:
        return 2 * len(self.groups.groups)

    def parameter_nets(self) -> nn.ModuleDict:
        """Everything that predicts entropy parameters (hyper-synthesis, channel and spatial context,
        aggregation): what coding runs in float64."""
        return nn.ModuleDict({"h_s": self.hyper.h_s, "y": self.groups})

    @property
    def _gaussian(self):
        return self.groups.latent_codec["y0"].y.gaussian_conditional  # one instance shared by all groups

    def _coding(self) -> nn.ModuleDict:
        nets = self._nets
        if not nets:
            with _INIT_LOCK:
                if not nets:
                    nets.append(copy.deepcopy(self.parameter_nets()).double().eval())
        return nets[0]

    def _cdfs(self):
        """(y tables, z tables), converted once per model and cached (``reset`` drops them)."""
        cache = self._cdf_cache
        if cache is None:
            with _INIT_LOCK:
                if self._cdf_cache is None:
                    self._cdf_cache = (_trimmed(self._gaussian), _trimmed(self.hyper.entropy_bottleneck))
                cache = self._cdf_cache
        return cache

    def _indexes(self, scales: torch.Tensor) -> torch.Tensor:
        table = self._gaussian.scale_table.to(scales)
        s = scales.clamp_min(table[0])
        # index = number of table entries strictly below s (compressai's build_indexes rule)
        return torch.searchsorted(table[:-1].contiguous(), s.contiguous(), right=False).int()

    def _z_medians(self, n: int, hw) -> torch.Tensor:
        med = self.hyper.entropy_bottleneck._get_medians().detach().reshape(1, -1, 1, 1)
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
    def _side_params(cg: ChannelGroupsLatentCodec, k: int, hyper: torch.Tensor, y_hats: list[torch.Tensor]):
        """The codec's own channel-context composition (``merge_y`` / ``merge_params``) for group k."""
        if k == 0:
            return hyper
        return cg.merge_params(cg.channel_context[f"y{k}"](cg.merge_y(*y_hats)), hyper)

    @staticmethod
    def _gaussian_params(cb, side: torch.Tensor, spatial: torch.Tensor):
        """(means, scales) of one checkerboard stage, split in the order the codec's ``chunks`` declares."""
        parts = dict(zip(cb.y.chunks, cb.entropy_parameters(cb.merge(spatial, side)).chunk(2, dim=1)))
        return parts["means"], parts["scales"]

    @torch.inference_mode()
    def compress(self, y: torch.Tensor, seeds: list[int] | None = None) -> list[LatentStreams]:
        """``seeds``: per item, the start value of the payload check (the caller binds its header to it)."""
        nets = self._coding()
        cg = nets["y"]
        check_symbol_range(y, "latent")
        z = self.hyper.h_a(y)
        check_symbol_range(z - self.hyper.entropy_bottleneck._get_medians().reshape(1, -1, 1, 1), "hyper-latent")
        z_strings, z_hat = self._compress_z(z)
        hyper = nets["h_s"](z_hat.double())
        y = y.double()
        anchors = anchor_mask(*y.shape[-2:], device=y.device)
        stages = (anchors, ~anchors)
        encoders = [BufferedRansEncoder() for _ in range(y.shape[0])]
        checks: list[list[int]] = [[] for _ in range(y.shape[0])]
        crcs = list(seeds) if seeds is not None else [0] * y.shape[0]
        cdfs, lengths, offsets = self._cdfs()[0]
        y_hats = []
        for k, y_k in enumerate(y.split(cg.groups, dim=1)):
            cb = cg.latent_codec[f"y{k}"]
            side = self._side_params(cg, k, hyper, y_hats)
            spatial = y_k.new_zeros(y_k.shape[0], 2 * y_k.shape[1], *y_k.shape[-2:])
            y_hat_k = torch.zeros_like(y_k)
            for stage, where in enumerate(stages):
                mu, s = self._gaussian_params(cb, side, spatial)
                idx = self._indexes(s)
                sym = torch.round(y_k - mu)
                check_symbol_range(sym, "latent symbol")
                y_hat_k = torch.where(where, sym + mu, y_hat_k)
                for b, enc in enumerate(encoders):
                    idx_b = idx[b][:, where].reshape(-1)
                    values = sym[b][:, where].reshape(-1).int().tolist()
                    enc.encode_with_indexes(values, idx_b.tolist(), cdfs, lengths, offsets)
                    checks[b].append(_check(idx_b))
                    crcs[b] = _symbol_crc(values, crcs[b])
                if stage == 0:
                    spatial = cb.context_prediction(y_hat_k)
            y_hats.append(y_hat_k)
        for b in range(len(encoders)):  # the check after the last stage: CRC-32 of every symbol, as 2 × u16
            checks[b] += [crcs[b] & 0xFFFF, crcs[b] >> 16]
        return [LatentStreams(z=z_strings[b], y=enc.flush(), checks=checks[b]) for b, enc in enumerate(encoders)]

    @torch.inference_mode()
    def decompress(self, streams: list[LatentStreams], latent_hw: tuple[int, int], device,
                   seeds: list[int] | None = None, symbols: list | None = None) -> torch.Tensor:
        """Entropy-decode a batch of items (same latent size) → ŷ (float32); ``seeds`` as for ``compress``.

        ``symbols``, when given, receives per item the rANS output in decode order (int32): the
        integers that are the same on every machine (docs/reliability.md, layer a)."""
        nets = self._coding()
        cg = nets["y"]
        h, w = latent_hw
        z_hat = self._decompress_z([s.z for s in streams], ((h + 3) // 4, (w + 3) // 4))
        hyper = nets["h_s"](z_hat.to(device).double())[..., :h, :w]
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
        decoded: list[list] = [[] for _ in range(n)]
        y_hats = []
        stage_no = 0
        for k, g in enumerate(cg.groups):
            cb = cg.latent_codec[f"y{k}"]
            side = self._side_params(cg, k, hyper, y_hats)
            spatial = hyper.new_zeros(n, 2 * g, h, w)
            y_hat_k = hyper.new_zeros(n, g, h, w)
            for stage, where in enumerate(stages):
                mu, s = self._gaussian_params(cb, side, spatial)
                idx = self._indexes(s)
                sym = torch.zeros_like(mu)
                for b, dec in enumerate(decoders):
                    idx_b = idx[b][:, where].reshape(-1)
                    if _check(idx_b) != streams[b].checks[stage_no]:
                        raise EntropyMismatch(
                            f"entropy parameters of group {k} ({'anchor' if stage == 0 else 'non-anchor'} "
                            "stage) differ from the encoder's: this decoder's arithmetic does not reproduce "
                            "the encoder's (different model weights, or floating-point drift across devices)")
                    values = dec.decode_stream(idx_b.tolist(), cdfs, lengths, offsets)
                    crcs[b] = _symbol_crc(values, crcs[b])
                    if symbols is not None:
                        decoded[b].append(np.asarray(values, np.int32))
                    sym[b][:, where] = torch.tensor(values, dtype=sym.dtype, device=sym.device).reshape(g, -1)
                y_hat_k = torch.where(where, sym + mu, y_hat_k)
                stage_no += 1
                if stage == 0:
                    spatial = cb.context_prediction(y_hat_k)
            y_hats.append(y_hat_k)
        for b, st in enumerate(streams):  # chunks written before format 2 carry no final check
            if len(st.checks) == stage_no + 2 and [crcs[b] & 0xFFFF, crcs[b] >> 16] != list(st.checks[-2:]):
                raise PayloadMismatch("the decoded symbols fail the check after the last coding stage")
        if symbols is not None:
            symbols.extend(np.concatenate(d) for d in decoded)
        return torch.cat(y_hats, dim=1).float()
