"""The chunk bitstream: one self-describing byte string per co-registered chunk.

Pure bytes ↔ ``Chunk`` dataclass (no torch, no numpy maths beyond the arrays it carries).
The layout is documented in ``docs/bitstream.md``; any change to it bumps ``FORMAT_VERSION``.

    magic "GEOC" | version u8 | flags u8 | model name, model version (u8 length + UTF-8)
    | weights sha256 (32 B) | λ f32 | γ f32 | [target bpp f32] | H, W (varint)
    | n_opt u8 | n_sar u8 | dtypes u8 | per band lo, hi, min, max f32
    | [optical nodata f64] | [SAR nodata f64] | masks (u8 bitfield; each: varint length + zlib)
    | n stages u8 + u16 check per stage | z length varint | z substream | y substream
    | CRC-32 (u32) of everything before it
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from geocodec.errors import CorruptStreamError

MAGIC = b"GEOC"
FORMAT_VERSION = 1

# flags
_SAR_LINEAR = 1 << 0
_TARGET_BPP = 1 << 1
_OPT_NODATA = 1 << 2
_SAR_NODATA = 1 << 3

DTYPES = ("uint8", "uint16", "int16", "float32", "float64", "uint32", "int32")
MASK_NAMES = ("optical_nan", "optical_nodata", "sar_nan", "sar_nodata")


@dataclass
class Chunk:
    """Everything a chunk's bytes hold, decoded into Python values."""

    model_name: str
    model_version: str
    model_sha256: str
    lmbda: float
    gamma: float
    height: int
    width: int
    optical_dtype: str
    sar_dtype: str
    scaling: np.ndarray  # (n_opt + n_sar, 4) float32: lo, hi, min, max
    n_optical: int
    n_sar: int
    z: bytes
    y: bytes
    checks: list[int]
    sar_linear: bool = False
    target_bpp: float | None = None
    optical_nodata: float | None = None
    sar_nodata: float | None = None
    masks: dict[str, np.ndarray] = field(default_factory=dict)  # name → bool (C, H, W)
    format_version: int = FORMAT_VERSION


def encode_varint(n: int) -> bytes:
    """Unsigned LEB128 (also used by the Zarr chunk frame)."""
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _text(s: str) -> bytes:
    b = s.encode()
    if len(b) > 255:
        raise ValueError(f"text field too long: {s[:40]}...")
    return bytes([len(b)]) + b


def pack(c: Chunk) -> bytes:
    flags = (
        (_SAR_LINEAR if c.sar_linear else 0)
        | (_TARGET_BPP if c.target_bpp is not None else 0)
        | (_OPT_NODATA if c.optical_nodata is not None else 0)
        | (_SAR_NODATA if c.sar_nodata is not None else 0)
    )
    out = bytearray(MAGIC)
    out += bytes([FORMAT_VERSION, flags])
    out += _text(c.model_name) + _text(c.model_version)
    out += bytes.fromhex(c.model_sha256)
    out += struct.pack("<ff", c.lmbda, c.gamma)
    if c.target_bpp is not None:
        out += struct.pack("<f", c.target_bpp)
    out += encode_varint(c.height) + encode_varint(c.width)
    out += bytes([c.n_optical, c.n_sar, DTYPES.index(c.optical_dtype) << 4 | DTYPES.index(c.sar_dtype)])
    out += np.asarray(c.scaling, "<f4").reshape(c.n_optical + c.n_sar, 4).tobytes()
    if c.optical_nodata is not None:
        out += struct.pack("<d", c.optical_nodata)
    if c.sar_nodata is not None:
        out += struct.pack("<d", c.sar_nodata)
    present = 0
    blobs = b""
    for i, name in enumerate(MASK_NAMES):
        m = c.masks.get(name)
        if m is not None and m.any():
            present |= 1 << i
            blob = zlib.compress(np.packbits(m.reshape(-1)).tobytes(), 9)
            blobs += encode_varint(len(blob)) + blob
    out += bytes([present]) + blobs
    out += bytes([len(c.checks)]) + struct.pack(f"<{len(c.checks)}H", *c.checks)
    out += encode_varint(len(c.z)) + c.z + c.y
    out += struct.pack("<I", zlib.crc32(out))
    return bytes(out)


