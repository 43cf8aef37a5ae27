"""Bitstream format 3: integer entropy-parameter nets (``geocodec.model.integer_nets``).

What is pinned: the exactness bound of every layer of the shipped model; a format-3 chunk's symbols
and ŷ by sha256 (exact on every machine, so the hashes hold anywhere); the same symbols and ŷ bytes
in a process with oneDNN / MKL capped at AVX2; batched entropy decoding equal to one-by-one; and a
round trip through the public API. Formats 1–2 are pinned by ``test_entropy_bitexact.py``.
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
from geocodec.model import integer_nets
from geocodec.model.latent_coding import LatentStreams

DATA = Path(__file__).parent / "data"
PIN = json.loads((DATA / "chunk-v3-default.json").read_text())


@pytest.fixture(scope="module")
def model():
    # the model that wrote the format-3 fixture
    return geocodec.load_model(registered_name(PIN["model_sha256"]), device="cpu")


def compress3(*args, **kw) -> bytes:
    """``geocodec.compress`` writing format 3 (whatever ``WRITE_FORMAT`` is)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("geocodec.coding.encode.WRITE_FORMAT", 3)
        return geocodec.compress(*args, **kw)


@pytest.fixture(scope="module")
def fresh(model):
    """A format-3 chunk written now (another size than the fixture), and its entropy decode here."""
    opt, sar = smooth_pair(np.random.default_rng(11), 64, 64)
    data = compress3(opt, sar, lmbda=0.003, gamma=0.2, device="cpu", model=model)
    return data, entropy_decode([data], device="cpu", keep_symbols=True)[0]


def _latent_sha(lat) -> str:
    return hashlib.sha256(lat.latent.numpy().astype("<f4").tobytes()).hexdigest()


def test_every_layer_keeps_the_exactness_bound(model):
    nets = model.net.entropy.coder._integer()
    layers = nets.layers()
    assert len(layers) == 3 + 2 * 3 + 3 * 4 + 4
    for layer in layers:
        assert int(layer.bound().max()) < integer_nets.EXACT_LIMIT
        assert (layer.weight == torch.round(layer.weight)).all() and (layer.bias == torch.round(layer.bias)).all()
        # precision: every channel keeps at least 16 fraction bits of its weights
        assert float(layer.inv.max()) <= 2.0 ** -16


def test_the_bound_is_refused_when_weights_cannot_meet_it():
    conv = torch.nn.Conv2d(4, 2, 1)
    with torch.no_grad():
        conv.weight.fill_(2.0 ** 30)
    with pytest.raises(ValueError, match="too large for the integer nets"):
        integer_nets.IntegerConv.from_module(conv, leaky=False)


def test_integer_nets_follow_the_float_nets(model):
    """The fixed-point hyper-synthesis agrees with the float64 one to far below a quantisation step."""
    coder = model.net.entropy.coder
    z = torch.round(torch.randn(1, 64, 4, 4, generator=torch.Generator().manual_seed(0)) * 2)
    with torch.inference_mode():  # as coding runs (the float64 copy may hold inference tensors)
        want = coder._coding()["h_s"](z.double())
        got = integer_nets.from_fixed(coder._integer().hyper(integer_nets.to_fixed(z), (16, 16)))
    assert (got.double() - want).abs().max() < 2e-3


def test_a_format_3_chunk_decodes_to_its_pinned_symbols_and_latent(model):
    data = (DATA / "chunk-v3-default.bin").read_bytes()
    assert hashlib.sha256(data).hexdigest() == PIN["sha256_chunk"]
    assert bitstream.unpack(data).format_version == 3
    lat = entropy_decode([data], device="cpu", keep_symbols=True)[0]
    assert lat.symbols_sha256() == PIN["sha256_symbols"]
    assert _latent_sha(lat) == PIN["sha256_latent"]  # ŷ is exact in format 3: its bytes hold on every machine


def test_format_3_round_trips_through_the_public_api(model, fresh):
    data, lat = fresh
    c = bitstream.unpack(data)
    assert c.format_version == 3 and len(c.checks) == model.net.entropy.n_stages + 2
    opt, sar = geocodec.decompress(data, device="cpu")
    assert opt.shape == (4, 64, 64) and opt.dtype == np.uint16 and sar.shape == (2, 64, 64)
    assert compress3(*smooth_pair(np.random.default_rng(11), 64, 64), lmbda=0.003, gamma=0.2,
                     device="cpu", model=model) == data  # deterministic on one machine
    assert geocodec.inspect(data)["bpp"] > 0


