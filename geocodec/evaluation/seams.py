"""Chunk seams: how much sharper the image steps across chunk borders after coding than elsewhere.

A scene written as ``chunk``-px chunks is coded chunk by chunk, each with its own per-band
scaling (``geocodec.normalize``: 0.5–99.5 percentile range of the chunk). A border can then
show a step the input does not have. The figure: mean |Δ| between neighbouring pixels whose
pair straddles a chunk border ("border") and between all other neighbours ("elsewhere"),
horizontal and vertical together, per modality, for the input and the decoded scene. The input
has no seams, so its border/elsewhere ratio (≈ 1) is the yardstick for the decoded one.

To tell how much of the seam per-chunk scaling explains, the same chunks are also coded with one
scaling for the whole scene (its percentile range; each chunk keeps its own exact clamp range).
The numpy API has no scaling argument, so ``scene_scaling`` swaps ``geocodec.coding.prepare``'s
``fit_scaling`` for the duration of one ``compress_batch`` call: an experiment's tool, not
a codec feature (the cube layer is where a stored per-cube scaling belongs).
"""

from __future__ import annotations

import contextlib
import itertools
from typing import Literal
from unittest import mock

import numpy as np

from geocodec.errors import InvalidInputError

ScalingMode = Literal["per-chunk", "per-scene"]
SCALING_MODES: tuple[ScalingMode, ...] = ("per-chunk", "per-scene")


def border_gradients(image: np.ndarray, chunk: int) -> dict:
    """Mean |Δ| of neighbouring pixels across chunk borders and elsewhere, of a (C, H, W) array.

    Parameters
    ----------
    image : numpy.ndarray
        (C, H, W); non-finite samples are left out.
    chunk : int
        Chunk side in px; borders lie between pixel ``k·chunk − 1`` and ``k·chunk``.

    Returns
    -------
    dict
        ``border``, ``elsewhere`` (mean |Δ|) and ``ratio`` = border / elsewhere.
    """
    x = np.asarray(image, np.float64)
    if x.ndim != 3 or chunk < 1 or (x.shape[1] <= chunk and x.shape[2] <= chunk):
        raise InvalidInputError(f"a (C, H, W) image larger than one {chunk} px chunk is needed; got {x.shape}")
    dx = np.abs(np.diff(x, axis=2))
    dy = np.abs(np.diff(x, axis=1))
    at_x = (np.arange(1, x.shape[2]) % chunk) == 0  # dx[..., j] pairs columns j and j+1
    at_y = (np.arange(1, x.shape[1]) % chunk) == 0
    border = np.concatenate([dx[:, :, at_x].ravel(), dy[:, at_y, :].ravel()])
    other = np.concatenate([dx[:, :, ~at_x].ravel(), dy[:, ~at_y, :].ravel()])
    b = float(np.mean(border[np.isfinite(border)]))
    e = float(np.mean(other[np.isfinite(other)]))
    return {"border": b, "elsewhere": e, "ratio": b / e if e > 0 else None}


def border_error(ref: np.ndarray, test: np.ndarray, chunk: int, width: int = 2) -> dict:
    """RMSE of decoded pixels within ``width`` px of a chunk border against all other pixels (finite only):
    a chunk's edge pixels are decoded without their neighbours, which a seam shows as larger edge error."""
    ref, test = np.asarray(ref, np.float64), np.asarray(test, np.float64)
    h, w = ref.shape[1:]
    near_y = np.minimum(np.arange(h) % chunk, chunk - 1 - np.arange(h) % chunk) < width
    near_x = np.minimum(np.arange(w) % chunk, chunk - 1 - np.arange(w) % chunk) < width
    near = np.broadcast_to(near_y[:, None] | near_x[None, :], ref.shape)
    inner_y = (np.arange(h) >= width) & (np.arange(h) < h - width)  # the scene's own edges are no seam
    inner_x = (np.arange(w) >= width) & (np.arange(w) < w - width)
    inner = np.broadcast_to(inner_y[:, None] & inner_x[None, :], ref.shape)
    d2 = (ref - test) ** 2
    ok = np.isfinite(d2) & inner
    b, e = d2[near & ok], d2[~near & ok]
    return {"rmse_near_border": float(np.sqrt(b.mean())), "rmse_elsewhere": float(np.sqrt(e.mean())),
            "width_px": width}


def chunk_windows(h: int, w: int, chunk: int) -> list[tuple[slice, slice]]:
    return [(slice(y, min(y + chunk, h)), slice(x, min(x + chunk, w)))
            for y in range(0, h, chunk) for x in range(0, w, chunk)]


