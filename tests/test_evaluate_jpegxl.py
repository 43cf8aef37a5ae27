"""JPEG XL baseline: real 16-bit lossy codestreams, a distance sweep, dB mapping, NaN, dtypes."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import smooth_pair
from geocodec.errors import InvalidInputError
from geocodec.evaluation.baselines import image_codec, jpegxl
from geocodec.metrics import PEAK_OPTICAL, psnr

pytestmark = pytest.mark.skipif(not jpegxl.available(), reason="imagecodecs with JPEG XL not installed")


def test_distance_trades_bytes_for_quality(rng):
    opt, _ = smooth_pair(rng, 96, 96)
    near = jpegxl.code_optical(opt, 0.5)
    far = jpegxl.code_optical(opt, 8.0)
    assert near.decoded.dtype == np.uint16 and near.decoded.shape == opt.shape
    assert far.nbytes < near.nbytes
    assert psnr(opt, near.decoded, PEAK_OPTICAL) > psnr(opt, far.decoded, PEAK_OPTICAL) > 25
    assert not np.array_equal(near.decoded, opt)  # lossy, not the lossless mode


def test_bytes_are_the_real_codestreams_of_every_band(rng):
    import imagecodecs

    opt, _ = smooth_pair(rng, 64, 64)
    r = jpegxl.code_optical(opt, 2.0)
    one = [imagecodecs.jpegxl_encode(np.ascontiguousarray(b), distance=2.0, effort=jpegxl.EFFORT, lossless=False,
                                     usecontainer=False, numthreads=1) for b in opt]
    assert r.nbytes == sum(len(b) for b in one)
    assert np.array_equal(r.decoded[2], imagecodecs.jpegxl_decode(one[2]))


def test_int16_optical(rng):
    opt, _ = smooth_pair(rng, 64, 64, dtype=np.int16)
    r = jpegxl.code_optical(opt, 1.0)
    assert r.decoded.dtype == np.int16 and psnr(opt, r.decoded, PEAK_OPTICAL) > 35


def test_bad_inputs_raise_geocodec_errors(rng):
    opt, sar = smooth_pair(rng, 32, 32)
    with pytest.raises(InvalidInputError, match="distance"):
        jpegxl.code_optical(opt, 30.0)
    with pytest.raises(InvalidInputError, match="unknown baseline"):
        image_codec("webp")
