"""Chunk-seam figures: border gradients on known images, chunked coding reassembles, scene-wide scaling."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import smooth_pair
from geocodec.errors import InvalidInputError
from geocodec.evaluation.seams import (
    border_error, border_gradients, code_decoded_together, code_in_chunks, scene_scaling)


def test_a_step_at_the_chunk_border_is_counted_there():
    x = np.zeros((1, 8, 8))
    x[:, :, 4:] = 10.0  # a step of 10 between columns 3 and 4: the border of 4 px chunks
    g = border_gradients(x, 4)
    # vertical border pairs: 8 rows × 1 column, all |Δ| = 10; horizontal border pairs: all 0
    assert g["border"] == pytest.approx(10 * 8 / (8 + 8))
    assert g["elsewhere"] == 0 and g["ratio"] is None
    ramp = np.broadcast_to(np.arange(8.0), (1, 8, 8))  # a ramp has no seam: |Δx| = 1 everywhere
    r = border_gradients(ramp.copy(), 4)
    assert r["border"] == pytest.approx(r["elsewhere"])


def test_border_error_separates_edge_pixels():
    ref = np.zeros((1, 16, 16))
    test = ref.copy()
    test[:, :, 7:9] = 3.0  # error only on the two columns beside the border of 8 px chunks
    e = border_error(ref, test, 8, width=1)
    assert e["rmse_elsewhere"] == 0 and e["rmse_near_border"] > 0
    with pytest.raises(InvalidInputError, match="larger than one"):
        border_gradients(ref, 16)


def test_chunked_coding_reassembles_and_scene_scaling_is_shared(rng, model):
    import geocodec
    from geocodec import codec

    opt, sar = smooth_pair(rng, 64, 96)
    o, s, nbytes = code_in_chunks(model, opt, sar, 32, 0.01, 0.5, device="cpu")
    assert o.shape == opt.shape and o.dtype == opt.dtype and s.shape == sar.shape
    assert nbytes > 0
    # every chunk of the per-chunk run is what compress() gives for that window alone (up to float
    # rounding of a batched against a single decode)
    one = geocodec.decompress(geocodec.compress(opt[:, 32:, 64:], sar[:, 32:, 64:], lmbda=0.01, device="cpu"),
                              device="cpu")
    np.testing.assert_allclose(o[:, 32:, 64:], one[0], atol=1)
    np.testing.assert_allclose(s[:, 32:, 64:], one[1], atol=1e-3)
    # scene scaling: every chunk's header holds the scene's (lo, hi), its own [min, max]
    with scene_scaling(opt, sar):
        chunks = codec.compress_batch([(opt[:, :32, :32], sar[:, :32, :32]), (opt[:, 32:, 64:], sar[:, 32:, 64:])],
                                      lmbda=0.01, model=model, device="cpu")
    scal = [np.array([geocodec.inspect(c)["scaling"][k] for k in ("lo", "hi", "min", "max")]) for c in chunks]
    assert np.array_equal(scal[0][:2], scal[1][:2])
    assert not np.array_equal(scal[0][2:], scal[1][2:])
    from geocodec.coding import prepare

    assert prepare.fit_scaling.__module__ == "geocodec.normalize"  # restored after the block


def test_decoding_chunks_together_costs_no_bytes(rng, model):
    opt, sar = smooth_pair(rng, 64, 64)
    sar[1, 5:9, 40:44] = np.nan
    o, s, nbytes = code_decoded_together(model, opt, sar, 32, 0.01, 0.5, device="cpu")
    _, s_apart, n_apart = code_in_chunks(model, opt, sar, 32, 0.01, 0.5, scaling="per-scene", device="cpu")
    assert nbytes == n_apart  # the same chunks; only the synthesis sees the neighbours
    assert o.dtype == opt.dtype and s.dtype == sar.dtype
    assert np.array_equal(np.isnan(s), np.isnan(sar)) and np.array_equal(np.isnan(s_apart), np.isnan(sar))
    from geocodec.metrics import PEAK_OPTICAL, psnr

    assert psnr(opt, o, PEAK_OPTICAL) > 25
    with pytest.raises(InvalidInputError, match="whole 24 px chunks"):
        code_decoded_together(model, opt, sar, 24, 0.01, 0.5, device="cpu")
