"""Set-level results from per-pair records: curves averaged over pairs, envelopes, BD-rates, who wins where.

Per set, each setting is averaged over pairs (mean bpp, mean PSNR) before envelopes and
Bjøntegaard deltas are taken. Baselines that code the modalities apart (image codecs,
independent coding) get every optical × SAR setting combination (every rate split) and their
upper envelope: the best split, which favours them. Joint quality = mean of the two PSNRs.
"""

from __future__ import annotations

import math

import numpy as np

from geocodec.metrics import bd_rate, pareto_envelope, rate_at_quality
from geocodec.evaluation.sweeps import pixels

#: Points per decade of the rate grid on which the winning codec is read off.
WIN_GRID_PER_DECADE = 24


def _mean(values):
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def envelope(points: list[dict], key: str = "quality") -> list[dict]:
    keep = pareto_envelope([p["bpp"] for p in points], [p[key] for p in points])
    return [points[i] for i in keep]


def combine(pairs, per_pair_opt, per_pair_sar, header_bytes) -> list[dict]:
    """All optical×SAR setting combinations (rate splits), averaged over pairs."""
    n_o, n_s = len(per_pair_opt[0]), len(per_pair_sar[0])
    points = []
    for i in range(n_o):
        for j in range(n_s):
            bpp, qo, qs, mo, ms = [], [], [], [], []
            for p, pair in enumerate(pairs):
                o, s = per_pair_opt[p][i], per_pair_sar[p][j]
                bpp.append(8 * (header_bytes[p] + o["bytes"] + s["bytes"]) / pixels(pair))
                qo.append(o["psnr"])
                qs.append(s["psnr"])
                mo.append(o.get("ms_ssim"))
                ms.append(s.get("ms_ssim"))
            points.append({"optical_setting": per_pair_opt[0][i]["setting"],
                           "sar_setting": per_pair_sar[0][j]["setting"],
                           "bpp": _mean(bpp), "psnr_optical": _mean(qo), "psnr_sar": _mean(qs),
                           "ms_ssim_optical": _mean(mo), "ms_ssim_sar": _mean(ms),
                           "quality": 0.5 * (_mean(qo) + _mean(qs))})
    return points


def modality_curve(pairs, per_pair) -> list[dict]:
    """One modality's own R-D curve: its bits as a share of the joint rate, mean PSNR."""
    return [{"bpp": _mean([8 * per_pair[p][i]["bytes"] / pixels(pair) for p, pair in enumerate(pairs)]),
             "psnr": _mean([per_pair[p][i]["psnr"] for p in range(len(pairs))])}
            for i in range(len(per_pair[0]))]


def bd(anchor, test, key="quality") -> dict:
    """BD-rate both ways of fitting, plus the quality interval it integrates over (a narrow one
    means the curves barely overlap and the number says little)."""
    qa = [p[key] for p in envelope(anchor, key)]
    qt = [p[key] for p in envelope(test, key)]
    out = {"overlap_db": [max(min(qa), min(qt)), min(max(qa), max(qt))] if qa and qt else None}
    for method in ("pchip", "cubic"):
        try:
            out[method] = bd_rate([p["bpp"] for p in anchor], [p[key] for p in anchor],
                                  [p["bpp"] for p in test], [p[key] for p in test], method=method)
        except ValueError as e:
            out[method] = None
            out[f"{method}_note"] = str(e)
    return out


def equal_bits(geo_curve, opt_curve, sar_curve) -> list[dict]:
    """For each geocodec point: the joint bpp a baseline needs to reach BOTH of its PSNRs (optical
    bits read off the baseline's optical curve + SAR bits off its SAR curve: its best rate split).
    When that exceeds geocodec's bpp, no split of the same bits gives the baseline both PSNRs:
    geocodec beats it on each modality at equal bits. None when a PSNR is outside its curve."""
    rows = []
    r_o = [p["bpp"] for p in opt_curve]
    r_s = [p["bpp"] for p in sar_curve]
    for p in geo_curve:
        need_o = rate_at_quality(r_o, [q["psnr"] for q in opt_curve], p["psnr_optical"])
        need_s = rate_at_quality(r_s, [q["psnr"] for q in sar_curve], p["psnr_sar"])
        need = None if need_o is None or need_s is None else need_o + need_s
        rows.append({"lmbda": p["lmbda"], "bpp": p["bpp"], "psnr_optical": p["psnr_optical"],
                     "psnr_sar": p["psnr_sar"], "baseline_bpp_optical": need_o, "baseline_bpp_sar": need_s,
                     "baseline_bpp_needed": need, "beats_both": bool(need is not None and need > p["bpp"])})
    return rows


def _quality_at(env: list[dict], rate: float) -> float | None:
    """Envelope quality at ``rate`` (linear in log rate between points); None outside its rate range."""
    r = [p["bpp"] for p in env]
    if not env or rate < r[0] or rate > r[-1]:
        return None
    return float(np.interp(math.log(rate), np.log(r), [p["quality"] for p in env]))


