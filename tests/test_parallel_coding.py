"""Entropy coding runs in parallel across Dask threads, and gives the same bytes as a serial run."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import geocodec
from conftest import smooth_pair


@pytest.fixture(scope="module")
def pairs():
    rng = np.random.default_rng(77)
    return [smooth_pair(rng, 64, 64) for _ in range(6)]


def test_dask_threads_encode_and_decode_like_a_serial_run(model, pairs):
    import dask

    serial = [geocodec.compress(o, s, lmbda=0.01, gamma=0.3, device="cpu") for o, s in pairs]
    tasks = [dask.delayed(geocodec.compress)(o, s, lmbda=0.01, gamma=0.3, device="cpu") for o, s in pairs]
    parallel = dask.compute(*tasks, scheduler="threads", num_workers=3)
    assert list(parallel) == serial

    ref = [geocodec.decompress(d, device="cpu") for d in serial]
    dec = dask.compute(*[dask.delayed(geocodec.decompress)(d, device="cpu") for d in serial],
                       scheduler="threads", num_workers=3)
    for (o1, s1), (o2, s2) in zip(ref, dec):
        assert o1.tobytes() == o2.tobytes() and s1.tobytes() == s2.tobytes()


def test_two_threads_are_inside_entropy_coding_at_once(model, pairs, monkeypatch):
    """If anything serialised coding (a model-wide lock), the second thread could never reach the
    barrier while the first waits in it, and the barrier would time out."""
    from concurrent.futures import ThreadPoolExecutor

    entropy = model.net.entropy
    barrier = threading.Barrier(2, timeout=60)
    real_compress, real_decompress = entropy.compress, entropy.decompress

    def compress(*a, **k):
        barrier.wait()
        return real_compress(*a, **k)

    def decompress(*a, **k):
        barrier.wait()
        return real_decompress(*a, **k)

    monkeypatch.setattr(entropy, "compress", compress)
    monkeypatch.setattr(entropy, "decompress", decompress)
    with ThreadPoolExecutor(2) as pool:
        coded = list(pool.map(lambda p: geocodec.compress(*p, lmbda=0.01, gamma=0.3, device="cpu"), pairs[:2]))
        decoded = list(pool.map(lambda d: geocodec.decompress(d, modality="sar", device="cpu"), coded))
    monkeypatch.undo()
    assert coded == [geocodec.compress(*p, lmbda=0.01, gamma=0.3, device="cpu") for p in pairs[:2]]
    for d, sar in zip(coded, decoded):
        assert sar.tobytes() == geocodec.decompress(d, modality="sar", device="cpu").tobytes()
