"""Finishing a write: merge what it wrote and measured into the group's record, under the record lock.

Fingerprints, quality samples and (when appending) each date's acquisition entry; the pooled
quality and the codec's ``complete`` flag once every chunk of the cube is written.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from geocodec.cube import quality
from geocodec.cube.lock import RECORD_PREFIX, CubeLock
from geocodec.cube.metadata import open_for_writing, write_record
from geocodec.cube.plan import stored_labels
from geocodec.cube.record import Acquisition, CubeRecord
from geocodec.cube.store import list_chunk_keys, open_store, set_codec_complete, stored_bytes

if TYPE_CHECKING:
    from geocodec.cube.plan import Plan, WriteInput


def finish_write(results: list[dict], samples: dict, plan: Plan, inp: WriteInput, job: dict) -> CubeRecord:
    """Merge this write into the group record, under the record lock; mark it complete when it is."""
    import zarr

    zstore = open_store(job["store_ref"])[0] if isinstance(job["store_ref"], str) else job["store_ref"]
    arr = open_for_writing(job["store_ref"])
    with CubeLock(arr, None, purpose="record update", prefix=RECORD_PREFIX).acquire(wait=60):
        record = CubeRecord.from_attrs(dict(zarr.open_group(zstore, mode="r", use_consolidated=False).attrs)["geocodec"])
        written = {k: v for r in results for k, v in r.items()}
        record.fingerprints.update({k: v[0] for k, v in written.items()})
        record.quality_samples.update(samples)
        if plan.labels:
            by_date = {}
            for v in written.values():
                by_date.setdefault(v[3], 0)
                by_date[v[3]] += v[1]
            start = plan.window[0].start
            per_date_pixels = inp.shape[-2] * inp.shape[-1]
            acq = {a.label: a for a in record.acquisitions}
            for i, label in enumerate(plan.labels):
                mine = [s for s in samples.values() if s["lead"][:1] == [start + i]]
                q = quality.pooled(mine, by_date.get(start + i, 0), per_date_pixels, record.optical_scale)
                sc = (job.get("band_scaling") or {}).get(start + i)
                acq[label] = Acquisition(label, inp.settings.lmbda, inp.settings.target_bpp, inp.settings.gamma,
                                         inp.model, q, True, None if sc is None else sc.tolist(),
                                         inp.settings.refine_steps)
            stored = stored_labels(zstore, plan.record.append_dim)
            record.acquisitions = [acq[x] for x in stored if x in acq]
        elif not record.append_dim:  # a resume re-encodes every chunk of the cube with this request's setting
            record.refine_steps = inp.settings.refine_steps
        total = math.prod(-(-s // c) for s, c in zip(arr.shape, arr.chunks))
        record.complete = len(record.fingerprints) >= total and (
            not record.append_dim or len(record.acquisitions) == arr.shape[0])
        if record.complete:
            pixels = math.prod(arr.shape[:-3]) * arr.shape[-2] * arr.shape[-1]
            record.quality = quality.pooled(list(record.quality_samples.values()), _cube_bytes(arr), pixels,
                                            record.optical_scale)
        set_codec_complete(arr, record.complete)
        write_record(zstore, record)
    return record


def _cube_bytes(arr) -> int:
    """Bytes the cube's chunks take (lock and record objects left out)."""
    return stored_bytes(arr, [k for k in list_chunk_keys(arr) if not k.startswith(".geocodec-")])
