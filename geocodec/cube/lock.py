"""Writer locks: two writers can't interleave silently in one cube.

Why: two ``to_zarr`` runs with different settings on one store used to both exit 0 and leave a
mixed cube. A writer now holds a lock object, stored in the store itself (so it works on any
Zarr store: a directory, ``memory://``, an object store) under the joint array's prefix, where
Zarr never looks. Each lock names its owner (host, pid), when it was taken and last renewed, and
the part of the chunk grid it covers: whole-cube writers exclude everyone, region writers
exclude only overlapping regions, so parallel region writers work.

A lock is stale when its owner's process is gone (same host) or it was not renewed for
``stale_after`` seconds (writers renew after every task): a stale lock is taken over, with a
warning, so a killed writer never blocks a cube for good.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
import warnings
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from geocodec.errors import CubeLockedError

if TYPE_CHECKING:
    from geocodec.cube.plan import Plan

#: Seconds without renewal after which another writer may take a lock over.
DEFAULT_STALE_AFTER = 600.0
_PREFIX = ".geocodec-lock-"
#: Short exclusive lock around read-modify-write of the group record (region writers merge into it).
RECORD_PREFIX = ".geocodec-record-lock-"
#: Times two writers that collided (both wrote a lock object at once) step back and retry before one
#: of them reports the other as busy, whatever ``wait`` is.
COLLISION_RETRIES = 5


class _Collision(Exception):
    """Our lock object met another one written at the same moment: ours is removed, retry."""


@dataclass
class LockInfo:
    """What a lock object holds."""

    id: str
    host: str
    pid: int
    started: float  #: unix time the lock was taken
    renewed: float  #: unix time of the last renewal
    #: [start, stop) per array dim in chunk-grid units, or None for the whole cube
    region: list[list[int]] | None
    purpose: str = "write"

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.started))
        where = "the whole cube" if self.region is None else f"chunk region {self.region}"
        return f"{self.purpose} by {self.host} pid {self.pid} since {when} on {where}"


def _overlaps(a: list[list[int]] | None, b: list[list[int]] | None) -> bool:
    if a is None or b is None:
        return True
    return all(s1 < e2 and s2 < e1 for (s1, e1), (s2, e2) in zip(a, b))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class CubeLock:
    """A writer's lock on a cube (or a region of it), held as an object under ``<array>/``.

    Use as a context manager; ``renew()`` after each unit of work keeps it from going stale.
    """

    def __init__(self, array, region: list[list[int]] | None = None, *, stale_after: float = DEFAULT_STALE_AFTER,
                 purpose: str = "write", prefix: str = _PREFIX):
        self.array = array
        self.prefix = prefix
        self.stale_after = float(stale_after)
        now = time.time()
        self.info = LockInfo(id=uuid.uuid4().hex, host=socket.gethostname(), pid=os.getpid(), started=now,
                             renewed=now, region=region, purpose=purpose)
        self.held = False

    # ------------------------------------------------------------------ store access
    def _key(self, lock_id: str) -> str:
        return f"{self.prefix}{lock_id}.json"

    def _others(self) -> list[LockInfo]:
        from geocodec.cube.store import list_chunk_keys, read_chunk

        out = []
        for key in sorted(k for k in list_chunk_keys(self.array) if k.startswith(self.prefix)):
            if key == self._key(self.info.id):
                continue
            raw = read_chunk(self.array, key)
            try:
                out.append(LockInfo(**json.loads(raw)))
            except (TypeError, ValueError):  # a lock object cut short while being written: stale
                out.append(LockInfo(id=key[len(self.prefix):-5], host="?", pid=-1, started=0.0, renewed=0.0,
                                    region=None))
        return out

    def _write(self) -> None:
        from geocodec.cube.store import write_chunk

        write_chunk(self.array, self._key(self.info.id), json.dumps(asdict(self.info)).encode())

    def _remove(self, lock_id: str) -> None:
        from geocodec.cube.store import delete_chunk

        delete_chunk(self.array, self._key(lock_id))

    def _stale(self, other: LockInfo) -> bool:
        if time.time() - other.renewed > self.stale_after:
            return True
        return other.host == self.info.host and other.pid > 0 and not _pid_alive(other.pid)

    def _conflicts(self) -> list[LockInfo]:
        live = []
        for other in self._others():
            if self._stale(other):
                warnings.warn(f"geocodec: taking over a stale cube lock ({other.describe()})", stacklevel=3)
                self._remove(other.id)
            elif _overlaps(other.region, self.info.region):
                live.append(other)
        return live

    # ------------------------------------------------------------------ protocol
    def acquire(self, wait: float = 0.0) -> CubeLock:
        """Take the lock, or raise ``CubeLockedError`` naming the writer that holds it.

        ``wait``: seconds to keep trying while another writer holds it (0: fail at once). Two writers
        that wrote their locks at the same moment both step back and try again after a random pause
        (up to ``COLLISION_RETRIES`` times even with ``wait=0``): neither of them holds the lock yet.
        """
        deadline = time.monotonic() + wait
        collisions = 0
        while True:
            try:
                return self._try_acquire()
            except _Collision:
                collisions += 1
                if collisions > COLLISION_RETRIES and time.monotonic() >= deadline:
                    others = self._conflicts()
                    raise CubeLockedError(self._busy_message(others) if others else
                                          "another writer wrote a lock on this cube at the same moment on every "
                                          "try; run the write again") from None
            except CubeLockedError:
                if time.monotonic() >= deadline:
                    raise
            time.sleep(0.05 + 0.1 * (uuid.uuid4().int % 5) / 5)

    def _try_acquire(self) -> CubeLock:
        """Write our lock object, then look again: we hold the lock only if no conflicting lock is
        there after our write. Any writer that wrote before our second look is seen by it; any writer
        that writes after it sees ours. So two writers never both hold it (a tie-break by start time
        would let a late writer with an early start take a lock another already holds)."""
        busy = self._conflicts()
        if busy:
            raise CubeLockedError(self._busy_message(busy))
        self._write()
        if not self._conflicts():
            self.held = True
            return self
        self._remove(self.info.id)
        raise _Collision()

    def _busy_message(self, busy: list[LockInfo]) -> str:
        return (f"another writer is writing this cube ({busy[0].describe()}); wait for it to finish. If that writer "
                f"is gone, its lock goes stale after {self.stale_after:g} s without renewal (or at once when its "
                "process is dead on this host)")

    def renew(self) -> None:
        if self.held:
            self.info.renewed = time.time()
            self._write()

    def release(self) -> None:
        if self.held:
            self._remove(self.info.id)
            self.held = False

    def __enter__(self) -> CubeLock:
        return self.acquire() if not self.held else self

    def __exit__(self, *exc) -> None:
        self.release()


# ---------------------------------------------------------------------------- a write's lock
def take(lock: CubeLock) -> CubeLock:
    """Acquire ``lock`` (a Dask task's gate with ``compute=False``: the write takes it where it runs)."""
    return lock.acquire()


def lock_for(arr, plan: Plan, stale_after: float) -> CubeLock:
    """The lock a write into ``arr`` takes: the whole cube, or the chunk range of a region write."""
    region = None if plan.action != "region" else [
        [w.start // c, -(-w.stop // c)] for w, c in zip(plan.window, arr.chunks)]
    return CubeLock(arr, region, stale_after=stale_after)
