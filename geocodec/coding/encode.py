"""Encoding: prepared pairs → chunks (one device batch per padded size), fixed λ or a target bitrate.

The analysis transform runs once per pair; entropy coding (rANS) is per item, and in target-bitrate
mode it is repeated with other λ until the chunk's joint bpp is within ``TARGET_TOLERANCE``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from numpy.typing import ArrayLike

from geocodec import bitstream
from geocodec.coding.prepare import (
    Device, ModelSpec, PreparedModality, PreparedPair, check_fixed_scaling, check_rate_for, f32, pad, prepare_pair)
from geocodec.errors import InvalidInputError
from geocodec.learned_gamma import LEARNED, gamma_function
from geocodec.model.entropy import SymbolRangeError
from geocodec.model.latent_coding import NETS_BY_FORMAT
from geocodec.model.refine import refine_latent
from geocodec.options import DEFAULT_BACKEND, Backend, SarScale
from geocodec.precision import resolve_backend
from geocodec.registry import GeocodecModel, load_model
from geocodec.settings import check_backend, check_refine_steps

#: The bitstream format chunks are written in (4: exact entropy parameters on int8 products; tests
#: and benchmarks that compare formats set it).
WRITE_FORMAT = bitstream.FORMAT_VERSION
#: Refined chunks (``refine_steps`` > 0) are written in format 3 at most: refinement tunes the latent
#: against the float model's means, which format 3's integer nets reproduce to 2**-12, while format
#: 4's int8 nets differ from them by 0.075 on average (ŷ of the same latent in both formats), enough
#: to undo a refinement gain (``tests/test_refine.py``).
REFINED_FORMAT = 3


def write_format(refine_steps: int = 0) -> int:
    """The format a chunk is written in."""
    return min(WRITE_FORMAT, REFINED_FORMAT) if refine_steps else WRITE_FORMAT

#: Target-bitrate mode: relative tolerance and the most entropy-coding passes per item.
TARGET_TOLERANCE = 0.03
TARGET_MAX_PASSES = 10

def _header(model: GeocodecModel, item: PreparedPair, lmbda: float, target, gamma: float,
            fmt: int) -> bitstream.Chunk:
    """The chunk's header fields (no payload yet): known before entropy coding starts; ``gamma``: the
    γ the encoder ran at (the item's, or the model's learned γ at this λ)."""
    masks = {}
    for name, m in (("optical_nan", item.optical.nan_mask), ("optical_nodata", item.optical.nodata_mask),
                    ("sar_nan", item.sar.nan_mask), ("sar_nodata", item.sar.nodata_mask)):
        if m is not None:
            masks[name] = m
    sc = [item.optical.scaling, item.sar.scaling]
    scaling = np.concatenate([np.stack([s.lo, s.hi, s.vmin, s.vmax], axis=1) for s in sc])
    return bitstream.Chunk(
        model_name=model.name, model_version=model.version, model_sha256=model.sha256,
        lmbda=lmbda, gamma=gamma, height=item.height, width=item.width,
        optical_dtype=item.optical.dtype, sar_dtype=item.sar.dtype, scaling=scaling,
        n_optical=item.optical.normalized.shape[0], n_sar=item.sar.normalized.shape[0],
        z=b"", y=b"", checks=[], sar_linear=item.sar_linear,
        target_bpp=target, optical_nodata=item.optical.nodata, sar_nodata=item.sar.nodata, masks=masks,
        optical_big_endian=item.optical.big_endian, sar_big_endian=item.sar.big_endian,
        format_version=fmt,
    )


def _bpp(data: bytes, item: PreparedPair) -> float:
    return 8 * len(data) / (2 * item.height * item.width)


def _weights(m: PreparedModality, height: int, width: int, hw: tuple[int, int]) -> np.ndarray:
    """1 where a sample's reconstruction matters, 0 for padding and NaN / nodata positions."""
    w = np.zeros((m.normalized.shape[0], *hw), np.float32)
    w[:, :height, :width] = 1.0
    for mask in (m.nan_mask, m.nodata_mask):
        if mask is not None:
            w[:, :height, :width][mask] = 0.0
    return w


def _features(model: GeocodecModel, x_opt, x_sar, gamma, backend: str) -> torch.Tensor:
    """The analysis transform (before the λ gain), run by ``backend`` (``"auto"`` already resolved)."""
    if backend == "torch":
        with torch.inference_mode():
            return model.net.encoder(x_opt, x_sar, gamma)
    if backend == "torch-bf16":
        from geocodec.model import bf16_backend

        return bf16_backend.analyse(model, x_opt, x_sar, gamma)
    from geocodec.model import onnx_backend

    return onnx_backend.analyse(model, x_opt, x_sar, gamma, backend)


