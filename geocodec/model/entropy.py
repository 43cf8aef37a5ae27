"""ELIC-style entropy model composed from ``compressai.latent_codecs``.

Module tree (as compressai's ``Elic2022Official``)::

    latent_codec  HyperpriorLatentCodec
      .hyper      HyperLatentCodec(quantizer="ste"): h_a, entropy_bottleneck, h_s (hyper map trimmed to y)
      .y          ChannelGroupsLatentCodec: channel_context.y{k} (k ≥ 1), latent_codec.y{k} =
                    CheckerboardLatentCodec("twopass"): entropy_parameters, context_prediction,
                      y = GaussianConditionalLatentCodec(quantizer="ste", chunks=("means", "scales"))

Training runs compressai's own forward of that tree. Three small subclasses keep the semantics of
our weights: parameter nets read [hyper, channel context, spatial context] (compressai's ``merge``
/ ``merge_params`` put the context first) and the hyper map is trimmed to y's size (crops that are
not a multiple of the padding give a larger one). The spatial context is a plain conv (5×5, or
the config's 3×3), not ``CheckerboardMaskedConv2d``: the twopass forward feeds it anchors only and keeps its output at
non-anchors only, where the masked taps see zeros anyway; the masked conv would rewrite its weight on
every call (not thread-safe while coding), add a ``mask`` buffer to every weights file and zero
stored taps. All groups share one ``GaussianConditional`` (its tables depend only on the scale table).

Coding (``compress`` / ``decompress``) is ``geocodec.model.latent_coding.LatentCoder``: our rANS
layout and integer parameter nets (``geocodec.model.integer_nets``; float64 for chunks of formats
1–2), not compressai's ``compress`` (see there why).

Weights keys: ``state_dict()`` keeps the keys of the module tree before this composition
(``h_a.*``, ``nets.h_s.*``, ``nets.channel_ctx.K.*``, ``nets.spatial_ctx.K.*``,
``nets.aggregate.K.*``, ``z_model.*``, ``y_model.*``), in that order: weights files, their sealed
sha256 and the optimiser numbering of training checkpoints stay as they were. ``load_state_dict``
accepts those keys and the module-tree keys alike. ``saved_keys`` is the one table between them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from compressai.entropy_models import EntropyBottleneck, GaussianConditional
from compressai.latent_codecs import (
    ChannelGroupsLatentCodec, CheckerboardLatentCodec, GaussianConditionalLatentCodec, HyperLatentCodec,
    HyperpriorLatentCodec,
)
from compressai.models.utils import update_registered_buffers

from geocodec.model.layers import conv, deconv
from geocodec.precision import fp32
from geocodec.model.latent_coding import (
    CURRENT_NETS, EntropyMismatch, LatentCoder, LatentStreams, PayloadMismatch, SymbolRangeError,
)

# the coding types are re-exported: callers see one entropy-model API
__all__ = ["LatentEntropyModel", "LatentStreams", "EntropyMismatch", "PayloadMismatch", "SymbolRangeError",
           "saved_keys", "to_module_keys", "scale_table"]

SCALES_MIN, SCALES_MAX, SCALES_LEVELS = 0.11, 256.0, 64


def scale_table() -> list[float]:
    return [math.exp(v) for v in torch.linspace(math.log(SCALES_MIN), math.log(SCALES_MAX), SCALES_LEVELS).tolist()]


def saved_keys(n_groups: int) -> list[tuple[str, str]]:
    """(saved key prefix, module-tree key prefix), in the saved order; ``y_model.`` maps to every
    group's (shared) Gaussian conditional."""
    y = "latent_codec.y.latent_codec"
    rows = [("h_a.", "latent_codec.hyper.h_a."), ("nets.h_s.", "latent_codec.hyper.h_s.")]
    rows += [(f"nets.channel_ctx.{k}.", f"latent_codec.y.channel_context.y{k}.") for k in range(1, n_groups)]
    rows += [(f"nets.spatial_ctx.{k}.", f"{y}.y{k}.context_prediction.") for k in range(n_groups)]
    rows += [(f"nets.aggregate.{k}.", f"{y}.y{k}.entropy_parameters.") for k in range(n_groups)]
    rows += [("z_model.", "latent_codec.hyper.entropy_bottleneck.")]
    rows += [("y_model.", f"{y}.y{k}.y.gaussian_conditional.") for k in range(n_groups)]
    return rows


