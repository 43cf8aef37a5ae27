"""One modality of a geocodec cube as a lazy xarray ``BackendArray``.

Indexing decodes only the chunks a read touches, and only this modality's decoder runs; the
entropy decoding both modalities share goes through the per-process latent cache
(``geocodec.cube.cache``). torch is imported when the first chunk is decoded.
"""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import numpy as np
from xarray.backends import BackendArray
from xarray.core import indexing

from geocodec.cube.cache import LATENTS
from geocodec.cube.store import open_store, read_frames
from geocodec.errors import CorruptStreamError
from geocodec.options import DEFAULT_BACKEND


#: Chunks decoded together when one read spans many (one device batch).
READ_BATCH = 16


class ModalityArray(BackendArray):
    """One modality of the joint array; indexing decodes only that modality of the chunks it touches."""

    def __init__(self, store_ref, store_id: str, array: str, which: str, shape: tuple[int, ...], dtype,
                 chunks: tuple[int, ...], settings, n_bands: int, fill, device: str | None,
                 allow_missing: bool, seamless: bool = False, backend: str = DEFAULT_BACKEND):
        self.store_ref, self.store_id, self.array, self.which = store_ref, store_id, array, which
        self.shape, self.dtype = shape, np.dtype(dtype)
        self.chunks = chunks  # of the joint array (band axis: all bands)
        self.settings, self.n_bands, self.fill = settings, n_bands, fill
        self.device, self.allow_missing = device, allow_missing
        #: Synthesise each chunk with a margin of its neighbours' latents (``geocodec.cube.overlap``).
        self.seamless = seamless
        #: What runs the decoder (``geocodec.decompress(backend=...)``); entropy decoding is shared.
        self.backend = backend
        self._arr = None
        self._lock = threading.Lock()

    def __getstate__(self):  # picklable for dask.distributed: reopen the store on the worker
        state = self.__dict__.copy()
        state["_arr"], state["_lock"] = None, None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _zarr_array(self):
        with self._lock:
            if self._arr is None:
                import zarr

                store = open_store(self.store_ref, read_only=True)[0] if isinstance(self.store_ref, (str, Path)) \
                    else self.store_ref
                self._arr = zarr.open_group(store, mode="r")[self.array]
            return self._arr

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.BASIC, self._getitem)

    # ------------------------------------------------------------------ decoding
    def _latents(self, arr, keys: list[str], coords: list[tuple[int, ...]]) -> list:
        from geocodec.cube.chunks import ChunkCoder  # torch: only once something decodes
        from geocodec.cube.frames import frame_crc

        # seamless reads entropy-decode each item alone: a batch's float noise in the latent (~1e-6)
        # would otherwise make a chunk's values depend on which chunks were read with it
        coder = ChunkCoder(self.settings, device=self.device, batch_size=1 if self.seamless else READ_BATCH)
        raw = dict(zip(keys, read_frames(arr, coords)))
        where = dict(zip(keys, coords))
        missing = [k for k, v in raw.items() if v is None]
        if missing and not self.allow_missing:
            raise CorruptStreamError(f"chunk(s) {missing[:3]} of {self.store_id} are missing although the store "
                                     "says it is complete")
        present = [k for k in keys if raw[k] is not None]
        cache_keys = [(self.store_id, self.array, k, frame_crc(raw[k]), len(raw[k]), self.seamless) for k in present]
        values = LATENTS.get_many(cache_keys, lambda ck: coder.entropy_decode_frames(
            [raw[c[2]] for c in ck], indexes=[where[c[2]] for c in ck]))
        by_key = dict(zip(present, values))
        return [by_key.get(k) for k in keys]

    def _decode_region(self, arr, lo: tuple[int, ...], hi: tuple[int, ...]) -> np.ndarray:
        """Dense block [lo, hi) over the non-band axes, all of this modality's bands."""
        nd = len(self.shape)
        band_ax = nd - 3
        out_shape = tuple(self.n_bands if a == band_ax else hi[a] - lo[a] for a in range(nd))
        out = np.full(out_shape, self.fill, dtype=self.dtype)
        ranges = [range(0, 1) if a == band_ax else range(lo[a] // self.chunks[a], -(-hi[a] // self.chunks[a]))
                  for a in range(nd)]
        coords = list(itertools.product(*ranges))
        from geocodec.cube.chunks import synthesize_items

        for start in range(0, len(coords), READ_BATCH):
            part = coords[start:start + READ_BATCH]
            keys = [arr.metadata.encode_chunk_key(c) for c in part]
            latents = self._latents(arr, keys, part)
            if self.seamless:
                decoded = iter(self._synthesize_overlapped(arr, part, latents))
            else:
                flat = [item for items in latents if items is not None for item in items]
                decoded = iter(synthesize_items(flat, self.which, self.backend))
            for c, items in zip(part, latents):
                if items is None:
                    continue
                lead = tuple(min(self.chunks[a], self.shape[a] - c[a] * self.chunks[a]) for a in range(band_ax))
                for lead_idx in itertools.product(*(range(n) for n in self.chunks[:band_ax])):
                    arr_item = next(decoded)  # one per item, None for an item stored as nothing
                    if arr_item is None or any(li >= n for li, n in zip(lead_idx, lead)):
                        continue
                    g = [c[a] * self.chunks[a] + lead_idx[a] for a in range(band_ax)]
                    if any(not lo[a] <= g[a] < hi[a] for a in range(band_ax)):
                        continue
                    y0, x0 = c[-2] * self.chunks[-2], c[-1] * self.chunks[-1]
                    h, w = arr_item.shape[-2:]
                    ys, ye = max(lo[-2], y0), min(hi[-2], y0 + h)
                    xs, xe = max(lo[-1], x0), min(hi[-1], x0 + w)
                    if ys >= ye or xs >= xe:
                        continue
                    dst = tuple(g[a] - lo[a] for a in range(band_ax)) + (slice(None), slice(ys - lo[-2], ye - lo[-2]),
                                                                         slice(xs - lo[-1], xe - lo[-1]))
                    out[dst] = arr_item[:, ys - y0:ye - y0, xs - x0:xe - x0].astype(self.dtype, copy=False)
        return out

    def _synthesize_overlapped(self, arr, part: list[tuple[int, ...]], latents: list):
        """Per item of the chunks in ``part``: decoded with its neighbours' latents (entropy-decoded
        once, through the cache), in the order ``synthesize_items`` would give them."""
        from geocodec.cube.overlap import neighbour_coords, synthesize_with_neighbours

        grid = tuple(-(-s // c) for s, c in zip(self.shape, self.chunks))
        have = dict(zip(part, latents))
        more = sorted({n for c, items in zip(part, latents) if items is not None
                       for n in neighbour_coords(c, grid)} - set(have))
        if more:
            have.update(zip(more, self._latents(arr, [arr.metadata.encode_chunk_key(c) for c in more], more)))
        for c, items in zip(part, latents):
            if items is None:
                continue
            nbs = {(n[-2] - c[-2], n[-1] - c[-1]): have[n] for n in neighbour_coords(c, grid)}
            for i, item in enumerate(items):
                if item is None:
                    yield None
                    continue
                around = {k: None if v is None else v[i] for k, v in nbs.items()}
                yield synthesize_with_neighbours(item, around, self.which, (self.chunks[-2], self.chunks[-1]),
                                                 backend=self.backend)

    def _getitem(self, key: tuple) -> np.ndarray:
        arr = self._zarr_array()
        nd = len(self.shape)
        band_ax = nd - 3
        lo, hi, local = [], [], []
        for a, (k, n) in enumerate(zip(key, self.shape)):
            if a == band_ax:
                lo.append(0)
                hi.append(n)
                local.append(k)
            elif isinstance(k, slice):
                start, stop, step = k.indices(n)
                if step < 0 or stop <= start:  # xarray's adapter never sends these; keep it simple and exact
                    idx = np.arange(start, stop, step)
                    if idx.size == 0:
                        lo.append(0)
                        hi.append(0)
                        local.append(slice(0, 0))
                        continue
                    lo.append(int(idx.min()))
                    hi.append(int(idx.max()) + 1)
                    local.append(idx - idx.min())
                else:
                    last = start + (len(range(start, stop, step)) - 1) * step
                    lo.append(start)
                    hi.append(last + 1)
                    local.append(slice(0, last + 1 - start, step))
            else:
                i = int(k)
                lo.append(i)
                hi.append(i + 1)
                local.append(0)
        if any(h <= lo_ for lo_, h in zip(lo, hi)):
            block = np.empty(tuple(max(0, h - lo_) if a != band_ax else self.n_bands
                                   for a, (lo_, h) in enumerate(zip(lo, hi))), self.dtype)
        else:
            block = self._decode_region(arr, tuple(lo), tuple(hi))
        return block[tuple(local)]


def fill_for(dtype: str, nodata):
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return np.nan
    return nodata if nodata is not None else 0
