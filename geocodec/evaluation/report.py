"""Markdown tables of an evaluation result, for the model card (written as ``summary.md``)."""

from __future__ import annotations

NAMES = {"geocodec": "geocodec", "jpeg2000": "JPEG 2000", "jpegxl": "JPEG XL", "independent": "independent coding"}


def _f(v, nd=2, pct=False):
    if v is None:
        return "n/a"
    return f"{v:+.1f} %" if pct else f"{v:.{nd}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def _set_section(name: str, su: dict, result: dict) -> list[str]:
    lines = [f"## {name} ({su['n_pairs']} pairs, {', '.join(su['shape'])})", ""]
    bd = su["bd_rate_percent"]
    rows = [[k.replace("_", " "), _f(v.get("pchip"), pct=True), _f(v.get("cubic"), pct=True),
             "n/a" if not v.get("overlap_db") else f"{v['overlap_db'][0]:.2f}–{v['overlap_db'][1]:.2f}"]
            for k, v in bd.items()]
    lines += ["BD-rate (negative = fewer bits at equal joint quality; anchor is the second name):", ""]
    lines += _table(["comparison", "pchip", "cubic", "over joint PSNR (dB)"], rows) + [""]
    if su.get("winners"):
        rows = [[NAMES.get(w["winner"], w["winner"]), f"{w['from_bpp']:.3g}–{w['to_bpp']:.3g}",
                 NAMES.get(w["runner_up"], w["runner_up"]), f"{w['min_lead_db']:.2f}–{w['max_lead_db']:.2f}"]
                for w in su["winners"]]
        lines += ["Where each codec wins (highest joint PSNR on the envelopes, joint bpp; a codec competes "
                  "only inside its own rate range):", ""]
        lines += _table(["best", "joint bpp", "runner-up (where it starts)", "lead (dB)"], rows) + [""]
    rows = []
    for g, pts in su["geocodec"]["curves"].items():
        for p in pts:
            rows.append([g, f"{p['lmbda']:.4g}", _f(p["bpp"], 3), _f(p["psnr_optical"]), _f(p["psnr_sar"]),
                         _f(p["quality"]), _f(p.get("ms_ssim_optical"), 4), _f(p.get("ms_ssim_sar"), 4)])
    lines += ["geocodec (mean over pairs):", ""]
    lines += _table(["γ", "λ", "bpp", "PSNR opt", "PSNR SAR", "joint", "MS-SSIM opt", "MS-SSIM SAR"], rows)
    lines += [""]
    for base in su.get("baselines", []):
        setting = result.get("baselines", {}).get(base, {}).get("setting", "λ")
        rows = [[f"{p['optical_setting']:.4g} / {p['sar_setting']:.4g}", _f(p["bpp"], 3), _f(p["psnr_optical"]),
                 _f(p["psnr_sar"]), _f(p["quality"])] for p in su[base]["envelope"]]
        lines += [f"{NAMES.get(base, base)} envelope over rate splits ({su[base]['n_combinations']} combinations; "
                  f"setting: {setting}):", ""]
        lines += _table(["optical / SAR setting", "bpp", "PSNR opt", "PSNR SAR", "joint"], rows) + [""]
    for base, eb in su.get("equal_bits_gamma_0.5", {}).items():
        rows = [[_f(r["bpp"], 3), _f(r["psnr_optical"]), _f(r["psnr_sar"]), _f(r["baseline_bpp_needed"], 3),
                 "yes" if r["beats_both"] else "no"] for r in eb["points"]]
        lines += [f"γ = 0.5 against {NAMES.get(base, base)} at equal bits (bpp it needs for both PSNRs, "
                  "best split):", ""]
        lines += _table(["geocodec bpp", "PSNR opt", "PSNR SAR", f"{NAMES.get(base, base)} bpp needed",
                         "beats both"], rows) + [""]
    tb = su.get("target_bpp")
    if tb:
        lines += [f"Target-bitrate mode: {tb['n_pass']}/{tb['n']} pass; largest error on reachable targets "
                  f"{_f(None if tb['max_abs_error_reachable'] is None else 100 * tb['max_abs_error_reachable'])} %.",
                  ""]
    return lines


