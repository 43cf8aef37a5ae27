"""The chunk bitstream: one self-describing byte string per co-registered chunk.

Pure bytes ↔ ``Chunk`` dataclass (no torch, no numpy maths beyond the arrays it carries).
The layout is documented in ``docs/bitstream.md``; any change to it bumps ``FORMAT_VERSION``.
``unpack`` checks every header field for plausibility (sizes, dtype codes, finite scalings)
before anything is allocated, so a forged or buggy header is a ``CorruptStreamError``, never
a huge allocation or a deep torch error.

    magic "GEOC" | version u8 | flags u8 | model name, model version (u8 length + UTF-8)
    | weights sha256 (32 B) | λ f32 | γ f32 | [target bpp f32] | H, W (varint)
    | n_opt u8 | n_sar u8 | dtypes u8 | per band lo, hi, min, max f32
    | [optical nodata f64] | [SAR nodata f64] | masks (u8 bitfield; each: varint length + zlib)
    | n stages u8 + u16 check per stage | z length varint | z substream | y substream
    | CRC-32 (u32) of everything before it
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from geocodec.errors import CorruptStreamError

MAGIC = b"GEOC"
#: Version 2 adds the byte-order flags and the payload check after the last coding stage; version 3
#: computes the entropy parameters with integer nets (``geocodec.model.integer_nets``), exact on
#: every machine, where 1–2 used float64 (same layout as 2); version 4 computes them with integer nets
#: on int8 products (``geocodec.model.int8_nets``), exact too and 1.5× faster to entropy-decode
#: (``benchmarks/integer_entropy_cost.py``; same layout as 2). Chunks are written in version 4.
FORMAT_VERSION = 4
READABLE_VERSIONS = (1, 2, 3, 4)

# flags
_SAR_LINEAR = 1 << 0
_TARGET_BPP = 1 << 1
_OPT_NODATA = 1 << 2
_SAR_NODATA = 1 << 3
_OPT_BIG_ENDIAN = 1 << 4  # version ≥ 2
_SAR_BIG_ENDIAN = 1 << 5  # version ≥ 2
_KNOWN_FLAGS = {1: 0x0F, 2: 0x3F, 3: 0x3F, 4: 0x3F}

DTYPES = ("uint8", "uint16", "int16", "float32", "float64", "uint32", "int32")
MASK_NAMES = ("optical_nan", "optical_nodata", "sar_nan", "sar_nodata")
#: The dtypes each modality may be compressed from (the codec validates inputs against these).
OPTICAL_DTYPES = ("uint8", "uint16", "int16", "float32")
SAR_DTYPES = ("float32", "float64")

#: Size limits of one chunk, shared by the encoder (inputs) and the decoder (headers): every
#: chunk geocodec writes, it reads, and no header can make a decoder allocate more.
MAX_PIXELS = 2048 * 2048
MAX_SIDE = 8192
MAX_BANDS = 64


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
    optical_big_endian: bool = False
    sar_big_endian: bool = False
    header_crc: int = field(default=0, repr=False, compare=False)  # set by ``unpack``


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


def _header(c: Chunk) -> bytearray:
    """Every byte before the entropy checks: what the decoder reads to interpret the payload."""
    flags = (
        (_SAR_LINEAR if c.sar_linear else 0)
        | (_TARGET_BPP if c.target_bpp is not None else 0)
        | (_OPT_NODATA if c.optical_nodata is not None else 0)
        | (_SAR_NODATA if c.sar_nodata is not None else 0)
        | (_OPT_BIG_ENDIAN if c.optical_big_endian else 0)
        | (_SAR_BIG_ENDIAN if c.sar_big_endian else 0)
    )
    if c.format_version not in READABLE_VERSIONS or (c.format_version < 2 and flags & ~_KNOWN_FLAGS[1]):
        raise ValueError(f"cannot write format version {c.format_version} with flags {flags:#04x}")
    out = bytearray(MAGIC)
    out += bytes([c.format_version, flags])
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
    return out


def header_crc(c: Chunk) -> int:
    """CRC-32 of the chunk's header bytes: the seed of the payload check after the last coding
    stage (format 2), so that check also covers every header field the decoder relies on."""
    return zlib.crc32(_header(c))


def pack(c: Chunk) -> bytes:
    out = _header(c)
    out += bytes([len(c.checks)]) + struct.pack(f"<{len(c.checks)}H", *c.checks)
    out += encode_varint(len(c.z)) + c.z + c.y
    out += struct.pack("<I", zlib.crc32(out))
    return bytes(out)


class ByteReader:
    """Bounds-checked reads of a byte layout (varints, fixed fields): every overrun is a clear
    ``CorruptStreamError`` naming ``what`` is being read. Shared by chunks and Zarr frames."""

    def __init__(self, data: bytes, end: int, pos: int = 0, what: str = "geocodec chunk"):
        self.data, self.pos, self.end, self.what = data, pos, end, what

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise CorruptStreamError(f"{self.what} is truncated or malformed (a field runs past the end)")
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
                raise CorruptStreamError(f"{self.what} has a malformed length field")

    def text(self) -> str:
        try:
            return self.take(self.u8()).decode()
        except UnicodeDecodeError:
            raise CorruptStreamError(f"{self.what} has a malformed text field") from None


def _implausible(what: str) -> CorruptStreamError:
    return CorruptStreamError(f"geocodec chunk header is implausible: {what} (forged or corrupt chunk)")


def unpack(data) -> Chunk:
    """Parse and verify (magic, version, CRC, field plausibility) a chunk. Raises ``CorruptStreamError``."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CorruptStreamError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < 4 or data[:4] != MAGIC:
        raise CorruptStreamError("not a geocodec chunk (bad magic bytes)")
    if len(data) < 10:
        raise CorruptStreamError(f"geocodec chunk is truncated ({len(data)} bytes)")
    version = data[4]
    if version not in READABLE_VERSIONS:
        raise CorruptStreamError(
            f"geocodec chunk has format version {version}; this geocodec reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}: upgrade geocodec to read it")
    (crc,) = struct.unpack("<I", data[-4:])
    if zlib.crc32(data[:-4]) != crc:
        raise CorruptStreamError("geocodec chunk failed its CRC-32 check: the bytes are corrupt or truncated")
    r = ByteReader(data, len(data) - 4)
    r.take(5)
    flags = r.u8()
    if flags & ~_KNOWN_FLAGS[version]:
        raise _implausible(f"unknown flag bits {flags:#04x}")
    name, version_text = r.text(), r.text()
    sha = r.take(32).hex()
    lmbda, gamma = struct.unpack("<ff", r.take(8))
    if not (math.isfinite(lmbda) and lmbda > 0):
        raise _implausible(f"λ={lmbda}")
    if not 0.0 <= gamma <= 1.0:
        raise _implausible(f"γ={gamma}")
    target = struct.unpack("<f", r.take(4))[0] if flags & _TARGET_BPP else None
    if target is not None and not (math.isfinite(target) and target > 0):
        raise _implausible(f"target bpp={target}")
    h, w = r.varint(), r.varint()
    if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE and h * w <= MAX_PIXELS):
        raise _implausible(f"size {h}×{w} px (a chunk holds at most {MAX_PIXELS} px, {MAX_SIDE} per side)")
    n_opt, n_sar, dt = r.u8(), r.u8(), r.u8()
    if not (1 <= n_opt <= MAX_BANDS and 1 <= n_sar <= MAX_BANDS):
        raise _implausible(f"band counts {n_opt} optical, {n_sar} SAR")
    if dt >> 4 >= len(DTYPES) or dt & 15 >= len(DTYPES):
        raise CorruptStreamError("geocodec chunk names an unknown dtype")
    opt_dtype, sar_dtype = DTYPES[dt >> 4], DTYPES[dt & 15]
    if opt_dtype not in OPTICAL_DTYPES or sar_dtype not in SAR_DTYPES:
        raise _implausible(f"dtypes optical {opt_dtype}, SAR {sar_dtype}")
    scaling = np.frombuffer(r.take(16 * (n_opt + n_sar)), "<f4").reshape(n_opt + n_sar, 4).astype(np.float32)
    lo, hi, vmin, vmax = scaling.T
    if not np.isfinite(scaling).all() or (hi <= lo).any() or (vmax < vmin).any():
        raise _implausible("band scaling is not finite, or has hi ≤ lo or max < min")
    opt_nodata = struct.unpack("<d", r.take(8))[0] if flags & _OPT_NODATA else None
    sar_nodata = struct.unpack("<d", r.take(8))[0] if flags & _SAR_NODATA else None
    for v in (opt_nodata, sar_nodata):
        if v is not None and not math.isfinite(v):
            raise _implausible(f"nodata value {v}")
    present = r.u8()
    if present >> len(MASK_NAMES):
        raise _implausible(f"unknown mask bits {present:#04x}")
    masks = {}
    for i, mname in enumerate(MASK_NAMES):
        if present & (1 << i):
            blob = r.take(r.varint())
            n_bands = n_opt if mname.startswith("optical") else n_sar
            size = n_bands * h * w
            n_bytes = (size + 7) // 8
            try:  # bounded: a zlib bomb cannot inflate past the mask's size
                d = zlib.decompressobj()
                raw = d.decompress(blob, n_bytes + 1)
            except zlib.error:
                raise CorruptStreamError(f"geocodec chunk has a corrupt {mname} mask") from None
            if len(raw) != n_bytes or not d.eof:
                raise CorruptStreamError(f"geocodec chunk's {mname} mask has the wrong size")
            bits = np.frombuffer(raw, np.uint8)
            masks[mname] = np.unpackbits(bits, count=size).astype(bool).reshape(n_bands, h, w)
    hcrc = zlib.crc32(data[:r.pos])
    n_checks = r.u8()
    checks = list(struct.unpack(f"<{n_checks}H", r.take(2 * n_checks)))
    z = r.take(r.varint())
    y = r.take(r.end - r.pos)
    return Chunk(
        model_name=name, model_version=version_text, model_sha256=sha, lmbda=lmbda, gamma=gamma,
        height=h, width=w, optical_dtype=opt_dtype, sar_dtype=sar_dtype, scaling=scaling,
        n_optical=n_opt, n_sar=n_sar, z=z, y=y, checks=checks, sar_linear=bool(flags & _SAR_LINEAR),
        target_bpp=target, optical_nodata=opt_nodata, sar_nodata=sar_nodata, masks=masks,
        format_version=version, optical_big_endian=bool(flags & _OPT_BIG_ENDIAN),
        sar_big_endian=bool(flags & _SAR_BIG_ENDIAN), header_crc=hcrc,
    )
