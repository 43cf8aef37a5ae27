"""The C kernels of the exact entropy decoder (``geocodec.model.native``) give exactly the integers
of the torch and compressai paths they replace: every kernel against its reference on inputs that
reach its clips and corner cases, then whole chunks decoded both ways. Skips where the kernels were
not built (no C compiler at install), where geocodec runs the reference path itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import geocodec
from conftest import smooth_pair
from compressai.ans import BufferedRansEncoder, RansDecoder
from geocodec.codec import entropy_decode
from geocodec.model import int8_nets, int8_products, native, scale_table
from geocodec.model.rans import PayloadMismatch, StageDecoder, used_rows

pytestmark = pytest.mark.skipif(native._kernels is None, reason="geocodec's C kernels were not built here")


@pytest.fixture
def torch_path(monkeypatch):
    """Switches the kernels off for what runs inside ``with torch_path():``."""

    class Off:
        def __enter__(self):
            monkeypatch.setattr(native, "ENABLED", False)

        def __exit__(self, *exc):
            monkeypatch.setattr(native, "ENABLED", True)

    return Off


def _nets(model):
    return model.net.entropy.coder._integer("int8")


@pytest.mark.parametrize("acc_dtype", [torch.int32, torch.int64])
def test_the_rescale_equals_the_torch_one_for_every_layer(model, torch_path, acc_dtype):
    g = torch.Generator().manual_seed(1)
    for layer in _nets(model).layers():
        acc = torch.randint(-2 ** 30, 2 ** 30, (2, layer.w8.shape[0], 300), generator=g, dtype=torch.int32)
        acc[..., :40] = torch.randint(-64, 64, (2, layer.w8.shape[0], 40), generator=g, dtype=torch.int32)
        acc = acc.to(acc_dtype)
        got = layer.finish(acc.clone())
        with torch_path():
            want = layer.finish(acc.clone())
        assert got.dtype == want.dtype and torch.equal(got, want), layer


def test_digits_and_their_count_equal_the_torch_ones(torch_path):
    a = torch.arange(int8_nets.IN_MIN, int8_nets.IN_MAX + 1, dtype=torch.int16).view(4, -1)
    got, nonzero = int8_products.counted_digits(a)
    with torch_path():
        want, unknown = int8_products.counted_digits(a)
    assert torch.equal(got, want) and unknown is None
    assert nonzero == int((want[0] != 0).sum())


@pytest.mark.parametrize("shape,k,stride,offset", [((2, 5, 9, 11), 3, 1, (0, 0)), ((2, 3, 12, 12), 5, 2, (0, 1)),
                                                   ((2, 3, 12, 12), 5, 2, (1, 0)), ((4, 10, 7), 1, 1, (0, 0))])
def test_im2col_equals_the_strided_slices(torch_path, shape, k, stride, offset):
    x = torch.randint(-64, 65, shape, dtype=torch.int8, generator=torch.Generator().manual_seed(2))
    got = int8_products.im2col(x, k, k, stride, *offset)
    with torch_path():
        want = int8_products.im2col(x, k, k, stride, *offset)
    assert torch.equal(got, want)


@pytest.mark.parametrize("shape,k", [((2, 3, 14, 18), 5), ((2, 4, 10, 12), 3), ((1, 2, 8, 6), 1)])
@pytest.mark.parametrize("parity", [0, 1])
def test_checkerboard_im2col_is_the_full_im2col_at_one_parity(torch_path, shape, k, parity):
    x = torch.randint(-64, 65, shape, dtype=torch.int8, generator=torch.Generator().manual_seed(3))
    ho, wo = shape[-2] - k + 1, shape[-1] - k + 1
    full = int8_products.im2col(x, k, k, 1)  # (D, K, ho·wo), row-major positions
    r, s = torch.meshgrid(torch.arange(ho), torch.arange(wo), indexing="ij")
    want = full[..., ((r + s) % 2 == parity).flatten().nonzero().squeeze(1)]
    assert torch.equal(int8_products.im2col_checkerboard(x, k, k, parity), want)
    with torch_path():
        assert torch.equal(int8_products.im2col_checkerboard(x, k, k, parity), want)


@pytest.mark.parametrize("k_total", [None, int8_products.INT32_K + 1])  # int32 and int64 accumulation
@pytest.mark.parametrize("kernel,stride,offset", [(5, 1, (0, 0)), (3, 1, (0, 0)), (5, 2, (0, 1)), (1, 1, (0, 0))])
def test_sparse_hi_products_equal_the_dense_ones(kernel, stride, offset, k_total):
    g = torch.Generator().manual_seed(5)
    c, out = 6, 7
    a = torch.randint(-64, 64, (c, 14, 14), dtype=torch.int16, generator=g)  # |a| < 0.5: hi = 0 …
    a.view(-1)[torch.randint(0, a.numel(), (9,), generator=g)] = torch.tensor(
        [int8_nets.IN_MAX, int8_nets.IN_MIN, 300, -300, 64, -65, 1000, -7000, 5000], dtype=torch.int16)  # … but here
    op = int8_products.operand(a)
    assert op.sparse
    w8 = torch.randint(-127, 128, (out, c * kernel * kernel), dtype=torch.int8, generator=g)
    got = op.product(w8, kernel, kernel, stride, *offset, k=k_total)
    want = int8_products.int8_product(w8, int8_products.im2col(op.x, kernel, kernel, stride, *offset), k_total)
    assert got.dtype == want.dtype and torch.equal(got, want)


def test_digits_count_the_nonzero_hi_digits_of_every_channel(torch_path):
    a = torch.randint(-64, 64, (5, 3, 7), dtype=torch.int16, generator=torch.Generator().manual_seed(8))
    a[1, 2, 6], a[3, 0, 0], a[3, 1, 1] = int8_nets.IN_MAX, int8_nets.IN_MIN, 64  # hi digits 64, -64, 1
    d, nonzero, counts, with_hi = int8_products._digits_by_channel(a, True)
    with torch_path():
        want, _, unknown, _ = int8_products._digits_by_channel(a, True)
    assert torch.equal(d, want) and unknown is None
    assert counts.tolist() == [0, 1, 0, 2, 0] and nonzero == 3 and with_hi == 2


@pytest.mark.parametrize("k_total", [None, int8_products.INT32_K + 1])  # int32 and int64 accumulation
@pytest.mark.parametrize("shape,kernel,stride,offset,parity", [
    ((12, 10, 14), 3, 1, (0, 0), None), ((12, 11, 11), 5, 2, (1, 0), None), ((12, 10, 14), 3, 1, (0, 0), 1),
    ((12, 40), 1, 1, (0, 0), None)])
def test_hi_products_over_the_channels_with_hi_digits_equal_the_full_ones(shape, kernel, stride, offset, parity, k_total):
    """Channels 2, 5 and 9 have hi digits (a quarter of them, dense within the channel), the others
    none: the hi product runs over those three channels' taps only, and gives the same sums."""
    g = torch.Generator().manual_seed(9)
    a = torch.randint(-64, 64, shape, dtype=torch.int16, generator=g)
    for c in (2, 5, 9):
        a[c] = torch.randint(int8_nets.IN_MIN, int8_nets.IN_MAX + 1, shape[1:], dtype=torch.int16, generator=g)
    op = int8_products.operand(a)
    assert not op.sparse and op.hi_channels.tolist() == [2, 5, 9]
    w8 = torch.randint(-127, 128, (7, shape[0] * kernel * kernel), dtype=torch.int8, generator=g)
    got = op.product(w8, kernel, kernel, stride, *offset, k=k_total, parity=parity)
    cols = (op.x if len(shape) == 2 else int8_products.im2col(op.x, kernel, kernel, stride, *offset) if parity is None
            else int8_products.im2col_checkerboard(op.x, kernel, kernel, parity))
    want = int8_products.int8_product(w8, cols, k_total)
    assert got.dtype == want.dtype and torch.equal(got, want)
    assert torch.equal(op.product(w8, kernel, kernel, stride, *offset, k=k_total, parity=parity, w8t=w8.t().contiguous()), want)


