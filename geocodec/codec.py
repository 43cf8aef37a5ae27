"""numpy-level compress / decompress / inspect: validate → normalise → model → bitstream.

The one place that turns user arrays into a chunk's bytes and back. Batches of pairs with the
same padded size go through the network together (one device batch); entropy coding is per
item. Everything the decoder needs is in the chunk header.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from geocodec import bitstream
from geocodec.chunk_info import inspect  # noqa: F401 - public name, torch-free home
from geocodec.errors import (
    CorruptStreamError,
    EntropyParameterMismatchError,
    InvalidInputError,
    ModelMismatchError,
)
from geocodec.model.entropy import EntropyMismatch, LatentStreams
from geocodec.options import BACKENDS, MODALITIES, OPTICAL_DTYPES, SAR_DTYPES, SAR_SCALES, Backend  # noqa: F401
from geocodec.normalize import BandScaling, apply_scaling, db_to_linear, fit_scaling, invert_scaling, linear_to_db
from geocodec.registry import GeocodecModel, find_model_for, load_model
from geocodec.settings import check_gamma, check_rate

#: Target-bitrate mode: relative tolerance and the most entropy-coding passes per item.
TARGET_TOLERANCE = 0.03
TARGET_MAX_PASSES = 10


# ---------------------------------------------------------------------------- validation
def _check_gamma(gamma) -> float:
    return check_gamma(gamma)


def _check_rate(model: GeocodecModel, lmbda, target_bpp) -> tuple[float | None, float | None]:
    return check_rate(lmbda, target_bpp, model.lmbda_range)


def _as_array(x, what: str) -> np.ndarray:
    if hasattr(x, "values") and not isinstance(x, np.ndarray):  # xarray / pandas
        x = x.values
    try:
        a = np.asarray(x)
    except Exception as e:  # noqa: BLE001 - anything not array-like
        raise InvalidInputError(f"{what} must be a numpy array, got {type(x).__name__} ({e})") from None
    return a


@dataclass
class _Modality:
    """One modality of one item, ready for the network."""

    normalized: np.ndarray  # (C, H, W) float32
    scaling: BandScaling
    dtype: str
    nodata: float | None
    nan_mask: np.ndarray | None
    nodata_mask: np.ndarray | None


def _prepare_modality(x, what, n_bands, band_names, allowed, nodata, linear=False, fixed=None) -> _Modality:
    a = _as_array(x, what)
    if a.ndim != 3:
        raise InvalidInputError(f"{what} must have shape (bands, H, W); got {a.ndim}-d shape {a.shape}")
    if a.shape[0] != n_bands:
        raise InvalidInputError(f"{what} has {a.shape[0]} bands but the model expects {n_bands} "
                                f"({', '.join(band_names)})")
    if a.shape[1] < 1 or a.shape[2] < 1:
        raise InvalidInputError(f"{what} has an empty spatial shape {a.shape[1:]}")
    if a.dtype.name not in allowed:
        raise InvalidInputError(f"{what} has dtype {a.dtype.name}; supported: {', '.join(allowed)}")
    if nodata is not None:
        try:
            nodata = float(nodata)
        except (TypeError, ValueError):
            raise InvalidInputError(f"{what} nodata must be a number, got {nodata!r}") from None
    is_float = a.dtype.kind == "f"
    nan_mask = np.isnan(a) if is_float else None
    if is_float and np.isinf(a).any():
        raise InvalidInputError(f"{what} contains ±inf values; only NaN (kept exactly) or a nodata value "
                                "may mark missing samples")
    nodata_mask = None
    if nodata is not None and not math.isnan(nodata):
        nodata_mask = a == nodata
    elif nodata is not None and not is_float:
        raise InvalidInputError(f"{what} nodata=NaN is impossible for dtype {a.dtype.name}")
    invalid = np.zeros(a.shape, bool)
    for m in (nan_mask, nodata_mask):
        if m is not None:
            invalid |= m
    values = a.astype(np.float64)
    if linear:
        bad = (values <= 0) & ~invalid
        if bad.any():
            raise InvalidInputError(f"{what}: sar_scale='linear' needs σ0 > 0, but {int(bad.sum())} samples are "
                                    "≤ 0 and not marked as nodata (pass sar_nodata=0 if 0 means missing)")
        values = np.where(invalid, 0.0, linear_to_db(np.where(invalid, 1.0, values)))
    valid = ~invalid
    values = np.where(valid, values, 0.0)
    scaling = fit_scaling(values, valid)
    if fixed is not None:  # a scaling chosen for the whole cube; the clamp range stays this item's own
        scaling = BandScaling(fixed[:, 0].copy(), fixed[:, 1].copy(), scaling.vmin, scaling.vmax)
    return _Modality(
        normalized=apply_scaling(values, scaling, valid),
        scaling=scaling,
        dtype=a.dtype.name,
        nodata=nodata if nodata_mask is not None else None,
        nan_mask=nan_mask if nan_mask is not None and nan_mask.any() else None,
        nodata_mask=nodata_mask if nodata_mask is not None and nodata_mask.any() else None,
    )


@dataclass
class _Item:
    optical: _Modality
    sar: _Modality
    height: int
    width: int
    gamma: float
    sar_linear: bool

    def padded(self, net) -> tuple[int, int]:
        return net.padded_hw(self.height, self.width)


def _pad(x: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    h, w = x.shape[-2:]
    return np.pad(x, ((0, 0), (0, hw[0] - h), (0, hw[1] - w)), mode="edge")


def _check_fixed_scaling(model: GeocodecModel, scaling) -> np.ndarray | None:
    """``compress_batch(scaling=...)``: (bands, 2) float32 per-band (lo, hi), optical bands first, SAR in dB."""
    if scaling is None:
        return None
    n = len(model.optical_bands) + len(model.sar_bands)
    try:
        a = np.asarray(scaling, dtype=np.float32)
    except (TypeError, ValueError):
        raise InvalidInputError(f"scaling must be a ({n}, 2) array of per-band (lo, hi)") from None
    if a.shape != (n, 2) or not np.isfinite(a).all() or not (a[:, 1] > a[:, 0]).all():
        raise InvalidInputError(f"scaling must be a ({n}, 2) array of finite per-band (lo, hi) with hi > lo "
                                f"({len(model.optical_bands)} optical then {len(model.sar_bands)} SAR bands); "
                                f"got shape {a.shape}")
    return a


def _prepare(model, optical, sar, gamma, optical_nodata, sar_nodata, sar_scale, fixed=None) -> _Item:
    if sar_scale not in SAR_SCALES:
        raise InvalidInputError(f"sar_scale={sar_scale!r}: use 'db' (σ0 in dB) or 'linear' (σ0 power)")
    n_opt = len(model.optical_bands)
    opt = _prepare_modality(optical, "optical", n_opt, model.optical_bands,
                            OPTICAL_DTYPES, optical_nodata, fixed=None if fixed is None else fixed[:n_opt])
    sr = _prepare_modality(sar, "sar", len(model.sar_bands), model.sar_bands, SAR_DTYPES, sar_nodata,
                           linear=sar_scale == "linear", fixed=None if fixed is None else fixed[n_opt:])
    if opt.normalized.shape[1:] != sr.normalized.shape[1:]:
        raise InvalidInputError(f"optical {opt.normalized.shape[1:]} and sar {sr.normalized.shape[1:]} "
                                "must have the same H, W (co-registered on one grid)")
    h, w = opt.normalized.shape[1:]
    return _Item(opt, sr, h, w, _check_gamma(gamma), sar_scale == "linear")


# ---------------------------------------------------------------------------- encoding
def _chunk_bytes(model: GeocodecModel, item: _Item, streams: LatentStreams, lmbda: float, target) -> bytes:
    masks = {}
    for name, m in (("optical_nan", item.optical.nan_mask), ("optical_nodata", item.optical.nodata_mask),
                    ("sar_nan", item.sar.nan_mask), ("sar_nodata", item.sar.nodata_mask)):
        if m is not None:
            masks[name] = m
    sc = [item.optical.scaling, item.sar.scaling]
    scaling = np.concatenate([np.stack([s.lo, s.hi, s.vmin, s.vmax], axis=1) for s in sc])
    return bitstream.pack(bitstream.Chunk(
        model_name=model.name, model_version=model.version, model_sha256=model.sha256,
        lmbda=lmbda, gamma=item.gamma, height=item.height, width=item.width,
        optical_dtype=item.optical.dtype, sar_dtype=item.sar.dtype, scaling=scaling,
        n_optical=item.optical.normalized.shape[0], n_sar=item.sar.normalized.shape[0],
        z=streams.z, y=streams.y, checks=streams.checks, sar_linear=item.sar_linear,
        target_bpp=target, optical_nodata=item.optical.nodata, sar_nodata=item.sar.nodata, masks=masks,
    ))


def _bpp(data: bytes, item: _Item) -> float:
    return 8 * len(data) / (2 * item.height * item.width)


def _f32(x: float) -> float:
    return float(np.float32(x))


def _encode_group(model: GeocodecModel, items: list[_Item], lmbda, target) -> list[bytes]:
    """Encode items of one padded size as one device batch."""
    net, dev = model.net, model.device
    hw = items[0].padded(net)
    x_opt = torch.from_numpy(np.stack([_pad(i.optical.normalized, hw) for i in items])).to(dev)
    x_sar = torch.from_numpy(np.stack([_pad(i.sar.normalized, hw) for i in items])).to(dev)
    gamma = torch.tensor([i.gamma for i in items], dtype=torch.float32, device=dev)
    with torch.inference_mode():
        features = net.encoder(x_opt, x_sar, gamma)  # the analysis transform runs once per item

        def code(lmbdas: list[float], which: list[int] | None = None) -> list[bytes]:
            which = list(range(len(items))) if which is None else which
            lam = torch.tensor(lmbdas, dtype=torch.float32, device=dev)
            streams = net.compress_latent(features[which] * net.encoder_gain(lam))
            return [_chunk_bytes(model, items[i], s, lm, target) for i, s, lm in zip(which, streams, lmbdas)]

        if target is None:
            return code([_f32(lmbda)] * len(items))
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
    lo_bytes, hi_bytes = code([_f32(math.exp(lo_l))] * n), code([_f32(math.exp(hi_l))] * n)
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
        out = code([_f32(math.exp(ts[i])) for i in active], active)
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


def compress_batch(pairs, *, lmbda=None, gamma=0.5, model="default", device="auto", target_bpp=None,
                   optical_nodata=None, sar_nodata=None, sar_scale="db", batch_size: int = 16,
                   scaling=None) -> list[bytes]:
    """Compress many (optical, sar) pairs; pairs of the same padded size share device batches.

    ``gamma`` may be one value or one per pair. ``scaling``: None fits each pair's own per-band
    range (``geocodec.normalize``); a (bands, 2) array of per-band (lo, hi) (optical bands first,
    SAR in dB) codes every pair on that one scale, e.g. a whole cube's, so that neighbouring chunks
    share it (each keeps its own clamp range; the header still carries the scaling).
    """
    m = load_model(model, device)
    lam, target = _check_rate(m, lmbda, target_bpp)
    fixed = _check_fixed_scaling(m, scaling)
    pairs = list(pairs)
    gammas = list(gamma) if isinstance(gamma, (list, tuple, np.ndarray)) else [gamma] * len(pairs)
    if len(gammas) != len(pairs):
        raise InvalidInputError(f"got {len(gammas)} gamma values for {len(pairs)} pairs")
    items = []
    for k, pair in enumerate(pairs):
        try:
            optical, sar = pair
        except (TypeError, ValueError):
            raise InvalidInputError(f"pair {k} is not an (optical, sar) tuple") from None
        items.append(_prepare(m, optical, sar, gammas[k], optical_nodata, sar_nodata, sar_scale, fixed))
    out: list[bytes | None] = [None] * len(items)
    groups: dict[tuple[int, int], list[int]] = {}
    for k, it in enumerate(items):
        groups.setdefault(it.padded(m.net), []).append(k)
    # no model lock: coding only reads the model, so Dask threads encode in parallel
    for idx in groups.values():
        for start in range(0, len(idx), max(1, batch_size)):
            part = idx[start:start + batch_size]
            for k, data in zip(part, _encode_group(m, [items[k] for k in part], lam, target)):
                out[k] = data
    return out


def compress(optical, sar, *, lmbda=None, gamma=0.5, model="default", device="auto", target_bpp=None,
             optical_nodata=None, sar_nodata=None, sar_scale="db") -> bytes:
    """Compress one co-registered pair into one chunk.

    optical: (C_opt, H, W) uint8/uint16/int16/float32; sar: (C_sar, H, W) float32/float64 σ0 in dB
    (or linear power with ``sar_scale='linear'``). NaN (float inputs) and ``*_nodata`` positions
    are kept exactly. Give ``lmbda`` (rate parameter, see ``load_model().lmbda_range``) or
    ``target_bpp`` (joint bits per pixel: total bits / (2·H·W)).
    """
    return compress_batch([(optical, sar)], lmbda=lmbda, gamma=gamma, model=model, device=device,
                          target_bpp=target_bpp, optical_nodata=optical_nodata, sar_nodata=sar_nodata,
                          sar_scale=sar_scale)[0]


# ---------------------------------------------------------------------------- decoding
def _model_for_chunk(c: bitstream.Chunk, model, device) -> GeocodecModel:
    if model is not None:
        m = load_model(model, device)
        if m.sha256 != c.model_sha256:
            raise ModelMismatchError(
                f"chunk was written by model {c.model_name!r} v{c.model_version} (sha256 {c.model_sha256[:16]}…), "
                f"not by the requested model {m.name!r} v{m.version} (sha256 {m.sha256[:16]}…)")
        return m
    m = find_model_for(c.model_name, c.model_sha256, device)
    if m is None:
        raise ModelMismatchError(
            f"chunk was written by model {c.model_name!r} v{c.model_version} (sha256 {c.model_sha256[:16]}…), "
            "which this installation does not have; pass model= the weights file that wrote it")
    return m


def restore(xn: np.ndarray, c: bitstream.Chunk, which: str) -> np.ndarray:
    """Normalised decoder output (C, height, width) of chunk ``c`` → values in its dtype, nodata/NaN restored."""
    return _restore(xn, c, which)


def _restore(xn: np.ndarray, c: bitstream.Chunk, which: str) -> np.ndarray:
    if which == "optical":
        sc, dtype, nodata = c.scaling[:c.n_optical], c.optical_dtype, c.optical_nodata
    else:
        sc, dtype, nodata = c.scaling[c.n_optical:], c.sar_dtype, c.sar_nodata
    x = invert_scaling(xn, BandScaling(sc[:, 0], sc[:, 1], sc[:, 2], sc[:, 3]))
    if which == "sar" and c.sar_linear:
        x = db_to_linear(x)
    dt = np.dtype(dtype)
    if dt.kind in "ui":
        info = np.iinfo(dt)
        x = np.clip(np.rint(x), info.min, info.max)
    x = x.astype(dt)
    nodata_mask = c.masks.get(f"{which}_nodata")
    nan_mask = c.masks.get(f"{which}_nan")
    if nodata is not None:
        # a valid sample must never read back as nodata
        clash = x == nodata
        if nodata_mask is not None:
            clash &= ~nodata_mask
        if clash.any():
            if dt.kind in "ui":
                bump = nodata + 1 if nodata < np.iinfo(dt).max else nodata - 1
            else:
                bump = np.nextafter(dt.type(nodata), dt.type(np.inf))
            x[clash] = bump
        if nodata_mask is not None:
            x[nodata_mask] = nodata
    if nan_mask is not None:
        x[nan_mask] = np.nan
    return x


@dataclass
class DecodedLatent:
    """One chunk after entropy decoding: its header and the dequantised, gained latent ŷ.

    Entropy decoding (sequential rANS) is the costly, modality-independent half of decoding;
    keeping its result lets a reader synthesise optical and SAR from one decode.
    """

    chunk: bitstream.Chunk
    latent: torch.Tensor  # (M, h', w') float32 on the CPU: the latent of the padded chunk
    model: GeocodecModel

    @property
    def nbytes(self) -> int:
        masks = sum(m.size for m in self.chunk.masks.values())  # bool: 1 byte each
        return self.latent.numel() * self.latent.element_size() + masks + len(self.chunk.z) + len(self.chunk.y)


def entropy_decode(chunks, device="auto", model=None) -> list[DecodedLatent]:
    """Parse, verify and entropy-decode chunks (no synthesis); same model and size share a batch."""
    parsed = [bitstream.unpack(d) for d in chunks]
    results: list = [None] * len(parsed)
    groups: dict[tuple, list[int]] = {}
    for k, c in enumerate(parsed):
        groups.setdefault((c.model_sha256, c.model_name, c.height, c.width), []).append(k)
    for (_, _, h, w), idx in groups.items():
        m = _model_for_chunk(parsed[idx[0]], model, device)
        cs = [parsed[k] for k in idx]
        for c in cs:
            if c.n_optical != len(m.optical_bands) or c.n_sar != len(m.sar_bands) or len(c.checks) != m.net.entropy.n_stages:
                raise CorruptStreamError("chunk header does not match its model's band or stage counts")
        streams = [LatentStreams(z=c.z, y=c.y, checks=c.checks) for c in cs]
        lam = torch.tensor([c.lmbda for c in cs], dtype=torch.float32, device=m.device)
        try:
            y_dec = m.net.decompress_latent(streams, m.net.latent_hw(h, w), lam)
        except EntropyMismatch as e:
            raise EntropyParameterMismatchError(
                f"cannot decode chunk safely: {e}. Decode on the kind of device that encoded it, "
                "or re-encode") from None
        y_cpu = y_dec.cpu()
        for j, (k, c) in enumerate(zip(idx, cs)):
            results[k] = DecodedLatent(chunk=c, latent=y_cpu[j], model=m)
    return results


def _check_backend(backend) -> str:
    if backend not in BACKENDS:
        raise InvalidInputError(f"backend={backend!r}: use one of {BACKENDS}")
    return backend


def synthesize(latents: list[DecodedLatent], modality: str = "both", backend: Backend = "torch") -> list:
    """Run only the requested decoder(s) on entropy-decoded latents → arrays as ``decompress`` gives."""
    if modality not in MODALITIES:
        raise InvalidInputError(f"modality={modality!r}: use one of {MODALITIES}")
    _check_backend(backend)
    results: list = [None] * len(latents)
    groups: dict[tuple, list[int]] = {}
    for k, d in enumerate(latents):
        groups.setdefault((id(d.model), *d.latent.shape), []).append(k)
    for idx in groups.values():
        m = latents[idx[0]].model
        y_dec = torch.stack([latents[k].latent for k in idx]).to(m.device)
        outs = {}
        for which in ("optical", "sar"):
            if modality in (which, "both"):
                if backend == "onnx-int8":
                    from geocodec.model import int8_synthesis

                    outs[which] = int8_synthesis.synthesize(m, y_dec, which)
                else:
                    outs[which] = m.net.synthesize(y_dec, which).float().cpu().numpy()
        for j, k in enumerate(idx):
            c = latents[k].chunk
            dec = {w: _restore(v[j, :, :c.height, :c.width], c, w) for w, v in outs.items()}
            results[k] = (dec["optical"], dec["sar"]) if modality == "both" else dec[modality]
    return results


def decompress_batch(chunks, modality: str = "both", device="auto", model=None, backend: Backend = "torch") -> list:
    """Decode many chunks; chunks of the same model and size share device batches."""
    if modality not in MODALITIES:
        raise InvalidInputError(f"modality={modality!r}: use one of {MODALITIES}")
    _check_backend(backend)
    return synthesize(entropy_decode(chunks, device=device, model=model), modality, backend)


def decompress(data, modality: str = "both", device="auto", model=None, backend: Backend = "torch"):
    """Decode one chunk: ``(optical, sar)`` for ``modality='both'``, else one array.

    Arrays come back in the shapes and dtypes that were compressed, NaN/nodata exactly where
    they were. ``modality='sar'`` (or ``'optical'``) runs only that modality's decoder.
    ``backend='onnx-int8'`` runs the decoders as int8 ONNX Runtime graphs built from the model
    (faster on a CPU, slightly lossier; needs ``geocodec[fast]``); ``'torch'`` is exact.
    """
    return decompress_batch([data], modality=modality, device=device, model=model, backend=backend)[0]
