"""The numcodecs codec and the native Zarr v3 codec: config, chunk frames, edges, batching, errors."""

from __future__ import annotations

import numpy as np
import pytest

import geocodec
from conftest import smooth_pair
from zarr_data import assert_same_decode
from geocodec import bitstream
from geocodec.errors import CorruptStreamError, InvalidInputError, ModelMismatchError
from geocodec.cube import chunks as framing
from numcodecs_plugin.numcodecs_codec import GeocodecCodec


def _chunk(rng, n=2, h=64, w=48):
    pairs = [smooth_pair(rng, h, w) for _ in range(n)]
    return np.stack([np.concatenate([o.astype(np.float32), s]) for o, s in pairs])  # (n, 6, h, w)


def test_config_round_trip_and_registry_lookup():
    import numcodecs

    c = GeocodecCodec(lmbda=0.02, gamma=0.7, optical_nodata=0, sar_scale="db")
    cfg = c.get_config()
    m = geocodec.load_model("default", "cpu")
    assert cfg["id"] == "geocodec" and cfg["model_sha256"] == m.sha256 and cfg["model_version"] == m.version
    again = GeocodecCodec.from_config(cfg)
    assert again == c and again.get_config() == cfg
    via_registry = numcodecs.get_codec(cfg)  # resolved through the numcodecs.codecs entry point
    assert type(via_registry).__name__ == "GeocodecCodec" and via_registry.get_config() == cfg


@pytest.mark.parametrize("kwargs, match", [
    ({}, "exactly one of lmbda"),
    ({"lmbda": 0.01, "target_bpp": 0.5}, "exactly one of lmbda"),
    ({"lmbda": 0.01, "gamma": 1.5}, "gamma"),
    ({"lmbda": 0.01, "optical_bands": 0}, "optical_bands"),
    ({"lmbda": 0.01, "optical_dtype": "int64"}, "optical_dtype"),
    ({"lmbda": 0.01, "sar_scale": "dbz"}, "sar_scale"),
    ({"lmbda": 0.01, "model": "no-such-model"}, "unknown model"),
])
def test_bad_config_is_a_clear_error(kwargs, match):
    with pytest.raises(geocodec.GeocodecError, match=match):
        GeocodecCodec(**kwargs)


def test_numcodecs_chunk_round_trip_matches_the_core_codec(rng):
    chunk = _chunk(rng)
    chunk[1, 4:, 10:14, 3:9] = np.nan  # SAR NaN inside the data stays NaN exactly
    codec = GeocodecCodec(lmbda=0.01, device="cpu")
    data = codec.encode(chunk)
    out = codec.decode(data)
    assert out.shape == chunk.shape and out.dtype == np.float32
    assert np.array_equal(np.isnan(out), np.isnan(chunk))
    f = framing.unpack(data)
    assert f.shape == chunk.shape and len(f.items) == 2
    for i, item in enumerate(f.items):  # each item is a plain geocodec bitstream, decoded the same way
        opt, sar = geocodec.decompress(item, device="cpu")
        assert opt.dtype == np.uint16
        assert_same_decode(out[i], np.concatenate([opt.astype(np.float32), sar]))
    buf = np.empty(chunk.shape, np.float32)
    codec.decode(data, out=buf)
    np.testing.assert_array_equal(buf, out)


def test_edge_padding_is_trimmed_and_restored_exactly(rng):
    chunk = np.full((1, 6, 64, 64), np.nan, np.float32)
    chunk[0, :, :40, :23] = _chunk(rng, 1, 40, 23)[0]  # Zarr pads edge chunks with the NaN fill value
    codec = GeocodecCodec(lmbda=0.01, device="cpu")
    data = codec.encode(chunk)
    info = geocodec.inspect(framing.unpack(data).items[0])
    assert (info["height"], info["width"]) == (40, 23)  # no bits spent on the padding
    out = codec.decode(data)
    assert np.isnan(out[0, :, 40:]).all() and np.isnan(out[0, :, :, 23:]).all()
    assert not np.isnan(out[0, :, :40, :23]).any()


def test_all_fill_item_is_stored_as_nothing(rng):
    chunk = _chunk(rng, 2, 64, 64)
    chunk[1] = np.nan
    codec = GeocodecCodec(lmbda=0.01, device="cpu")
    data = codec.encode(chunk)
    f = framing.unpack(data)
    assert f.items[1] is None and f.items[0] is not None
    out = codec.decode(data)
    assert np.isnan(out[1]).all() and not np.isnan(out[0]).any()


def test_chunk_errors_are_clear(rng):
    codec = GeocodecCodec(lmbda=0.01, device="cpu")
    with pytest.raises(InvalidInputError, match="6 bands|model takes 6"):
        codec.encode(_chunk(rng, 1)[:, :5])
    with pytest.raises(InvalidInputError, match="float32 or float64"):
        codec.encode(_chunk(rng, 1).astype(np.uint16))
    with pytest.raises(InvalidInputError, match=r"\(\.\.\., bands, H, W\)"):
        codec.encode(np.zeros(100, np.float32))
    bad = _chunk(rng, 1)
    bad[0, 0, 3, 3] = 0.5  # declared uint16 optical, but not an integer
    with pytest.raises(InvalidInputError, match="not uint16 integers"):
        codec.encode(bad)