def to_module_keys(state: dict, n_groups: int) -> dict:
    """An entropy-model state dict with saved keys renamed to module-tree keys (others unchanged)."""
    rows = saved_keys(n_groups)
    out = {}
    for key, v in state.items():
        targets = [tree + key[len(saved):] for saved, tree in rows if key.startswith(saved)]
        out.update(dict.fromkeys(targets, v) if targets else {key: v})
    return out


class _Hyper(HyperLatentCodec):
    def forward(self, y: torch.Tensor):
        out = super().forward(y)
        out["params"] = out["params"][..., :y.shape[-2], :y.shape[-1]]  # odd-sized crops: trim to y
        return out


class _ChannelGroups(ChannelGroupsLatentCodec):
    def merge_params(self, ch_ctx_params, side_params):
        return torch.cat([side_params, ch_ctx_params], dim=1)  # our weights: hyper, then channel context


class _Checkerboard(CheckerboardLatentCodec):
    def merge(self, y_ctx, side_params):
        return torch.cat([side_params, y_ctx], dim=1)  # our weights: spatial context last


class GradientRoundingGaussianConditional(GaussianConditional):
    """compressai's ``GaussianConditional`` whose evaluation-mode rounding lets gradients through
    (straight-through; the values are exactly compressai's). Encode-time latent refinement
    (``geocodec.model.refine``) needs the rate's gradient with respect to the latent; training
    (noise) and coding (our own rANS path) are unaffected."""

    def quantize(self, inputs, mode, means=None):
        out = super().quantize(inputs, mode, means)
        if mode == "dequantize" and torch.is_grad_enabled() and inputs.requires_grad:
            return inputs + (out - inputs).detach()
        return out


