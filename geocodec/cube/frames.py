"""Chunk frames: the bytes of one stored Zarr chunk, its identity, and the writer's handover to the codec.

Frame (docs/zarr-layout.md)::

    magic "GCZF" | version u8 | dtype u8 | ndim u8 | shape (ndim varints)
    | v2 only: flags u8 | [cube id 16 B] | [chunk index: ndim varints] | [input fingerprint 16 B]
    | n items varint | per item: length varint, bitstream | CRC-32 u32 of everything before

Version 1 frames (v0.1 stores) have no identity block and still decode. A version 2 frame names
its cube and its position in the grid, so a chunk moved to another position, or taken from
another cube, is refused (``ChunkIdentityError``) instead of read silently. The fingerprint
(``fingerprint_of``: the chunk's input and the settings that code it) is what a resumed write
compares to keep a stored chunk. ``PREPARED`` hands frames the writer encoded to the codec.
No torch here.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
import threading
import zlib
from dataclasses import dataclass

import numpy as np

from geocodec.bitstream import ByteReader, encode_varint
from geocodec.errors import CorruptStreamError
from geocodec.settings import CodecSettings

MAGIC = b"GCZF"
FRAME_VERSION = 2
READABLE_VERSIONS = (1, 2)
DTYPES = ("float32", "float64")
_HAS_CUBE, _HAS_INDEX, _HAS_FINGERPRINT = 1, 2, 4


# ---------------------------------------------------------------------------- the frame
@dataclass
class Frame:
    """A chunk's shape, dtype, item bitstreams (``None`` = all fill value) and identity."""

    shape: tuple[int, ...]
    dtype: str
    items: list[bytes | None]
    cube_id: str | None = None  #: 32 hex digits
    index: tuple[int, ...] | None = None  #: the chunk's coordinates in the array's chunk grid
    fingerprint: str | None = None  #: 32 hex digits: the chunk's input and coding settings
    version: int = FRAME_VERSION

    @property
    def n_items(self) -> int:
        return math.prod(self.shape[:-3])


def pack(frame: Frame) -> bytes:
    """Frame → bytes (always the current version)."""
    if len(frame.items) != frame.n_items:
        raise ValueError(f"frame of shape {frame.shape} needs {frame.n_items} items, got {len(frame.items)}")
    out = bytearray(MAGIC)
    out += bytes([FRAME_VERSION, DTYPES.index(frame.dtype), len(frame.shape)])
    for s in frame.shape:
        out += encode_varint(s)
    flags = ((_HAS_CUBE if frame.cube_id else 0) | (_HAS_INDEX if frame.index is not None else 0)
             | (_HAS_FINGERPRINT if frame.fingerprint else 0))
    out.append(flags)
    if frame.cube_id:
        out += bytes.fromhex(frame.cube_id)
    if frame.index is not None:
        if len(frame.index) != len(frame.shape):
            raise ValueError(f"chunk index {frame.index} does not match the chunk's {len(frame.shape)} dims")
        for i in frame.index:
            out += encode_varint(i)
    if frame.fingerprint:
        out += bytes.fromhex(frame.fingerprint)
    out += encode_varint(len(frame.items))
    for item in frame.items:
        out += encode_varint(len(item) if item else 0)
        if item:
            out += item
    out += struct.pack("<I", zlib.crc32(out))
    return bytes(out)


