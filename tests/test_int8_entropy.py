"""Bitstream format 4: entropy-parameter nets on int8 products (``geocodec.model.int8_nets``).

What is pinned: the digit split and the exactness bound of every layer; a format-4 chunk's symbols
and ŷ by sha256 (exact on every machine, so the hashes hold anywhere); the same symbols and ŷ bytes
without int8 kernels (the float64 route to the same integers) and in processes with oneDNN capped at
AVX2 and at AVX-512 without VNNI (the kernels that multiply u8 × s8 pairs into saturating int16);
batched entropy decoding equal to one-by-one; the rate against format 3.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import geocodec
from conftest import registered_name, smooth_pair
from decode_contract import run_capped
from geocodec import bitstream
from geocodec.codec import entropy_decode
from geocodec.metrics import psnr
from geocodec.model import int8_nets, int8_products
from geocodec.model.latent_coding import LatentStreams

DATA = Path(__file__).parent / "data"
PIN = json.loads((DATA / "chunk-v4-default.json").read_text())


@pytest.fixture(scope="module")
def model():
    return geocodec.load_model(registered_name(PIN["model_sha256"]), device="cpu")


@pytest.fixture(autouse=True)
def write_format_4(monkeypatch):
    """Chunks are written in format 3 by default until format 4's speed is measured (issue #18)."""
    monkeypatch.setattr("geocodec.coding.encode.WRITE_FORMAT", 4)


def _latent_sha(lat) -> str:
    return hashlib.sha256(lat.latent.numpy().astype("<f4").tobytes()).hexdigest()


def test_the_model_layer_codes_with_the_nets_of_the_written_format():
    from geocodec.model.latent_coding import CURRENT_NETS, NETS_BY_FORMAT

    assert NETS_BY_FORMAT[bitstream.FORMAT_VERSION] == CURRENT_NETS
    assert set(NETS_BY_FORMAT) == set(bitstream.READABLE_VERSIONS)


@pytest.mark.parametrize("dtype", [torch.int16, torch.int32])
def test_digits_cover_the_input_range_exactly(dtype):
    a = torch.arange(int8_nets.IN_MIN, int8_nets.IN_MAX + 1, dtype=dtype)
    d = int8_nets.digits(a)
    assert d.dtype == torch.int8 and int(d.abs().max()) <= 64  # the bound the u8 × s8 kernels need
    assert torch.equal(d[0].int() * 128 + d[1].int(), a)


def test_the_rescale_and_leaky_relu_equal_their_definition(model):
    """``finish``'s int32 LeakyReLU on clipped pre-activations equals the definition on int64
    (max(a, 0) + floor(min(a, 0)·SLOPE_NUM / 2**SLOPE_SHIFT), then the clip), over the whole range."""
    from geocodec.model.integer_nets import SLOPE_NUM, SLOPE_SHIFT

    layer = next(l for l in model.net.entropy.coder._integer("int8").h_s if l.leaky)
    g = torch.Generator().manual_seed(3)
    acc = torch.randint(-2 ** 30, 2 ** 30, (1, layer.w8.shape[0], 4096), generator=g, dtype=torch.int32)
    acc[..., :64] = 0
    a = (acc.long() * layer.mult.view(1, -1, 1) + layer.bias.view(1, -1, 1)) >> layer.shift.view(1, -1, 1)
    want = a.clamp(min=0) + ((a.clamp(max=0) * SLOPE_NUM) >> SLOPE_SHIFT)
    want = want.clamp(int8_nets.IN_MIN, int8_nets.IN_MAX)
    assert bool((a < int8_nets.LEAKY_LOW).any()) and bool((a > int8_nets.IN_MAX).any())  # both clips exercised
    got = layer.finish(acc.clone())
    assert got.dtype == torch.int16 and torch.equal(got.long(), want)