def _encode_group(model: GeocodecModel, items: list[PreparedPair], lmbda, target, refine_steps: int = 0,
                  backend: str = "torch", gamma_of=None) -> list[bytes]:
    """Encode items of one padded size as one device batch.

    ``gamma_of``: λ → γ (``gamma="learned"``): γ then follows each coding pass's λ, so the analysis
    transform reruns per pass in target-bitrate mode (γ is an input of the encoder)."""
    net, dev = model.net, model.device
    hw = items[0].padded(net)
    x_opt = torch.from_numpy(np.stack([pad(i.optical.normalized, hw) for i in items])).to(dev)
    x_sar = torch.from_numpy(np.stack([pad(i.sar.normalized, hw) for i in items])).to(dev)
    gamma = torch.tensor([i.gamma for i in items], dtype=torch.float32, device=dev)
    if refine_steps:
        w_opt = torch.from_numpy(np.stack([_weights(i.optical, i.height, i.width, hw) for i in items])).to(dev)
        w_sar = torch.from_numpy(np.stack([_weights(i.sar, i.height, i.width, hw) for i in items])).to(dev)
    # the analysis transform runs once per item (per pass when γ follows λ)
    features = _features(model, x_opt, x_sar, gamma, backend) if gamma_of is None else None
    fmt = write_format(refine_steps)

    def code(lmbdas: list[float], which: list[int] | None = None) -> list[bytes]:
        which = list(range(len(items))) if which is None else which
        lam = torch.tensor(lmbdas, dtype=torch.float32, device=dev)
        g = gamma[which] if gamma_of is None else torch.tensor(
            [f32(gamma_of(lm)) for lm in lmbdas], dtype=torch.float32, device=dev)
        headers = [_header(model, items[i], lm, target, float(gv), fmt) for i, lm, gv in zip(which, lmbdas, g.tolist())]
        feats = features[which] if gamma_of is None else _features(model, x_opt[which], x_sar[which], g, backend)
        with torch.inference_mode():
            y = feats * net.encoder_gain(lam)
        if refine_steps:
            y = refine_latent(net, y.clone(), x_opt[which], x_sar[which], g, lam,
                              w_opt[which], w_sar[which], refine_steps)
        with torch.inference_mode():
            try:
                streams = net.compress_latent(y, [bitstream.header_crc(h) for h in headers],
                                              nets=NETS_BY_FORMAT[fmt])
            except SymbolRangeError as e:
                raise InvalidInputError(
                    f"cannot code this input: {e}. Some samples lie far outside their band's spread (the "
                    "0.5–99.5 percentile range); mark outliers as NaN or *_nodata") from None
        for h, st in zip(headers, streams):
            h.z, h.y, h.checks = st.z, st.y, st.checks
        return [bitstream.pack(h) for h in headers]

    if target is None:
        return code([f32(lmbda)] * len(items))
    return _search_rate(model, items, code, target)


def _search_rate(model, items, code, target) -> list[bytes]:
    """Target-bitrate mode: per item, find λ with joint bpp within ±3 % of ``target``.

    Regula falsi (Illinois) on log bpp vs log λ, all items of the batch searched together;
    every pass is one entropy-coding pass that reuses the analysis transform. When the target
    lies outside what the model's λ range can reach, the nearest end of the range is used.
    """
    lo_l, hi_l = (math.log(v) for v in model.lmbda_range)
    n = len(items)
    f = lambda data, it: math.log(_bpp(data, it) / target)  # noqa: E731
    lo_bytes, hi_bytes = code([f32(math.exp(lo_l))] * n), code([f32(math.exp(hi_l))] * n)
    passes = 2
    best = [None] * n
    state = []  # per item: [t_lo, f_lo, t_hi, f_hi, side]
    for i, it in enumerate(items):
        f_lo, f_hi = f(lo_bytes[i], it), f(hi_bytes[i], it)
        cands = [(abs(f_lo), lo_bytes[i]), (abs(f_hi), hi_bytes[i])]
        best[i] = min(cands, key=lambda c: c[0])
        done = f_lo >= 0 or f_hi <= 0 or best[i][0] <= math.log1p(TARGET_TOLERANCE * 0.5)
        state.append(None if done else [lo_l, f_lo, hi_l, f_hi, 0])
    while passes < TARGET_MAX_PASSES and any(s is not None for s in state):
        active = [i for i, s in enumerate(state) if s is not None]
        ts = {}
        for i in active:
            t_lo, f_lo, t_hi, f_hi, _ = state[i]
            t = t_lo - f_lo * (t_hi - t_lo) / (f_hi - f_lo) if f_hi != f_lo else 0.5 * (t_lo + t_hi)
            ts[i] = min(max(t, t_lo + 0.02 * (t_hi - t_lo)), t_hi - 0.02 * (t_hi - t_lo))
        out = code([f32(math.exp(ts[i])) for i in active], active)
        passes += 1
        for i, data in zip(active, out):
            s = state[i]
            ft = f(data, items[i])
            if abs(ft) < best[i][0]:
                best[i] = (abs(ft), data)
            if abs(ft) <= math.log1p(TARGET_TOLERANCE * 0.5):
                state[i] = None
            elif ft < 0:  # too few bits: raise λ (Illinois: halve the stale end's value)
                s[0], s[1] = ts[i], ft
                if s[4] == -1:
                    s[3] /= 2
                s[4] = -1
            else:
                s[2], s[3] = ts[i], ft
                if s[4] == 1:
                    s[1] /= 2
                s[4] = 1
    return [b for _, b in best]


