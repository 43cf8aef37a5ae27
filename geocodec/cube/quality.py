"""Write-time quality: decode a few sampled chunks and compare them with their input.

Why per-chunk sums: a cube may be written by several writers (regions) or grow one date at a
time, so each writer records the squared errors and counts of the chunks it sampled, and the
pooled figures (PSNR per modality, MS-SSIM) are recomputed from all samples in the record.
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING

import numpy as np

from geocodec.cube.blocks import chunk_slices
from geocodec.cube.chunks import ChunkCoder
from geocodec.cube.metadata import open_for_writing
from geocodec.cube.store import read_frames
from geocodec.cube.optical_scale import DEFAULT as DEFAULT_SCALE, PEAKS, STAC_UNITS

if TYPE_CHECKING:
    from geocodec.cube.plan import Plan, WriteInput
    from geocodec.settings import CodecSettings


def sample_chunks(ranges: list[range], chunk_shape, shape, n: int) -> list[tuple[int, ...]]:
    """Up to ``n`` chunk coordinates spread over ``ranges`` (per dim), full-size chunks first."""
    all_coords = list(itertools.product(*ranges))
    full = [c for c in all_coords if all((i + 1) * cs <= s for i, cs, s in zip(c, chunk_shape, shape))]
    pool = full or all_coords
    if len(pool) <= n:
        return pool
    picks = np.linspace(0, len(pool) - 1, n).round().astype(int)
    return [pool[i] for i in sorted(set(picks.tolist()))]


def chunk_errors(ref: np.ndarray, dec: np.ndarray, n_opt: int, sar_linear: bool, optical_nodata, sar_nodata,
                 optical_scale: str = DEFAULT_SCALE) -> dict:
    """Squared-error sums, counts and per-band MS-SSIM of one decoded chunk (..., C, H, W) against its input
    (the optical MS-SSIM range is the peak of ``optical_scale``)."""
    from geocodec.metrics import PEAK_SAR_DB, SAR_DB_MIN, ms_ssim
    from geocodec.normalize import linear_to_db

    ref = np.asarray(ref, np.float64).reshape(-1, *ref.shape[-3:])
    dec = np.asarray(dec, np.float64).reshape(ref.shape)
    out = {}
    for which, sl, nodata in (("optical", slice(0, n_opt), optical_nodata), ("sar", slice(n_opt, None), sar_nodata)):
        r, t = ref[:, sl], dec[:, sl]
        if which == "sar" and sar_linear:
            with np.errstate(divide="ignore", invalid="ignore"):
                r, t = linear_to_db(r), linear_to_db(t)
        valid = np.isfinite(r) & np.isfinite(t)
        if nodata is not None:
            valid &= ref[:, sl] != nodata
        d = (r - t)[valid]
        ssim = []
        if min(r.shape[-2:]) >= 161:
            for ri, ti in zip(r, t):  # one (C, H, W) item at a time
                v = ms_ssim(ri, ti, PEAKS[optical_scale]) if which == "optical" else \
                    ms_ssim(ri - SAR_DB_MIN, ti - SAR_DB_MIN, PEAK_SAR_DB)
                if v is not None:
                    ssim.append(float(v))
        out[which] = {"sq": float(np.sum(d * d)), "n": int(d.size), "ms_ssim": ssim}
    return out


def pooled(samples: list[dict], bytes_stored: int, pixels: int, optical_scale: str = DEFAULT_SCALE) -> dict:
    """The record's ``quality`` from per-chunk samples: bpp over the stored bytes, pooled PSNR (optical at the
    peak of the scale it came in, ``geocodec.cube.optical_scale``), mean MS-SSIM."""
    from geocodec.metrics import PEAK_SAR_DB

    peak_optical = PEAKS[optical_scale]

    def psnr(which, peak):
        s = sum(x[which]["sq"] for x in samples)
        n = sum(x[which]["n"] for x in samples)
        if n == 0:
            return None
        return math.inf if s == 0 else 10 * math.log10(peak * peak / (s / n))

    def ssim(which):
        v = [s for x in samples for s in x[which]["ms_ssim"]]
        return float(np.mean(v)) if v else None

    return {
        "bpp": 8 * bytes_stored / (2 * pixels) if pixels else None,
        "psnr_optical": psnr("optical", peak_optical), "psnr_sar": psnr("sar", PEAK_SAR_DB),
        "ms_ssim_optical": ssim("optical"), "ms_ssim_sar": ssim("sar"),
        "sampled_chunks": len(samples), "psnr_peak_optical": peak_optical, "psnr_peak_sar": PEAK_SAR_DB,
        "optical_units": STAC_UNITS[optical_scale],
    }


# ---------------------------------------------------------------------------- a write's samples
def measure(joint, plan: Plan, inp: WriteInput, job: dict, n_samples: int, progress=None) -> dict:
    """Per-chunk error sums of up to ``n_samples`` chunks of the window (per date when appending)."""
    arr = open_for_writing(job["store_ref"])
    chunk_shape, shape = tuple(arr.chunks), tuple(arr.shape)
    coords = sample_coords(plan, chunk_shape, shape, n_samples)
    settings: CodecSettings = job["settings"]
    coder = ChunkCoder(settings, device=settings.device)
    samples = {}
    for c, data in zip(coords, read_frames(arr, coords)):
        sel = chunk_slices(c, chunk_shape, shape)
        local = tuple(slice(s.start - w.start, s.stop - w.start) for s, w in zip(sel, plan.window))
        ref = np.asarray(joint[local].compute(), np.float32)
        dec = coder.decode_chunks([data], indexes=[c])[0][tuple(slice(0, s.stop - s.start) for s in sel)]
        err = chunk_errors(ref, dec, inp.record.n_optical, settings.sar_scale == "linear",
                                   settings.optical_nodata, settings.sar_nodata, inp.record.optical_scale)
        samples[arr.metadata.encode_chunk_key(c)] = {**err, "lead": list(c[:-3])}
        if progress is not None:
            progress.step()
    return samples


def sample_coords(plan: Plan, chunk_shape, shape, n: int) -> list[tuple[int, ...]]:
    """The chunks sampled for quality: up to ``n`` over the window (``n`` per date when appending)."""
    ranges = [range(w.start // c, -(-w.stop // c)) for w, c in zip(plan.window, chunk_shape)]
    groups = [[range(i, i + 1), *ranges[1:]] for i in ranges[0]] if plan.labels else [ranges]
    return [c for g in groups for c in sample_chunks(g, chunk_shape, shape, n)]

