"""JPEG 2000 baseline: real codestreams, rate control, dB mapping, NaN, dtypes."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import smooth_pair
from geocodec.evaluation.baselines import jpeg2000
from geocodec.errors import InvalidInputError
from geocodec.metrics import PEAK_OPTICAL, psnr

pytestmark = pytest.mark.skipif(not jpeg2000.available(), reason="OpenJPEG (libopenjp2) not installed")


def test_rate_control_and_quality_grow_together(rng):
    opt, _ = smooth_pair(rng, 128, 128)
    lo = jpeg2000.code_optical(opt, 0.1)
    hi = jpeg2000.code_optical(opt, 1.0)
    assert lo.decoded.dtype == np.uint16 and lo.decoded.shape == opt.shape
    assert lo.nbytes < hi.nbytes
    assert hi.bits_per_sample() == pytest.approx(1.0, rel=0.1)  # OpenJPEG hits its byte budget
    assert psnr(opt, hi.decoded, PEAK_OPTICAL) > psnr(opt, lo.decoded, PEAK_OPTICAL) > 30


def test_int16_optical_round_trips_as_int16(rng):
    opt, _ = smooth_pair(rng, 64, 64, dtype=np.int16)
    r = jpeg2000.code_optical(opt, 2.0)
    assert r.decoded.dtype == np.int16
    assert psnr(opt, r.decoded, PEAK_OPTICAL) > 40


def test_sar_db_mapping_is_linear_over_the_documented_range():
    db = np.array([-50.0, -15.0, 20.0])
    u = jpeg2000.SarMapping.to_u16(db)
    assert u.tolist() == [0, 32768, 65535]  # -15 dB is the midpoint of [-50, 20] (rounds up)
    assert np.abs(jpeg2000.SarMapping.to_db(u) - db).max() < 70 / 65535
    assert jpeg2000.SarMapping.to_u16(np.array([-80.0, 30.0])).tolist() == [0, 65535]  # clipped


def test_bad_rate_raises_a_geocodec_error(rng):
    opt, _ = smooth_pair(rng, 32, 32)
    with pytest.raises(InvalidInputError, match="> 0"):
        jpeg2000.code_optical(opt, 0.0)
