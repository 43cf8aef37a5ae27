"""The decode contract in three layers (docs/reliability.md, "Decode contract").

(a) Entropy decoding is exact on every machine and backend: the same symbols and the same ŷ bytes.
(b) One machine and backend: decoded values identical whatever the batch (read paths and thread
    counts: ``test_robustness.py``).
(c) Across machines and backends: agreement within the measured tolerance. Another host is
    emulated by capping oneDNN and MKL at AVX2 in a fresh process (the caps act only before torch
    loads), so a host-dependent assertion fails here first rather than on the next CI machine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import geocodec
from decode_contract import (
    BF16_MIN_PSNR, CROSS_HOST_MIN_PSNR, INT8_MIN_PSNR, ONNX_FP32_MIN_PSNR, assert_agrees, run_capped)

FIXTURES = Path(__file__).parent / "data" / "prechange"
#: a rectangular chunk (padded) and one with a NaN box: small, so the capped process stays cheap
NAMES = ("c96x130_l0003_g09", "c70x64_l001_g00_nan")


@pytest.fixture(scope="module")
def here():
    from geocodec.codec import entropy_decode, synthesize

    chunks = [(FIXTURES / f"{n}.geoc").read_bytes() for n in NAMES]
    latents = entropy_decode(chunks, device="cpu", keep_symbols=True)
    return chunks, latents, synthesize(latents, backend="torch")


@pytest.fixture(scope="module")
def capped(here, tmp_path_factory):
    """The same chunks decoded in a fresh process with the ISA capped: symbols, ŷ and pixels."""
    out = tmp_path_factory.mktemp("capped") / "decoded.npz"
    files = [str(FIXTURES / f"{n}.geoc") for n in NAMES]
    run_capped(f"""
        import hashlib, numpy as np
        from pathlib import Path
        from geocodec.codec import entropy_decode, synthesize
        lat = entropy_decode([Path(f).read_bytes() for f in {files!r}], device="cpu", keep_symbols=True)
        arrays = {{}}
        for i, (d, (o, s)) in enumerate(zip(lat, synthesize(lat))):
            arrays.update({{f"{{i}}/symbols": d.symbols, f"{{i}}/latent": d.latent.numpy(),
                            f"{{i}}/optical": o, f"{{i}}/sar": s}})
        np.savez({str(out)!r}, **arrays)
    """)
    with np.load(out) as f:
        return dict(f)


def test_a_entropy_decoding_is_exact_on_another_host(here, capped):
    _, latents, _ = here
    for i, d in enumerate(latents):
        assert np.array_equal(capped[f"{i}/symbols"], d.symbols), NAMES[i]
        assert capped[f"{i}/latent"].tobytes() == d.latent.numpy().tobytes(), NAMES[i]  # ŷ, the same bytes


def test_c_pixels_agree_with_another_host_within_the_tolerance(here, capped):
    _, _, decoded = here
    for i, (opt, sar) in enumerate(decoded):
        assert_agrees(opt, capped[f"{i}/optical"], CROSS_HOST_MIN_PSNR, f"{NAMES[i]} optical")
        assert_agrees(sar, capped[f"{i}/sar"], CROSS_HOST_MIN_PSNR, f"{NAMES[i]} sar")
        assert np.array_equal(np.isnan(sar), np.isnan(capped[f"{i}/sar"]))  # masks stay exact


@pytest.mark.parametrize("backend, min_psnr", [("onnx", ONNX_FP32_MIN_PSNR), ("onnx-int8", INT8_MIN_PSNR)])
def test_c_the_onnx_backends_agree_with_torch_fp32_within_their_tolerance(here, backend, min_psnr):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    chunks, _, decoded = here
    for data, (opt, sar), name in zip(chunks, decoded, NAMES):
        o, s = geocodec.decompress(data, device="cpu", backend=backend)
        assert_agrees(opt, o, min_psnr, f"{name} optical {backend}")
        assert_agrees(sar, s, min_psnr, f"{name} sar {backend}")


def test_b_a_fast_path_is_deterministic_per_batch(here):
    pytest.importorskip("onnxruntime")
    from geocodec.codec import decompress_batch

    chunks, _, _ = here
    batch = decompress_batch(chunks, device="cpu", backend="onnx-int8")
    alone = [geocodec.decompress(c, device="cpu", backend="onnx-int8") for c in chunks[::-1]][::-1]
    for (o1, s1), (o2, s2) in zip(batch, alone):
        assert np.array_equal(o1, o2) and np.array_equal(s1, s2, equal_nan=True)


def _bf16_native():
    from geocodec.precision import cpu_bf16_units

    return cpu_bf16_units() is not None


def test_c_the_bf16_decoders_agree_with_torch_fp32_within_their_tolerance(here):
    if not _bf16_native():
        pytest.skip("no native bf16 units on this CPU (bf16 would be emulated)")
    chunks, latents, decoded = here
    from geocodec.codec import entropy_decode

    for data, d, (opt, sar), name in zip(chunks, latents, decoded, NAMES):
        (again,) = entropy_decode([data], device="cpu", keep_symbols=True)
        assert again.latent.numpy().tobytes() == d.latent.numpy().tobytes()  # (a): bf16 acts after ŷ
        o, s = geocodec.decompress(data, device="cpu", backend="torch-bf16")
        assert not np.array_equal(o, opt)  # it is really another path, not fp32 again
        assert_agrees(opt, o, BF16_MIN_PSNR, f"{name} optical bf16")
        assert_agrees(sar, s, BF16_MIN_PSNR, f"{name} sar bf16")


def test_b_bf16_is_deterministic_per_batch_and_thread_count(here):
    if not _bf16_native():
        pytest.skip("no native bf16 units on this CPU")
    import torch

    from geocodec.codec import decompress_batch

    chunks, _, _ = here
    batch = decompress_batch(chunks + chunks[::-1], device="cpu", backend="torch-bf16")
    alone = [geocodec.decompress(c, device="cpu", backend="torch-bf16") for c in chunks]
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        two = [geocodec.decompress(c, device="cpu", backend="torch-bf16") for c in chunks]
    finally:
        torch.set_num_threads(threads)
    for i, (o, s) in enumerate(alone):
        for o2, s2 in (batch[i], batch[-1 - i], two[i]):
            assert np.array_equal(o, o2) and np.array_equal(s, s2, equal_nan=True)


def test_auto_is_bf16_where_native_and_fp32_under_a_capped_isa():
    from geocodec.precision import resolve_backend

    assert resolve_backend("auto", "cpu") == ("torch-bf16" if _bf16_native() else "torch")
    assert resolve_backend("torch", "cpu") == "torch" and resolve_backend("onnx", "cpu") == "onnx"
    out = run_capped("""
        from geocodec.precision import resolve_backend
        print(resolve_backend("auto", "cpu"))
    """)
    assert out.strip() == "torch"


def test_auto_decodes_as_the_backend_it_resolves_to(here):
    from geocodec.precision import resolve_backend

    chunks, _, _ = here
    o, s = geocodec.decompress(chunks[0], device="cpu", backend="auto")
    o2, s2 = geocodec.decompress(chunks[0], device="cpu", backend=resolve_backend("auto", "cpu"))
    assert np.array_equal(o, o2) and np.array_equal(s, s2, equal_nan=True)
