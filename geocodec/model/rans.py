"""The latent's rANS substreams: compressai's coder with geocodec's table handling, and a decoder
of the same streams over arrays (``native``'s C kernels).

compressai's ``RansDecoder`` takes and returns Python lists, which at a chunk's sizes cost more than
the decoding itself; ``StageDecoder`` decodes the same streams from int32 arrays where the kernels
are built (and refuses to read past a stream's end), else through compressai.
"""

from __future__ import annotations

import numpy as np

from compressai.ans import RansDecoder

from geocodec.model import native


class PayloadMismatch(RuntimeError):
    """The decoded symbols fail the check written after the last coding stage (corrupt payload)."""


def trimmed_table(model) -> tuple[list[list[int]], list[int], list[int]]:
    """A compressai entropy model's CDF table as the rANS coder's arguments, each row cut to its real
    length. compressai pads every row to the longest one and converts the whole padded table from
    Python on every call; the coder reads only ``length`` entries of a row, so trimmed rows code
    identical bytes at a fraction of the conversion cost."""
    lengths = model._cdf_length.reshape(-1).int().tolist()
    rows = model._quantized_cdf.tolist()
    return [row[:n] for row, n in zip(rows, lengths)], lengths, model._offset.reshape(-1).int().tolist()


def table_arrays(tables):
    """Trimmed tables as the C decoder's arrays: (CDFs (rows, stride) int32, stride, lengths int32,
    offsets int32)."""
    cdfs, lengths, offsets = tables
    stride = max(lengths)
    rows = np.zeros((len(cdfs), stride), np.int32)
    for r, row in enumerate(cdfs):
        rows[r, :len(row)] = row
    return rows, stride, np.asarray(lengths, np.int32), np.asarray(offsets, np.int32)


class StageDecoder:
    """Decodes the y substreams stage by stage: ``decode(item, indexes)`` → that stage's symbols
    (int32), continuing where the item's previous stage ended. With the C kernels (``native``) over
    arrays; else with compressai's ``RansDecoder`` over Python lists (the same symbols)."""

    def __init__(self, coder, streams: list[bytes]):
        self.streams = streams
        self.kernels = native.kernels()
        if self.kernels is not None:
            self.arrays = coder._y_table()
            if any(len(s) < 8 for s in streams):
                raise PayloadMismatch("the latent's rANS stream is shorter than its 8-byte state")
            self.states = [self.kernels.rans_init(s) for s in streams]
        else:
            self.tables = coder._cdfs()[0]
            self.decoders = []
            for s in streams:
                dec = RansDecoder()
                dec.set_stream(s)
                self.decoders.append(dec)

    def __call__(self, item: int, idx: np.ndarray) -> np.ndarray:
        if self.kernels is None:
            return np.asarray(self.decoders[item].decode_stream(*used_rows(self.tables, idx)), np.int32)
        cdfs, stride, lengths, offsets = self.arrays
        values = np.empty(idx.size, np.int32)
        x, pos = self.kernels.rans_decode(self.streams[item], *self.states[item], np.ascontiguousarray(idx, np.int32),
                                          cdfs, stride, lengths, offsets, values)
        if pos is None:
            raise PayloadMismatch("the latent's rANS stream ends before its last symbol")
        self.states[item] = (x, pos)
        return values


def used_rows(tables, idx: np.ndarray):
    """rANS arguments (indexes, cdfs, lengths, offsets) passing only the table rows ``idx`` uses,
    renumbered. The coder reads nothing but ``row[index]``, so the bytes are the same; converting
    the whole table from Python on every call was most of the coder's time."""
    cdfs, lengths, offsets = tables
    used = np.flatnonzero(np.bincount(idx, minlength=len(lengths)))
    local = np.empty(len(lengths), np.int32)
    local[used] = np.arange(len(used), dtype=np.int32)
    rows = used.tolist()
    return (local[idx].tolist(), [cdfs[i] for i in rows], [lengths[i] for i in rows], [offsets[i] for i in rows])
