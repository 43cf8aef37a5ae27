"""Markdown tables of an evaluation result, for the model card (written as ``summary.md``)."""

from __future__ import annotations


def _f(v, nd=2, pct=False):
    if v is None:
        return "n/a"
    return f"{v:+.1f} %" if pct else f"{v:.{nd}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def markdown_summary(result: dict) -> str:
    m = result["model"]
    lines = [f"# Evaluation of model `{m['name']}` v{m['version']} (sha256 `{m['sha256'][:16]}…`)", "",
             f"Rate accounting: {result['rate_accounting']}. PSNR peaks: optical {result['psnr_peaks']['optical']:g}, "
             f"SAR {result['psnr_peaks']['sar_db']:g} dB. MS-SSIM: {result['ms_ssim_note']}.", ""]
    if result.get("independent_models"):
        src = ", ".join(f"{k}: `{v['source']}`" for k, v in result["independent_models"].items())
        lines += [f"Independent-coding models: {src}.", ""]
    for name, s in result["sets"].items():
        su = s["summary"]
        lines += [f"## {name} ({su['n_pairs']} pairs, {', '.join(su['shape'])})", ""]
        bd = su["bd_rate_percent"]
        rows = [[k.replace("_", " "), _f(v.get("pchip"), pct=True), _f(v.get("cubic"), pct=True),
                 "n/a" if not v.get("overlap_db") else f"{v['overlap_db'][0]:.2f}–{v['overlap_db'][1]:.2f}"]
                for k, v in bd.items()]
        lines += ["BD-rate (negative = fewer bits at equal joint quality):", ""]
        lines += _table(["comparison", "pchip", "cubic", "over joint PSNR (dB)"], rows) + [""]
        rows = []
        for g, pts in su["geocodec"]["curves"].items():
            for p in pts:
                rows.append([g, f"{p['lmbda']:.4g}", _f(p["bpp"], 3), _f(p["psnr_optical"]), _f(p["psnr_sar"]),
                             _f(p["quality"]), _f(p.get("ms_ssim_optical"), 4), _f(p.get("ms_ssim_sar"), 4)])
        lines += ["geocodec (mean over pairs):", ""]
        lines += _table(["γ", "λ", "bpp", "PSNR opt", "PSNR SAR", "joint", "MS-SSIM opt", "MS-SSIM SAR"], rows)
        lines += [""]
        for base, key in (("jpeg2000", "target"), ("independent", "lmbda")):
            if base not in su:
                continue
            rows = [[f"{p[f'optical_{key}']:.4g} / {p[f'sar_{key}']:.4g}", _f(p["bpp"], 3), _f(p["psnr_optical"]),
                     _f(p["psnr_sar"]), _f(p["quality"])] for p in su[base]["envelope"]]
            lines += [f"{base} envelope over rate splits ({su[base]['n_combinations']} combinations):", ""]
            lines += _table([f"optical / SAR {key}", "bpp", "PSNR opt", "PSNR SAR", "joint"], rows) + [""]
        if "equal_bits_gamma_0.5" in su:
            eb = su["equal_bits_gamma_0.5"]
            rows = [[_f(r["bpp"], 3), _f(r["psnr_optical"]), _f(r["psnr_sar"]), _f(r["jpeg2000_bpp_needed"], 3),
                     "yes" if r["beats_both"] else "no"] for r in eb["points"]]
            lines += ["γ = 0.5 against JPEG 2000 at equal bits (bpp JPEG 2000 needs for both PSNRs, best split):", ""]
            lines += _table(["geocodec bpp", "PSNR opt", "PSNR SAR", "JPEG 2000 bpp needed", "beats both"], rows)
            lines += [""]
        tb = su.get("target_bpp")
        if tb:
            lines += [f"Target-bitrate mode: {tb['n_pass']}/{tb['n']} pass; largest error on reachable targets "
                      f"{_f(None if tb['max_abs_error_reachable'] is None else 100 * tb['max_abs_error_reachable'])} %.", ""]
        if su.get("checks"):
            lines += ["Checks: " + ", ".join(f"{k} = {v}" for k, v in su["checks"].items()), ""]
    t = result.get("timing_s", {})
    if t:
        lines += [f"Evaluation time: {t.get('total', 0):.0f} s in total."]
    return "\n".join(lines) + "\n"
