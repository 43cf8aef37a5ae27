"""Cube integrity (issue #10 item 3): stale input, mixed settings, swapped and foreign chunks, writer locks,
incomplete stores, and frame version 1 chunks still decoding."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import geocodec
from geocodec.cube import chunks as framing
from geocodec.cube import open_cube
from geocodec.cube.lock import CubeLock
from geocodec.errors import ChunkIdentityError, CubeLockedError, IncompleteCubeError, InvalidInputError
from zarr_data import assert_in_place, chunk_files, crash_after_first_chunk, dataset, joint

KW = {"lmbda": 0.01, "chunks": 32, "device": "cpu", "progress": False, "quality_chunks": 1}


def _rewrites(monkeypatch):
    import geocodec.cube.writer as writer

    real, seen = writer.store_chunk, []

    def spy(arr, index, *args):
        seen.append(tuple(index))
        real(arr, index, *args)

    monkeypatch.setattr(writer, "store_chunk", spy)
    return seen


def _engine(store):
    import xarray as xr

    cube = xr.open_dataset(store, engine="geocodec")
    return np.concatenate([cube.optical.values.astype(np.float32), cube.sar.values])


def test_stale_input_is_rewritten_and_quality_is_honest(tmp_path, monkeypatch):
    old, new = dataset(64, 64, seed=1), dataset(64, 64, seed=2)
    store = tmp_path / "c.zarr"
    geocodec.to_zarr(old, str(store), **KW)
    with pytest.raises(InvalidInputError, match="mode='w-' never touches"):
        geocodec.to_zarr(new, str(store), **KW)
    edited = old.copy(deep=True)
    edited.optical[:, 40:50, 40:50] = 9000  # one chunk's input changes
    seen = _rewrites(monkeypatch)
    r = geocodec.to_zarr(edited, str(store), mode="a", **KW)
    assert seen == [(0, 1, 1)] and (r.chunks_written, r.chunks_reused) == (1, 3)
    seen.clear()
    r = geocodec.to_zarr(new, str(store), mode="a", **KW)  # all new input: every chunk is stale
    assert len(seen) == 4 and r.record["complete"]
    assert_in_place(_engine(store), joint(new))  # the store now holds the new input, and says so
    assert r.record["quality"]["psnr_sar"] > 15


def test_chunks_of_other_settings_are_rewritten_on_resume(tmp_path, monkeypatch):
    """A mixed cube (a chunk coded at another λ, as a second writer would leave it) is repaired by mode='a'."""
    from dataclasses import replace

    ds = dataset(64, 64, seed=3)
    store = tmp_path / "c.zarr"
    geocodec.to_zarr(ds, str(store), **KW)
    cube = open_cube(store)
    other = replace(cube.settings, lmbda=0.05, complete=None, device="cpu")
    chunk = np.full((6, 32, 32), np.nan, np.float32)
    chunk[:] = joint(ds)[:, 32:, :32]
    frame = framing.ChunkCoder(other).encode_chunks([chunk], indexes=[(0, 1, 0)])[0]
    (store / "pair" / "c" / "0" / "1" / "0").write_bytes(frame)
    assert geocodec.inspect(framing.unpack(frame).items[0])["lmbda"] == pytest.approx(0.05)
    seen = _rewrites(monkeypatch)
    geocodec.to_zarr(ds, str(store), mode="a", **KW)
    assert seen == [(0, 1, 0)]
    item = framing.unpack((store / "pair" / "c" / "0" / "1" / "0").read_bytes()).items[0]
    assert geocodec.inspect(item)["lmbda"] == pytest.approx(0.01)


def test_swapped_chunks_raise_and_resume_repairs_them(tmp_path, monkeypatch):
    ds = dataset(64, 64, seed=4)
    store = tmp_path / "c.zarr"
    geocodec.to_zarr(ds, str(store), **KW)
    a, b = store / "pair" / "c" / "0" / "0" / "0", store / "pair" / "c" / "0" / "1" / "1"
    da, db = a.read_bytes(), b.read_bytes()
    a.write_bytes(db)
    b.write_bytes(da)
    with pytest.raises(ChunkIdentityError, match="swapped or moved"):
        _engine(store)
    seen = _rewrites(monkeypatch)
    geocodec.to_zarr(ds, str(store), mode="a", **KW)
    assert sorted(seen) == [(0, 0, 0), (0, 1, 1)]
    assert_in_place(_engine(store), joint(ds))


def test_foreign_chunk_raises_through_engine_and_plain_zarr(tmp_path):
    import xarray as xr

    ds = dataset(64, 64, seed=5)
    geocodec.to_zarr(ds, str(tmp_path / "a.zarr"), **KW)
    geocodec.to_zarr(ds, str(tmp_path / "b.zarr"), **KW)  # same data and settings, another cube
    key = "c/0/1/0"
    (tmp_path / "a.zarr" / "pair" / key).write_bytes((tmp_path / "b.zarr" / "pair" / key).read_bytes())
    with pytest.raises(ChunkIdentityError, match="another cube"):
        _engine(tmp_path / "a.zarr")
    with pytest.raises(ChunkIdentityError, match="another cube"):
        xr.open_zarr(tmp_path / "a.zarr").pair.values


def test_writer_lock_blocks_a_second_writer_and_stale_locks_are_taken_over(tmp_path):
    import zarr

    ds = dataset(64, 64, seed=6)
    store = tmp_path / "c.zarr"
    geocodec.to_zarr(ds, str(store), **KW)
    arr = zarr.open_group(store, mode="r+")["pair"]
    held = CubeLock(arr, None).acquire()  # writer A, busy
    try:
        for mode, lam in (("a", 0.01), ("w", 0.02)):
            with pytest.raises(CubeLockedError, match=f"pid {os.getpid()}"):
                geocodec.to_zarr(ds, str(store), mode=mode, **{**KW, "lmbda": lam})
        with pytest.raises(CubeLockedError):  # a region writer overlaps a whole-cube writer
            geocodec.to_zarr(ds.isel(y=slice(0, 32)), str(store), mode="r+", region={"y": slice(0, 32)}, **KW)
    finally:
        held.release()
    assert open_cube(store).record.lmbda == pytest.approx(0.01)  # B changed nothing

    # a lock whose process is gone is stale at once; an unrenewed one after stale_lock_after
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    ghost = CubeLock(arr, None)
    ghost.info.pid = int(dead.stdout)
    ghost._write()
    with pytest.warns(UserWarning, match="stale cube lock"):
        r = geocodec.to_zarr(ds, str(store), mode="a", **KW)
    assert r.record["complete"]
    old = CubeLock(arr, None)
    old.info.renewed -= 3600
    old._write()
    with pytest.warns(UserWarning, match="stale cube lock"):
        geocodec.to_zarr(ds, str(store), mode="a", **KW)
    assert not [k for k in chunk_files(store) if k.startswith(".geocodec-")]


def test_a_writer_whose_first_look_missed_the_holder_does_not_also_take_the_lock(tmp_path, monkeypatch):
    """The race two region writers finishing at once hit (their record update): B lists the locks
    before A writes its own, A takes the lock, then B writes and looks again. B started earlier, and
    must still step back rather than hold the lock beside A (which lost one writer's fingerprints)."""
    import zarr

    geocodec.to_zarr(dataset(64, 64, seed=6), str(tmp_path / "c.zarr"), **KW)
    arr = zarr.open_group(tmp_path / "c.zarr", mode="r+")["pair"]
    late = CubeLock(arr, None)  # B: constructed first, so the earlier start time
    held = CubeLock(arr, None).acquire()  # A
    looks = []
    real_look = late._conflicts

    def first_look_misses_a():
        looks.append(1)
        return [] if len(looks) == 1 else real_look()

    monkeypatch.setattr(late, "_conflicts", first_look_misses_a)
    try:
        with pytest.raises(CubeLockedError, match=f"pid {os.getpid()}"):
            late.acquire()
        assert held.held and not late.held and len(looks) >= 2
        assert [k for k in chunk_files(tmp_path / "c.zarr") if k.startswith(".geocodec-lock-")] == \
            [f".geocodec-lock-{held.info.id}.json"]  # B's lock object is gone again
    finally:
        held.release()


def test_incomplete_store_is_refused_by_plain_zarr_and_open_cube(tmp_path, monkeypatch):
    import xarray as xr

    import geocodec.cube.writer as writer

    real = crash_after_first_chunk(monkeypatch)
    store = tmp_path / "half.zarr"
    with pytest.raises(RuntimeError):
        geocodec.to_zarr(dataset(64, 64), str(store), batch_chunks=1, **KW)
    with pytest.raises(IncompleteCubeError, match="incomplete"):
        xr.open_zarr(store).pair.values
    with pytest.raises(IncompleteCubeError, match="allow_incomplete"):
        open_cube(store)
    assert not open_cube(store, allow_incomplete=True).record.complete
    monkeypatch.setenv("GEOCODEC_ALLOW_INCOMPLETE", "1")
    part = xr.open_zarr(store).pair.values
    assert np.isfinite(part).any() and np.isnan(part).any()  # asked for: what is there, and fill elsewhere
    monkeypatch.delenv("GEOCODEC_ALLOW_INCOMPLETE")
    monkeypatch.setattr(writer, "store_chunk", real)
    geocodec.to_zarr(dataset(64, 64), str(store), mode="a", batch_chunks=1, **KW)
    assert not np.isnan(xr.open_zarr(store).pair.values).any()


def test_frame_version_1_chunks_still_decode(rng):
    """Chunks of v0.1 stores (frame version 1, no identity block) decode as before."""
    import struct
    import zlib

    from numcodecs_plugin import GeocodecCodec

    codec = GeocodecCodec(lmbda=0.01, device="cpu")
    chunk = np.concatenate([rng.integers(500, 3000, (4, 32, 32)), rng.normal(-15, 2, (2, 32, 32))]).astype(np.float32)
    v2 = codec.encode(chunk[None])
    f = framing.unpack(v2)
    assert f.version == 2 and f.index is None and f.cube_id is None and len(f.fingerprint) == 32
    out = bytearray(framing.MAGIC) + bytes([1, 0, len(f.shape)])
    for s in f.shape:
        out += framing.encode_varint(s)
    out += framing.encode_varint(len(f.items))
    for item in f.items:
        out += framing.encode_varint(len(item)) + item
    out += struct.pack("<I", zlib.crc32(out))
    v1 = framing.unpack(bytes(out))
    assert v1.version == 1 and v1.items == f.items
    np.testing.assert_array_equal(codec.decode(bytes(out)), codec.decode(v2))
    bad = bytearray(out)
    bad[4] = 7
    bad[-4:] = struct.pack("<I", zlib.crc32(bytes(bad[:-4])))
    with pytest.raises(Exception, match="frame version 7"):
        codec.decode(bytes(bad))


RACER = """
import sys
sys.path.insert(0, {tests!r})
import geocodec
from geocodec.errors import CubeLockedError
from zarr_data import dataset
try:
    geocodec.to_zarr(dataset(96, 96, seed=8), {store!r}, mode="w", lmbda=float(sys.argv[1]), chunks=32,
                     batch_chunks=1, device="cpu", progress=False, quality_chunks=1)
    print("wrote")
except CubeLockedError as e:
    print("locked:", e)
"""


@pytest.mark.slow
def test_two_writers_with_different_settings_never_leave_a_mixed_cube(tmp_path):
    """Two processes replace one cube at once with different λ: whatever the interleaving, the result is
    one cube at one λ (or a clean CubeLockedError for the loser), never a mix."""
    import time

    store = tmp_path / "race.zarr"
    geocodec.to_zarr(dataset(96, 96, seed=8), str(store), **KW)
    script = tmp_path / "race.py"
    script.write_text(RACER.format(tests=str(__import__("pathlib").Path(__file__).parent), store=str(store)))
    first = subprocess.Popen([sys.executable, str(script), "0.002"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    deadline = time.monotonic() + 120  # start the second one while the first is writing

    def locked() -> bool:
        try:
            return any((store / "pair").glob(".geocodec-lock-*"))
        except FileNotFoundError:  # the first writer is replacing the store under our walk
            return False

    while time.monotonic() < deadline and not locked():
        time.sleep(0.05)
    second = subprocess.Popen([sys.executable, str(script), "0.05"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    outs = [p.communicate(timeout=300) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], [o[1][-1500:] for o in outs]
    assert any("wrote" in o[0] for o in outs)
    rec = open_cube(store).record
    lams = {round(geocodec.inspect(framing.unpack(v).items[0])["lmbda"], 6)
            for k, v in chunk_files(store).items() if not k.startswith(".geocodec-")}
    assert rec.complete and lams == {round(rec.lmbda, 6)} and len(rec.fingerprints) == 9