def test_entropy_decoding_is_exact_with_the_isa_capped(model, fresh, tmp_path):
    data, lat = fresh
    files = [str(DATA / "chunk-v3-default.bin"), str(tmp_path / "fresh.geoc")]
    Path(files[1]).write_bytes(data)
    out = tmp_path / "capped.npz"
    run_capped(f"""
        import numpy as np
        from pathlib import Path
        from geocodec.codec import entropy_decode
        lat = entropy_decode([Path(f).read_bytes() for f in {files!r}], device="cpu", keep_symbols=True)
        np.savez({str(out)!r}, **{{f"{{i}}/{{k}}": v for i, d in enumerate(lat)
                                   for k, v in (("symbols", d.symbols), ("latent", d.latent.numpy()))}})
    """)
    here = [entropy_decode([Path(files[0]).read_bytes()], device="cpu", keep_symbols=True)[0], lat]
    with np.load(out) as f:
        for i, d in enumerate(here):
            assert np.array_equal(f[f"{i}/symbols"], d.symbols)
            assert f[f"{i}/latent"].tobytes() == d.latent.numpy().tobytes()


def test_batched_entropy_decoding_equals_one_by_one(model):
    """Integer parameters are exact whatever the batch's shape, so a batch decodes to the very
    latents of its items decoded alone (decode.py still decodes per chunk; this is the premise
    of batching them)."""
    net = model.net
    chunks = [bitstream.unpack(compress3(*smooth_pair(np.random.default_rng(s), 64, 64), lmbda=0.01,
                                         device="cpu", model=model)) for s in (21, 22, 23)]
    streams = [LatentStreams(z=c.z, y=c.y, checks=c.checks) for c in chunks]
    seeds = [c.header_crc for c in chunks]
    batch = net.entropy.decompress(streams, (4, 4), "cpu", seeds, nets="integer")
    for i, (st, seed) in enumerate(zip(streams, seeds)):
        alone = net.entropy.decompress([st], (4, 4), "cpu", [seed], nets="integer")
        assert batch[i].numpy().tobytes() == alone[0].numpy().tobytes()


@pytest.mark.parametrize("hw", [(16, 16), (4, 8), (12, 20)])
def test_the_non_anchor_context_equals_the_gathered_one(model, hw):
    """The stride-2 form of the spatial context gives exactly the full convolution's non-anchors."""
    from geocodec.model.latent_coding import anchor_mask

    ctx = model.net.entropy.coder._integer().context[-1]
    a = torch.round(torch.randn(2, ctx.weight.shape[1], *hw, generator=torch.Generator().manual_seed(1),
                                dtype=torch.float64) * 4096)
    positions = (~anchor_mask(*hw).reshape(-1)).nonzero().squeeze(1)
    assert torch.equal(ctx.at_non_anchors(a), ctx.at(a, positions))


@pytest.mark.parametrize("anchors", [True, False])
def test_the_strided_checkerboard_equals_the_gathered_positions(anchors):
    from geocodec.model.latent_coding import anchor_mask

    x = torch.randn(2, 5, 6, 10, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    mask = anchor_mask(6, 10).reshape(-1)
    positions = (mask if anchors else ~mask).nonzero().squeeze(1)
    assert torch.equal(integer_nets.checkerboard(x, anchors), x.flatten(2).index_select(-1, positions))


@pytest.mark.parametrize("anchors", [True, False])
def test_put_checkerboard_writes_what_checkerboard_reads(anchors):
    from geocodec.model.checkerboard import checkerboard, put_checkerboard
    from geocodec.model.latent_coding import anchor_mask

    x = torch.arange(2 * 3 * 6 * 8, dtype=torch.float64).view(2, 3, 6, 8)
    values = -checkerboard(x, anchors)
    put_checkerboard(x, values, anchors)
    positions = (anchor_mask(6, 8) if anchors else ~anchor_mask(6, 8)).reshape(-1).nonzero().squeeze(1)
    assert torch.equal(x.view(2, 3, -1)[:, :, positions], values)  # the stage's positions, in its order
    untouched = torch.arange(2 * 3 * 6 * 8, dtype=torch.float64).view(2, 3, -1)
    others = (~anchor_mask(6, 8) if anchors else anchor_mask(6, 8)).reshape(-1)
    assert torch.equal(x.view(2, 3, -1)[:, :, others], untouched[:, :, others])