def test_transposed_convolutions_equal_the_float64_ones(model, monkeypatch):
    """Hyper-synthesis's transposed convolutions: as stride-1 convolutions of zero-stuffed inputs they
    give exactly ``conv_transpose2d``'s sums on the same integers (float64 is exact here by the bound),
    and their sub-pixel form (3×3 convolution + PixelShuffle, what format 4 runs) the same integers."""
    import torch.nn.functional as F

    fast = model.net.entropy.coder._integer("int8").h_s
    monkeypatch.setattr(int8_nets, "is_subpixel_deconv", lambda m: False)
    stuffed = int8_nets.int8_chain(model.net.entropy.coder.hyper.h_s)
    checked = 0
    for sub, ref in zip(fast, stuffed, strict=True):
        if not ref.transposed:
            continue
        assert sub.shuffle == 2 and not sub.transposed and sub.w8.shape[1] == 9 * ref.w8.shape[1] // 25
        x = torch.randint(int8_nets.IN_MIN, int8_nets.IN_MAX + 1, (2, ref.weight.shape[1], 5, 7),
                          generator=torch.Generator().manual_seed(4), dtype=torch.int16)
        w_t = ref.weight.flip(-2, -1).transpose(0, 1)  # back to the module's (in, out, kh, kw)
        want = F.conv_transpose2d(x.double(), w_t, stride=ref.stride, padding=ref.padding,
                                  output_padding=ref.output_padding)
        assert torch.equal(ref.accumulate(x).double(), want)
        assert torch.equal(F.pixel_shuffle(sub.accumulate(x).double(), 2), want)
        assert torch.equal(sub(x), ref(x))
        checked += 1
    assert checked == 2


def test_every_layer_keeps_the_exactness_bound(model):
    nets = model.net.entropy.coder._integer("int8")
    layers = nets.layers()
    assert len(layers) == 3 + 2 * 3 + 3 * 4 + 4
    for layer in layers:
        assert int(layer.bound().max()) < int8_nets.EXACT_LIMIT
        assert int(layer.w8.abs().max()) == int8_nets.W_MAX  # every channel uses the full int8 range
        assert torch.equal(layer.w8.double(), layer.matrix) or layer.transposed


def test_int8_nets_follow_the_float_nets(model):
    """The int8 hyper-synthesis agrees with the float64 one to within its input resolution."""
    coder = model.net.entropy.coder
    z = torch.round(torch.randn(1, 64, 4, 4, generator=torch.Generator().manual_seed(0)) * 2)
    with torch.inference_mode():
        want = coder._coding()["h_s"](z.double())
        got = coder._integer("int8").hyper(z.double() * 2 ** int8_nets.IN_FRAC, (16, 16)).double() / 2 ** int8_nets.IN_FRAC
    assert (got - want).abs().max() < 0.1 and (got - want).abs().mean() < 0.01


def test_a_format_4_chunk_decodes_to_its_pinned_symbols_and_latent():
    data = (DATA / "chunk-v4-default.bin").read_bytes()
    assert hashlib.sha256(data).hexdigest() == PIN["sha256_chunk"]
    assert bitstream.unpack(data).format_version == 4
    lat = entropy_decode([data], device="cpu", keep_symbols=True)[0]
    assert lat.symbols_sha256() == PIN["sha256_symbols"]
    assert _latent_sha(lat) == PIN["sha256_latent"]  # ŷ is exact in format 4: its bytes hold on every machine


def test_without_int8_kernels_the_float64_route_gives_the_same_latent(model, monkeypatch):
    data = (DATA / "chunk-v4-default.bin").read_bytes()
    here = entropy_decode([data], device="cpu", keep_symbols=True)[0]
    monkeypatch.setattr(int8_products, "int8_products_are_exact", lambda: False)
    other = entropy_decode([data], device="cpu", keep_symbols=True)[0]
    assert np.array_equal(other.symbols, here.symbols)
    assert other.latent.numpy().tobytes() == here.latent.numpy().tobytes()