def winners(envelopes: dict[str, list[dict]]) -> list[dict]:
    """Where each codec wins: rate intervals (joint bpp) over which one codec's envelope has the highest
    joint quality, with the smallest and largest lead (dB) over the runner-up there. Read on a log-rate
    grid where at least two codecs have points; a codec whose curve does not reach a rate does not compete there."""
    envs = {k: v for k, v in envelopes.items() if len(v) >= 2}
    if len(envs) < 2:
        return []
    lo = min(v[0]["bpp"] for v in envs.values())
    hi = max(v[-1]["bpp"] for v in envs.values())
    n = max(2, int(math.ceil(math.log10(hi / lo) * WIN_GRID_PER_DECADE)) + 1)
    segments: list[dict] = []
    for rate in np.geomspace(lo, hi, n):
        qs = {k: _quality_at(v, rate) for k, v in envs.items()}
        qs = {k: q for k, q in qs.items() if q is not None}
        if len(qs) < 2:
            continue
        ranked = sorted(qs.items(), key=lambda kv: -kv[1])
        (best, q1), (second, q2) = ranked[0], ranked[1]
        lead = q1 - q2
        if segments and segments[-1]["winner"] == best and segments[-1]["_open"]:
            s = segments[-1]
            s["to_bpp"] = float(rate)
            s["min_lead_db"], s["max_lead_db"] = min(s["min_lead_db"], lead), max(s["max_lead_db"], lead)
        else:
            if segments:
                segments[-1]["_open"] = False
            segments.append({"winner": best, "from_bpp": float(rate), "to_bpp": float(rate), "runner_up": second,
                             "min_lead_db": lead, "max_lead_db": lead, "_open": True})
    for s in segments:
        s.pop("_open")
    return segments


def summarize_set(pairs, geo, gammas, *, independent=None, image_codecs=None) -> dict:
    """Set-level curves (settings averaged over pairs), envelopes, BD-rates, equal-bits rows and winners.

    ``geo``: per pair, ``sweep_geocodec`` records; ``independent``: per pair, ``sweep_independent``
    records or None; ``image_codecs``: {codec name: per pair ``sweep_image_codec`` records}.
    """
    image_codecs = image_codecs or {}
    header = [recs[0]["header_bytes"] for recs in geo]
    curves = {}
    for g in gammas:
        lams = sorted({r["lmbda"] for r in geo[0] if r["gamma"] == g})
        pts = []
        for lam in lams:
            rows = [next(r for r in recs if r["gamma"] == g and r["lmbda"] == lam) for recs in geo]
            pt = {"gamma": g, "lmbda": lam, "bpp": _mean([r["bpp"] for r in rows])}
            for k in ("psnr_optical", "psnr_sar", "ms_ssim_optical", "ms_ssim_sar"):
                pt[k] = _mean([r.get(k) for r in rows])
            pt["quality"] = 0.5 * (pt["psnr_optical"] + pt["psnr_sar"])
            pts.append(pt)
        curves[str(g)] = pts
    all_geo = [p for pts in curves.values() for p in pts]
    summary = {
        "n_pairs": len(pairs), "pairs": [p.name for p in pairs],
        "shape": sorted({f"{p.shape[0]}x{p.shape[1]}" for p in pairs}),
        "geocodec": {"curves": curves, "envelope": envelope(all_geo),
                     "header_bytes_mean": _mean(header),
                     "header_bpp_mean": _mean([8 * h / pixels(p) for h, p in zip(header, pairs)])},
        "baselines": [],
    }
    bds, eq = {}, {}
    baselines = dict(image_codecs)
    if independent is not None:
        baselines["independent"] = independent
    for name, recs in baselines.items():
        hdr = header if name == "independent" else [0] * len(pairs)  # a container for two substreams
        pts = combine(pairs, [r["optical"] for r in recs], [r["sar"] for r in recs], hdr)
        opt_curve = modality_curve(pairs, [r["optical"] for r in recs])
        sar_curve = modality_curve(pairs, [r["sar"] for r in recs])
        summary[name] = {"envelope": envelope(pts), "n_combinations": len(pts),
                         "optical_curve": opt_curve, "sar_curve": sar_curve}
        if name == "independent":
            summary[name]["header_bytes_charged"] = "one geocodec chunk header per pair"
        else:
            summary[name]["sar_clipped_samples"] = int(sum(r["sar_clipped_samples"] for r in recs))
        summary["baselines"].append(name)
        bds[f"geocodec_vs_{name}"] = bd(summary[name]["envelope"], summary["geocodec"]["envelope"])
        for g in gammas:
            bds[f"geocodec_gamma_{g}_vs_{name}"] = bd(summary[name]["envelope"], curves[str(g)])
        if "0.5" in curves:
            rows = equal_bits(curves["0.5"], opt_curve, sar_curve)
            eq[name] = {"points": rows, "n_beating_both": sum(r["beats_both"] for r in rows)}
    names = summary["baselines"]
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            bds[f"{b}_vs_{a}"] = bd(summary[a]["envelope"], summary[b]["envelope"])
    summary["bd_rate_percent"] = bds
    summary["equal_bits_gamma_0.5"] = eq
    summary["winners"] = winners({"geocodec": summary["geocodec"]["envelope"],
                                  **{n: summary[n]["envelope"] for n in names}})
    return summary
