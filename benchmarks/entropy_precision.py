"""Which precision can the entropy-parameter nets drop to, and what does int8 arithmetic buy here?

    PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python benchmarks/entropy_precision.py

Issue #18 asks for entropy decoding ≤ 15 ms per 256² pair; format 3's exact integer nets compute
in float64 (about 70 % of entropy decoding on one core). This measures the three facts a faster
exact format rests on, in one run:

1. **Rate cost of lower precision** (real data only: the Spain pair as four 256² tiles and the six
   BigEarthNet pairs, λ = 0.003, 0.03, 0.3). Every convolution of the parameter nets gets weights
   rounded per output channel to ``w`` bits (power-of-two scale) and inputs rounded to a fixed point
   of ``f`` fraction bits clipped to ±``clip``. Encoder and decoder then share those nets exactly, so
   the coded bytes are the real cost; the reference is the same nets unrounded (float64, format 2).
2. **Exactness of int8 GEMMs** (``torch._int_mm``, int32 accumulation) by operand range, in this
   process and in processes with oneDNN capped to AVX2, AVX-512 without VNNI, and AVX-512 VNNI:
   kernels without VNNI multiply u8 × s8 pairs into int16 and saturate unless the operands are
   bounded. Random operands and every all-extreme pattern, against int64.
3. **GEMM time**, one thread, the shape of the largest layer of a 256² chunk (256 × 864 · 864 × 1024):
   float64 (format 3) against int8.

JSON in ``benchmarks/results/entropy-precision.json``.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT))
sys.path.append(str(ROOT / "benchmarks"))

LAMBDAS = (0.003, 0.03, 0.3)
#: (weight bits, per-channel weight scale, fraction bits of the inputs, clip of the inputs); None = unrounded.
#: "pow2" scales are 2**k; "real" ones put each channel's largest weight at the top of the range (the
#: rescale then needs an integer multiplier, 2**r / scale rounded, besides the shift)
VARIANTS = [(16, "pow2", None, None), (8, "pow2", None, None), (7, "pow2", None, None), (8, "real", None, None),
            (8, "pow2", 7, 64.0), (8, "real", 7, 64.0), (8, "real", 6, 128.0), (8, "real", 5, 64.0)]
#: (first operand range, second operand range) of W @ A
RANGES = [((-127, 127), (-64, 64)), ((-127, 127), (-127, 127)), ((-64, 64), (-127, 127)), ((-64, 64), (-64, 64))]
ISAS = ("default", "AVX2", "AVX512_CORE", "AVX512_CORE_VNNI")


def _convs(nets):
    import torch

    return [m for m in nets.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]


def rounded_nets(nets, wbits: int, kind: str, frac: int | None, clip: float | None):
    """A copy of the float64 parameter nets with weights and (optionally) inputs rounded."""
    import torch

    out = copy.deepcopy(nets)
    for c in _convs(out):
        transposed = isinstance(c, torch.nn.ConvTranspose2d)
        w = c.weight.data.transpose(0, 1) if transposed else c.weight.data
        top = w.abs().flatten(1).max(1).values.clamp_min(1e-30)
        scale = (2 ** (wbits - 1) - 1) / top
        if kind == "pow2":
            scale = torch.exp2(torch.floor(torch.log2(scale)))
        scale = scale.view(-1, *[1] * (w.dim() - 1))
        q = torch.round(w * scale) / scale
        c.weight.data = (q.transpose(0, 1) if transposed else q).contiguous()
        if frac is not None:
            step = 2.0 ** -frac
            c.register_forward_pre_hook(
                lambda _m, inp, step=step, clip=clip: (torch.round(inp[0] / step).mul_(step).clamp_(-clip, clip),))
    return out


@contextlib.contextmanager
def coding_with(model, nets):
    """Code with ``nets`` as the float64 parameter nets (formats 1–2's path) for encode and decode."""
    from geocodec.model import latent_coding
    from geocodec.model.entropy_parameters import FloatParameters

    coder = model.net.entropy.coder
    saved = list(coder._nets)
    coder._nets[:] = [nets]
    with mock.patch.object(latent_coding.LatentCoder, "_parameters",
                           lambda self, integer, device=None: FloatParameters(self, device)):
        try:
            yield
        finally:
            coder._nets[:] = saved


def rate_costs() -> list[dict]:
    import geocodec
    from integer_entropy_cost import pairs

    items = [(name, p) for name, p in pairs() if name != "spain512"]
    model = geocodec.load_model("default", device="cpu")
    base_nets = model.net.entropy.coder._coding()

    def sizes(nets):
        with coding_with(model, nets):
            return [len(geocodec.compress(o, s, lmbda=lam, model=model, device="cpu"))
                    for _, (o, s) in items for lam in LAMBDAS]

    ref = sizes(base_nets)
    rows = []
    for wbits, kind, frac, clip in VARIANTS:
        got = sizes(rounded_nets(base_nets, wbits, kind, frac, clip))
        change = [100 * (g / r - 1) for g, r in zip(got, ref)]
        rows.append({"weight_bits": wbits, "weight_scale": kind, "input_fraction_bits": frac, "input_clip": clip,
                     "bytes_change_percent": 100 * (sum(got) / sum(ref) - 1), "worst_item_percent": max(change),
                     "items": len(got)})
        print(f"  w{wbits} ({kind} scale), inputs f{frac} clip {clip}: {rows[-1]['bytes_change_percent']:+.3f} % "
              f"(worst {rows[-1]['worst_item_percent']:+.3f} %)", flush=True)
    return rows


def _exactness_here() -> dict:
    import torch

    torch.set_num_threads(1)
    out = {}
    for (wl, wh), (al, ah) in RANGES:
        ok = True
        for seed in range(3):
            g = torch.Generator().manual_seed(seed)
            w = torch.randint(wl, wh + 1, (64, 512), dtype=torch.int8, generator=g)
            a = torch.randint(al, ah + 1, (512, 256), dtype=torch.int8, generator=g)
            cases = [(w, a)] + [(torch.full_like(w, x), torch.full_like(a, y)) for x in (wl, wh) for y in (al, ah)]
            ok &= all(bool((torch._int_mm(p, q).long() == p.long() @ q.long()).all()) for p, q in cases)
        out[f"W[{wl},{wh}] @ A[{al},{ah}]"] = ok
    return out


def exactness() -> dict:
    res = {}
    for isa in ISAS:
        env = dict(os.environ, OMP_NUM_THREADS="1")
        if isa != "default":
            env.update(ONEDNN_MAX_CPU_ISA=isa, MKL_ENABLE_INSTRUCTIONS="AVX2" if isa == "AVX2" else "AVX512")
        code = f"import json, sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import entropy_precision as e; print(json.dumps(e._exactness_here()))"
        run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        res[isa] = json.loads(run.stdout.strip().splitlines()[-1])
    return res


def gemm_times(rounds: int = 20) -> dict:
    import torch

    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    m, k, n = 256, 864, 1024
    w64, a64 = torch.randint(-2 ** 20, 2 ** 20, (m, k), generator=g).double(), torch.randint(-2 ** 20, 2 ** 20, (k, n), generator=g).double()
    w8, a8 = torch.randint(-127, 128, (m, k), dtype=torch.int8, generator=g), torch.randint(-64, 65, (k, n), dtype=torch.int8, generator=g)

    def ms(fn):
        fn()
        t = time.process_time()
        for _ in range(rounds):
            fn()
        return 1e3 * (time.process_time() - t) / rounds

    f64, i8 = ms(lambda: torch.mm(w64, a64)), ms(lambda: torch._int_mm(w8, a8))
    return {"shape": [m, k, n], "float64_ms": f64, "int8_ms": i8, "float64_over_int8": f64 / i8}


def main() -> int:
    import torch

    from throughput import DATA

    torch.set_num_threads(1)
    result = {"command": "benchmarks/entropy_precision.py", "torch": torch.__version__}
    print("int8 GEMM exactness by ISA (W @ A, torch._int_mm):")
    result["int8_exact"] = exactness()
    for isa, rows in result["int8_exact"].items():
        print(f"  {isa:18s} " + "  ".join(f"{k}: {'exact' if v else 'WRONG'}" for k, v in rows.items()))
    result["gemm"] = gemm_times()
    g = result["gemm"]
    print(f"GEMM {g['shape']}: float64 {g['float64_ms']:.2f} ms, int8 {g['int8_ms']:.2f} ms "
          f"({g['float64_over_int8']:.1f}×)")
    if DATA.exists():
        print("rate cost of rounded parameter nets (coded bytes against the unrounded float64 nets):")
        result["rate"] = rate_costs()
    else:
        print("no ../shared/data: rate costs need the real pairs (skipped)")
    out = ROOT / "benchmarks" / "results" / "entropy-precision.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"→ {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
