"""The decode contract's tolerances and checks (docs/reliability.md, "Decode contract").

(a) entropy decoding: the symbols are the same integers everywhere, pinned by sha256;
(b) one machine and backend: decoded values are identical (``np.array_equal``), batch and read path aside;
(c) across machines and backends: decodes agree within these measured tolerances, never bit for bit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np

from geocodec.metrics import decode_agreement

#: fp32 on one host against fp32 on another (or under a capped ISA): min per-band PSNR, dB
#: (measured ≥ 96.3 dB optical, ≥ 139 dB SAR on real tiles: benchmarks/results/decode-tolerance.json)
CROSS_HOST_MIN_PSNR = 80.0
#: the ONNX fp32 decoders against torch fp32: float rounding only (measured ≥ 96.3 dB)
ONNX_FP32_MIN_PSNR = 80.0
#: the int8 decoders against fp32 (measured ≥ 38.8 dB on real tiles, ≥ 47 dB on the synthetic
#: fixtures). Below the 50 dB target of issue #17: what int8 is measured to hold, not what it should.
INT8_MIN_PSNR = 35.0
#: the torch-bf16 decoders (bf16 autocast + channels_last) against torch fp32: the 50 dB target of
#: issue #18, per band (measured on the fixtures and real tiles: docs/reliability.md)
BF16_MIN_PSNR = 50.0

#: a host without AVX-512 for oneDNN (convolutions) and MKL (float64 entropy-parameter nets);
#: read when torch loads, so only a fresh process sees it
CAPPED_ISA = {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


def assert_agrees(ref: np.ndarray, test: np.ndarray, min_psnr: float, what: str = "") -> dict:
    """Same shape, dtype and NaN positions exactly; values within ``min_psnr`` per band."""
    assert test.shape == ref.shape and test.dtype == ref.dtype, (what, test.shape, test.dtype, ref.shape, ref.dtype)
    agreement = decode_agreement(ref, test)
    assert agreement["min_psnr_db"] >= min_psnr, (what, agreement)
    return agreement


def run_capped(code: str, timeout: float = 300, **env) -> str:
    """Run ``code`` in a fresh Python with the ISA capped (``CAPPED_ISA``); returns its stdout."""
    full = {**os.environ, **CAPPED_ISA, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), **env}
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                         timeout=timeout, env=full, cwd=os.getcwd())
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout
