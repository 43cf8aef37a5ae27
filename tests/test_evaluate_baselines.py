"""What every image-codec baseline shares (``baselines.u16``): SAR through the 16-bit dB map with NaN
kept and clipped samples counted, and clear errors for inputs of the wrong kind."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import smooth_pair
from geocodec.errors import InvalidInputError
from geocodec.evaluation.baselines import IMAGE_CODECS, image_codec
from geocodec.metrics import PEAK_SAR_DB, psnr

#: A setting each codec codes well at: JPEG 2000 bits per sample, JPEG XL distance.
SETTING = {"jpeg2000": 1.0, "jpegxl": 1.0}


@pytest.fixture(params=IMAGE_CODECS)
def codec(request):
    module = image_codec(request.param)
    if not module.available():
        pytest.skip(f"{request.param} is not installed")
    return module, SETTING[request.param]


def test_sar_keeps_nan_and_counts_clipped_samples(rng, codec):
    module, setting = codec
    _, sar = smooth_pair(rng, 64, 64)
    sar[0, :4, :4] = np.nan
    sar[1, 10, 10] = 25.0  # above +20 dB: clipped by the 16-bit map
    r, mapping = module.code_sar(sar, setting)
    assert r.decoded.dtype == np.float32
    assert np.array_equal(np.isnan(r.decoded), np.isnan(sar))
    assert mapping.clipped == 1
    assert psnr(sar, r.decoded, PEAK_SAR_DB) > 30


def test_inputs_of_the_wrong_kind_raise_geocodec_errors(rng, codec):
    module, setting = codec
    opt, _ = smooth_pair(rng, 32, 32)
    with pytest.raises(InvalidInputError, match="integer"):
        module.code_optical(opt.astype(np.float32), setting)
    with pytest.raises(InvalidInputError, match="float"):
        module.code_sar(opt, setting)
