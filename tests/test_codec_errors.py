"""Bad input gets a clear GeocodecError naming the problem; corrupt bytes never decode to garbage."""

from __future__ import annotations

import numpy as np
import pytest

import geocodec
from geocodec.errors import (
    CorruptStreamError,
    InvalidInputError,
    ModelMismatchError,
    UnknownModelError,
)
from conftest import smooth_pair


@pytest.fixture(scope="module")
def pair():
    return smooth_pair(np.random.default_rng(7), 64, 64)


@pytest.fixture(scope="module")
def chunk(pair):
    return geocodec.compress(*pair, lmbda=0.01, device="cpu")


BAD = [
    ("optical 2-d", lambda o, s: (o[0], s), {}, "shape"),
    ("optical 5 bands", lambda o, s: (np.concatenate([o, o[:1]]), s), {}, "bands"),
    ("sar 1 band", lambda o, s: (o, s[:1]), {}, "bands"),
    ("grid mismatch", lambda o, s: (o, s[:, :32]), {}, "same H, W"),
    ("optical int64", lambda o, s: (o.astype(np.int64), s), {}, "dtype"),
    ("sar int16", lambda o, s: (o, s.astype(np.int16)), {}, "dtype"),
    ("sar inf", lambda o, s: (o, np.where(np.arange(64)[None, None, :] == 3, np.inf, s).astype(np.float32)), {}, "inf"),
    ("empty", lambda o, s: (o[:, :0], s[:, :0]), {}, "empty"),
    ("not an array", lambda o, s: ("hello", s), {}, "shape"),
    ("gamma > 1", lambda o, s: (o, s), {"gamma": 1.5}, "gamma"),
    ("gamma < 0", lambda o, s: (o, s), {"gamma": -0.1}, "gamma"),
    ("gamma NaN", lambda o, s: (o, s), {"gamma": float("nan")}, "gamma"),
    ("lambda too big", lambda o, s: (o, s), {"lmbda": 10.0}, "out of range"),
    ("lambda too small", lambda o, s: (o, s), {"lmbda": 1e-9}, "out of range"),
    ("lambda and target", lambda o, s: (o, s), {"target_bpp": 0.5}, "exactly one"),
    ("negative target", lambda o, s: (o, s), {"lmbda": None, "target_bpp": -1}, "target_bpp"),
    ("linear SAR in dB", lambda o, s: (o, s), {"sar_scale": "linear"}, "linear"),
    ("bad sar_scale", lambda o, s: (o, s), {"sar_scale": "log"}, "sar_scale"),
    ("optical channel-last", lambda o, s: (np.moveaxis(o, 0, -1), s), {}, r"\(H, W, bands\); pass np.moveaxis"),
]


@pytest.mark.parametrize("name,make,kwargs,words", BAD, ids=[b[0] for b in BAD])
def test_bad_input_raises_clear_error(pair, name, make, kwargs, words):
    o, s = make(*pair)
    kw = {"lmbda": 0.01, "device": "cpu", **kwargs}
    with pytest.raises(InvalidInputError, match=words):
        geocodec.compress(o, s, **kw)


def test_unknown_model():
    with pytest.raises(UnknownModelError, match="unknown model"):
        geocodec.load_model("no-such-model")


def test_unknown_modality(chunk):
    with pytest.raises(InvalidInputError, match="modality"):
        geocodec.decompress(chunk, "thermal")


def test_errors_are_geocodec_errors_and_value_errors(pair):
    with pytest.raises(geocodec.GeocodecError):
        geocodec.compress(*pair, lmbda=0.01, gamma=2)
    with pytest.raises(ValueError):
        geocodec.compress(*pair, lmbda=0.01, gamma=2)


def test_not_bytes_and_bad_magic():
    with pytest.raises(CorruptStreamError, match="bytes"):
        geocodec.decompress(np.zeros(10))
    with pytest.raises(CorruptStreamError, match="magic"):
        geocodec.decompress(b"PNG\x00" * 10)


def test_every_truncation_is_detected(chunk):
    for n in list(range(0, 40)) + list(range(40, len(chunk), 7)):
        with pytest.raises(CorruptStreamError):
            geocodec.decompress(chunk[:n])


def test_every_single_bit_flip_is_detected(chunk):
    rng = np.random.default_rng(0)
    positions = sorted(set(range(0, 80)) | set(rng.integers(0, len(chunk), 150).tolist()))
    for pos in positions:
        bad = bytearray(chunk)
        bad[pos] ^= 1 << int(rng.integers(8))
        with pytest.raises(geocodec.GeocodecError):
            geocodec.decompress(bytes(bad))
        with pytest.raises(geocodec.GeocodecError):
            geocodec.inspect(bytes(bad))


def test_chunk_of_another_model_is_refused(chunk, model, tmp_path):
    """A chunk whose header names weights this decoder does not have fails clearly."""
    from geocodec import bitstream

    c = bitstream.unpack(chunk)
    c.model_sha256 = "ab" * 32
    forged = bitstream.pack(c)
    with pytest.raises(ModelMismatchError, match="does not have"):
        geocodec.decompress(forged)
    with pytest.raises(ModelMismatchError, match="not by the requested model"):
        geocodec.decompress(forged, model="default")


def test_linear_sar_passed_as_db_warns_and_linear_round_trips(pair):
    """Linear σ0 given as dB is coded (values are valid) but the caller is told; with
    sar_scale='linear' the same array codes without a warning and decodes to linear values."""
    import warnings

    from geocodec.errors import SuspiciousInputWarning

    o, s_db = pair
    s_lin = (10 ** (s_db / 10)).astype(np.float32)
    with pytest.warns(SuspiciousInputWarning, match="sar_scale='linear'"):
        geocodec.compress(o, s_lin, lmbda=0.01, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error", SuspiciousInputWarning)
        data = geocodec.compress(o, s_lin, lmbda=0.01, device="cpu", sar_scale="linear")
        geocodec.compress(o, s_db, lmbda=0.01, device="cpu")
    _, s_out = geocodec.decompress(data, device="cpu")
    assert s_out.max() < 1.5 and np.median(np.abs(s_out - s_lin) / s_lin) < 0.2