class LatentEntropyModel(nn.Module):
    def __init__(self, latent_channels: int, hyper_channels: int, groups: tuple[int, ...], *,
                 context_channels: int = 96, parameter_channels: tuple[int, int] = (192, 128),
                 spatial_kernel: int = 5, hyper_kernel: int = 3):
        super().__init__()
        m, hc, cc, (p1, p2) = latent_channels, hyper_channels, context_channels, parameter_channels
        self.groups = tuple(groups)
        h_a = nn.Sequential(
            conv(m, hc, 3, 1), nn.LeakyReLU(0.2, inplace=True),
            conv(hc, hc), nn.LeakyReLU(0.2, inplace=True),
            conv(hc, hc),
        )
        h_s = nn.Sequential(
            deconv(hc, hc), nn.LeakyReLU(0.2, inplace=True),
            deconv(hc, hc * 3 // 2), nn.LeakyReLU(0.2, inplace=True),
            conv(hc * 3 // 2, 2 * m, hyper_kernel, 1),
        )
        gaussian = GradientRoundingGaussianConditional(scale_table())
        gaussian.update()  # the Gaussian CDF tables depend only on the fixed scale table
        channel_context = {
            f"y{k}": nn.Sequential(conv(sum(groups[:k]), cc, 3, 1), nn.LeakyReLU(0.2, inplace=True),
                                   conv(cc, 2 * g, 3, 1))
            for k, g in enumerate(groups) if k
        }
        checkerboards = {
            f"y{k}": _Checkerboard(
                latent_codec={"y": GaussianConditionalLatentCodec(
                    gaussian_conditional=gaussian, quantizer="ste", chunks=("means", "scales"))},
                entropy_parameters=nn.Sequential(
                    nn.Conv2d(2 * m + 2 * g + (2 * g if k else 0), p1, 1), nn.LeakyReLU(0.2, inplace=True),
                    nn.Conv2d(p1, p2, 1), nn.LeakyReLU(0.2, inplace=True),
                    nn.Conv2d(p2, 2 * g, 1),
                ),
                context_prediction=conv(g, 2 * g, spatial_kernel, 1),
                forward_method="twopass",
            )
            for k, g in enumerate(groups)
        }
        self.latent_codec = HyperpriorLatentCodec(latent_codec={
            "y": _ChannelGroups(checkerboards, channel_context, groups=list(groups)),
            "hyper": _Hyper(EntropyBottleneck(hc), h_a, h_s, quantizer="ste"),
        })
        self.coder = LatentCoder(self.latent_codec.hyper, self.latent_codec.y)
        self._keys = saved_keys(len(groups))
        self.register_state_dict_post_hook(_save_keys)
        self.register_load_state_dict_pre_hook(_load_keys)

    @classmethod
    def from_config(cls, c) -> "LatentEntropyModel":
        """The entropy model a ``ModelConfig`` describes."""
        return cls(c.latent_channels, c.hyper_channels, c.groups, context_channels=c.context_channels,
                   parameter_channels=tuple(c.parameter_channels), spatial_kernel=c.spatial_kernel,
                   hyper_kernel=c.hyper_kernel)

    def forward(self, y: torch.Tensor):
        """Returns ŷ (straight-through rounded) and the likelihoods of y and z.

        Always fp32, also inside a bf16 autocast region: the likelihoods are the rate, and the
        parameter nets are the format (``geocodec.precision``)."""
        with fp32():
            out = self.latent_codec(y.float())
        return out["y_hat"], out["likelihoods"]["y"], out["likelihoods"]["z"]

    def aux_loss(self) -> torch.Tensor:
        """The entropy bottleneck's quantile loss (trains the medians that z is coded around)."""
        return self.latent_codec.hyper.entropy_bottleneck.loss()

    def train(self, mode: bool = True):
        self.coder.reset()  # weights may change: rebuild the coding copies (float64, integer, int8)
        return super().train(mode)

    def freeze_tables(self) -> None:
        """Compute the hyper-latent CDF tables from the trained density (done once, at export).

        The tables are then stored with the weights, so every machine codes z with the same
        integers instead of recomputing them in its own floating point."""
        self.latent_codec.hyper.entropy_bottleneck.update(force=True)
        self.coder.reset()

    def compress(self, y: torch.Tensor, seeds: list[int] | None = None, nets: str = CURRENT_NETS) -> list[LatentStreams]:
        return self.coder.compress(y, seeds, nets)

    def decompress(self, streams: list[LatentStreams], latent_hw: tuple[int, int], device,
                   seeds: list[int] | None = None, symbols: list | None = None,
                   nets: str = CURRENT_NETS) -> torch.Tensor:
        return self.coder.decompress(streams, latent_hw, device, seeds, symbols, nets)

    @property
    def n_stages(self) -> int:
        return self.coder.n_stages


def _save_keys(module: LatentEntropyModel, state_dict, prefix: str, local_metadata) -> None:
    """state_dict post-hook: module-tree keys → saved keys, in the saved order (the shared Gaussian
    conditional once)."""
    own = {k[len(prefix):]: state_dict.pop(k) for k in [k for k in state_dict if k.startswith(prefix)]}
    for saved, tree in module._keys:
        for k in [k for k in own if k.startswith(tree)]:
            state_dict.setdefault(prefix + saved + k[len(tree):], own.pop(k))
    assert not own, f"entropy-model keys missing from saved_keys(): {sorted(own)}"


def _load_keys(module: LatentEntropyModel, state_dict, prefix: str, *args) -> None:
    """load_state_dict pre-hook: accept saved keys (renamed here) and module-tree keys, and give
    compressai's CDF buffers (empty until ``update``) the incoming shapes, as its
    ``CompressionModel.load_state_dict`` does."""
    module.coder.reset()  # new weights and z tables: rebuild the coding copies
    own = {k[len(prefix):]: state_dict.pop(k) for k in [k for k in state_dict if k.startswith(prefix)]}
    state_dict.update({prefix + k: v for k, v in to_module_keys(own, len(module.groups)).items()})
    for name in ("latent_codec.hyper.entropy_bottleneck", "latent_codec.y.latent_codec.y0.y.gaussian_conditional"):
        tables = [b for b in ("_quantized_cdf", "_offset", "_cdf_length") if f"{prefix}{name}.{b}" in state_dict]
        update_registered_buffers(module.get_submodule(name), prefix + name, tables, state_dict, policy="resize")