@pytest.mark.parametrize("isa", ["AVX2", "AVX512_CORE"])
def test_entropy_decoding_is_exact_with_the_isa_capped(model, tmp_path, isa):
    opt, sar = smooth_pair(np.random.default_rng(11), 64, 64)
    fresh = tmp_path / "fresh.geoc"
    fresh.write_bytes(geocodec.compress(opt, sar, lmbda=0.003, gamma=0.2, device="cpu", model=model))
    files = [str(DATA / "chunk-v4-default.bin"), str(fresh)]
    out = tmp_path / "capped.npz"
    run_capped(f"""
        import numpy as np
        from pathlib import Path
        from geocodec.codec import entropy_decode
        from geocodec.model import int8_nets, int8_products
        lat = entropy_decode([Path(f).read_bytes() for f in {files!r}], device="cpu", keep_symbols=True)
        np.savez({str(out)!r}, exact=int8_nets.int8_products_are_exact(),
                 **{{f"{{i}}/{{k}}": v for i, d in enumerate(lat)
                    for k, v in (("symbols", d.symbols), ("latent", d.latent.numpy()))}})
    """, ONEDNN_MAX_CPU_ISA=isa, MKL_ENABLE_INSTRUCTIONS="AVX2" if isa == "AVX2" else "AVX512")
    here = entropy_decode([Path(f).read_bytes() for f in files], device="cpu", keep_symbols=True)
    with np.load(out) as f:
        for i, d in enumerate(here):
            assert np.array_equal(f[f"{i}/symbols"], d.symbols)
            assert f[f"{i}/latent"].tobytes() == d.latent.numpy().tobytes()


def test_format_4_round_trips_and_costs_what_format_3_does(model, monkeypatch):
    import geocodec.coding.encode as encode

    pairs = [smooth_pair(np.random.default_rng(s), 64, 96) for s in (31, 32)]
    data4 = [geocodec.compress(o, s, lmbda=0.01, device="cpu", model=model) for o, s in pairs]
    assert {bitstream.unpack(d).format_version for d in data4} == {4}
    monkeypatch.setattr(encode, "WRITE_FORMAT", 3)
    data3 = [geocodec.compress(o, s, lmbda=0.01, device="cpu", model=model) for o, s in pairs]
    assert abs(sum(map(len, data4)) / sum(map(len, data3)) - 1) < 0.02  # real tiles: benchmarks/entropy_precision.py
    for (opt, sar), d3, d4 in zip(pairs, data3, data4):
        o3, s3 = geocodec.decompress(d3, device="cpu")
        o4, s4 = geocodec.decompress(d4, device="cpu")
        assert o4.shape == o3.shape and o4.dtype == o3.dtype and np.array_equal(np.isnan(s4), np.isnan(s3))
        # other means round some latents to the neighbouring integer: the same quality, not the same pixels
        for ref, a, b, peak in ((opt, o3, o4, 10000), (sar, s3, s4, 70)):
            q3, q4 = (psnr(ref.astype(float), x.astype(float), peak, valid=~np.isnan(ref)) for x in (a, b))
            assert abs(q4 - q3) < 1.0, (q3, q4)  # 64×96 tiles; real tiles: benchmarks/entropy_precision.py


def test_batched_entropy_decoding_equals_one_by_one(model):
    net = model.net
    chunks = [bitstream.unpack(geocodec.compress(*smooth_pair(np.random.default_rng(s), 64, 64), lmbda=0.01,
                                                 device="cpu", model=model)) for s in (21, 22, 23)]
    assert {c.format_version for c in chunks} == {4}
    streams = [LatentStreams(z=c.z, y=c.y, checks=c.checks) for c in chunks]
    seeds = [c.header_crc for c in chunks]
    batch = net.entropy.decompress(streams, (8, 8), "cpu", seeds, nets="int8")
    for i, (st, seed) in enumerate(zip(streams, seeds)):
        alone = net.entropy.decompress([st], (8, 8), "cpu", [seed], nets="int8")
        assert batch[i].numpy().tobytes() == alone[0].numpy().tobytes()


@pytest.mark.parametrize("hw", [(16, 16), (4, 8), (12, 20)])
def test_the_non_anchor_context_equals_the_gathered_one(model, hw):
    from geocodec.model.latent_coding import anchor_mask

    ctx = model.net.entropy.coder._integer("int8").context[-1]
    a = torch.randint(int8_nets.IN_MIN, int8_nets.IN_MAX + 1, (2, ctx.weight.shape[1], *hw),
                      generator=torch.Generator().manual_seed(1), dtype=torch.int32)
    positions = (~anchor_mask(*hw).reshape(-1)).nonzero().squeeze(1)
    assert torch.equal(ctx.at_non_anchors(a), ctx.at(a, positions))
