"""Thread policy: how geocodec uses CPU threads, chosen to hold on a shared machine.

* ``OMP_WAIT_POLICY=PASSIVE`` is set on ``import geocodec`` when the user has not set it and torch
  is not imported yet (OpenMP reads it once, when torch loads it). With OpenMP's default
  busy-waiting, idle torch threads spin and steal the cores other processes (or other Dask
  threads) need: under contention 2 spinning threads ran encode 5× and decode 4× slower than 1.
* ``GEOCODEC_THREADS=N`` sets torch's intra-op threads (``torch.set_num_threads``) when geocodec
  first loads a model; unset, torch's default (one per physical core) stands. Each thread that
  codes (a Dask worker thread, say) runs its own OpenMP team, so when Dask already runs one task
  per core, ``GEOCODEC_THREADS=1`` avoids oversubscription.
* Coding itself needs no lock: eval-mode forward passes and rANS coding share no mutable state, so
  Dask threads encode and decode in parallel (``geocodec.model.latent_coding`` guards its lazy caches).

This module must stay importable without torch.
"""

from __future__ import annotations

import os
import sys

THREADS_ENV = "GEOCODEC_THREADS"
WAIT_POLICY_ENV = "OMP_WAIT_POLICY"

_applied = False


def default_environment() -> None:
    """Default OpenMP to passive waiting, unless the user chose a policy or torch is already loaded."""
    if "torch" not in sys.modules:
        os.environ.setdefault(WAIT_POLICY_ENV, "PASSIVE")


def requested_threads() -> int | None:
    """The thread count from ``$GEOCODEC_THREADS`` (None when unset or empty)."""
    from geocodec.errors import InvalidInputError

    raw = os.environ.get(THREADS_ENV, "").strip()
    if not raw:
        return None
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise InvalidInputError(f"{THREADS_ENV}={raw!r}: it must be a positive whole number of threads")
    return n


def apply_torch_threads() -> None:
    """Apply ``$GEOCODEC_THREADS`` to torch once per process (called when a model is loaded)."""
    global _applied
    if _applied:
        return
    n = requested_threads()
    if n is not None:
        import torch

        torch.set_num_threads(n)
    _applied = True