class _Reader:
    def __init__(self, data: bytes, end: int):
        self.data, self.pos, self.end = data, 0, end

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise CorruptStreamError("geocodec chunk is truncated or malformed (field runs past the end)")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def u8(self) -> int:
        return self.take(1)[0]

    def varint(self) -> int:
        n = shift = 0
        while True:
            b = self.u8()
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                return n
            shift += 7
            if shift > 63:
                raise CorruptStreamError("geocodec chunk has a malformed length field")

    def text(self) -> str:
        try:
            return self.take(self.u8()).decode()
        except UnicodeDecodeError:
            raise CorruptStreamError("geocodec chunk has a malformed text field") from None


def unpack(data) -> Chunk:
    """Parse and verify (magic, version, CRC) a chunk. Raises ``CorruptStreamError``."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CorruptStreamError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < 4 or data[:4] != MAGIC:
        raise CorruptStreamError("not a geocodec chunk (bad magic bytes)")
    if len(data) < 10:
        raise CorruptStreamError(f"geocodec chunk is truncated ({len(data)} bytes)")
    if data[4] != FORMAT_VERSION:
        raise CorruptStreamError(
            f"geocodec chunk has format version {data[4]}; this geocodec reads version {FORMAT_VERSION}")
    (crc,) = struct.unpack("<I", data[-4:])
    if zlib.crc32(data[:-4]) != crc:
        raise CorruptStreamError("geocodec chunk failed its CRC-32 check: the bytes are corrupt or truncated")
    r = _Reader(data, len(data) - 4)
    r.take(5)
    flags = r.u8()
    name, version = r.text(), r.text()
    sha = r.take(32).hex()
    lmbda, gamma = struct.unpack("<ff", r.take(8))
    target = struct.unpack("<f", r.take(4))[0] if flags & _TARGET_BPP else None
    h, w = r.varint(), r.varint()
    n_opt, n_sar, dt = r.u8(), r.u8(), r.u8()
    if dt >> 4 >= len(DTYPES) or dt & 15 >= len(DTYPES):
        raise CorruptStreamError("geocodec chunk names an unknown dtype")
    scaling = np.frombuffer(r.take(16 * (n_opt + n_sar)), "<f4").reshape(n_opt + n_sar, 4).copy()
    opt_nodata = struct.unpack("<d", r.take(8))[0] if flags & _OPT_NODATA else None
    sar_nodata = struct.unpack("<d", r.take(8))[0] if flags & _SAR_NODATA else None
    present = r.u8()
    masks = {}
    for i, mname in enumerate(MASK_NAMES):
        if present & (1 << i):
            blob = r.take(r.varint())
            n_bands = n_opt if mname.startswith("optical") else n_sar
            size = n_bands * h * w
            try:
                bits = np.frombuffer(zlib.decompress(blob), np.uint8)
            except zlib.error:
                raise CorruptStreamError(f"geocodec chunk has a corrupt {mname} mask") from None
            if bits.size != (size + 7) // 8:
                raise CorruptStreamError(f"geocodec chunk's {mname} mask has the wrong size")
            masks[mname] = np.unpackbits(bits, count=size).astype(bool).reshape(n_bands, h, w)
    n_checks = r.u8()
    checks = list(struct.unpack(f"<{n_checks}H", r.take(2 * n_checks)))
    z = r.take(r.varint())
    y = r.take(r.end - r.pos)
    return Chunk(
        model_name=name, model_version=version, model_sha256=sha, lmbda=lmbda, gamma=gamma,
        height=h, width=w, optical_dtype=DTYPES[dt >> 4], sar_dtype=DTYPES[dt & 15], scaling=scaling,
        n_optical=n_opt, n_sar=n_sar, z=z, y=y, checks=checks, sar_linear=bool(flags & _SAR_LINEAR),
        target_bpp=target, optical_nodata=opt_nodata, sar_nodata=sar_nodata, masks=masks,
    )


def header_size(data: bytes) -> int:
    """Bytes that are not entropy-coded payload (header, masks, checks, CRC)."""
    c = unpack(data)
    return len(data) - len(c.z) - len(c.y)