def test_scale_indexes_equal_searchsorted(model, torch_path):
    thresholds = _nets(model).thresholds
    top = float(thresholds.max())
    random = torch.randint(-5, int(top) + 5, (1001,), generator=torch.Generator().manual_seed(5)).double()
    scales = torch.cat([thresholds, thresholds - 1, thresholds + 1,
                        torch.tensor([-1e18, 0.0, 1e18], dtype=torch.float64), random]).view(1, 1, -1)  # not a multiple of 64
    got = scale_table.scale_indexes(thresholds, scales)
    with torch_path():
        want = scale_table.scale_indexes(thresholds, scales)
    assert torch.equal(got, want)


def _coded_stages(model, rng, n_stages=3, n=3000):
    """Random symbols (some far outside every CDF: bypass coding) over the model's y tables, coded
    in ``n_stages`` stages into one stream as the encoder does."""
    coder = model.net.entropy.coder
    tables = coder._cdfs()[0]
    rows = len(tables[1])
    idx = [rng.integers(0, rows, n).astype(np.int32) for _ in range(n_stages)]
    sym = [rng.integers(-30, 31, n).astype(np.int32) for _ in range(n_stages)]
    for s in sym:
        s[rng.integers(0, n, 40)] = rng.choice([-70000, -513, 999, 2 ** 19], 40)
    enc = BufferedRansEncoder()
    for s, i in zip(sym, idx):
        enc.encode_with_indexes(s.tolist(), *used_rows(tables, i))
    return coder, tables, enc.flush(), idx, sym