@contextlib.contextmanager
def scene_scaling(optical: np.ndarray, sar: np.ndarray, optical_nodata=None):
    """Within the block, ``geocodec.codec`` scales every chunk with the whole scene's per-band range.

    ``coding.prepare.prepare_pair`` fits optical, then SAR, for each pair in turn; the replacement hands out
    the scene's (lo, hi) in that order and keeps each chunk's own [min, max] clamp.
    """
    from geocodec.coding import prepare
    from geocodec.normalize import BandScaling, fit_scaling

    def scene(a, nodata):
        valid = np.isfinite(a) if a.dtype.kind == "f" else np.ones(a.shape, bool)
        if nodata is not None:
            valid &= a != nodata
        return fit_scaling(np.where(valid, a.astype(np.float64), 0.0), valid)

    fixed = itertools.cycle([scene(optical, optical_nodata), scene(sar, None)])

    def per_scene(values, valid=None):
        own = fit_scaling(values, valid)
        s = next(fixed)
        if len(s.lo) != len(own.lo):
            raise RuntimeError("scene_scaling: codec fitted modalities out of the expected order")
        return BandScaling(s.lo.copy(), s.hi.copy(), own.vmin, own.vmax)

    with mock.patch.object(prepare, "fit_scaling", per_scene):
        yield


def code_in_chunks(model, optical, sar, chunk: int, lmbda: float, gamma: float, *,
                   scaling: ScalingMode = "per-chunk", overlap: int = 0, optical_nodata=None, device="cpu",
                   batch_size: int = 16) -> tuple[np.ndarray, np.ndarray, int]:
    """Code a scene as ``chunk``-px chunks through the numpy API and put the decoded chunks back together.

    With ``overlap`` > 0 each chunk is coded with up to ``overlap`` px of its neighbours on every side
    and only its own window is kept: what overlapped chunks would cost (all their bytes count) and
    how much of a seam is the network seeing no context at a chunk's edge.

    Returns
    -------
    (optical_hat, sar_hat, nbytes)
        Decoded arrays of the input's shape and dtype, and the total chunk bytes.
    """
    from geocodec.codec import compress_batch, decompress_batch

    if scaling not in SCALING_MODES:
        raise InvalidInputError(f"scaling={scaling!r}: use one of {list(SCALING_MODES)}")
    h, w = optical.shape[1:]
    wins = chunk_windows(h, w, chunk)
    grown = [(slice(max(0, ys.start - overlap), min(h, ys.stop + overlap)),
              slice(max(0, xs.start - overlap), min(w, xs.stop + overlap))) for ys, xs in wins]
    jobs = [(np.ascontiguousarray(optical[:, ys, xs]), np.ascontiguousarray(sar[:, ys, xs])) for ys, xs in grown]
    ctx = scene_scaling(optical, sar, optical_nodata) if scaling == "per-scene" else contextlib.nullcontext()
    with ctx:
        chunks = compress_batch(jobs, lmbda=lmbda, gamma=gamma, model=model, device=device,
                                optical_nodata=optical_nodata, batch_size=batch_size)
    o_hat, s_hat = np.empty_like(optical), np.empty_like(sar)
    for (ys, xs), (gy, gx), (o, s) in zip(wins, grown, decompress_batch(chunks, modality="both", device=device,
                                                                         model=model)):
        keep = (slice(None), slice(ys.start - gy.start, ys.stop - gy.start),
                slice(xs.start - gx.start, xs.stop - gx.start))
        o_hat[:, ys, xs], s_hat[:, ys, xs] = o[keep], s[keep]
    return o_hat, s_hat, sum(len(c) for c in chunks)


