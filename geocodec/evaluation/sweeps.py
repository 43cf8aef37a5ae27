"""The measurements: every codec on the same pixels, real bytes, quality per modality.

* geocodec: real chunks from ``geocodec.compress_batch`` (header, masks and CRC included),
  over λ for each γ;
* independent coding: two single-modality models, real rANS substreams, per modality over λ;
* image codecs (JPEG 2000, JPEG XL): one codestream set per modality, per codec setting;
* target-bitrate mode: achieved against target bpp.
"""

from __future__ import annotations

import math
import time

import numpy as np

from geocodec.evaluation.datasets import ValidationPair
from geocodec.metrics import PEAK_OPTICAL, PEAK_SAR_DB, SAR_DB_MIN, ms_ssim, psnr


def quality(pair: ValidationPair, optical=None, sar=None, with_ms_ssim=True) -> dict:
    """PSNR (documented peaks) and MS-SSIM of whichever decoded modalities are given."""
    q = {}
    if optical is not None:
        valid = None if pair.optical_nodata is None else pair.optical != pair.optical_nodata
        q["psnr_optical"] = psnr(pair.optical, optical, PEAK_OPTICAL, valid)
        if with_ms_ssim:
            q["ms_ssim_optical"] = ms_ssim(pair.optical, optical, PEAK_OPTICAL)
    if sar is not None:
        q["psnr_sar"] = psnr(pair.sar, sar, PEAK_SAR_DB)
        if with_ms_ssim:
            q["ms_ssim_sar"] = ms_ssim(pair.sar - SAR_DB_MIN, sar - SAR_DB_MIN, PEAK_SAR_DB)
    return q


def pixels(pair: ValidationPair) -> int:
    """Joint-rate denominator: 2·H·W."""
    return 2 * pair.shape[0] * pair.shape[1]


def f32(x: float) -> float:
    return float(np.float32(x))


def _rename(q: dict) -> dict:
    """psnr_optical → psnr etc. for single-modality records."""
    return {k.split("_")[0] if k.startswith("psnr") else "ms_ssim": v for k, v in q.items()}


def sweep_geocodec(model, pairs, lmbdas, gammas, *, device, batch_size=16, with_ms_ssim=True,
                   refine_steps: int = 0) -> list[list[dict]]:
    """Per pair: one record per (γ, λ) with real chunk bytes, header bytes and per-modality quality."""
    from geocodec.codec import compress_batch, decompress_batch, inspect

    out: list[list[dict]] = [[] for _ in pairs]
    by_nodata: dict = {}
    for k, pair in enumerate(pairs):
        by_nodata.setdefault(pair.optical_nodata, []).append(k)
    for lam in lmbdas:
        for nodata, idx in by_nodata.items():  # all pairs × all γ of a group in shared device batches
            jobs = [(k, g) for k in idx for g in gammas]
            chunks = compress_batch([(pairs[k].optical, pairs[k].sar) for k, _ in jobs], lmbda=lam,
                                    gamma=[g for _, g in jobs], model=model, device=device,
                                    optical_nodata=nodata, batch_size=batch_size, refine_steps=refine_steps)
            decoded = decompress_batch(chunks, modality="both", device=device, model=model)
            for (k, g), data, (o, s) in zip(jobs, chunks, decoded):
                info = inspect(data)
                out[k].append({"gamma": g, "lmbda": info["lmbda"], "bytes": len(data),
                               "header_bytes": info["bytes"]["header"], "bpp": 8 * len(data) / pixels(pairs[k]),
                               **quality(pairs[k], o, s, with_ms_ssim)})
    return out


def sweep_independent(opt_model, sar_model, pairs, lmbdas, *, with_ms_ssim=True) -> list[dict]:
    """Per pair: per-modality records (λ as ``setting``, substream bytes, quality) of two single-modality models."""
    from geocodec.evaluation.baselines.independent import code_single

    out = []
    for pair in pairs:
        rec = {"optical": [], "sar": []}
        for lam in lmbdas:
            r = code_single(opt_model, pair.optical, lam)
            rec["optical"].append({"setting": f32(lam), "bytes": r.payload_bytes,
                                   **_rename(quality(pair, optical=r.decoded, with_ms_ssim=with_ms_ssim))})
            r = code_single(sar_model, pair.sar, lam)
            rec["sar"].append({"setting": f32(lam), "bytes": r.payload_bytes,
                               **_rename(quality(pair, sar=r.decoded, with_ms_ssim=with_ms_ssim))})
        out.append(rec)
    return out


def sweep_image_codec(codec, pairs, settings, *, with_ms_ssim=True) -> list[dict]:
    """Per pair: per-modality records (codec setting, codestream bytes, quality) of one image-codec baseline
    (a ``geocodec.evaluation.baselines`` module)."""
    out = []
    for pair in pairs:
        rec = {"optical": [], "sar": [], "sar_clipped_samples": 0}
        for t in settings:
            r = codec.code_optical(pair.optical, t)
            rec["optical"].append({"setting": t, "bytes": r.nbytes,
                                   **_rename(quality(pair, optical=r.decoded, with_ms_ssim=with_ms_ssim))})
            r, mapping = codec.code_sar(pair.sar, t)
            rec["sar"].append({"setting": t, "bytes": r.nbytes,
                               **_rename(quality(pair, sar=r.decoded, with_ms_ssim=with_ms_ssim))})
            rec["sar_clipped_samples"] = mapping.clipped
        out.append(rec)
    return out


def sweep_target_bpp(model, pairs, geo_records, gamma, fractions, absolute, *, device,
                     refine_steps: int = 0) -> list[list[dict]]:
    """Per pair: compress with ``target_bpp`` and compare achieved with target.

    The reachable range is the pair's bpp at the ends of the λ grid (the sweep includes both
    ends) for this γ. A reachable target passes when achieved is within the codec's tolerance;
    an unreachable one passes when the codec clamped to the nearest end of the range."""
    from geocodec.codec import TARGET_TOLERANCE, compress, inspect

    out = []
    for pair, recs in zip(pairs, geo_records):
        at_g = sorted((r for r in recs if r["gamma"] == gamma), key=lambda r: r["lmbda"])
        lo_bpp, hi_bpp = at_g[0]["bpp"], at_g[-1]["bpp"]
        lo, hi = min(lo_bpp, hi_bpp), max(lo_bpp, hi_bpp)
        targets = [("range_fraction", f, math.exp(math.log(lo) + f * (math.log(hi) - math.log(lo))))
                   for f in fractions] + [("absolute", None, t) for t in absolute]
        rows = []
        for kind, frac, t in targets:
            t0 = time.perf_counter()
            data = compress(pair.optical, pair.sar, target_bpp=t, gamma=gamma, model=model, device=device,
                            optical_nodata=pair.optical_nodata, refine_steps=refine_steps)
            info = inspect(data)
            achieved = info["bpp"]
            reachable = lo * (1 - TARGET_TOLERANCE) <= t <= hi * (1 + TARGET_TOLERANCE)
            if reachable:
                passes = abs(achieved / t - 1) <= TARGET_TOLERANCE
            else:  # clamped: the end of the range nearest to the target
                end = hi if t > hi else lo
                passes = abs(achieved / end - 1) <= TARGET_TOLERANCE
            rows.append({"kind": kind, "fraction": frac, "target_bpp": t, "achieved_bpp": achieved,
                         "ratio": achieved / t, "lmbda": info["lmbda"], "reachable": reachable,
                         "range_bpp": [lo, hi], "passes": bool(passes),
                         "seconds": time.perf_counter() - t0})
        out.append(rows)
    return out
