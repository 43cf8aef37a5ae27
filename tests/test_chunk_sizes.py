"""Chunk sizes that cost bytes are refused or warned about, with the measured cost (issue #17, item 4)."""

from __future__ import annotations

import warnings

import pytest

import geocodec
from geocodec.errors import ChunkSizeWarning, InvalidInputError
from zarr_data import dataset


def _write(path, chunks, h=128, w=128, **kw):
    return geocodec.to_zarr(dataset(h, w, seed=1), path, lmbda=0.01, chunks=chunks, device="cpu", progress=False,
                            quality_chunks=1, **kw)


@pytest.mark.parametrize("chunks", [8, 16, {"y": 64, "x": 8}])
def test_chunks_so_small_that_the_header_dominates_are_refused(tmp_path, chunks):
    with pytest.raises(InvalidInputError, match="too small.*chunks=256"):
        _write(tmp_path / "c.zarr", chunks)
    assert not (tmp_path / "c.zarr").exists()


def test_a_size_that_is_not_a_multiple_of_the_padding_warns_with_its_cost(tmp_path, model):
    m = model.net.config.pad_multiple  # 100 px lies between two multiples of 32 or of 64
    lower, upper = 100 // m * m, -(-100 // m) * m
    with pytest.warns(ChunkSizeWarning, match=rf"100 px.*pad_multiple {m}.*padded to {upper} px.*\+94 %.*"
                                              rf"chunks={lower} or {upper}"):
        _write(tmp_path / "c.zarr", 100, 200, 200)


def test_a_size_under_one_padding_block_names_the_one_fix():
    from geocodec.cube.chunk_size import check_chunk_sizes  # a model padding to 64 px (v1.0.0)

    with pytest.warns(ChunkSizeWarning, match=r"padded to 64 px.*\+300 %.*use chunks=64$"):
        check_chunk_sizes({"y": 32, "x": 32}, {"y": 64, "x": 96}, 64)


def test_multiples_and_whole_scene_chunks_are_quiet(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ChunkSizeWarning)
        _write(tmp_path / "a.zarr", 64)  # a multiple
        _write(tmp_path / "b.zarr", 256, 100, 90)  # one chunk spans a small scene: nothing to choose
        _write(tmp_path / "c.zarr", 64, 100, 90)  # edge chunks are padded, but the size was a good one