def compress_batch(pairs: Iterable[tuple[ArrayLike, ArrayLike]], *, lmbda: float | None = None,
                   gamma: float | str | Sequence[float] = 0.5, model: ModelSpec = "default", device: Device = "auto",
                   target_bpp: float | None = None, optical_nodata: float | None = None,
                   sar_nodata: float | None = None, sar_scale: SarScale = "db", batch_size: int = 16,
                   scaling: ArrayLike | None = None, refine_steps: int = 0, backend: Backend = DEFAULT_BACKEND) -> list[bytes]:
    """Compress many co-registered (optical, sar) pairs, one chunk each, in device batches.

    Pairs of the same padded size share a batch; every chunk decodes on its own.

    Parameters
    ----------
    pairs
        ``(optical, sar)`` tuples, as for ``compress``; sizes may differ between pairs.
    lmbda, target_bpp, model, device, optical_nodata, sar_nodata, sar_scale, refine_steps, backend
        As for ``compress``.
    gamma
        One γ for every pair, or one per pair, or ``"learned"`` (as for ``compress``).
    batch_size
        Most pairs per device batch.
    scaling
        None fits each pair's own per-band range (``geocodec.normalize``); a (bands, 2) array of
        per-band (lo, hi) (optical bands first, SAR in dB) codes every pair on that one scale, e.g. a
        whole cube's, so that neighbouring chunks share it (each keeps its own clamp range; the
        header still carries the scaling).

    Returns
    -------
    list of bytes
        One self-contained chunk per pair, in the order given.

    Raises
    ------
    geocodec.errors.InvalidInputError
        A pair, a value or an option is not accepted (the message names it).
    """
    m = load_model(model, device)
    lam, target = check_rate_for(m, lmbda, target_bpp)
    refine_steps = check_refine_steps(refine_steps)
    backend = resolve_backend(check_backend(backend), m.device)
    fixed = check_fixed_scaling(m, scaling)
    pairs = list(pairs)
    gamma_of = None
    if isinstance(gamma, str) and gamma == LEARNED:
        learned = gamma_function(m.net.config)
        if target is None:
            gamma = f32(learned(lam))
        else:  # target_bpp: γ follows the λ each search pass tries
            gamma_of, gamma = learned, 0.5
    gammas = list(gamma) if isinstance(gamma, (list, tuple, np.ndarray)) else [gamma] * len(pairs)
    if len(gammas) != len(pairs):
        raise InvalidInputError(f"got {len(gammas)} gamma values for {len(pairs)} pairs")
    items = []
    for k, pair in enumerate(pairs):
        try:
            optical, sar = pair
        except (TypeError, ValueError):
            raise InvalidInputError(f"pair {k} is not an (optical, sar) tuple") from None
        try:
            items.append(prepare_pair(m, optical, sar, gammas[k], optical_nodata, sar_nodata, sar_scale, fixed))
        except InvalidInputError as e:
            if len(pairs) == 1:
                raise
            raise InvalidInputError(f"pair {k}: {e}") from None
    out: list[bytes | None] = [None] * len(items)
    groups: dict[tuple[int, int], list[int]] = {}
    for k, it in enumerate(items):
        groups.setdefault(it.padded(m.net), []).append(k)
    # no model lock: coding only reads the model, so Dask threads encode in parallel
    for idx in groups.values():
        for start in range(0, len(idx), max(1, batch_size)):
            part = idx[start:start + batch_size]
            for k, data in zip(part, _encode_group(m, [items[k] for k in part], lam, target, refine_steps, backend,
                                                       gamma_of)):
                out[k] = data
    return out


