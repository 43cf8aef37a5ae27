"""One per-band scaling for a whole cube (or one acquisition of it), so neighbouring chunks share a scale.

Why: v0.1 coded every chunk with its own 0.5–99.5 percentile range (``geocodec.normalize``), so
neighbouring chunks' latents live on different scales and cannot be synthesised together without
a step at their border (geocodec/weights/default.md, "Chunk seams"). The writer instead fits one robust
range per band over a sample of the input (per acquisition when appending), stores it in the
record and codes every chunk with it. Each chunk's header still carries the scaling (and its own
clamp range), so a chunk stays self-describing and plain Zarr reads decode it alone.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

import numpy as np

from geocodec.cube.plan import stored_labels
from geocodec.errors import InvalidInputError
from geocodec.normalize import fit_scaling, linear_to_db

if TYPE_CHECKING:
    from geocodec.cube.plan import Plan, WriteInput

ScalingMode = Literal["cube", "chunk"]
SCALING_MODES: tuple[ScalingMode, ...] = ("cube", "chunk")
#: Pixels per band the cube scaling is fitted on (a regular subsample of larger inputs: bounded
#: memory whatever the scene, tests/test_zarr_memory.py).
SAMPLE_PIXELS = 1 << 16


def check_mode(scaling) -> ScalingMode | None:
    if scaling is not None and scaling not in SCALING_MODES:
        raise InvalidInputError(f"scaling={scaling!r}: use 'cube' (one scaling for the whole cube, no chunk seams) "
                                "or 'chunk' (each chunk its own, as geocodec 0.1)")
    return scaling


def fit_band_scaling(joint, n_optical: int, *, sar_linear: bool, optical_nodata: float | None,
                     sar_nodata: float | None) -> np.ndarray:
    """Per-band (lo, hi) in coded units (SAR in dB) over a regular subsample of ``joint``.

    Parameters
    ----------
    joint
        numpy or Dask array (..., bands, y, x), optical bands first, NaN where nothing is stored.
    n_optical
        Number of optical bands.
    sar_linear
        SAR given as linear power (coded in dB, as ``compress(sar_scale="linear")`` does).
    optical_nodata, sar_nodata
        Values left out of the fit.

    Returns
    -------
    numpy.ndarray
        (bands, 2) float32, as ``geocodec.codec.compress_batch(scaling=...)`` takes it.
    """
    h, w = joint.shape[-2:]
    items = math.prod(joint.shape[:-3])
    step = max(1, math.ceil(math.sqrt(items * h * w / SAMPLE_PIXELS)))
    sample = joint[..., ::step, ::step]
    sample = np.asarray(sample.compute() if hasattr(sample, "compute") else sample, np.float64)
    c = sample.shape[-3]
    values = np.moveaxis(sample, -3, 0).reshape(c, 1, -1)
    valid = np.isfinite(values)
    for sl, nodata in ((slice(0, n_optical), optical_nodata), (slice(n_optical, c), sar_nodata)):
        if nodata is not None and not math.isnan(nodata):
            valid[sl] &= values[sl] != nodata
    if sar_linear:
        sar = values[n_optical:]
        valid[n_optical:] &= sar > 0
        values[n_optical:] = np.where(valid[n_optical:], linear_to_db(np.where(valid[n_optical:], sar, 1.0)), 0.0)
    s = fit_scaling(np.where(valid, values, 0.0), valid)
    return np.stack([s.lo, s.hi], axis=1).astype(np.float32)


# ---------------------------------------------------------------------------- a write's scaling
def plan_band_scaling(plan: Plan, inp: WriteInput, joint, requested: ScalingMode | None, where: str, zstore) -> dict:
    """Per-band scalings this write codes with (``{None: ...}``, or per append-dim position); sets the record's.

    A new cube (or acquisition) is fitted on its input; a resume or region write reuses what the
    record holds, so its chunks keep their fingerprints.
    """
    rec = plan.record
    n0 = plan.window[0].start if rec.append_dim else 0

    def fit(a):
        return fit_band_scaling(a, inp.record.n_optical, sar_linear=inp.settings.sar_scale == "linear",
                                optical_nodata=inp.settings.optical_nodata, sar_nodata=inp.settings.sar_nodata)

    if plan.action == "create":
        rec.scaling = requested or "cube"
        if rec.scaling == "chunk":
            return {}
        if rec.append_dim is None:
            s = fit(joint)
            rec.band_scaling = s.tolist()
            return {None: s}
        return {n0 + i: fit(joint[i:i + 1]) for i in range(joint.shape[0])}
    if requested not in (None, rec.scaling):
        raise InvalidInputError(f"{where} holds a cube written with scaling={rec.scaling!r}; write into it with "
                                f"scaling={rec.scaling!r} (or None), or pass mode='w' to replace it")
    if rec.scaling == "chunk":
        return {}
    if rec.append_dim is None:
        stored = {k: np.asarray(v, np.float32) for k, v in rec.band_scalings().items()}
        if None not in stored:
            raise InvalidInputError(f"{where}: the record says scaling='cube' but holds no band_scaling; rewrite "
                                    "the cube with mode='w'")
        return stored
    # appended cubes: a date's scaling is recorded (by label) when its write finishes; one not recorded
    # yet (a new date, or an interrupted write of it) is fitted on its input
    labels = stored_labels(zstore, rec.append_dim) if plan.action != "append" else []
    by_label = rec.band_scalings()
    stored = {i: np.asarray(by_label[x], np.float32) for i, x in enumerate(labels) if x in by_label}
    for i in range(joint.shape[0]):
        stored.setdefault(n0 + i, fit(joint[i:i + 1]))
    return stored