def unpack(data) -> Frame:
    """Parse and verify (magic, version, CRC, lengths) a chunk frame. Raises ``CorruptStreamError``."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        try:
            data = memoryview(data)
        except TypeError:
            raise CorruptStreamError(f"expected chunk bytes, got {type(data).__name__}") from None
    data = bytes(data)
    if data[:4] != MAGIC:
        if data[:4] == b"GEOC":
            raise CorruptStreamError("this is a bare geocodec bitstream, not a geocodec Zarr chunk frame "
                                     "(decode it with geocodec.decompress)")
        raise CorruptStreamError("not a geocodec Zarr chunk (bad magic bytes): was this array written "
                                 "with another codec, or is the chunk corrupt?")
    if len(data) < 11:
        raise CorruptStreamError(f"geocodec Zarr chunk is truncated ({len(data)} bytes)")
    (crc,) = struct.unpack("<I", data[-4:])
    if zlib.crc32(data[:-4]) != crc:
        raise CorruptStreamError("geocodec Zarr chunk failed its CRC-32 check: the chunk is corrupt or was "
                                 "only partly written")
    version = data[4]
    if version not in READABLE_VERSIONS:
        raise CorruptStreamError(f"geocodec Zarr chunk frame version {version}; this geocodec reads versions "
                                 f"{READABLE_VERSIONS} (upgrade geocodec)")
    if data[5] >= len(DTYPES):
        raise CorruptStreamError("geocodec Zarr chunk names an unknown dtype")
    end = len(data) - 4
    ndim = data[6]
    r = ByteReader(data, end, pos=7, what="geocodec Zarr chunk")
    shape = [r.varint() for _ in range(ndim)]
    cube_id = index = fingerprint = None
    if version >= 2:
        flags = r.u8()
        if flags & _HAS_CUBE:
            cube_id = r.take(16).hex()
        if flags & _HAS_INDEX:
            index = tuple(r.varint() for _ in range(ndim))
        if flags & _HAS_FINGERPRINT:
            fingerprint = r.take(16).hex()
    n = r.varint()
    if ndim < 3 or n != math.prod(shape[:-3]):
        raise CorruptStreamError(f"geocodec Zarr chunk header is inconsistent (shape {shape}, {n} items)")
    items: list[bytes | None] = []
    for _ in range(n):
        item = r.take(r.varint())
        items.append(item if item else None)
    pos = r.pos
    if pos != end:
        raise CorruptStreamError("geocodec Zarr chunk has trailing bytes after its last item")
    return Frame(shape=tuple(shape), dtype=DTYPES[data[5]], items=items, cube_id=cube_id, index=index,
                 fingerprint=fingerprint, version=version)


def frame_crc(data) -> int:
    """The frame's stored CRC-32 (its last 4 bytes): a cheap fingerprint of the chunk's content."""
    if len(data) < 4:
        raise CorruptStreamError(f"geocodec Zarr chunk is truncated ({len(data)} bytes)")
    return struct.unpack("<I", bytes(data[-4:]))[0]


# ---------------------------------------------------------------------------- fingerprints
def content_hash(chunk: np.ndarray) -> str:
    """Hash (32 hex) of a chunk's samples, dtype and shape."""
    a = np.ascontiguousarray(chunk)
    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps([a.dtype.str, list(a.shape)]).encode())
    h.update(memoryview(a).cast("B"))
    return h.hexdigest()


def fingerprint_of(content: str, settings: CodecSettings, scaling=None) -> str:
    """Fingerprint (32 hex) of a chunk's input (its ``content_hash``) and the settings that code it.

    Model sha256, λ or target bpp, γ, nodata, scale, dtypes and (when not the chunk's own) the
    per-band scaling: two chunks with the same fingerprint are coded to the same bitstreams, so
    resume keeps a stored chunk exactly when its fingerprint is the one the request would write.
    """
    cfg = {k: v for k, v in settings.to_config().items()
           if k not in ("cube_id", "complete", "model", "model_version")}
    if scaling is not None:
        cfg["scaling"] = np.asarray(scaling, np.float32).tolist()
    return hashlib.blake2b(json.dumps([content, cfg], sort_keys=True).encode(), digest_size=16).hexdigest()


def fingerprint(chunk: np.ndarray, settings: CodecSettings) -> str:
    """``fingerprint_of(content_hash(chunk), settings)``."""
    return fingerprint_of(content_hash(chunk), settings)


class PreparedFrames:
    """Frames the writer encoded itself (batched, with their chunk index), handed to Zarr's pipeline.

    The writer encodes a block of chunks in one device batch, with each chunk's position and the
    cube id in its frame, then stores each with ``array[chunk] = values``, so Zarr's codec pipeline
    (and sharding) lays it out. Zarr gives a codec no chunk position, so the codec takes the
    prepared frame by (cube id, content hash) instead of encoding the chunk again. A key holds one
    frame at a time: a writer storing a chunk of equal content elsewhere waits until the first is
    taken, so a frame never lands at another chunk's position.
    """

    def __init__(self):
        self._frames: dict[tuple, tuple[object, bytes]] = {}
        self._cond = threading.Condition()

    def put(self, key: tuple, frame: bytes, timeout: float = 600.0) -> object:
        token = object()
        with self._cond:
            if not self._cond.wait_for(lambda: key not in self._frames, timeout):
                raise RuntimeError(f"prepared chunk frame {key} was never taken by the codec")
            self._frames[key] = (token, frame)
        return token

    def take(self, key: tuple) -> bytes | None:
        with self._cond:
            entry = self._frames.pop(key, None)
            if entry is not None:
                self._cond.notify_all()
            return None if entry is None else entry[1]

    def release(self, key: tuple, token: object) -> None:
        """Drop the frame if the codec did not take it (the store call failed)."""
        with self._cond:
            entry = self._frames.get(key)
            if entry is not None and entry[0] is token:
                del self._frames[key]
                self._cond.notify_all()


PREPARED = PreparedFrames()