def test_the_rans_decoder_reads_compressai_streams_symbol_for_symbol(model):
    coder, tables, stream, idx, sym = _coded_stages(model, np.random.default_rng(6))
    ours = StageDecoder(coder, [stream])
    theirs = RansDecoder()
    theirs.set_stream(stream)
    for s, i in zip(sym, idx):
        got = ours(0, i)
        assert np.array_equal(got, s)
        assert np.array_equal(got, np.asarray(theirs.decode_stream(*used_rows(tables, i)), np.int32))


def test_a_truncated_stream_is_reported_not_read_past_its_end(model):
    coder, _, stream, idx, _ = _coded_stages(model, np.random.default_rng(7))
    with pytest.raises(PayloadMismatch):
        dec = StageDecoder(coder, [stream[:len(stream) // 2]])
        for i in idx:
            dec(0, i)
    with pytest.raises(PayloadMismatch):
        StageDecoder(coder, [stream[:5]])
    rng = np.random.default_rng(8)
    for _ in range(20):  # garbage decodes to garbage or ends early, never crashes
        dec = StageDecoder(coder, [rng.bytes(64)])
        try:
            for i in idx:
                dec(0, i)
        except PayloadMismatch:
            pass


@pytest.mark.parametrize("hw", [(64, 64), (72, 104)])
def test_chunks_decode_to_the_same_symbols_and_latents_with_and_without_kernels(model, rng, torch_path, hw):
    chunks = [geocodec.compress(*smooth_pair(rng, *hw), lmbda=lm, gamma=0.5, device="cpu", model=model)
              for lm in (0.003, 0.3)]
    with torch_path():
        want = entropy_decode(chunks, device="cpu", model=model, keep_symbols=True)
        want_bytes = [geocodec.compress(*smooth_pair(np.random.default_rng(3), *hw), lmbda=0.03, device="cpu",
                                        model=model)]
    got = entropy_decode(chunks, device="cpu", model=model, keep_symbols=True)
    for a, b in zip(got, want):
        assert np.array_equal(a.symbols, b.symbols)
        assert a.latent.numpy().tobytes() == b.latent.numpy().tobytes()
    # the encoder's parameter nets use the kernels too: the same bytes either way
    assert [geocodec.compress(*smooth_pair(np.random.default_rng(3), *hw), lmbda=0.03, device="cpu",
                              model=model)] == want_bytes


@pytest.mark.parametrize("isa", ["avx2", "baseline"])
def test_every_compiled_version_of_the_kernels_gives_the_same_latents(model, tmp_path, isa):
    """The rescale loops are compiled for AVX-512, AVX2 and the baseline ISA and picked by the CPU;
    each is run here (``GEOCODEC_KERNELS_ISA`` caps the pick) on the same chunks."""
    from decode_contract import run_capped

    files = []
    for i, hw in enumerate([(64, 64), (72, 104)]):
        f = tmp_path / f"{i}.geoc"
        f.write_bytes(geocodec.compress(*smooth_pair(np.random.default_rng(i), *hw), lmbda=0.03, device="cpu",
                                        model=model))
        files.append(str(f))
    out = tmp_path / "other.npz"
    run_capped(f"""
        import numpy as np
        from pathlib import Path
        from geocodec.codec import entropy_decode
        from geocodec.model import native
        lat = entropy_decode([Path(f).read_bytes() for f in {files!r}], device="cpu", keep_symbols=True)
        np.savez({str(out)!r}, isa=native._kernels.isa,
                 **{{f"{{i}}/{{k}}": v for i, d in enumerate(lat)
                    for k, v in (("symbols", d.symbols), ("latent", d.latent.numpy()))}})
    """, GEOCODEC_KERNELS_ISA=isa)
    here = entropy_decode([open(f, "rb").read() for f in files], device="cpu", keep_symbols=True)
    with np.load(out) as f:
        assert int(f["isa"]) <= {"avx2": 1, "baseline": 0}[isa]
        for i, d in enumerate(here):
            assert np.array_equal(f[f"{i}/symbols"], d.symbols)
            assert f[f"{i}/latent"].tobytes() == d.latent.numpy().tobytes()


def test_out_frac_to_layer_inputs_equals_the_torch_path(torch_path):
    from geocodec.model.int8_nets import from_out_frac

    g = torch.Generator().manual_seed(11)
    a = torch.cat([torch.randint(-2 ** 22, 2 ** 22, (5000,), generator=g),
                   torch.tensor([0, 15, 16, 17, -15, -16, -17, -2 ** 40, 2 ** 40, 2 ** 52])]).double().view(2, 5, -1)
    got = from_out_frac(a)
    with torch_path():
        want = from_out_frac(a)
    assert got.dtype == want.dtype == torch.int16 and torch.equal(got, want)