def test_truncated_or_corrupt_frames_raise_corrupt_stream(rng):
    codec = GeocodecCodec(lmbda=0.01, device="cpu")
    data = codec.encode(_chunk(rng, 1))
    for broken in (data[: len(data) // 2], data[:-1], data[:6] + bytes([data[6] ^ 1]) + data[7:]):
        with pytest.raises(CorruptStreamError):
            codec.decode(broken)
    with pytest.raises(CorruptStreamError, match="bare geocodec bitstream"):
        codec.decode(framing.unpack(data).items[0])


def _with_sha(data: bytes, sha: str) -> bytes:
    """The same chunk, as if another model (sha256) had written it (CRCs recomputed)."""
    f = framing.unpack(data)
    items = []
    for item in f.items:
        c = bitstream.unpack(item)
        c.model_sha256 = sha
        items.append(bitstream.pack(c))
    return framing.pack(framing.Frame(f.shape, f.dtype, items))


def test_chunk_from_another_model_is_refused(rng):
    codec = GeocodecCodec(lmbda=0.01, device="cpu")
    data = _with_sha(codec.encode(_chunk(rng, 1)), "ab" * 32)
    with pytest.raises(ModelMismatchError, match="chunk was written by model"):
        codec.decode(data)


def test_array_pinned_to_missing_weights_is_refused(rng):
    codec = GeocodecCodec(lmbda=0.01, device="cpu")
    data = _with_sha(codec.encode(_chunk(rng, 1)), "cd" * 32)
    pinned = GeocodecCodec.from_config({**codec.get_config(), "model_sha256": "cd" * 32})
    with pytest.raises(ModelMismatchError, match="does not have"):
        pinned.decode(data)
    with pytest.raises(ModelMismatchError, match="pins model"):
        pinned.encode(_chunk(rng, 1))


# ---------------------------------------------------------------------------- Zarr v3 codec
def test_zarr_codec_dict_round_trip():
    from zarr.registry import get_codec_class

    from numcodecs_plugin.zarr_codec import GeocodecZarrCodec

    c = GeocodecZarrCodec(lmbda=0.01, gamma=0.25)
    d = c.to_dict()
    assert d["name"] == "geocodec" and d["configuration"]["gamma"] == 0.25
    assert get_codec_class("geocodec") is GeocodecZarrCodec  # the zarr.codecs entry point
    assert GeocodecZarrCodec.from_dict(d) == c


def test_zarr_v3_batch_hook_sends_all_chunks_in_one_batch(rng, monkeypatch):
    import zarr

    import geocodec.codec as codec_module  # the chunk coder imports it when it codes (no torch before)
    from numcodecs_plugin.zarr_codec import GeocodecZarrCodec

    batches = []
    real = codec_module.compress_batch

    def counting(pairs, **kw):
        batches.append(len(pairs))
        return real(pairs, **kw)

    monkeypatch.setattr(codec_module, "compress_batch", counting)
    data = _chunk(rng, 1, 100, 90)[0]
    with zarr.config.set({"codec_pipeline.batch_size": 8}):  # read when an array is opened
        z = zarr.create_array(store={}, shape=(6, 100, 90), chunks=(6, 64, 64), dtype="float32",
                              fill_value=np.nan, serializer=GeocodecZarrCodec(lmbda=0.01), compressors=None)
        z[:] = data
        back = z[:]
    assert batches == [4]  # 4 chunks (two of them edge chunks), one compress_batch call
    assert back.shape == data.shape and not np.isnan(back).any()
    assert np.abs(back[4:] - data[4:]).mean() < 5  # SAR in dB: decoded, not garbage
    ref = GeocodecCodec(lmbda=0.01, device="cpu")
    edge = np.full((6, 64, 64), np.nan, np.float32)
    edge[:, :36, :26] = data[:, 64:, 64:]
    assert_same_decode(back[:, 64:, 64:], ref.decode(ref.encode(edge[None]))[0, :, :36, :26])


@pytest.mark.parametrize("kwargs, match", [
    ({"dtype": "uint16", "fill_value": 0}, "float32"),
    ({"chunks": (3, 64, 64)}, "band axis"),
])
def test_zarr_v3_codec_validates_the_array(kwargs, match):
    import zarr

    from numcodecs_plugin.zarr_codec import GeocodecZarrCodec

    args = {"shape": (6, 100, 90), "chunks": (6, 64, 64), "dtype": "float32", "fill_value": np.nan, **kwargs}
    with pytest.raises(InvalidInputError, match=match):
        zarr.create_array(store={}, serializer=GeocodecZarrCodec(lmbda=0.01), compressors=None, **args)