def _seam_section(seams: list[dict]) -> list[str]:
    lines = ["## Chunk seams", "",
             "Mean |Δ| between neighbouring pixels across chunk borders against elsewhere (horizontal and "
             "vertical), and decoded RMSE within 2 px of a chunk border against elsewhere. The scene is coded "
             "chunk by chunk with each chunk's own scaling (as the writer does now), with one scaling "
             "for the whole scene, and with each chunk's own scaling but coded with its neighbours' pixels "
             "around it (overlap; all bytes counted) and cropped, and with the scene's scaling but decoded together "
             "with its neighbours (all chunks' latents synthesised side by side, then cropped; no extra bytes).", ""]
    for s in seams:
        i = s["input"]
        lines += [f"{s['pair']} ({s['shape'][0]}×{s['shape'][1]}) in {s['chunk']} px chunks, γ = {s['gamma']}; "
                  f"input |Δ| border / elsewhere: optical {i['optical']['border']:.1f} / "
                  f"{i['optical']['elsewhere']:.1f}, SAR {i['sar']['border']:.3f} / {i['sar']['elsewhere']:.3f} dB.",
                  ""]
        rows = [[f"{d['lmbda']:.4g}", d["scaling"] + (f", {d['overlap_px']} px overlap" if d.get("overlap_px") else "")
                 + (", decoded with neighbours" if d.get("decoded_together") else ""),
                 _f(d["bpp"], 3), _f(d["psnr_optical"]), _f(d["psnr_sar"]),
                 f"{d['optical']['border']:.1f} / {d['optical']['elsewhere']:.1f}",
                 f"{d['optical']['rmse_near_border']:.1f} / {d['optical']['rmse_elsewhere']:.1f}",
                 f"{d['sar']['border']:.3f} / {d['sar']['elsewhere']:.3f}",
                 f"{d['sar']['rmse_near_border']:.3f} / {d['sar']['rmse_elsewhere']:.3f}"] for d in s["decoded"]]
        lines += _table(["λ", "chunks coded with", "bpp", "PSNR opt", "PSNR SAR", "opt |Δ| border / else",
                         "opt RMSE border / else", "SAR |Δ| border / else", "SAR RMSE border / else"], rows) + [""]
    return lines


def markdown_summary(result: dict) -> str:
    m = result["model"]
    refined = f", chunks encoded with {m['refine_steps']} latent refinement steps" if m.get("refine_steps") else ""
    lines = [f"# Evaluation of model `{m['name']}` v{m['version']} (sha256 `{m['sha256'][:16]}…`){refined}", "",
             f"Rate accounting: {result['rate_accounting']}. PSNR peaks: optical {result['psnr_peaks']['optical']:g}, "
             f"SAR {result['psnr_peaks']['sar_db']:g} dB. MS-SSIM: {result['ms_ssim_note']}.", ""]
    sw = result.get("software", {})
    lines += ["Software: " + ", ".join(f"{k} {v}" for k, v in sw.items() if v is not None) + ".", ""]
    if result.get("independent_models"):
        src = ", ".join(f"{k}: `{v['source']}`" for k, v in result["independent_models"].items())
        lines += [f"Independent-coding models: {src}.", ""]
    else:
        lines += ["Independent coding: not measured in this run (no single-modality models given).", ""]
    for name, s in result["sets"].items():
        lines += _set_section(name, s["summary"], result)
    if result.get("seams"):
        lines += _seam_section(result["seams"])
    t = result.get("timing_s", {})
    if t:
        lines += [f"Evaluation time: {t.get('total', 0):.0f} s in total."]
    return "\n".join(lines) + "\n"