def code_decoded_together(model, optical, sar, chunk: int, lmbda: float, gamma: float, *,
                          scaling: ScalingMode = "per-scene", optical_nodata=None, device="cpu",
                          batch_size: int = 16) -> tuple[np.ndarray, np.ndarray, int]:
    """Code the chunks apart but synthesise the scene from all chunks' latents side by side, then crop:
    neighbour-aware decoding at no extra bytes. Each chunk's part is mapped back with its own header's
    scaling; with ``scaling='per-chunk'`` neighbouring latents were coded on different scales.

    Needs whole chunks whose side is a multiple of the model's stride (16 px). Returns as
    ``code_in_chunks``.
    """
    import torch

    from geocodec.codec import compress_batch, entropy_decode, inspect
    from geocodec.normalize import BandScaling, invert_scaling

    h, w = optical.shape[1:]
    if chunk % 16 or h % chunk or w % chunk:
        raise InvalidInputError(f"decoding chunks together needs whole {chunk} px chunks (a multiple of 16 px); "
                                f"the scene is {h}×{w}")
    wins = chunk_windows(h, w, chunk)
    jobs = [(np.ascontiguousarray(optical[:, ys, xs]), np.ascontiguousarray(sar[:, ys, xs])) for ys, xs in wins]
    if scaling not in SCALING_MODES:
        raise InvalidInputError(f"scaling={scaling!r}: use one of {list(SCALING_MODES)}")
    ctx = scene_scaling(optical, sar, optical_nodata) if scaling == "per-scene" else contextlib.nullcontext()
    with ctx:
        chunks = compress_batch(jobs, lmbda=lmbda, gamma=gamma, model=model, device=device,
                                optical_nodata=optical_nodata, batch_size=batch_size)
    lat = entropy_decode(chunks, device=device, model=model)
    cols = w // chunk
    rows = [torch.cat([d.latent for d in lat[r * cols:(r + 1) * cols]], dim=2) for r in range(h // chunk)]
    y = torch.cat(rows, dim=1)[None]
    m = lat[0].model
    with m.lock:
        y_dec = m.net.decoder_input(y.to(m.device), torch.tensor([lat[0].chunk.lmbda], dtype=torch.float32))
        scene = {which: m.net.synthesize(y_dec, which).float().cpu().numpy()[0]
                 for which in ("optical", "sar")}
    o_hat, s_hat = np.empty_like(optical), np.empty_like(sar)
    n_opt = optical.shape[0]
    for (ys, xs), data in zip(wins, chunks):
        sc = inspect(data)["scaling"]
        band = [np.asarray(sc[k], np.float32) for k in ("lo", "hi", "min", "max")]
        for which, out, sl in (("optical", o_hat, slice(0, n_opt)), ("sar", s_hat, slice(n_opt, None))):
            x = invert_scaling(scene[which][:, ys, xs], BandScaling(*(b[sl] for b in band)))
            if out.dtype.kind in "ui":
                info = np.iinfo(out.dtype)
                x = np.clip(np.rint(x), info.min, info.max)
            out[:, ys, xs] = x.astype(out.dtype)
    if sar.dtype.kind == "f":
        s_hat[np.isnan(sar)] = np.nan  # the codec restores NaN exactly
    return o_hat, s_hat, sum(len(c) for c in chunks)


def measure_seams(model, pair, chunk: int, lmbdas, gamma: float = 0.5, *, overlap: int = 0, device="cpu") -> dict:
    """Border against elsewhere gradients for the input and, per λ and way of chunking, the decoded scene.

    Ways: each chunk with its own scaling, with the scene's scaling, (``overlap`` > 0) with its own
    scaling coded with ``overlap`` px of context, and (whole stride-multiple chunks) with the scene's
    scaling and decoded together with its neighbours."""
    from geocodec.evaluation.sweeps import pixels, quality

    out = {"pair": pair.name, "shape": list(pair.shape), "chunk": chunk, "gamma": gamma,
           "input": {"optical": border_gradients(_valid_float(pair.optical, pair.optical_nodata), chunk),
                     "sar": border_gradients(pair.sar, chunk)},
           "decoded": []}
    ways = [(m, 0, False) for m in SCALING_MODES] + ([("per-chunk", overlap, False)] if overlap > 0 else [])
    h, w = pair.shape
    if chunk % 16 == 0 and h % chunk == 0 and w % chunk == 0:
        ways += [("per-chunk", 0, True), ("per-scene", 0, True)]
    for lam in lmbdas:
        for mode, ov, together in ways:
            if together:
                o, s, nbytes = code_decoded_together(model, pair.optical, pair.sar, chunk, lam, gamma, scaling=mode,
                                                     optical_nodata=pair.optical_nodata, device=device)
            else:
                o, s, nbytes = code_in_chunks(model, pair.optical, pair.sar, chunk, lam, gamma, scaling=mode,
                                              overlap=ov, optical_nodata=pair.optical_nodata, device=device)
            out["decoded"].append({
                "lmbda": float(np.float32(lam)), "scaling": mode, "overlap_px": ov, "decoded_together": together,
                "bpp": 8 * nbytes / pixels(pair),
                **quality(pair, o, s, with_ms_ssim=False),
                "optical": {**border_gradients(_valid_float(o, pair.optical_nodata), chunk),
                            **border_error(_valid_float(pair.optical, pair.optical_nodata), o, chunk)},
                "sar": {**border_gradients(s, chunk), **border_error(pair.sar, s, chunk)}})
    return out


def _valid_float(a: np.ndarray, nodata) -> np.ndarray:
    x = a.astype(np.float64)
    if nodata is not None:
        x[a == nodata] = np.nan
    return x
