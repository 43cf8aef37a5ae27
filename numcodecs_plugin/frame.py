"""The bytes of one Zarr chunk: a small frame around one geocodec bitstream per chunk item.

A Zarr chunk of the joint array has shape (..., C, H, W); its leading axes (time, ...) hold
``n`` items, each one co-registered pair. The frame records the full chunk shape and dtype
(so a chunk decodes to exactly the shape Zarr expects, even when it was encoded trimmed at
the array edge), then each item's bitstream (``geocodec.bitstream``; length 0 = an item that
was all fill value, stored as nothing), then a CRC-32 of the whole frame, so a truncated or
half-written chunk is always detected.

    magic "GCZF" | version u8 | dtype u8 | ndim u8 | shape (ndim varints)
    | n items varint | per item: length varint, bitstream | CRC-32 u32 of everything before
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass

from geocodec.errors import CorruptStreamError
from geocodec.bitstream import encode_varint

MAGIC = b"GCZF"
FRAME_VERSION = 1
DTYPES = ("float32", "float64")


@dataclass
class Frame:
    """A chunk's shape, dtype and item bitstreams (``None`` = all fill value)."""

    shape: tuple[int, ...]
    dtype: str
    items: list[bytes | None]

    @property
    def n_items(self) -> int:
        return math.prod(self.shape[:-3])


def pack(frame: Frame) -> bytes:
    if len(frame.items) != frame.n_items:
        raise ValueError(f"frame of shape {frame.shape} needs {frame.n_items} items, got {len(frame.items)}")
    out = bytearray(MAGIC)
    out += bytes([FRAME_VERSION, DTYPES.index(frame.dtype), len(frame.shape)])
    for s in frame.shape:
        out += encode_varint(s)
    out += encode_varint(len(frame.items))
    for item in frame.items:
        out += encode_varint(len(item) if item else 0)
        if item:
            out += item
    out += struct.pack("<I", zlib.crc32(out))
    return bytes(out)


def _read_varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        if pos >= end:
            raise CorruptStreamError("geocodec Zarr chunk is truncated (length field runs past the end)")
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, pos
        shift += 7
        if shift > 63:
            raise CorruptStreamError("geocodec Zarr chunk has a malformed length field")


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
    if data[4] != FRAME_VERSION:
        raise CorruptStreamError(f"geocodec Zarr chunk frame version {data[4]}; this geocodec reads "
                                 f"version {FRAME_VERSION}")
    if data[5] >= len(DTYPES):
        raise CorruptStreamError("geocodec Zarr chunk names an unknown dtype")
    end = len(data) - 4
    ndim, pos = data[6], 7
    shape = []
    for _ in range(ndim):
        s, pos = _read_varint(data, pos, end)
        shape.append(s)
    n, pos = _read_varint(data, pos, end)
    if ndim < 3 or n != math.prod(shape[:-3]):
        raise CorruptStreamError(f"geocodec Zarr chunk header is inconsistent (shape {shape}, {n} items)")
    items: list[bytes | None] = []
    for _ in range(n):
        length, pos = _read_varint(data, pos, end)
        if pos + length > end:
            raise CorruptStreamError("geocodec Zarr chunk is truncated (an item runs past the end)")
        items.append(data[pos:pos + length] if length else None)
        pos += length
    if pos != end:
        raise CorruptStreamError("geocodec Zarr chunk has trailing bytes after its last item")
    return Frame(shape=tuple(shape), dtype=DTYPES[data[5]], items=items)


def frame_crc(data) -> int:
    """The frame's stored CRC-32 (its last 4 bytes): a cheap fingerprint of the chunk's content."""
    if len(data) < 4:
        raise CorruptStreamError(f"geocodec Zarr chunk is truncated ({len(data)} bytes)")
    return struct.unpack("<I", bytes(data[-4:]))[0]