def compress(optical: ArrayLike, sar: ArrayLike, *, lmbda: float | None = None, gamma: float | str = 0.5,
             model: ModelSpec = "default", device: Device = "auto", target_bpp: float | None = None,
             optical_nodata: float | None = None, sar_nodata: float | None = None,
             sar_scale: SarScale = "db", refine_steps: int = 0, backend: Backend = DEFAULT_BACKEND) -> bytes:
    """Compress one co-registered optical + SAR pair into one chunk (one bitstream, both modalities).

    Parameters
    ----------
    optical
        ``(C_opt, H, W)`` optical bands in the model's order (``load_model().optical_bands``), dtype
        uint8, uint16, int16 or float32 (reflectance × 10 000 for Sentinel-2 L2A/L1C counts).
    sar
        ``(C_sar, H, W)`` σ0, float32 or float64, in dB (or linear power with ``sar_scale="linear"``),
        on the same grid as ``optical``.
    lmbda
        The rate parameter, inside the model's ``lmbda_range``: larger λ, more bits and quality.
        Give exactly one of ``lmbda`` and ``target_bpp``.
    gamma
        γ ∈ [0, 1], where the bits go: 1 favours optical fidelity, 0 SAR fidelity. ``"learned"``: the
        γ a task-finetuned model (``geocodec finetune-task``) learned for this λ, interpolated in log λ
        between its trained points (``geocodec.learned_gamma``); with ``target_bpp`` γ follows the λ
        the search tries. The chunk header stores the γ used.
    model
        A registered model name, a ``.safetensors`` path or a loaded model (``load_model``).
    device
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda[:N]"``.
    target_bpp
        Instead of λ: the joint bits per pixel (total bits / (2·H·W)) to reach, within ±3 %.
    optical_nodata, sar_nodata
        Values that mark missing samples; their positions (and NaN in float inputs) are coded
        losslessly and come back exactly.
    sar_scale
        ``"db"`` (σ0 in dB) or ``"linear"`` (σ0 in linear power: coded in dB, returned linear).
    refine_steps
        Encode-time latent refinement (``geocodec.model.refine``): this many gradient steps on the
        latent against the model's own rate–distortion objective before entropy coding. 0 (default)
        is off. More quality per bit for much more encode time (each step costs about one encode
        on CPU: 20 steps ≈ 17× the encode time, ``benchmarks/refinement.py``); decoding and the
        chunk format are unchanged. With ``target_bpp`` every search pass refines.
    backend
        What runs the analysis transform: ``"auto"`` (the default:
        ``"torch-bf16"`` where the device has native bf16 units, as
        ``geocodec.precision.resolve_backend`` decides, else ``"torch"``),
        ``"torch"`` (fp32, the reference), ``"torch-bf16"`` (bf16 autocast + channels_last), or ONNX Runtime graphs built from the
        model (``geocodec[fast]``): ``"onnx"`` (float32, the same chunks to float rounding) or
        ``"onnx-int8"`` (chunks slightly larger or lossier). The cost of each is measured in the
        README. The chunks are ordinary chunks: every backend decodes them.

    Returns
    -------
    bytes
        One self-contained chunk: header (model, λ, γ, shape, dtypes, scaling) and rANS payload
        (``geocodec.inspect`` reads the header; docs/bitstream.md describes the layout).

    Raises
    ------
    geocodec.errors.InvalidInputError
        Bad shapes, dtypes, γ, λ; more than ``bitstream.MAX_PIXELS`` px; a valid sample outside
        ``OPTICAL_RANGE`` / ``SAR_DB_RANGE`` (the message names the value, its position and, for a
        constant fill strip, the ``*_nodata=`` to pass); or a latent the entropy coder cannot
        represent. Never hangs (docs/reliability.md).
    geocodec.errors.UnknownModelError
        ``model`` names no registered model or readable weights file.
    """
    return compress_batch([(optical, sar)], lmbda=lmbda, gamma=gamma, model=model, device=device,
                          target_bpp=target_bpp, optical_nodata=optical_nodata, sar_nodata=sar_nodata,
                          sar_scale=sar_scale, refine_steps=refine_steps, backend=backend)[0]

