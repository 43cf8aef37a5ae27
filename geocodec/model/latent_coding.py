"""Entropy coding of the latent with geocodec's own rANS layout, walking the compressai module tree.

``LatentCoder`` codes with the modules that ``geocodec.model.entropy`` composes from
``compressai.latent_codecs`` (hyper codec → channel groups → checkerboard → Gaussian conditional):
one rANS substream for the hyper-latent z (factorised ``EntropyBottleneck``) and one for the
latent y per item, coded group by group, anchors before non-anchors. compressai's own
``compress`` / ``decompress`` of those codecs are deliberately not used: they write one string
per stage (the bitstream holds a single y-stream), convert the padded CDF tables from Python on
every call (about 7× slower), and compute entropy parameters in float32 (CompressAI issue #279:
a GPU encoder and a CPU decoder disagree and decode garbage).

Cross-machine safety: in bitstream format 3 the networks that predict entropy parameters are
integer networks (``geocodec.model.integer_nets``), exact on every machine; chunks of formats 1–2
use a float64 copy of them, close across hardware but not provably equal. Both walk the same
stages (``_walk``), each stage computing parameters only at its own positions in format 3. Every
coding stage carries a 16-bit CRC of its scale indexes, so a decoder whose parameters differ
(other weights, a corrupt payload) raises ``EntropyMismatch`` instead of silently decoding garbage.
After the last stage a CRC-32 of all decoded symbols (two more u16 checks) confirms the payload
itself, which the per-stage checks cannot see.

Symbols are range-checked before they reach rANS: compressai's coder overflows an int32 and loops
forever on a symbol beyond about 2**27, so anything past ``MAX_SYMBOL`` (or non-finite) raises
``SymbolRangeError`` instead.

compressai private attributes read here: ``EntropyBottleneck._get_medians``; the CDF tables
(``_quantized_cdf``, ``_cdf_length``, ``_offset``) are read in ``geocodec.model.rans``, which also
decodes the y substreams (over arrays, with the C kernels where they are built).
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

from geocodec.model.checkerboard import is_half, put_checkerboard
from geocodec.model.entropy_parameters import FloatParameters, IntegerParameters
from geocodec.model.int8_nets import Int8EntropyParameters
from geocodec.model.integer_nets import IntegerEntropyParameters
from geocodec.model.rans import PayloadMismatch, StageDecoder, table_arrays, trimmed_table, used_rows

#: The entropy-parameter nets each bitstream format codes with: formats 1–2 a float64 copy of the
#: float nets (close across machines, not exact), 3 integer nets in float64, 4 integer nets on int8
#: products (both exact on every machine).
NETS_BY_FORMAT = {1: "float64", 2: "float64", 3: "integer", 4: "int8"}
#: The nets of the format chunks are written in, ``bitstream.FORMAT_VERSION`` (the default of
#: ``compress`` / ``decompress``; the model layer does not import the bytes layer, a test ties the two).
CURRENT_NETS = "int8"

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


def _check(idx: np.ndarray) -> int:
    """A stage's check: CRC-32 (low 16 bits) of its scale indexes as little-endian int32."""
    return zlib.crc32(np.asarray(idx, "<i4").tobytes()) & 0xFFFF


@dataclass
class LatentStreams:
    """The coded form of one item's latent: two rANS substreams and one CRC per coding stage."""

    z: bytes
    y: bytes
    checks: list[int]


