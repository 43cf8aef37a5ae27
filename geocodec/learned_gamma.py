"""γ learned per λ by task-driven finetuning, stored in the model's sealed config.

``geocodec finetune-task`` learns one γ per trained λ (Valsesia & Bianchi 2025, eq. 4) and writes
them into ``ModelConfig.extra["learned_gamma"]`` = ``{"lmbda": [...], "gamma": [...]}``. The config is
sealed into the model's sha256, so the table cannot be edited without the model's identity changing.
``compress(..., gamma="learned")`` then reads γ off this table: interpolated linearly in log λ between
the trained points, held constant beyond them. Product code: no training imports.
"""

from __future__ import annotations

import dataclasses
import math

from geocodec.errors import InvalidInputError, ModelIntegrityError

KEY = "learned_gamma"
#: The ``gamma=`` value that asks for the model's learned table.
LEARNED = "learned"


def _check_table(lmbdas, gammas) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if not lmbdas or len(lmbdas) != len(gammas):
        raise ValueError(f"a learned-γ table needs as many γ as λ (≥ 1), got {len(lmbdas)} λ, {len(gammas)} γ")
    lam = tuple(float(v) for v in lmbdas)
    gam = tuple(float(v) for v in gammas)
    if any(not math.isfinite(v) or v <= 0 for v in lam) or any(b <= a for a, b in zip(lam, lam[1:])):
        raise ValueError(f"learned-γ λ must be positive and increasing, got {list(lam)}")
    if any(not math.isfinite(g) or not 0.0 <= g <= 1.0 for g in gam):
        raise ValueError(f"learned γ must lie in [0, 1], got {list(gam)}")
    return lam, gam


def table(config) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """(λ, γ) of a model config's learned-γ table, or None when the model has none."""
    entry = config.extra.get(KEY) if isinstance(config.extra, dict) else None
    if entry is None:
        return None
    try:
        return _check_table(entry["lmbda"], entry["gamma"])
    except (KeyError, TypeError, ValueError) as e:
        raise ModelIntegrityError(f"the model's learned-γ table is malformed: {e}") from None


def with_table(config, lmbdas, gammas):
    """A copy of ``config`` carrying this learned-γ table (λ sorted ascending)."""
    pairs = sorted(zip((float(v) for v in lmbdas), (float(g) for g in gammas)))
    lam, gam = _check_table([p[0] for p in pairs], [p[1] for p in pairs])
    return dataclasses.replace(config, extra={**config.extra, KEY: {"lmbda": list(lam), "gamma": list(gam)}})


def interpolate(lam: tuple[float, ...], gam: tuple[float, ...], lmbda: float) -> float:
    """γ at ``lmbda``: linear in log λ between the table's points, constant outside them."""
    if lmbda <= lam[0]:
        return gam[0]
    if lmbda >= lam[-1]:
        return gam[-1]
    t = math.log(lmbda)
    for (l0, g0), (l1, g1) in zip(zip(lam, gam), zip(lam[1:], gam[1:])):
        if lmbda <= l1:
            w = (t - math.log(l0)) / (math.log(l1) - math.log(l0))
            return g0 + w * (g1 - g0)
    return gam[-1]  # unreachable


def gamma_function(config):
    """``λ → γ`` for a model with a learned table; a clear error for a model without one."""
    tab = table(config)
    if tab is None:
        raise InvalidInputError('gamma="learned" needs a model finetuned with `geocodec finetune-task` (its '
                                "model file stores one γ per λ); this model has no learned γ: give γ ∈ [0, 1]")
    return lambda lmbda: interpolate(*tab, float(lmbda))
