"""Per-process LRU cache of entropy-decoded chunks, so optical and SAR share one entropy decode.

Decoding a chunk is two steps: entropy decoding (sequential rANS, the costly part, the same for
both modalities) and synthesis (one decoder per modality). The xarray engine reads optical and
SAR as separate variables; when both are computed, each chunk would be entropy-decoded twice.
This cache keeps the entropy-decoded latents (about 128 KiB per 256×256 item, ~50× smaller than
the decoded pixels) keyed by store, chunk key and the frame's CRC (so a rewritten chunk is a
new key). It is single-flight: when two threads ask for the same chunk at once, one decodes
and the other waits for its result. Bounded in bytes (``GEOCODEC_CACHE_MB``, default 256).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence

CACHE_ENV = "GEOCODEC_CACHE_MB"
DEFAULT_MB = 256


def _entry_bytes(items: list) -> int:
    return sum(x.nbytes for x in items if x is not None) + 64


class LatentCache:
    """Thread-safe, byte-bounded LRU with batched, single-flight fills."""

    def __init__(self, max_bytes: int):
        self.max_bytes = int(max_bytes)
        self._data: OrderedDict[Hashable, tuple[list, int]] = OrderedDict()
        self._inflight: dict[Hashable, threading.Event] = {}
        self._lock = threading.Lock()
        self.nbytes = 0
        self.hits = self.misses = 0

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.nbytes = 0
            self.hits = self.misses = 0

    def _put(self, key, value) -> None:
        size = _entry_bytes(value)
        if size > self.max_bytes:
            return
        if key in self._data:
            self.nbytes -= self._data.pop(key)[1]
        self._data[key] = (value, size)
        self.nbytes += size
        while self.nbytes > self.max_bytes and self._data:
            _, (_, s) = self._data.popitem(last=False)
            self.nbytes -= s

    def get_many(self, keys: Sequence[Hashable], decode: Callable[[list], list]) -> list:
        """Values for ``keys``; the ones nobody holds or is decoding go to ``decode(keys)`` in one call."""
        found: dict = {}
        mine: list = []
        waits: list[tuple[Hashable, threading.Event]] = []
        with self._lock:
            for k in dict.fromkeys(keys):
                if k in self._data:
                    self._data.move_to_end(k)
                    found[k] = self._data[k][0]
                    self.hits += 1
                elif k in self._inflight:
                    waits.append((k, self._inflight[k]))
                else:
                    self._inflight[k] = threading.Event()
                    mine.append(k)
                    self.misses += 1
        if mine:
            try:
                values = decode(mine)
                with self._lock:
                    for k, v in zip(mine, values):
                        found[k] = v
                        self._put(k, v)
            finally:
                with self._lock:
                    for k in mine:
                        self._inflight.pop(k).set()
        retry = []
        for k, ev in waits:
            ev.wait()
            with self._lock:
                if k in self._data:
                    found[k] = self._data[k][0]
                    self.hits += 1
                else:  # the other decoder failed, or its entry was too big to keep
                    retry.append(k)
        if retry:
            found.update(zip(retry, decode(retry)))
        return [found[k] for k in keys]


def _default_bytes() -> int:
    try:
        return int(float(os.environ.get(CACHE_ENV, DEFAULT_MB)) * 2**20)
    except ValueError:
        return DEFAULT_MB * 2**20


#: The process-wide cache the xarray engine uses.
LATENTS = LatentCache(_default_bytes())