class LatentCoder:
    """Codes ŷ with the modules of a hyper codec and a channel-groups codec (of checkerboard codecs
    of Gaussian conditionals). Holds the integer and float64 copies of the parameter nets and the
    CDF lists, built lazily and dropped by ``reset`` whenever the weights may have changed."""

    def __init__(self, hyper: HyperLatentCodec, groups: ChannelGroupsLatentCodec):
        self.hyper = hyper
        self.groups = groups
        self._nets: list[nn.ModuleDict] = []
        self._ints: dict[str, IntegerEntropyParameters] = {}
        self._cdf_cache = None
        self._table_cache = None  # the y tables as arrays (``table_arrays``), for the C rANS decoder

    def reset(self) -> None:
        self._nets.clear()
        self._ints.clear()
        self._cdf_cache = None
        self._table_cache = None

    @property
    def n_stages(self) -> int:
        return 2 * len(self.groups.groups)

    def parameter_nets(self) -> nn.ModuleDict:
        """Everything that predicts entropy parameters (hyper-synthesis, channel and spatial context,
        aggregation): what formats 1–2 code with in float64, and format 3 as integer nets."""
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
                    self._cdf_cache = (trimmed_table(self._gaussian), trimmed_table(self.hyper.entropy_bottleneck))
                cache = self._cdf_cache
        return cache

    def _y_table(self):
        """``table_arrays`` of the y tables, built once per model (``reset`` drops them)."""
        if self._table_cache is None:
            self._table_cache = table_arrays(self._cdfs()[0])
        return self._table_cache

    def _integer(self, nets: str = "integer") -> IntegerEntropyParameters:
        """The exact parameter nets of format 3 (``"integer"``) or 4 (``"int8"``), built once."""
        ints = self._ints
        if nets not in ints:
            with _INIT_LOCK:
                if nets not in ints:
                    kind = {"integer": IntegerEntropyParameters, "int8": Int8EntropyParameters}[nets]
                    ints[nets] = kind(self.hyper, self.groups)
        return ints[nets]

    def _parameters(self, nets: str, device=None):
        if nets not in ("float64", "integer", "int8"):
            raise ValueError(f"unknown entropy-parameter nets {nets!r}")
        return FloatParameters(self, device) if nets == "float64" else IntegerParameters(self, self._integer(nets))

    def _indexes(self, scales: torch.Tensor) -> torch.Tensor:
        table = self._gaussian.scale_table.to(scales)
        s = scales.clamp_min(table[0])
        # index = number of table entries strictly below s (compressai's build_indexes rule)
        return torch.searchsorted(table[:-1].contiguous(), s.contiguous(), right=False).int()

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

    def _z_medians(self) -> torch.Tensor:
        return self.hyper.entropy_bottleneck._get_medians().detach().reshape(1, -1, 1, 1)

    def _compress_z(self, z: torch.Tensor) -> tuple[list[bytes], torch.Tensor]:
        """``EntropyBottleneck.compress`` with the cached tables (same bytes) → (strings, symbols)."""
        cdfs, lengths, offsets = self._cdfs()[1]
        sym = torch.round(z - self._z_medians()).int()
        sym_cpu = sym.cpu()
        idx = torch.arange(z.shape[1], dtype=torch.int32).reshape(-1, 1).expand(-1, z[0, 0].numel())
        idx = idx.reshape(-1).tolist()
        strings = []
        for b in range(z.shape[0]):
            enc = BufferedRansEncoder()
            enc.encode_with_indexes(sym_cpu[b].reshape(-1).tolist(), idx, cdfs, lengths, offsets)
            strings.append(enc.flush())
        return strings, sym_cpu

    def _decompress_z(self, strings: list[bytes], hw) -> torch.Tensor:
        """→ the hyper-latent's symbols (N, C, h, w) int32, on the CPU."""
        cdfs, lengths, offsets = self._cdfs()[1]
        c = len(lengths)
        idx = torch.arange(c, dtype=torch.int32).reshape(-1, 1).expand(-1, hw[0] * hw[1]).reshape(-1).tolist()
        sym = torch.empty(len(strings), c, *hw, dtype=torch.int32)
        dec = RansDecoder()
        for b, s in enumerate(strings):
            sym[b] = torch.from_numpy(np.asarray(dec.decode_with_indexes(s, idx, cdfs, lengths, offsets),
                                                 np.int32)).reshape(c, *hw)
        return sym

    def _walk(self, params, z_sym: torch.Tensor, hw: tuple[int, int], code) -> torch.Tensor:
        """Every coding stage in order (channel groups; anchors, then non-anchors) → ŷ (float32).

        ``code(stage_no, k, stage, positions, means, indexes)`` codes or decodes one stage and
        returns its symbols (N, g, P) as float64; ``positions`` are flat row-major indexes."""
        h, w = hw
        hyper = params.hyper(z_sym, hw)
        anchors = anchor_mask(h, w).reshape(-1)
        stages = (anchors.nonzero().squeeze(1), (~anchors).nonzero().squeeze(1))
        n = z_sym.shape[0]
        y_hats = []
        stage_no = 0
        for k, g in enumerate(self.groups.groups):
            side = params.side(k, hyper, y_hats)
            y_hat_k = hyper.new_zeros(n, g, h, w, dtype=torch.float64)  # ŷ (fixed point in formats 3–4)
            for stage, positions in enumerate(stages):
                mu, idx = params.stage(k, side, y_hat_k if stage else None, positions)
                sym = code(stage_no, k, stage, positions, mu, idx)
                values = params.y_hat(sym, mu)
                if is_half(h, w, positions):
                    put_checkerboard(y_hat_k, values, anchors=stage == 0)
                else:
                    y_hat_k.view(n, g, h * w)[:, :, positions] = values
                stage_no += 1
            y_hats.append(y_hat_k)
        return params.latent(torch.cat(y_hats, dim=1))

    @torch.inference_mode()
    def compress(self, y: torch.Tensor, seeds: list[int] | None = None, nets: str = CURRENT_NETS) -> list[LatentStreams]:
        """``seeds``: per item, the start value of the payload check (the caller binds its header to it).
        ``nets``: the parameter nets of the chunk's format (``NETS_BY_FORMAT``)."""
        params = self._parameters(nets)
        check_symbol_range(y, "latent")
        z = self.hyper.h_a(y)
        check_symbol_range(z - self._z_medians(), "hyper-latent")
        z_strings, z_sym = self._compress_z(z)
        n = y.shape[0]
        y_flat = params.move(y.double()).flatten(2)
        encoders = [BufferedRansEncoder() for _ in range(n)]
        checks: list[list[int]] = [[] for _ in range(n)]
        crcs = list(seeds) if seeds is not None else [0] * n
        tables = self._cdfs()[0]
        offset = [0] + list(np.cumsum(self.groups.groups))

        def code(stage_no, k, stage, positions, mu, idx):
            sym = params.symbols(y_flat[:, offset[k]:offset[k + 1], positions], mu)
            check_symbol_range(sym, "latent symbol")
            sym_np, idx_np = sym.cpu().numpy().astype(np.int32), idx.cpu().numpy()
            for b, enc in enumerate(encoders):
                values, idx_b = sym_np[b].reshape(-1), idx_np[b].reshape(-1)
                enc.encode_with_indexes(values.tolist(), *used_rows(tables, idx_b))
                checks[b].append(_check(idx_b))
                crcs[b] = _symbol_crc(values, crcs[b])
            return sym

        self._walk(params, z_sym, tuple(y.shape[-2:]), code)
        for b in range(n):  # the check after the last stage: CRC-32 of every symbol, as 2 × u16
            checks[b] += [crcs[b] & 0xFFFF, crcs[b] >> 16]
        return [LatentStreams(z=z_strings[b], y=enc.flush(), checks=checks[b]) for b, enc in enumerate(encoders)]

    @torch.inference_mode()
    def decompress(self, streams: list[LatentStreams], latent_hw: tuple[int, int], device,
                   seeds: list[int] | None = None, symbols: list | None = None,
                   nets: str = CURRENT_NETS) -> torch.Tensor:
        """Entropy-decode a batch of items (same latent size) → ŷ (float32); ``seeds`` and
        ``nets`` as for ``compress`` (a chunk's format decides ``nets``).

        ``symbols``, when given, receives per item the rANS output in decode order (int32): the
        integers that are the same on every machine (docs/reliability.md, layer a)."""
        params = self._parameters(nets, device)
        h, w = latent_hw
        z_sym = self._decompress_z([s.z for s in streams], ((h + 3) // 4, (w + 3) // 4))
        decode = StageDecoder(self, [s.y for s in streams])
        n = len(streams)
        crcs = list(seeds) if seeds is not None else [0] * n
        decoded: list[list] = [[] for _ in range(n)]

        def code(stage_no, k, stage, positions, mu, idx):
            idx_np = idx.cpu().numpy()
            out = np.empty(idx_np.shape, np.int32)
            for b in range(n):
                idx_b = idx_np[b].reshape(-1)
                if _check(idx_b) != streams[b].checks[stage_no]:
                    raise EntropyMismatch(
                        f"entropy parameters of group {k} ({'anchor' if stage == 0 else 'non-anchor'} "
                        "stage) differ from the encoder's: this decoder's arithmetic does not reproduce "
                        "the encoder's (different model weights, or floating-point drift across devices)")
                values = decode(b, idx_b)
                crcs[b] = _symbol_crc(values, crcs[b])
                if symbols is not None:
                    decoded[b].append(values)
                out[b] = values.reshape(idx_np.shape[1:])
            return torch.from_numpy(out).to(mu.device, torch.float64)

        y_hat = self._walk(params, z_sym, (h, w), code)
        for b, st in enumerate(streams):  # chunks written before format 2 carry no final check
            if len(st.checks) == self.n_stages + 2 and [crcs[b] & 0xFFFF, crcs[b] >> 16] != list(st.checks[-2:]):
                raise PayloadMismatch("the decoded symbols fail the check after the last coding stage")
        if symbols is not None:
            symbols.extend(np.concatenate(d) for d in decoded)
        return y_hat.to(device)


